"""Atomic outputs: write to a temporary sibling, then rename; check writability before any work.

    check_writable_out(Path("out"), overwrite=False)            # a directory OUT, before the work
    check_writable_out(Path("r.json"), overwrite=False, file=True)  # a file, e.g. --json
    with atomic_dir(Path("out"), overwrite=False) as tmp:
        model.save_pretrained(tmp)
    # "out" now exists, complete, or not at all, with the permissions the user's umask gives.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError


def umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other portable way to read it
    os.umask(mask)
    return mask


def apply_umask(path: Path) -> None:
    """Give `path` (and everything under it) the modes a plain open()/mkdir() would have.

    mkdtemp and mkstemp create 0700 folders and 0600 files, and some writers (safetensors) do
    the same: outputs meant for other users or a serving container must follow the umask.
    """
    mask = umask()
    path = Path(path)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o777 & ~mask)
            for name in files:
                full = os.path.join(root, name)
                if not os.path.islink(full):
                    keep_exec = os.stat(full).st_mode & 0o111
                    os.chmod(full, (0o666 | keep_exec) & ~mask)


def unwritable_reason(path: Path) -> str | None:
    """Why nothing can be created at `path` (None: it can), found by creating and removing a
    temporary folder in its nearest existing ancestor.

    os.access is not enough: root passes it for /proc and /sys, and it ignores read-only mounts.
    """
    folder = Path(os.path.abspath(Path(path).expanduser())).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a directory"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".asymprune-probe-", dir=folder))
    except OSError as e:
        return f"{folder} does not accept new files ({e.strerror or e})"
    return None


def check_writable_out(out: Path, overwrite: bool, *, file: bool = False, flag: str = "") -> None:
    """Fail before any work if OUT exists (without --overwrite), is the wrong kind, or cannot be created.

    `file=True` for a single output file (--json, --csv); otherwise OUT is a directory.
    `flag` names the option in messages, e.g. "--json". Every command checks its outputs with this.
    """
    out = Path(out).expanduser()
    name = f"{flag} {out}" if flag else str(out)
    if out.exists() and not overwrite:
        raise UsageError(f"{name} already exists; pass --overwrite to replace it or choose another path")
    if file and out.is_dir():
        raise UsageError(f"{name} is a directory; pass a file path")
    if not file and out.exists() and not out.is_dir():
        raise UsageError(f"{name} exists and is not a directory; remove it or choose another path")
    if reason := unwritable_reason(out):
        raise UsageError(f"cannot write {name}: {reason}; choose an output path you can write to")


@contextmanager
def atomic_dir(out: Path, overwrite: bool = False):
    """Yield a temporary directory that replaces `out` only if the block finishes."""
    out = Path(out)
    check_writable_out(out, overwrite)
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.resolve().parent))
    try:
        yield tmp
        apply_umask(tmp)
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


@contextmanager
def atomic_file(path: Path, mode: str = "w", **open_kwargs):
    """Yield a file object on a temporary sibling of `path` that replaces it only if the block finishes."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
        apply_umask(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data) -> None:
    """Write JSON atomically (temporary file in the same folder, then rename)."""
    with atomic_file(path) as f:
        json.dump(data, f, indent=2)
        f.write("\n")


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
