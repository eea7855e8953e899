"""The one exception the CLI turns into a one-line message and exit code 2, and how an error is quoted in one line.

Raise `UsageError("what is wrong; how to fix it")` for anything the user can correct
(bad flags, bad paths, impossible layer selections). Anything else is a bug and keeps
its traceback. `first_line(e)` is how any other error is quoted inside such a message.
"""


class UsageError(Exception):
    """A problem with the user's input. The message says what is wrong and how to fix it."""


def first_line(e: BaseException, *, typed: bool = False, innermost: bool = False) -> str:
    """The first line of `e`'s message (its type's name when it has none).

    `typed`: 'ValueError: ...', for logs where the kind of failure matters (a sweep's errors);
    `innermost`: the message of the innermost explicit cause (`raise ... from e`), the one that
    says what went wrong when a library wraps it (datasets, the hub).
    """
    while innermost and e.__cause__ is not None:
        e = e.__cause__
    text = str(e).strip()
    if not text:
        return type(e).__name__
    return f"{type(e).__name__}: {text.splitlines()[0]}" if typed else text.splitlines()[0]
