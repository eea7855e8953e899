"""The table of sweep stages: a name -> the library call that writes its folder, and the file it leaves.

    @register_stage("pseudo_label", result="dataset.json")
    def pseudo_label(stage, model):        # model: the stage's input model, resolved to a path (or None)
        ...                                 # writes stage.out (atomically); its record is stage.out / result

    result = execute(stage, log)            # runs it unless its folder exists; its record, read back

`chains.py` builds stages by name; this table is the only place a name means a function, so a new
kind of step (distil-whisper's pseudo-labelling, say) is one more entry here.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..fsutil import atomic_dir, write_json
from ..plugins import load_plugins
from .stages import Stage, checkpoints, model_path, stage_lock


@dataclass(frozen=True)
class StageKind:
    name: str
    run: Callable[[Stage, str | None], None]  # writes stage.out, given the stage and its model's path
    result: str                               # the file in the stage's folder that is its record
    after: Callable[[Stage], None] | None = None  # once it is done, also when found done (tidying up)


STAGE_KINDS: dict[str, StageKind] = {}


def register_stage(name: str, *, result: str, after: Callable[[Stage], None] | None = None):
    """Decorator: make `run(stage, model)` the stage kind `name` (a later one of the same name replaces it)."""
    def add(run):
        STAGE_KINDS[name] = StageKind(name, run, result, after)
        return run
    return add


def execute(stage: Stage, log: Path) -> dict:
    """Run one stage unless its folder exists; return its result (read back from the folder).

    Chains that share a stage (with finetune_base false, one variant's prune for every dataset)
    may reach it at once: the first runs it under the stage's lock, the others wait, then find it
    done. A kind's `after` runs either way (a finished train stage's checkpoints are deleted, also
    when a kill came in between).
    """
    load_plugins()
    kind = STAGE_KINDS[stage.name]
    if not stage.done:
        with stage_lock(stage):
            if not stage.done:
                for stale in stage.root.glob(f".{stage.out.name}.tmp-*"):  # a killed run's half-written output
                    shutil.rmtree(stale, ignore_errors=True)
                kind.run(stage, model_path(stage.inputs["model"], stage.root) if "model" in stage.inputs else None)
                with open(log, "a") as f:
                    f.write(json.dumps({"stage": stage.name, "key": stage.key, "time": time.time(),
                                        "pid": os.getpid()}) + "\n")
    if kind.after is not None:
        kind.after(stage)
    return read_result(stage)


def read_result(stage: Stage) -> dict:
    path = stage.out / STAGE_KINDS[stage.name].result
    return json.loads(path.read_text()) if path.is_file() else {}


# ---------------------------------------------------------------- the built-in stages

@register_stage("prune", result="asymprune.json")
def _prune(stage: Stage, model: str) -> None:
    from ..data import DataConfig
    from ..prune import CalibrationConfig, prune_folder
    inputs = stage.inputs
    if "keep" in inputs:
        prune_folder(model, stage.out, inputs["keep"]["encoder"], inputs["keep"]["decoder"], presets=True,
                     overwrite=True)
    else:  # scored on calibration rows of the sweep's own split of the dataset: never its test rows
        counts = inputs["counts"]
        prune_folder(model, stage.out, counts["encoder"], counts["decoder"], inputs["strategy"],
                     CalibrationConfig(**inputs["calibration"]), data=DataConfig(**inputs["data"]),
                     presets=True, overwrite=True)


def _drop_checkpoints(stage: Stage) -> None:
    # The weights are in the stage's folder; checkpoints only served resuming.
    shutil.rmtree(checkpoints(stage), ignore_errors=True)


@register_stage("train", result="train.json", after=_drop_checkpoints)
def _train(stage: Stage, model: str) -> None:
    from ..data import DataConfig
    from ..train import TrainConfig, last_checkpoint, train
    inputs = stage.inputs
    config = TrainConfig(**inputs["train"])
    if config.distill_from and config.distill_from.startswith(("stage:", "src:")):  # `distill_from: base`
        config.distill_from = model_path(config.distill_from, stage.root)
    # Named after the run (model/variant), TensorBoard's files in OUTPUT/tensorboard/<name>: one
    # dashboard for the sweep, kept when the stage's checkpoints are deleted.
    config.run_name = stage.run or stage.out.name
    config.logging_dir = str(stage.root.parent / "tensorboard" / config.run_name)
    # An interrupted run left a complete checkpoint: continue from it. Killed before its first
    # one, or with only half-written ones (removed by last_checkpoint): start over, clean.
    config.resume = last_checkpoint(checkpoints(stage)) is not None
    if not config.resume:
        shutil.rmtree(checkpoints(stage), ignore_errors=True)
    train(model, stage.out, inputs["dataset"], config, data=DataConfig(**inputs["data"]), overwrite=True)


@register_stage("evaluate", result="metrics.json")
def _evaluate(stage: Stage, model: str) -> None:
    from ..data import DataConfig
    from ..evaluate import EvalConfig, evaluate_and_save
    inputs = stage.inputs
    config = EvalConfig(**inputs["evaluate"])
    if "assistant" in inputs:  # the lossless point: the full model verifying a variant's drafts
        config.assistant = model_path(inputs["assistant"], stage.root)
    # Scores go into the card of a model the sweep made (a stage's folder), never into a source folder.
    evaluate_and_save(model, inputs["dataset"], config, stage.out, data=DataConfig(**inputs["data"]),
                      overwrite=True, card=inputs["model"].startswith("stage:"))


@register_stage("vocab", result="vocab.json")
def _vocab(stage: Stage, model: str) -> None:
    from ..data import DataConfig
    from ..vocab import VocabConfig, reduce_vocabulary
    inputs = stage.inputs
    reduce_vocabulary(model, stage.out, inputs["dataset"], VocabConfig(**inputs["vocab"]),
                      data=DataConfig(**inputs["data"]), overwrite=True, size_flag="vocab.size")


@register_stage("bench", result="bench.json")
def _bench(stage: Stage, model: None) -> None:
    from ..bench import BenchConfig, run_bench
    from ..data import DataConfig
    inputs = stage.inputs
    models = [model_path(ref, stage.root) for ref in inputs["models"]]
    data = DataConfig(**inputs["data"]) if "data" in inputs else None
    assistants = [model_path(ref, stage.root) for ref in inputs.get("assistants", [])]
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
