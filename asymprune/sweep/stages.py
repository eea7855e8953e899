"""Stages: one folder each, `OUTPUT/stages/<stage>-<key>`, keyed by a hash of everything it depends on.

    stage = Stage("train", {"model": "src:t5-tiny", "dataset": "synthetic", "data": {}, "train": {...}}, root)
    stage.key, stage.out, stage.done          # '3f2a...', OUTPUT/stages/train-3f2a..., whether it finished
    result = execute(stage, log)               # runs it unless its folder exists; its record, read back

The key hashes the stage's inputs (and, through them, its parents' keys), the contents of the
local model folders and dataset files it reads, and the versions of asymprune, torch and
transformers. Every stage writes its folder atomically: a folder that exists is a finished
stage, so re-running skips it and a kill loses at most the stage in flight. Each stage is one
library call (see `_run_stage`); `OUTPUT/executions.jsonl` logs each one executed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from ..fsutil import atomic_dir, write_json

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


def _model_path(ref: str, root: Path) -> str:
    kind, value = ref.split(":", 1)
    return value if kind == "src" else str(root / value)


def _resolve(stage: Stage) -> str:
    return _model_path(stage.inputs["model"], stage.root)


@contextmanager
def _stage_lock(stage: Stage):
    """An exclusive lock on one stage key, across processes (Ray workers, two sweeps of one OUTPUT).

    The kernel releases it when its holder dies, so a killed run never leaves a stage locked.
    """
    locks = stage.root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{stage.out.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _checkpoints(stage: Stage) -> Path:
    from ..train import CHECKPOINT_SUFFIX
    return stage.out.with_name(stage.out.name + CHECKPOINT_SUFFIX)


def execute(stage: Stage, log: Path) -> dict:
    """Run one stage unless its folder exists; return its result (read back from the folder).

    Chains that share a stage (with finetune_base false, one variant's prune for every dataset)
    may reach it at once: the first runs it under the stage's lock, the others wait, then find it
    done. A finished train stage's checkpoints are deleted (also when a kill came in between).
    """
    if not stage.done:
        with _stage_lock(stage):
            if not stage.done:
                for stale in stage.root.glob(f".{stage.out.name}.tmp-*"):  # a killed run's half-written output
                    shutil.rmtree(stale, ignore_errors=True)
                _run_stage(stage)
                with open(log, "a") as f:
                    f.write(json.dumps({"stage": stage.name, "key": stage.key, "time": time.time(),
                                        "pid": os.getpid()}) + "\n")
    if stage.name == "train":  # the weights are in the stage's folder; checkpoints only served resuming
        shutil.rmtree(_checkpoints(stage), ignore_errors=True)
    return read_result(stage)


def _run_stage(stage: Stage) -> None:
    """The library call a stage stands for, writing its folder: prune_folder, train, evaluate_and_save,
    reduce_vocabulary or run_bench."""
    from ..data import DataConfig

    model = _resolve(stage) if "model" in stage.inputs else None
    inputs = stage.inputs
    if stage.name == "prune":
        from ..prune import CalibrationConfig, prune_folder
        if "keep" in inputs:
            prune_folder(model, stage.out, inputs["keep"]["encoder"], inputs["keep"]["decoder"], presets=True,
                         overwrite=True)
        else:  # scored on calibration rows of the sweep's own split of the dataset: never its test rows
            counts = inputs["counts"]
            prune_folder(model, stage.out, counts["encoder"], counts["decoder"], inputs["strategy"],
                         CalibrationConfig(**inputs["calibration"]), data=DataConfig(**inputs["data"]),
                         presets=True, overwrite=True)
    elif stage.name == "train":
        from ..train import TrainConfig, last_checkpoint, train
        config = TrainConfig(**inputs["train"])
        # Named after the run (model/variant), TensorBoard's files in OUTPUT/tensorboard/<name>: one
        # dashboard for the sweep, kept when the stage's checkpoints are deleted.
        config.run_name = stage.run or stage.out.name
        config.logging_dir = str(stage.root.parent / "tensorboard" / config.run_name)
        # An interrupted run left a complete checkpoint: continue from it. Killed before its first
        # one, or with only half-written ones (removed by last_checkpoint): start over, clean.
        config.resume = last_checkpoint(_checkpoints(stage)) is not None
        if not config.resume:
            shutil.rmtree(_checkpoints(stage), ignore_errors=True)
        train(model, stage.out, inputs["dataset"], config, data=DataConfig(**inputs["data"]), overwrite=True)
    elif stage.name == "evaluate":
        from ..evaluate import EvalConfig, evaluate_and_save
        config = EvalConfig(**inputs["evaluate"])
        if "assistant" in inputs:  # the lossless point: the full model verifying a variant's drafts
            config.assistant = _model_path(inputs["assistant"], stage.root)
        # Scores go into the card of a model the sweep made (a stage's folder), never into a source folder.
        evaluate_and_save(model, inputs["dataset"], config, stage.out, data=DataConfig(**inputs["data"]),
                          overwrite=True, card=inputs["model"].startswith("stage:"))
    elif stage.name == "vocab":
        from ..vocab import VocabConfig, reduce_vocabulary
        reduce_vocabulary(model, stage.out, inputs["dataset"], VocabConfig(**inputs["vocab"]),
                          data=DataConfig(**inputs["data"]), overwrite=True, size_flag="vocab.size")
    elif stage.name == "bench":
        from ..bench import BenchConfig, run_bench
        models = [_model_path(ref, stage.root) for ref in inputs["models"]]
        data = DataConfig(**inputs["data"]) if "data" in inputs else None
        assistants = [_model_path(ref, stage.root) for ref in inputs.get("assistants", [])]
        report = run_bench(models, BenchConfig(**{**inputs["bench"], "seed": inputs["seed"], "assistants": assistants}),
                           data=data)
        report["variants"] = inputs["variants"]  # results come per model, in this order, batch sizes within
        _latency_into_cards(stage, inputs["models"], models, report)
        with atomic_dir(stage.out, overwrite=True) as tmp:
            write_json(tmp / "bench.json", report)


def _latency_into_cards(stage: Stage, refs: list[str], paths: list[str], report: dict) -> None:
    """Each benched model the sweep made (a stage's folder) gets its rows in its model card, before the
    bench stage's folder is written: a kill in between leaves rows that the re-run's replace."""
    from ..models.card import add_latency
    baseline = f"the full model ({report['variants'][0]})"
    for ref, path in zip(refs, paths):
        rows = [r for r in report["results"] if r["model"] == path]
        if ref.startswith("stage:") and rows:
            add_latency(path, rows, report["env"], stage.out, baseline)


def read_result(stage: Stage) -> dict:
    files = {"prune": "asymprune.json", "train": "train.json", "evaluate": "metrics.json", "bench": "bench.json",
             "vocab": "vocab.json"}
    path = stage.out / files[stage.name]
    return json.loads(path.read_text()) if path.is_file() else {}


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
