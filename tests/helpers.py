"""Helpers for running the CLI in tests, in this process or in a fresh one."""

from __future__ import annotations

import os
import subprocess
import sys


def make_t5_block_identity(block) -> None:
    """Zero the output projections of a T5 block so it passes hidden states through unchanged."""
    import torch
    for sub in block.layer:
        for name in ("SelfAttention", "EncDecAttention"):
            if hasattr(sub, name):
                torch.nn.init.zeros_(getattr(sub, name).o.weight)
        if hasattr(sub, "DenseReluDense"):
            torch.nn.init.zeros_(sub.DenseReluDense.wo.weight)


def run_cli(argv: list[str]) -> int:
    """Run the CLI in this process; return its exit code."""
    from asymprune.cli import main
    try:
        main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def run_cli_subprocess(argv: list[str], **kw) -> subprocess.CompletedProcess:
    """Run `python -m asymprune ...` in a fresh process, as a user would."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "asymprune", *argv], capture_output=True, text=True, env=env, **kw)


def interruptible() -> None:
    """Popen's preexec_fn for a child that a test stops with Ctrl-C: a suite started in the background of a
    non-interactive shell (`make test &`) inherits SIGINT ignored, and so would the child; it would then
    train on through the test's SIGINT. Default handling restored, Python installs its KeyboardInterrupt."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def reports_under(db, tmp_path, capsys, flag_sets: list[list[str]]) -> list[tuple[list[str], str]]:
    """`asymprune report DB` once per flag set: (its recommendation lines, report.md past the dated line) each."""
    outputs = []
    for flags in flag_sets:
        out = tmp_path / f"rep{len(outputs)}"
        assert run_cli(["report", str(db), "--out", str(out), *flags]) == 0
        lines = capsys.readouterr().out.strip().splitlines()[1:]
        outputs.append((lines, (out / "report.md").read_text().split("\n", 3)[3]))
    return outputs
