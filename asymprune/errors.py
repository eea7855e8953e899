"""The one exception the CLI turns into a one-line message and exit code 2.

Raise `UsageError("what is wrong; how to fix it")` for anything the user can correct
(bad flags, bad paths, impossible layer selections). Anything else is a bug and keeps
its traceback.
"""


class UsageError(Exception):
    """A problem with the user's input. The message says what is wrong and how to fix it."""
