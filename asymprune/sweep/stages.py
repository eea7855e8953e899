"""Stages: one folder each, `OUTPUT/stages/<stage>-<key>`, keyed by a hash of everything it depends on.

    stage = Stage("train", {"model": "src:t5-tiny", "dataset": "synthetic", "data": {}, "train": {...}}, root)
    stage.key, stage.out, stage.done          # '3f2a...', OUTPUT/stages/train-3f2a..., whether it finished

The key hashes the stage's inputs (and, through them, its parents' keys), the contents of the
local model folders and dataset files it reads, and the versions of asymprune, torch and
transformers. Every stage writes its folder atomically: a folder that exists is a finished
stage, so re-running skips it and a kill loses at most the stage in flight. Each stage is one
library call, found by name in the table of stage kinds (`stage_kinds.py`, which also executes
them); `OUTPUT/executions.jsonl` logs each one executed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

SMALL_FILE = 16 << 20  # files up to this size are fingerprinted by content, larger ones by size and mtime


@lru_cache(maxsize=None)
def _file_fingerprint(path: str, size: int, mtime_ns: int) -> str:
    if size > SMALL_FILE:
        return f"{size}:{mtime_ns}"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(path: Path) -> str:
    """A hash of a local file or folder's contents: each file's content when small, else size and mtime.

    Hidden files (names starting with '.', e.g. editors' or caches' own) are left out.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    digest = hashlib.sha256()
    for f in files:
        st = f.stat()
        name = f.name if f == path else f.relative_to(path).as_posix()
        digest.update(f"{name}\0{_file_fingerprint(str(f), st.st_size, st.st_mtime_ns)}\n".encode())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=None)
def _versions() -> dict:
    """The versions a stage's output depends on: a new one gives new keys, so stages run again."""
    from importlib.metadata import PackageNotFoundError, version

    from ..version import __version__

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:  # installed without metadata (some source builds)
            return __import__(name).__version__

    return {"asymprune": __version__, "torch": installed("torch"), "transformers": installed("transformers")}


def _local_inputs(inputs: dict) -> dict:
    """Fingerprints of the local model folders and dataset files a stage reads (by path)."""
    paths = [inputs.get("dataset"), (inputs.get("calibration") or {}).get("spec")]
    if str(inputs.get("model", "")).startswith("src:"):
        paths.append(inputs["model"][4:])
    return {p: fingerprint(Path(p).expanduser()) for p in paths if p and Path(p).expanduser().exists()}


# Settings that change what is watched, not what is made: left out of the key, so that turning a
# tracker on for a sweep that ran without one re-trains nothing.
UNHASHED_TRAIN = ("report_to",)


@dataclass
class Stage:
    name: str                  # prune, train, vocab, evaluate, bench or plan
    inputs: dict               # everything the output depends on (hashed into the key)
    root: Path                 # OUTPUT/stages
    run: str = ""              # a train stage's name in experiment trackers, e.g. t5-tiny-synthetic/6/3 (not hashed)

    @cached_property
    def key(self) -> str:
        """Hash of the inputs, the contents of the local files they name, and the library versions.

        Computed once per Stage, so the driver and a Ray worker (which receives it pickled) agree.
        """
        inputs = dict(self.inputs)
        if isinstance(inputs.get("train"), dict):
            inputs["train"] = {k: v for k, v in inputs["train"].items() if k not in UNHASHED_TRAIN}
        blob = json.dumps({"stage": self.name, **inputs, "local": _local_inputs(self.inputs),
                           "versions": _versions()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def out(self) -> Path:
        return self.root / f"{self.name}-{self.key}"

    @property
    def done(self) -> bool:
        return self.out.is_dir()


def model_path(ref: str, root: Path) -> str:
    """A stage input's model reference (src:PATH or stage:FOLDER) as a path."""
    kind, value = ref.split(":", 1)
    return value if kind == "src" else str(root / value)


@contextmanager
def stage_lock(stage: Stage):
    """An exclusive lock on one stage key, across processes (Ray workers, two sweeps of one OUTPUT).

    The kernel releases it when its holder dies, so a killed run never leaves a stage locked.
    """
    locks = stage.root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{stage.out.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def checkpoints(stage: Stage) -> Path:
    from ..train import CHECKPOINT_SUFFIX
    return stage.out.with_name(stage.out.name + CHECKPOINT_SUFFIX)


@dataclass
class Outcome:
    """What executing one stage gave; the Recorder turns it into rows of the results database."""
    stage: str
    key: str
    status: str                 # done, failed, interrupted
    started: float
    finished: float
    output: str
    result: dict = field(default_factory=dict)
    error: str | None = None
