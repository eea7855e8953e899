"""`asymprune sweep SPEC.yaml`: the paper's grid as resumable, hash-keyed stages.

    asymprune sweep configs/paper-flan-t5.yaml            # runs what is not done yet
    asymprune sweep configs/paper-flan-t5.yaml --dry-run  # lists what would run

Per model x dataset: fine-tune the base and evaluate it; re-tune a copy of it with the variants'
recipe and evaluate that (the control: the same extra training, no pruning); per variant:
prune, re-fine-tune, evaluate. Once every chain of a model x dataset is trained, one `bench`
stage times the base, the control and every variant in a single interleaved run, so every
speed-up is a ratio of two numbers measured side by side; adding a variant later changes that
stage's key and re-benches the group. Benches run after all training, one at a time.

Every stage writes one folder `OUTPUT/stages/<stage>-<key>` atomically, where the key hashes
the stage's inputs (and, through them, its parents' keys). A folder that exists is a finished
stage, so re-running skips it and Ctrl-C loses at most the stage in flight. A failing variant
is recorded with its error and the others go on. Results go to `OUTPUT/results.db` (see
store.py); `OUTPUT/executions.jsonl` logs each stage executed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import typing
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

from .bench import BenchConfig
from .errors import UsageError
from .fsutil import atomic_dir, write_json

CONTROL = "control"  # the variant label of the re-tuned full model

# The paper's 16 (encoder, decoder) variants, in sixths of each stack.
PAPER_GRID = ["6/6", "6/5", "6/4", "6/3", "6/2", "6/1", "5/6", "4/6", "3/6", "2/6", "1/6",
              "5/5", "4/4", "3/3", "2/2", "1/1"]

# `asymprune demo` / `make demo`: the whole pipeline on 2 CPU cores. It starts from a t5-tiny
# base that has converged on the synthetic task (shipped: asymprune/assets/t5-tiny-synthetic,
# made by scripts/train_demo_base.py, whose log is beside it): quality comparisons between
# variants mean something only after the base has converged (shared notes). `--from-scratch`
# trains that base first, with the script's recipe.
DEMO_BASE = Path(__file__).resolve().parent / "assets" / "t5-tiny-synthetic"
DEMO_SPEC = dict(
    name="demo", models=[str(DEMO_BASE)], datasets=["synthetic"], finetune_base=False,
    grid=["6/6", "6/3", "6/1", "3/6", "1/6", "3/3"],
    data={"n": 2_000},  # re-tuning sees 1,920 of them: 120 steps of 16
    train={"learning_rate": 1e-3, "batch_size": 32, "per_device_batch_size": 32, "max_source_length": 256,
           "max_target_length": 64, "eval_samples": 100},
    retrain={"max_steps": 120, "learning_rate": 5e-4, "batch_size": 16, "per_device_batch_size": 16,
             "eval_steps": 120},
    evaluate={"max_new_tokens": 64, "batch_size": 50, "max_source_length": 256},
    bench={"batch_sizes": [1, 8], "source_length": 256, "new_tokens": 32, "runs": 10, "warmup": 2},
)
# `asymprune demo --from-scratch`: the base is trained here, as scripts/train_demo_base.py does.
DEMO_SCRATCH = dict(models=["t5-tiny"], finetune_base=True, data={"n": 20_000},
                    train={**DEMO_SPEC["train"], "lr_scheduler": "linear", "max_steps": 2400, "eval_steps": 200,
                           "eval_samples": 200, "patience": 3},
                    retrain={**DEMO_SPEC["retrain"], "lr_scheduler": "constant"})


def _train_config():
    from .train import TrainConfig
    return TrainConfig


def _eval_config():
    from .evaluate import EvalConfig
    return EvalConfig


def _data_config():
    from .data import DataConfig
    return DataConfig


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


# ---------------------------------------------------------------- validation

def _type_ok(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_type_ok(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_type_ok(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def check_fields(values: dict, cls, where: str, skip: tuple[str, ...] = ()) -> None:
    """Every key of `values` is a field of dataclass `cls`, of the right type."""
    if not isinstance(values, dict):
        raise UsageError(f"{where} must be a mapping of settings, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls) if f.name not in skip]
    for key, value in values.items():
        if key not in known:
            raise UsageError(f"{where}: unknown key '{key}'; known keys: {', '.join(known)}")
        if not _type_ok(value, hints[key]):
            raise UsageError(f"{where}.{key} must be {_type_name(hints[key])}, got {value!r}")


def load_spec(path: Path) -> SweepSpec:
    """Parse and validate a spec file; every error names the key and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"spec {path} not found; pass a YAML sweep spec (see configs/paper-flan-t5.yaml in the "
                         "asymprune repository, or run `asymprune demo` to write one)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid YAML ({str(e).splitlines()[0]}); fix the syntax") from None
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
    check_fields(spec.data, _data_config(), f"{where}: data")
    check_fields(spec.train, _train_config(), f"{where}: train", skip=("resume", "checkpoint_dir"))
    check_fields(spec.retrain, _train_config(), f"{where}: retrain", skip=("resume", "checkpoint_dir"))
    check_fields(spec.evaluate, _eval_config(), f"{where}: evaluate")
    if spec.lossless is not None:
        label = parse_variant(spec.lossless, "lossless").label
        grid = [parse_variant(v, "grid").label for v in spec.grid]
        if label not in grid or label.split("/")[1] == "6":
            raise UsageError(f"{where}: lossless: {spec.lossless!r} must be a decoder-pruned variant of the grid "
                             f"({', '.join(g for g in grid if not g.endswith('/6'))}); its drafts are verified by the "
                             "full model")
        if 1 not in BenchConfig(**bench_settings(spec.bench)).batch_sizes or spec.bench.get("backend", "hf") != "hf":
            raise UsageError(f"{where}: lossless needs bench.batch_sizes to include 1 and the hf backend: assisted "
                             "generation runs one document at a time")
    if spec.vocab is not None:
        from .vocab import VocabConfig
        check_fields(spec.vocab, VocabConfig, f"{where}: vocab")
        VocabConfig(**spec.vocab).validate()
    check_fields({k: v for k, v in spec.bench.items() if k != "dataset"}, BenchConfig, f"{where}: bench",
                 skip=("dataset", "seed"))
    from .importance import CalibrationConfig
    from .prune import STRATEGIES
    if spec.strategy not in STRATEGIES:
        raise UsageError(f"{where}: unknown strategy '{spec.strategy}'; choose one of: {', '.join(STRATEGIES)}")
    check_fields(spec.calibration, CalibrationConfig, f"{where}: calibration")
    if not isinstance(spec.bench.get("dataset", False), bool):
        raise UsageError(f"{where}: bench.dataset must be true (time the sweep's own test documents) or false, "
                         f"got {spec.bench['dataset']!r}")
    from .evaluate import check_config as check_eval
    from .train import check_config as check_train
    train_cfg = _train_config()(**spec.train)
    for section, validate in (("calibration", CalibrationConfig(**{"spec": "", **spec.calibration}).validate),
                              ("bench", BenchConfig(**bench_settings(spec.bench)).validate),
                              ("train", lambda: check_train(train_cfg)),
                              ("retrain", lambda: check_train(replace(train_cfg, **spec.retrain))),
                              ("evaluate", lambda: check_eval(_eval_config()(**spec.evaluate)))):
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
    if spec.min_speedup is not None and not spec.min_speedup > 0:
        raise UsageError(f"{where}: min_speedup must be a positive number like 1.5, got {spec.min_speedup!r}")


def _validate_section(validate, where: str, section: str) -> None:
    """Run a settings check written for the CLI; its errors name spec keys (bench.batch_sizes), not flags."""
    try:
        validate()
    except UsageError as e:
        text, named = re.subn(r"--([a-z][a-z0-9-]*)",
                              lambda m: f"{section}." + m[1].replace("-", "_").removeprefix(f"{section}_"), str(e))
        raise UsageError(f"{where}: {text if named else f'{section}: {text}'}") from None


# ---------------------------------------------------------------- the plan

@dataclass
class Variant:
    label: str                 # "6/3" (sixths) or "8/2" (layer counts) as the database names it
    encoder: str | int         # selection passed to prune: "6/6"-style fraction or a count
    decoder: str | int


def parse_variant(entry, where: str) -> Variant:
    if isinstance(entry, (list, tuple)) and len(entry) == 2:
        entry = f"{entry[0]}/{entry[1]}"
    if isinstance(entry, str):
        parts = entry.split("/")
        if len(parts) == 2 and all(p.strip().isdigit() and 1 <= int(p) <= 6 for p in parts):
            e, d = (int(p) for p in parts)
            return Variant(f"{e}/{d}", f"{e}/6", f"{d}/6")
    if isinstance(entry, dict) and set(entry) == {"encoder", "decoder"} and \
            all(isinstance(v, int) and not isinstance(v, bool) for v in entry.values()):
        return Variant(f"{entry['encoder']}L/{entry['decoder']}L", entry["encoder"], entry["decoder"])
    raise UsageError(f"{where}: grid entry {entry!r} is not a variant; use sixths like '6/3' (encoder/decoder, 1-6) "
                     "or layer counts like {encoder: 8, decoder: 2}")


def select(config, variant: Variant, strategy: str) -> tuple[dict, str]:
    """Kept indices and the strategy actually used (paper falls back to spread without a map).

    Data-driven strategies choose indices only once the base is trained: here they get spread's
    indices, which carry the right counts.
    """
    from .prune import CALIBRATED, PAPER_MAPS, plan_pruning
    if strategy in CALIBRATED:
        return plan_pruning(config, variant.encoder, variant.decoder, "spread"), strategy
    if strategy == "paper":
        from .models import family_for
        counts = family_for(config).layer_counts(config)
        if any(n not in PAPER_MAPS for n in counts.values()):
            strategy = "spread"
        else:
            try:
                return plan_pruning(config, variant.encoder, variant.decoder, "paper"), "paper"
            except UsageError:
                strategy = "spread"
    return plan_pruning(config, variant.encoder, variant.decoder, strategy), strategy


def kind_of(keep: dict, totals: dict) -> str:
    enc, dec = len(keep["encoder"]) < totals["encoder"], len(keep["decoder"]) < totals["decoder"]
    return {(False, False): "full", (True, False): "encoder", (False, True): "decoder"}.get((enc, dec), "both")


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

    from . import __version__

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


@dataclass
class Stage:
    name: str                  # train, evaluate, bench or prune
    inputs: dict               # everything the output depends on (hashed into the key)
    root: Path                 # OUTPUT/stages

    @cached_property
    def key(self) -> str:
        """Hash of the inputs, the contents of the local files they name, and the library versions.

        Computed once per Stage, so the driver and a Ray worker (which receives it pickled) agree.
        """
        blob = json.dumps({"stage": self.name, **self.inputs, "local": _local_inputs(self.inputs),
                           "versions": _versions()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def out(self) -> Path:
        return self.root / f"{self.name}-{self.key}"

    @property
    def done(self) -> bool:
        return self.out.is_dir()


@dataclass
class Chain:
    """The stages of one database run, executed in order."""
    model: str
    dataset: str
    variant: str
    run_fields: dict
    stages: list[Stage]
    base: bool = False
    skipped: str | None = None  # why the planner skips this chain (min_speedup); None: it runs
    model_ref: str = ""         # the model this chain ends with: what its group's bench times
    draft_ref: str = ""         # lossless chains: the model whose drafts the full model verifies
    draft_of: str = ""          # lossless chains: that model's variant label
    status: str | None = None   # after run_sweep: the run's status in the database (done, failed, skipped, ...)
    error: str | None = None    # after run_sweep: why it failed or was skipped

    @property
    def finished(self) -> bool:
        return not self.skipped and all(s.done for s in self.stages)


def bench_settings(bench: dict, dataset: str | None = None) -> dict:
    """BenchConfig fields of a spec's `bench` section; `dataset: true` becomes the sweep's dataset."""
    return {**bench, "dataset": dataset if bench.get("dataset") else None}


@dataclass
class BenchGroup:
    """The base, the control and every variant of one model x dataset: benched together, once trained.

    Its stage's key lists the models benched, so a variant that joins later (a grid entry added,
    a failed run that now finished) gives a new stage and a fresh interleaved run of the group.
    """
    model: str
    dataset: str
    chains: list[Chain]        # the base first
    inputs: dict               # bench settings and seed; the dataset and data config in dataset mode
    root: Path

    def members(self, planned: bool = False) -> list[Chain]:
        """Chains to bench: the finished ones (or, `planned`, every chain that is not skipped).

        A lossless chain is not a model of its own: it joins as the full model assisted by its
        draft, at batch 1, when its draft is a member too."""
        ready = [c for c in self.chains if (not c.skipped if planned else c.finished)]
        labels = {c.variant for c in ready if not c.draft_ref}
        return [c for c in ready if not c.draft_ref or c.draft_of in labels]

    def stage(self, members: list[Chain]) -> Stage:
        models, assisted = [c for c in members if not c.draft_ref], [c for c in members if c.draft_ref]
        extra = {"assistants": [c.draft_ref for c in assisted]} if assisted else {}
        return Stage("bench", {**self.inputs, **extra, "models": [c.model_ref for c in models],
                               "variants": [c.variant for c in models + assisted]}, self.root)


def _model_ref(stage: Stage | None, src: str) -> str:
    return f"stage:{stage.out.name}" if stage else f"src:{src}"


def build_plan(spec: SweepSpec) -> list[Chain]:
    """Every chain of the sweep, bases first; validates every variant against every model."""
    from .models import family_for, load_config
    from .prune import CALIBRATED
    root = Path(spec.output_dir) / "stages"
    variants = [parse_variant(v, "grid") for v in spec.grid]
    train_cfg = {**spec.train, "seed": spec.train.get("seed", spec.seed)}
    retrain_cfg = {**train_cfg, **spec.retrain}
    chains = []
    for model in spec.models:
        config = load_config(model, presets=True)
        totals = family_for(config).layer_counts(config)
        plans = {}
        for v in variants:
            try:
                plans[v.label] = select(config, v, spec.strategy)
            except UsageError as e:
                raise UsageError(f"variant {v.label} is impossible for {model}: {e}") from None
        for dataset in spec.datasets:
            drafts = {}  # variant label -> its re-tuned model, before any vocabulary reduction
            common = {"dataset": dataset, "data": spec.data}
            trained = Stage("train", {"model": _model_ref(None, model), **common, "train": train_cfg}, root) \
                if spec.finetune_base else None
            ref = _model_ref(trained, model)
            base_stages = [s for s in (trained,) if s] + [
                Stage("evaluate", {"model": ref, **common, "evaluate": spec.evaluate}, root)]
            full = {"encoder": list(range(totals["encoder"])), "decoder": list(range(totals["decoder"]))}
            full_fields = dict(encoder_layers=totals["encoder"], decoder_layers=totals["decoder"],
                               encoder_total=totals["encoder"], decoder_total=totals["decoder"], strategy=None,
                               kept=full)
            chains.append(Chain(model, dataset, "6/6", dict(kind="full", **full_fields), base_stages, base=True,
                                model_ref=ref))
            if spec.control:  # the full model with the variants' extra training: what pruning is judged against
                retuned = Stage("train", {"model": ref, **common, "train": retrain_cfg}, root)
                cref = _model_ref(retuned, model)
                chains.append(Chain(model, dataset, CONTROL, dict(kind="control", **full_fields), [
                    retuned, Stage("evaluate", {"model": cref, **common, "evaluate": spec.evaluate}, root)],
                    model_ref=cref))
            for v in variants:
                keep, strategy = plans[v.label]
                if kind_of(keep, totals) == "full":
                    continue  # the full variant is the base itself
                if strategy in CALIBRATED:  # indices come from scoring the trained base
                    counts = {s: len(keep[s]) for s in keep}
                    pruned = Stage("prune", {"model": ref, "counts": counts, "strategy": strategy, "data": spec.data,
                                             "calibration": {"spec": dataset, **spec.calibration}}, root)
                else:
                    pruned = Stage("prune", {"model": ref, "keep": keep}, root)
                retrained = Stage("train", {"model": _model_ref(pruned, model), **common, "train": retrain_cfg}, root)
                vref = drafts[v.label] = _model_ref(retrained, model)  # a draft keeps the full vocabulary
                shrunk = Stage("vocab", {"model": vref, **common, "vocab": spec.vocab}, root) if spec.vocab is not None \
                    else None
                vref = _model_ref(shrunk, model) if shrunk else vref
                chains.append(Chain(model, dataset, v.label, dict(
                    kind=kind_of(keep, totals), encoder_layers=len(keep["encoder"]),
                    decoder_layers=len(keep["decoder"]), encoder_total=totals["encoder"],
                    decoder_total=totals["decoder"], strategy=strategy,
                    kept=None if strategy in CALIBRATED else keep), [
                    pruned, retrained, *([shrunk] if shrunk else []),
                    Stage("evaluate", {"model": vref, **common, "evaluate": spec.evaluate}, root)],
                    model_ref=vref))
            if spec.lossless:
                label = parse_variant(spec.lossless, "lossless").label
                chains.append(Chain(model, dataset, f"lossless {label}", dict(kind="lossless", **full_fields), [
                    Stage("evaluate", {"model": ref, **common, "evaluate": {**spec.evaluate, "batch_size": 1},
                                       "assistant": drafts[label]}, root)],
                    model_ref=ref, draft_ref=drafts[label], draft_of=label))
    return chains


def bench_groups(spec: SweepSpec, chains: list[Chain]) -> list[BenchGroup]:
    """One group per model x dataset, in plan order; its stage benches all its chains at once."""
    root = Path(spec.output_dir) / "stages"
    groups: dict[tuple, BenchGroup] = {}
    for c in chains:
        if (c.model, c.dataset) not in groups:
            inputs = {"bench": bench_settings(spec.bench, c.dataset), "seed": spec.seed}
            if spec.bench.get("dataset"):
                inputs["data"] = spec.data
            groups[(c.model, c.dataset)] = BenchGroup(c.model, c.dataset, [], inputs, root)
        groups[(c.model, c.dataset)].chains.append(c)
    return list(groups.values())


# ---------------------------------------------------------------- execution

def _model_path(ref: str, root: Path) -> str:
    kind, value = ref.split(":", 1)
    return value if kind == "src" else str(root / value)


def _resolve(stage: Stage) -> str:
    return _model_path(stage.inputs["model"], stage.root)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


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
    from .train import CHECKPOINT_SUFFIX
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
    model = _resolve(stage) if "model" in stage.inputs else None
    inputs = stage.inputs
    if stage.name == "prune":
        from .importance import CalibrationConfig, plan_calibrated
        from .models import load_model, load_tokenizer
        from .prune import apply_pruning, param_counts, save_pruned
        m, tok = load_model(model, presets=True), load_tokenizer(model, presets=True)
        keep, scores = inputs.get("keep"), None
        if keep is None:
            counts = inputs["counts"]
            # Calibration rows come from the sweep's own split of the dataset: never its test rows.
            from .data import DataConfig
            keep, scores = plan_calibrated(m, tok, counts["encoder"], counts["decoder"], inputs["strategy"],
                                           CalibrationConfig(**inputs["calibration"]),
                                           data=DataConfig(**inputs["data"]))
        before = param_counts(m)
        apply_pruning(m, keep)
        save_pruned(m, tok, stage.out, {"source": model, "kept": keep, "params_before": before,
                                        "params_after": param_counts(m), **({"scores": scores} if scores else {})},
                    overwrite=True)
    elif stage.name == "train":
        from .data import DataConfig
        from .train import TrainConfig, last_checkpoint, train
        config = TrainConfig(**inputs["train"])
        # An interrupted run left a complete checkpoint: continue from it. Killed before its first
        # one, or with only half-written ones (removed by last_checkpoint): start over, clean.
        config.resume = last_checkpoint(_checkpoints(stage)) is not None
        if not config.resume:
            shutil.rmtree(_checkpoints(stage), ignore_errors=True)
        train(model, stage.out, inputs["dataset"], config, data=DataConfig(**inputs["data"]), overwrite=True)
    elif stage.name == "evaluate":
        from .data import DataConfig
        from .evaluate import EvalConfig, evaluate, save_evaluation
        config = EvalConfig(**inputs["evaluate"])
        if "assistant" in inputs:  # the lossless point: the full model verifying a variant's drafts
            config.assistant = _model_path(inputs["assistant"], stage.root)
        result = evaluate(model, inputs["dataset"], config, data=DataConfig(**inputs["data"]))
        save_evaluation(result, stage.out, overwrite=True)
    elif stage.name == "vocab":
        from .data import DataConfig
        from .vocab import VocabConfig, reduce_vocabulary
        reduce_vocabulary(model, stage.out, inputs["dataset"], VocabConfig(**inputs["vocab"]),
                          data=DataConfig(**inputs["data"]), overwrite=True)
    elif stage.name == "bench":
        from .bench import run_bench
        from .data import DataConfig
        models = [_model_path(ref, stage.root) for ref in inputs["models"]]
        data = DataConfig(**inputs["data"]) if "data" in inputs else None
        assistants = [_model_path(ref, stage.root) for ref in inputs.get("assistants", [])]
        report = run_bench(models, BenchConfig(**{**inputs["bench"], "seed": inputs["seed"], "assistants": assistants}),
                           data=data)
        report["variants"] = inputs["variants"]  # results come per model, in this order, batch sizes within
        with atomic_dir(stage.out, overwrite=True) as tmp:
            write_json(tmp / "bench.json", report)


def read_result(stage: Stage) -> dict:
    files = {"prune": "asymprune.json", "train": "train.json", "evaluate": "metrics.json", "bench": "bench.json",
             "vocab": "vocab.json"}
    path = stage.out / files[stage.name]
    return json.loads(path.read_text()) if path.is_file() else {}


@dataclass
class Outcome:
    stage: str
    key: str
    status: str                 # done, failed, interrupted
    started: float
    finished: float
    output: str
    result: dict = field(default_factory=dict)
    error: str | None = None


def run_chain(chain: Chain, log: Path, on_outcome=None) -> list[Outcome]:
    """Execute a chain's stages in order; stop at the first failure (recorded, not raised)."""
    outcomes = []
    for stage in chain.stages:
        started = time.time()
        try:
            result = execute(stage, log)
            outcome = Outcome(stage.name, stage.key, "done", started, time.time(), str(stage.out), result)
        except KeyboardInterrupt:
            outcome = Outcome(stage.name, stage.key, "interrupted", started, time.time(), str(stage.out),
                              error="interrupted")
            if on_outcome:
                on_outcome(chain, outcome)
            raise
        except Exception as e:  # a failed variant must not stop the sweep
            outcome = Outcome(stage.name, stage.key, "failed", started, time.time(), str(stage.out),
                              error=_first_line(e))
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(chain, outcome)
        if outcome.status != "done":
            break
    return outcomes


class Recorder:
    """Writes outcomes into the results database (the driver is its only writer)."""

    def __init__(self, store, sweep: str, config: dict):
        self.store, self.sweep, self.config = store, sweep, config

    def run_id(self, chain: Chain) -> int:
        return self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, config=self.config,
                                     **chain.run_fields)

    def start(self, chain: Chain) -> None:
        self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status="running", error=None)

    def __call__(self, chain: Chain, outcome: Outcome) -> None:
        if outcome.status == "done" and outcome.stage == "prune" and "kept" in outcome.result:
            chain.run_fields["kept"] = outcome.result["kept"]  # data-driven indices are known only now
        run = self.run_id(chain)
        self.store.record_stage(run, outcome.stage, outcome.key, outcome.status, outcome.started, outcome.finished,
                                outcome.error, outcome.output)
        if outcome.status == "done" and outcome.stage == "evaluate":
            m = outcome.result
            split = m.get("split", "test")
            self.store.record_metrics(run, split, {**m, "n_samples": m.get("samples")})
            predictions = Path(outcome.output) / "predictions.jsonl"
            if predictions.is_file():
                self.store.record_documents(run, split, [json.loads(line) for line in predictions.open()])
        last = outcome.stage == chain.stages[-1].name and outcome.key == chain.stages[-1].key
        if outcome.status != "done":
            self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status=outcome.status,
                                  error=f"{outcome.stage}: {outcome.error}")
        elif last:
            self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status="done", error=None)

    def bench(self, members: list[Chain], outcome: Outcome) -> None:
        """A group's interleaved bench: every member's latency rows carry the same bench_id."""
        report = outcome.result
        for chain in members:
            run = self.run_id(chain)
            self.store.record_stage(run, "bench", outcome.key, outcome.status, outcome.started, outcome.finished,
                                    outcome.error, outcome.output)
            if outcome.status != "done":
                self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status=outcome.status,
                                      error=f"bench: {outcome.error}")
        if outcome.status != "done":
            return
        env = report["env"]
        where = dict(dtype=env["dtype"], device=env["device"], source_length=env["source_length"],
                     new_tokens=env["new_tokens"], dataset=env["dataset"], bench_id=outcome.key,
                     hardware=env["gpu"] or env["cpu"], torch=env["torch"], transformers=env["transformers"],
                     ctranslate2=env["ctranslate2"])
        order = list(dict.fromkeys(r["model"] for r in report["results"]))
        for chain, model in zip(members, order):
            rows = [r for r in report["results"] if r["model"] == model]
            run = self.run_id(chain)
            self.store.record_latency(run, [{**r, **where, "gen_len": r["generated_tokens_mean"]} for r in rows])
            self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant,
                                  params=rows[0]["params"]["total"])

    def skip(self, chain: Chain, reason: str) -> None:
        self.run_id(chain)
        self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status="skipped", error=reason)


def check_output_dir(path: Path) -> None:
    from .fsutil import unwritable_reason
    path = Path(path)
    reason = "it is not a directory" if path.exists() and not path.is_dir() else unwritable_reason(path / "results.db")
    if reason:
        raise UsageError(f"output_dir {path} cannot be written: {reason}; choose a directory you can write to")


def run_sweep(spec: SweepSpec, executor: str = "local", address: str | None = None, dry_run: bool = False,
              console=None) -> list[Chain]:
    """Plan, validate and run (or list) the sweep; returns the chains, each with its status and error.

        chains = run_sweep(load_spec("configs/demo.yaml"))
        failed = [c for c in chains if c.status == "failed"]   # e.g. to exit non-zero
    """
    from .store import Store

    out = Path(spec.output_dir)
    check_output_dir(out)
    if executor not in ("local", "ray"):
        raise UsageError(f"unknown executor '{executor}'; choose local or ray")
    db_path = out / "results.db"
    if db_path.exists():
        Store(db_path, create=False).close()  # refuse a newer schema before any work
    chains = build_plan(spec)
    if executor == "ray":
        ray = _ray(address)
    say = console.print if console is not None else (lambda *a, **k: None)
    skip_slow_variants(spec, chains, say)
    groups = bench_groups(spec, chains)
    if dry_run:
        return chains
    out.mkdir(parents=True, exist_ok=True)
    (out / "stages").mkdir(exist_ok=True)
    store = Store(db_path)
    recorder = Recorder(store, spec.name, {k: v for k, v in asdict(spec).items() if k not in ("models", "datasets")})
    log = out / "executions.jsonl"
    try:
        if executor == "local":
            _run_local(chains, recorder, log, say)
            _bench_local(groups, recorder, log, say)
        else:
            _run_ray(ray, chains, recorder, log, say, spec.executor)
            _bench_ray(ray, groups, recorder, log, say, spec.executor)
        statuses = store.run_statuses(spec.name)
        for c in chains:
            c.status, c.error = statuses.get((c.model, c.dataset, c.variant), (None, None))
    finally:
        store.close()
    return chains


def skip_slow_variants(spec: SweepSpec, chains: list[Chain], say) -> None:
    """With `min_speedup`: mark the variant chains the planner predicts slower than it as skipped.

    The planner times each model's three shapes (full, decoder cut, encoder cut) with the spec's
    bench settings at the first batch size, as a cached `plan` stage: a dry run measures once
    and the real run reuses it, so both skip the same variants. Bases and controls always run
    (they are the references), and a chain whose stages are all done already is kept (skipping
    saves nothing).
    """
    if spec.min_speedup is None:
        return  # no planner, no measurement: exactly the sweep without the option
    from .plan import measure, predict_speedups
    root = Path(spec.output_dir) / "stages"
    bench = {**spec.bench, "batch_sizes": BenchConfig(**spec.bench).batch_sizes[:1], "seed": spec.seed}
    for model in dict.fromkeys(c.model for c in chains):
        stage = Stage("plan", {"model": _model_ref(None, model), "bench": bench}, root)
        if not stage.done:
            say(f"planner: timing {model} full, decoder cut and encoder cut for min_speedup {spec.min_speedup:g}×")
            fitted = measure(model, BenchConfig(**bench))
            with atomic_dir(stage.out, overwrite=True) as tmp:
                write_json(tmp / "plan.json", fitted)
        fitted = json.loads((stage.out / "plan.json").read_text())
        mine = [c for c in chains if c.model == model and not c.base and c.variant != CONTROL
                and not all(s.done for s in c.stages)]
        speedups = predict_speedups(fitted, {c.variant: (c.run_fields["encoder_layers"], c.run_fields["decoder_layers"])
                                             for c in mine})
        slow = []
        for c in mine:
            x = speedups[c.variant]
            if x is None or x < spec.min_speedup - 1e-9:
                c.skipped = (f"planner predicts {'no speed-up' if x is None else f'{x:.2f}×'} < min_speedup "
                             f"{spec.min_speedup:g}× at batch {bench['batch_sizes'][0]}")
                slow.append(f"{c.variant} ({'n/a' if x is None else f'{x:.2f}×'})")
        if slow:
            say(f"min_speedup {spec.min_speedup:g}×: skipping {model} {', '.join(dict.fromkeys(slow))}")


def _skip_reason(chain: Chain, failed_bases: set) -> str | None:
    """Why a chain must not run (the planner ruled it out, or its base failed); None: it runs."""
    if chain.skipped:
        return chain.skipped
    if not chain.base and (chain.model, chain.dataset) in failed_bases:
        return "the base model's stages failed"
    return None


def _run_local(chains: list[Chain], recorder: Recorder, log: Path, say) -> None:
    failed_bases = set()
    for i, chain in enumerate(chains, 1):
        if reason := _skip_reason(chain, failed_bases):
            recorder.skip(chain, reason)
            continue
        todo = [s.name for s in chain.stages if not s.done]
        say(f"[{i}/{len(chains)}] {chain.model} {chain.dataset} {chain.variant}: "
            + (f"running {', '.join(todo)}" if todo else "done already"))
        recorder.run_id(chain)
        recorder.start(chain)
        outcomes = run_chain(chain, log, on_outcome=recorder)
        if outcomes[-1].status != "done":
            say(f"  [red]failed[/] at {outcomes[-1].stage}: {outcomes[-1].error}")
            if chain.base:
                failed_bases.add((chain.model, chain.dataset))


def _bench_members(group: BenchGroup, say) -> list[Chain] | None:
    """The chains a group's bench times now, or None when its base is not finished."""
    members = group.members()
    if not members or not members[0].base:
        return None
    missing = [c.variant for c in group.chains if not c.skipped and not c.finished]
    if missing:
        say(f"  bench {group.model} {group.dataset}: without {', '.join(missing)} (not finished); "
            "they are benched with the group once they finish")
    return members


def _bench_local(groups: list[BenchGroup], recorder: Recorder, log: Path, say) -> None:
    """Each group's interleaved bench, after all training: nothing else runs beside it."""
    for group in groups:
        members = _bench_members(group, say)
        if members is None:
            continue
        stage = group.stage(members)
        say(f"bench {group.model} {group.dataset}: {', '.join(c.variant for c in members)} "
            + ("done already" if stage.done else "in one interleaved run"))
        outcome = run_chain(Chain(group.model, group.dataset, "bench", {}, [stage]), log)[-1]
        recorder.bench(members, outcome)
        if outcome.status != "done":
            say(f"  [red]failed[/] at bench: {outcome.error}")


def _ray(address: str | None):
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray; install it with pip install 'asymprune[ray]'") from None
    if address and address != "auto" and ":" in address:
        # ray.init retries an unreachable address for many minutes; fail fast instead.
        import socket
        host, port = address.rsplit(":", 1)
        try:
            socket.create_connection((host.removeprefix("ray://"), int(port)), timeout=5).close()
        except (OSError, ValueError) as e:
            raise UsageError(f"could not reach Ray at {address} ({e}); start one with `ray start --head` "
                             "or pass --address") from None
    try:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UsageError(f"could not reach Ray at {address or 'a new local instance'} ({_first_line(e)}); "
                         "start one with `ray start --head` or pass --address") from None
    return ray


def _chain_task(chain: Chain, log: str) -> list[Outcome]:
    from .cli import _quiet_transformers
    _quiet_transformers()
    return run_chain(chain, Path(log))


def _bench_ray(ray, groups: list[BenchGroup], recorder: Recorder, log: Path, say, resources: dict) -> None:
    """Group benches as Ray tasks, one at a time and only after every chain task has ended, so no
    training shares the node. The bench sets its threads itself (every core, or bench.threads):
    Ray's OMP_NUM_THREADS=num_cpus does not reach it."""
    task = ray.remote(num_cpus=resources.get("num_cpus", 1), num_gpus=resources.get("num_gpus", 0))(_chain_task)
    for group in groups:
        members = _bench_members(group, say)
        if members is None:
            continue
        stage = group.stage(members)
        chain = Chain(group.model, group.dataset, "bench", {}, [stage])
        outcome = _task_outcomes(ray, task.remote(chain, str(log.resolve())), chain, time.time())[-1]
        recorder.bench(members, outcome)
        say(f"bench {group.model} {group.dataset}: {outcome.status}")


def _task_outcomes(ray, ref, chain: Chain, submitted: float) -> list[Outcome]:
    """A chain task's outcomes; when its worker died, its finished stages and a failure naming the cause.

    The worker reports nothing once dead, so the stages are read from disk: the finished ones have
    their folders, and the first without one was in flight.
    """
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        now, outcomes = time.time(), []
        for stage in chain.stages:
            if stage.done:
                outcomes.append(Outcome(stage.name, stage.key, "done", submitted, now, str(stage.out),
                                        read_result(stage)))
                continue
            outcomes.append(Outcome(stage.name, stage.key, "failed", submitted, now, str(stage.out),
                                    error=f"the Ray worker running it died ({_first_line(e)}); run the sweep "
                                          "again to resume"))
            break
        return outcomes


def _run_ray(ray, chains: list[Chain], recorder: Recorder, log: Path, say, resources: dict) -> None:
    """One Ray task per chain: bases first, then every variant chain at once."""
    # max_retries=0: a task whose process died (killed, out of memory) is that chain's failure,
    # reported with its cause; the next run resumes it from its last finished stage.
    task = ray.remote(num_cpus=resources.get("num_cpus", 1), num_gpus=resources.get("num_gpus", 0),
                      max_retries=0)(_chain_task)
    failed_bases, submitted = set(), {}
    phases = ([c for c in chains if c.base], [c for c in chains if not c.base and not c.draft_ref],
              [c for c in chains if c.draft_ref])  # a lossless chain needs its draft trained
    for group in phases:
        pending = {}
        for chain in group:
            if reason := _skip_reason(chain, failed_bases):
                recorder.skip(chain, reason)
                continue
            recorder.run_id(chain)
            recorder.start(chain)
            ref = task.remote(chain, str(log.resolve()))
            pending[ref], submitted[ref] = chain, time.time()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            chain = pending.pop(ready[0])
            outcomes = _task_outcomes(ray, ready[0], chain, submitted.pop(ready[0]))
            for outcome in outcomes:
                recorder(chain, outcome)
            say(f"{chain.model} {chain.dataset} {chain.variant}: {outcomes[-1].status}")
            if chain.base and outcomes[-1].status != "done":
                failed_bases.add((chain.model, chain.dataset))
