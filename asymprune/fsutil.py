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


def disk_usage(path: Path) -> int:
    """Bytes in every file under `path` (or of the file itself); links are not followed.

        disk_usage(Path("runs/demo/stages"))   # 342117888
    """
    path = Path(path)
    if not path.is_dir():
        return path.lstat().st_size if path.exists() else 0
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed while we walked (a sweep running beside us)
                pass
    return total


def human_size(n: int) -> str:
    """Bytes as people read them: 342.1 MB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
