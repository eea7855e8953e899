"""Atomic output directories: write to a temporary sibling, then rename.

    with atomic_dir(Path("out"), overwrite=False) as tmp:
        model.save_pretrained(tmp)
    # "out" now exists, complete, or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError


def check_writable_out(out: Path, overwrite: bool) -> None:
    """Fail before any work if OUT exists (without --overwrite) or cannot be created."""
    if out.exists() and not overwrite:
        raise UsageError(f"{out} already exists; pass --overwrite to replace it or choose another path")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory; remove it or choose another path")
    parent = out.resolve().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise UsageError(f"cannot write to {parent}; choose an output path you can write to")


@contextmanager
def atomic_dir(out: Path, overwrite: bool = False):
    """Yield a temporary directory that replaces `out` only if the block finishes."""
    out = Path(out)
    check_writable_out(out, overwrite)
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.resolve().parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():  # only reachable with overwrite=True
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def write_json(path: Path, data) -> None:
    """Write JSON atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
