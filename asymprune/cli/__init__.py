"""The `asymprune` command line: each command parses its options, calls one library function, prints.

    asymprune init flan-t5-small /tmp/m
    asymprune prune /tmp/m /tmp/p --encoder-layers 8 --decoder-layers 2 --strategy paper
    asymprune generate /tmp/p --max-new-tokens 32
    asymprune report runs/demo/results.db --out runs/demo/report --min-speedup 2

    app.py      the typer app, its console, the progress display; `version`
    options.py  options several commands share, and the settings they make
    model.py    commands on one model: presets, init, prune, layers, generate, export, vocab
    study.py    train, evaluate
    speed.py    bench, plan
    sweeps.py   sweep, results, report, demo

Every user mistake is a `UsageError`: one line on stderr, exit code 2, no traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from ..console import quiet_transformers
from ..errors import UsageError
from ..interrupt import install as install_interrupt
from ..plugins import load_plugins
# Importing a theme registers its commands on `app`, and `--help` lists them in this order.
from . import model, study, speed, sweeps  # noqa: F401, I001
from .app import app, console

__all__ = ["app", "console", "main"]


def main(argv: Optional[list[str]] = None) -> None:
    quiet_transformers()
    install_interrupt()
    try:
        load_plugins()
        app(args=argv)
    except UsageError as e:
        # Under torchrun every process meets the same mistake; one line is enough (the main one's).
        if os.environ.get("RANK", "0") == "0":
            sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
