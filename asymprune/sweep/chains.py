"""The sweep's plan: per model x dataset, a chain of stages per run, and one bench group.

    chains = build_plan(spec)            # bases first: [Chain('t5-tiny', 'synthetic', '6/6', ...), ...]
    groups = bench_groups(spec, chains)  # one per model x dataset: benched together once trained

Per model x dataset: the base (fine-tuned unless `finetune_base: false`, then evaluated), the
control (the base re-tuned with the variants' recipe, evaluated: the same extra training, no
pruning), and per variant of the grid: prune, re-tune, optionally shrink the vocabulary
(`vocab:`), evaluate. With `lossless: 6/1` one more chain evaluates the base verifying that
variant's drafts. A chain's stages name their parents by key (`stage:<folder>`), so a changed
setting re-runs exactly the stages downstream of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..console import display_names
from ..errors import UsageError
from ..grid import Variant, kind_of, parse_variant
from ..models import family_for, load_config
from ..prune import CALIBRATED, PAPER_MAPS, plan_pruning
from .spec import TEACHER_BASE, SweepSpec, bench_settings
from .stages import Stage

CONTROL = "control"  # the variant label of the re-tuned full model


def with_teacher(train: dict, ref: str) -> dict:
    """A train section whose `distill_from: base` names the full model of this chain's model x dataset."""
    return {**train, "distill_from": ref} if train.get("distill_from") == TEACHER_BASE else train


def select(config, variant: Variant, strategy: str) -> tuple[dict, str]:
    """Kept indices and the strategy actually used (paper falls back to spread without a map).

    Data-driven strategies choose indices only once the base is trained: here they get spread's
    indices, which carry the right counts.
    """
    if strategy in CALIBRATED:
        return plan_pruning(config, variant.encoder, variant.decoder, "spread"), strategy
    if strategy == "paper":
        counts = family_for(config).layer_counts(config)
        if any(n not in PAPER_MAPS for n in counts.values()):
            strategy = "spread"
        else:
            try:
                return plan_pruning(config, variant.encoder, variant.decoder, "paper"), "paper"
            except UsageError:
                strategy = "spread"
    return plan_pruning(config, variant.encoder, variant.decoder, strategy), strategy


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


def check_distinct(model: str, entries: list, variants: list[Variant], plans: dict) -> None:
    """Each grid entry keeps different layers of `model`: '6/3' and {encoder: 6, decoder: 3} are the
    same variant of a 6-layer model, and would train and bench the same model twice."""
    def shown(entry) -> str:
        if isinstance(entry, dict):
            return "{" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}"
        return f"'{entry}'" if isinstance(entry, str) else str(entry)

    seen: dict = {}
    for entry, v in zip(entries, variants):
        keep = plans[v.label][0]
        shape = (tuple(keep["encoder"]), tuple(keep["decoder"]))
        if shape in seen:
            hint = "" if isinstance(entry, dict) or isinstance(seen[shape], dict) else \
                " (sixths round down, so on a shallow model several keep the same layers: list layer counts like " \
                "{encoder: 2, decoder: 1} instead)"
            raise UsageError(f"grid: {shown(seen[shape])} and {shown(entry)} keep the same layers of {model} "
                             f"({len(keep['encoder'])} encoder, {len(keep['decoder'])} decoder); list each variant "
                             f"once{hint}")
        seen[shape] = entry


def input_ref(stage: Stage | None, src: str) -> str:
    """How a stage's inputs name a model: `stage:<folder>` of the stage that made it, or `src:<model>`."""
    return f"stage:{stage.out.name}" if stage else f"src:{src}"


def build_plan(spec: SweepSpec) -> list[Chain]:
    """Every chain of the sweep, bases first; validates every variant against every model."""
    root = Path(spec.output_dir) / "stages"
    variants = [parse_variant(v, "grid") for v in spec.grid]
    train_cfg = {**spec.train, "seed": spec.train.get("seed", spec.seed)}
    retrain_cfg = {**train_cfg, **spec.retrain}
    chains = []
    names = display_names(spec.models)
    for model in spec.models:
        config = load_config(model, presets=True)
        totals = family_for(config).layer_counts(config)
        # The full model in the grid's own notation: all sixths ("6/6"), or its layer counts when the grid
        # counts layers ("4L/4L" for tiny.en, whose variants are 4L/2L, ...: "6/6" would read as 6 layers)
        counted = variants and all(v.label.endswith("L") for v in variants)
        full_label = f"{totals['encoder']}L/{totals['decoder']}L" if counted else "6/6"
        plans = {}
        for v in variants:
            try:
                plans[v.label] = select(config, v, spec.strategy)
            except UsageError as e:
                raise UsageError(f"variant {v.label} is impossible for {model}: {e}") from None
        check_distinct(model, spec.grid, variants, plans)
        for dataset in spec.datasets:
            drafts = {}  # variant label -> its re-tuned model, before any vocabulary reduction
            common = {"dataset": dataset, "data": spec.data}
            # A train stage's name in experiment trackers: the model (and the dataset, with several), the variant.
            run = f"{names[model]}/" + (f"{Path(dataset.rstrip('/')).name}/" if len(spec.datasets) > 1 else "")
            trained = Stage("train", {"model": input_ref(None, model), **common, "train": train_cfg}, root,
                            run=run + full_label) if spec.finetune_base else None
            ref = input_ref(trained, model)
            retrain = with_teacher(retrain_cfg, ref)
            base_stages = [s for s in (trained,) if s] + [
                Stage("evaluate", {"model": ref, **common, "evaluate": spec.evaluate}, root)]
            full = {"encoder": list(range(totals["encoder"])), "decoder": list(range(totals["decoder"]))}
            full_fields = dict(encoder_layers=totals["encoder"], decoder_layers=totals["decoder"],
                               encoder_total=totals["encoder"], decoder_total=totals["decoder"], strategy=None,
                               kept=full)
            chains.append(Chain(model, dataset, full_label, dict(kind="full", **full_fields), base_stages, base=True,
                                model_ref=ref))
            if spec.control:  # the full model with the variants' extra training: what pruning is judged against
                retuned = Stage("train", {"model": ref, **common, "train": retrain}, root, run=run + CONTROL)
                cref = input_ref(retuned, model)
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
                retrained = Stage("train", {"model": input_ref(pruned, model), **common, "train": retrain}, root,
                                  run=run + v.label)
                vref = drafts[v.label] = input_ref(retrained, model)  # a draft keeps the full vocabulary
                shrunk = Stage("vocab", {"model": vref, **common, "vocab": spec.vocab}, root) if spec.vocab is not None \
                    else None
                vref = input_ref(shrunk, model) if shrunk else vref
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
