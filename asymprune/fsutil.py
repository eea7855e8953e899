"""Atomic outputs: write to a temporary sibling, then rename; check writability before any work.

    check_writable_out(Path("out"), overwrite=False)            # a directory OUT, before the work
    check_writable_out(Path("r.json"), overwrite=False, file=True)  # a file, e.g. --json
    check_writable_out(Path("out"), overwrite=True, inputs=["runs/m", "news.jsonl"])  # never an input
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


def real_path(path) -> Path:
    """`path` with `~`, `..` and every symbolic link resolved (for a path that does not exist yet:
    as far as it exists)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def check_not_input(out: Path, inputs, name: str = "") -> None:
    """Refuse an output that is an input or holds one: writing it, or replacing it with --overwrite,
    would destroy the input. Paths are compared after resolving links; inputs that are not
    local paths (hub ids, preset and dataset names, None) are skipped. An output inside an
    input folder is allowed (evaluate's default is MODEL/eval-...): nothing of the input is lost.
    """
    target, name = real_path(out), name or str(out)
    for src in inputs:
        if not isinstance(src, (str, os.PathLike)) or not str(src):
            continue  # None, or a dataset given as a DatasetDict
        try:
            if not Path(src).expanduser().exists():
                continue
        except OSError:  # a name too long to be a path: a hub id or a dataset spec
            continue
        real = real_path(str(src))
        same = "" if os.path.normpath(str(src)) == os.path.normpath(str(out)) else " (the same path)"
        if real == target:
            raise UsageError(f"{name} is the input {src}{same}; write to another path (an input is never "
                             "replaced, with or without --overwrite)")
        if target in real.parents:
            raise UsageError(f"{name} contains the input {src}; replacing it would delete the input, so choose an "
                             "output path outside it")


def check_writable_out(out: Path, overwrite: bool, *, file: bool = False, flag: str = "", inputs=()) -> None:
    """Fail before any work if OUT is or holds one of `inputs`, exists (without --overwrite), is the
    wrong kind, or cannot be created.

    `file=True` for a single output file (--json, --csv); otherwise OUT is a directory.
    `flag` names the option in messages, e.g. "--json". `inputs`: the paths the command reads
    (model folders, dataset files, databases). Every command checks its outputs with this.
    """
    out = Path(out).expanduser()
    name = f"{flag} {out}" if flag else str(out)
    check_not_input(out, inputs, name)
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
