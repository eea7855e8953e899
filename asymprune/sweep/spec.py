"""A sweep spec: what `asymprune sweep SPEC.yaml` runs, checked before any work.

    spec = load_spec("configs/paper-flan-t5.yaml")   # a SweepSpec, or one UsageError line naming the key and the fix
    check_sections(spec, "demo")                      # the same checks, for a spec built in code

Types and unknown keys are checked by pydantic, with strict models made from the dataclasses
that the sections fill (TrainConfig, EvalConfig, BenchConfig, ...), so each setting is declared
once. Its errors become asymprune's one line, the first key of the file that is wrong:
`spec.yaml: train: unknown key 'max_step'; known keys: ...` or `spec.yaml: train.max_steps must
be int | None, got 'ten'`. The settings' own checks, written for the CLI, run after, with
their errors naming spec keys (`bench.batch_sizes`) instead of flags (`--batch-sizes`).
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ConfigDict, ValidationError, create_model

from ..bench import BenchConfig, backend_for
from ..data import DataConfig
from ..errors import UsageError, first_line
from ..evaluate import EvalConfig
from ..evaluate import check_config as check_eval
from ..grid import PAPER_GRID, parse_variant
from ..prune import STRATEGIES, CalibrationConfig
from ..train import TrainConfig
from ..train import check_config as check_train
from ..vocab import VocabConfig


TEACHER_BASE = "base"  # `retrain: {distill_from: base}`: distil from the sweep's full model (after its fine-tune)


@dataclass
class SweepSpec:
    output_dir: str                                   # where stages, results.db and the report go
    models: list[str]                                 # hub ids, local paths or preset names
    datasets: list[str]                               # dataset SPECs (see asymprune.data)
    name: str = ""                                    # sweep name in the database; default: the spec file's stem
    grid: list = field(default_factory=lambda: list(PAPER_GRID))  # "E/D" in sixths, or {encoder: N, decoder: M}
    strategy: str = "paper"                           # layer selection; paper falls back to spread where it has no map
    calibration: dict = field(default_factory=dict)   # CalibrationConfig fields for angular/greedy-loss (spec: the dataset)
    finetune_base: bool = True                        # false: the models are already fine-tuned on the task
    control: bool = True                              # re-tune the full model like the variants: quality reference
    seed: int = 0
    data: dict = field(default_factory=dict)          # DataConfig fields (n, split_seed, ...)
    train: dict = field(default_factory=dict)         # TrainConfig fields for the base fine-tune
    retrain: dict = field(default_factory=dict)       # TrainConfig fields overriding `train` for variants
    evaluate: dict = field(default_factory=dict)      # EvalConfig fields
    bench: dict = field(default_factory=dict)         # BenchConfig fields; dataset: true times the test documents
    executor: dict = field(default_factory=dict)      # ray task resources: num_cpus, num_gpus
    min_speedup: float | None = None  # skip variants the planner predicts slower than this (batch = first bench batch size)
    vocab: dict | None = None         # VocabConfig fields: every variant keeps only its dataset's tokens (asymprune vocab)
    lossless: str | None = None       # a grid variant, e.g. "6/1": add the full model verifying its drafts (batch 1)


def bench_settings(bench: dict, dataset: str | None = None) -> dict:
    """BenchConfig fields of a spec's `bench` section; `dataset: true` becomes the sweep's dataset."""
    return {**bench, "dataset": dataset if bench.get("dataset") else None}


# ---------------------------------------------------------------- keys and types

@lru_cache(maxsize=None)
def _strict_model(cls, skip: tuple[str, ...]):
    """A pydantic model of dataclass `cls`'s fields but `skip`, each optional: strict types, no other keys."""
    hints = typing.get_type_hints(cls)
    return create_model(f"{cls.__name__}Keys", __config__=ConfigDict(extra="forbid", strict=True),
                        **{f.name: (hints[f.name], None) for f in fields(cls) if f.name not in skip})


def _type_name(hint) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def check_fields(values: dict, cls, where: str, skip: tuple[str, ...] = ()) -> None:
    """Every key of `values` is a field of dataclass `cls`, of the right type: else the first wrong key, in one line."""
    if not isinstance(values, dict):
        raise UsageError(f"{where} must be a mapping of settings, got {type(values).__name__}")
    try:
        _strict_model(cls, skip).model_validate(values)
    except ValidationError as e:
        order = list(values)
        key = min((err["loc"][0] for err in e.errors()), key=order.index)  # as the file lists them
        if key not in {f.name for f in fields(cls)} - set(skip):
            known = [f.name for f in fields(cls) if f.name not in skip]
            raise UsageError(f"{where}: unknown key '{key}'; known keys: {', '.join(known)}") from None
        hint = typing.get_type_hints(cls)[key]
        raise UsageError(f"{where}.{key} must be {_type_name(hint)}, got {values[key]!r}") from None


# ---------------------------------------------------------------- the spec

def load_spec(path: Path) -> SweepSpec:
    """Parse and validate a spec file; every error names the key and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"spec {path} not found; pass a YAML sweep spec (see configs/paper-flan-t5.yaml in the "
                         "asymprune repository, or run `asymprune demo` to write one)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid YAML ({first_line(e)}); fix the syntax") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path} must be a YAML mapping with output_dir, models and datasets")
    for required in ("output_dir", "models", "datasets"):
        if required not in raw:
            raise UsageError(f"{path}: missing key '{required}'")
    check_fields(raw, SweepSpec, str(path))
    spec = SweepSpec(**raw)
    spec.name = spec.name or path.stem
    check_sections(spec, str(path))
    return spec


def check_sections(spec: SweepSpec, where: str) -> None:
    """Every section's keys, types and settings; the grid, the strategy, the lossless variant."""
    check_fields(spec.data, DataConfig, f"{where}: data")
    own = ("resume", "checkpoint_dir", "run_name", "logging_dir")  # the sweep sets these per stage
    check_fields(spec.train, TrainConfig, f"{where}: train", skip=own)
    check_fields(spec.retrain, TrainConfig, f"{where}: retrain", skip=own)
    check_fields(spec.evaluate, EvalConfig, f"{where}: evaluate")
    if spec.lossless is not None:
        label = parse_variant(spec.lossless, "lossless").label
        grid = [parse_variant(v, "grid").label for v in spec.grid]
        if label not in grid or label.split("/")[1] == "6":
            raise UsageError(f"{where}: lossless: {spec.lossless!r} must be a decoder-pruned variant of the grid "
                             f"({', '.join(g for g in grid if not g.endswith('/6'))}); its drafts are verified by the "
                             "full model")
        bench = BenchConfig(**bench_settings(spec.bench))
        if 1 not in bench.batch_sizes or not backend_for(bench.backend).assisted:
            raise UsageError(f"{where}: lossless needs bench.batch_sizes to include 1 and the hf backend: assisted "
                             "generation runs one document at a time")
    if spec.vocab is not None:
        check_fields(spec.vocab, VocabConfig, f"{where}: vocab")
        VocabConfig(**spec.vocab).validate(f"{where}: vocab.size")
    check_fields({k: v for k, v in spec.bench.items() if k != "dataset"}, BenchConfig, f"{where}: bench",
                 skip=("dataset", "seed"))
    if spec.strategy not in STRATEGIES:
        raise UsageError(f"{where}: unknown strategy '{spec.strategy}'; choose one of: {', '.join(STRATEGIES)}")
    check_fields(spec.calibration, CalibrationConfig, f"{where}: calibration")
    if not isinstance(spec.bench.get("dataset", False), bool):
        raise UsageError(f"{where}: bench.dataset must be true (time the sweep's own test documents) or false, "
                         f"got {spec.bench['dataset']!r}")
    if spec.train.get("distill_from") == TEACHER_BASE:
        raise UsageError(f"{where}: train.distill_from: {TEACHER_BASE} names the model that train fine-tunes; put it under "
                         "retrain, where the variants and the control distil from the full model")
    train_cfg = TrainConfig(**spec.train)
    for section, validate in (("calibration", CalibrationConfig(**{"spec": "", **spec.calibration}).validate),
                              ("bench", BenchConfig(**bench_settings(spec.bench)).validate),
                              ("train", lambda: check_train(train_cfg)),
                              ("retrain", lambda: check_train(replace(train_cfg, **spec.retrain))),
                              ("evaluate", lambda: check_eval(EvalConfig(**spec.evaluate)))):
        _validate_section(validate, where, section)
    for key, value in spec.executor.items():
        if key not in ("num_cpus", "num_gpus"):
            raise UsageError(f"{where}: executor: unknown key '{key}'; known keys: num_cpus, num_gpus")
        if not isinstance(value, (int, float)) or value < 0:
            raise UsageError(f"{where}: executor.{key} must be a non-negative number, got {value!r}")
    if not spec.models or not spec.datasets:
        raise UsageError(f"{where}: models and datasets must each list at least one entry")
    if not spec.grid:
        raise UsageError(f"{where}: grid is empty; list variants like '6/3' or leave it out for the paper's 16")
    labels = [parse_variant(v, where).label for v in spec.grid]
    twice = next((label for i, label in enumerate(labels) if label in labels[:i]), None)
    if twice is not None:
        raise UsageError(f"{where}: grid: {twice} is listed twice; list each variant once")
    if spec.min_speedup is not None and not spec.min_speedup > 0:
        raise UsageError(f"{where}: min_speedup must be a positive number like 1.5, got {spec.min_speedup!r}")
    check_inputs(spec, where)


# ---------------------------------------------------------------- models, datasets, output_dir

def _local(entry: str) -> Path | None:
    """The real path of a model or dataset entry that names a local file or folder, else None."""
    from ..fsutil import real_path
    try:
        return real_path(entry) if isinstance(entry, str) and Path(entry).expanduser().exists() else None
    except OSError:  # a name too long to be a path
        return None


def _once(entries: list, key: str, where: str) -> None:
    """Each entry of `key` listed once: local paths compared after resolving links, others as written."""
    seen: dict = {}
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise UsageError(f"{where}: {key} entry {entry!r} must be a name or a path")
        local = _local(entry)
        ident = local or entry
        if ident in seen:
            same = f"'{seen[ident]}' and '{entry}' are the same {'path' if local else 'entry'}" \
                if seen[ident] != entry else f"'{entry}' is listed twice"
            raise UsageError(f"{where}: {key}: {same}; list each once")
        seen[ident] = entry


def check_inputs(spec: SweepSpec, where: str) -> None:
    """Before any work: each model and dataset listed once, every local dataset there and readable
    (loaded as the stages will load it), and output_dir outside every local model and dataset
    folder (their contents are hashed into the stage keys, so stages written inside them would
    change the keys of the stages that read them).

    Models are read (config and weight headers) when the plan is built; registered and hub
    datasets (synthetic, hf:NAME) are loaded by the stages that use them.
    """
    from ..data import DATASETS, DataConfig, load_dataset_spec
    from ..fsutil import real_path

    _once(spec.models, "models", where)
    _once(spec.datasets, "datasets", where)
    out = real_path(spec.output_dir)
    for key, entries in (("models", spec.models), ("datasets", spec.datasets)):
        for entry in entries:
            local = _local(entry)
            if local is not None and local.is_dir() and (out == local or local in out.parents):
                raise UsageError(f"{where}: output_dir {spec.output_dir} is inside the {key[:-1]} folder {entry}; "
                                 "its stages would change what the sweep reads, so choose a directory outside it")
    for dataset in spec.datasets:
        if (dataset in DATASETS and _local(dataset) is None) or dataset.startswith("hf:"):
            continue
        try:
            load_dataset_spec(dataset, DataConfig(**spec.data))
        except UsageError as e:
            raise UsageError(f"{where}: datasets: {e}") from None


def _validate_section(validate, where: str, section: str) -> None:
    """Run a settings check written for the CLI; its errors name spec keys (bench.batch_sizes), not flags."""
    try:
        validate()
    except UsageError as e:
        text, named = re.subn(r"--([a-z][a-z0-9-]*)",
                              lambda m: f"{section}." + m[1].replace("-", "_").removeprefix(f"{section}_"), str(e))
        raise UsageError(f"{where}: {text if named else f'{section}: {text}'}") from None
