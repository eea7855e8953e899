"""The typer app every command registers on, its console, and the helpers for what commands print.

    with progress() as bar:                      # appears with its first task, transient
        run_bench(models, cfg, progress=bar)
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import Progress

from ..version import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Asymmetric layer pruning for encoder-decoder summarizers.")
console = Console()


class _Progress(Progress):
    """A transient progress display that appears with its first task.

    A library call checks everything it can before its first task, so a failing check prints
    its one error line with no display around it; after the first task the display stops (and,
    on a terminal that is not interactive, ends with its blank line) as rich's would.
    """

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.live.is_started or exc_type is None:
            self.stop()

    def add_task(self, *args, **kwargs):
        if not self.live.is_started:
            self.start()
        return super().add_task(*args, **kwargs)


def progress() -> Progress:
    """A transient rich progress display on the CLI's console, started by its first task."""
    return _Progress(console=console, transient=True)


def millions(n: int) -> str:
    return f"{n / 1e6:,.2f}M"


@app.command()
def version() -> None:
    """Print the asymprune version."""
    print(__version__)
