"""Ctrl-C that is never lost: raised at once, or at the next safe point when it lands in a __del__.

    install()          # the CLI, at start: Ctrl-C goes through here (not when SIGINT is ignored, as under nohup)
    raise_pending()    # a long loop, at each step: raises KeyboardInterrupt if one was deferred

Python runs a signal handler between bytecodes of whatever is executing, a finalizer included, and an
exception raised inside `__del__` is printed ("Exception ignored in ...", with a traceback) and dropped:
a Ctrl-C that lands while the garbage collector finalizes an object (regex's compiled groups during
transformers' import, for one) would be swallowed and the run would go on. Such an interrupt is only
recorded here, and training steps and sweep stages raise it at their next boundary.
"""

from __future__ import annotations

import signal

_pending = False


def install() -> None:
    """Route SIGINT through `_handler` where Python's own KeyboardInterrupt handler is in place."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _handler)


def _handler(signum, frame) -> None:
    global _pending
    f = frame
    while f is not None:
        if f.f_code.co_name == "__del__":  # raising here would be printed and dropped
            _pending = True
            return
        f = f.f_back
    _pending = False
    raise KeyboardInterrupt


def raise_pending() -> None:
    """Raise the KeyboardInterrupt that a Ctrl-C inside a finalizer deferred, if any."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt


__all__ = ["install", "raise_pending"]
