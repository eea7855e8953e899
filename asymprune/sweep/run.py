"""Run a sweep: plan it, validate it, skip what the planner rules out, execute, record.

    chains = run_sweep(load_spec("configs/demo.yaml"))          # each chain with its run's status and error
    table, total = dry_run_table(spec, run_sweep(spec, dry_run=True))   # what would run; nothing runs
    run_counts(spec, chains)                                     # {'done': 6, 'failed': 1}

Results go to `OUTPUT/results.db` (store.py), each stage's output to its folder under
`OUTPUT/stages` (stages.py), and `OUTPUT/executions.jsonl` logs each stage executed.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..bench import BenchConfig
from ..errors import UsageError
from ..fsutil import atomic_dir, unwritable_reason, write_json
from ..store import Store
from .chains import CONTROL, Chain, bench_groups, build_plan, input_ref
from .executors import bench_local, bench_ray, connect_ray, run_local, run_ray
from .record import Recorder
from .spec import SweepSpec
from .stages import Stage


def check_output_dir(path: Path) -> None:
    """A sweep's output_dir must be a directory, or creatable, with room for results.db."""
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
    out = Path(spec.output_dir)
    check_output_dir(out)
    if executor not in ("local", "ray"):
        raise UsageError(f"unknown executor '{executor}'; choose local or ray")
    db_path = out / "results.db"
    if db_path.exists():
        Store(db_path, create=False).close()  # refuse a newer schema before any work
    chains = build_plan(spec)
    if executor == "ray":
        ray = connect_ray(address)
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
            run_local(chains, recorder, log, say)
            bench_local(groups, recorder, log, say)
        else:
            run_ray(ray, chains, recorder, log, say, spec.executor)
            bench_ray(ray, groups, recorder, log, say, spec.executor)
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
    from ..plan import measure, predict_speedups
    root = Path(spec.output_dir) / "stages"
    bench = {**spec.bench, "batch_sizes": BenchConfig(**spec.bench).batch_sizes[:1], "seed": spec.seed}
    for model in dict.fromkeys(c.model for c in chains):
        stage = Stage("plan", {"model": input_ref(None, model), "bench": bench}, root)
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


def run_counts(spec: SweepSpec, chains: list[Chain]) -> dict[str, int]:
    """Status -> number of this sweep's runs (the chains just planned), read from its results database."""
    store = Store(Path(spec.output_dir) / "results.db", create=False)
    try:
        frame = store.frame("SELECT model, dataset, variant, status FROM runs WHERE sweep = ?", (spec.name,))
    finally:
        store.close()
    planned = {(c.model, c.dataset, c.variant) for c in chains}
    counts: dict[str, int] = {}
    for r in frame.itertuples():
        if (r.model, r.dataset, r.variant) in planned:
            counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def dry_run_table(spec: SweepSpec, chains: list[Chain]):
    """(a rich table of what a run would do per chain and per bench group, a one-line total)."""
    from rich.table import Table

    table = Table("model", "dataset", "variant", "to run", "done", title=f"sweep {spec.name} (dry run)")
    for c in chains:
        todo = f"skipped: {c.skipped}" if c.skipped else ", ".join(s.name for s in c.stages if not s.done) or "-"
        table.add_row(c.model, c.dataset, c.variant, todo, ", ".join(s.name for s in c.stages if s.done) or "-")
    groups = bench_groups(spec, chains)
    benches = [g.stage(g.members(planned=True)) for g in groups]
    for g, stage in zip(groups, benches):
        n = len(g.members(planned=True))
        table.add_row(g.model, g.dataset, f"all {n}", "-" if stage.done else f"bench ({n} models, interleaved)",
                      "bench" if stage.done else "-")
    todo = sum(not s.done for c in chains if not c.skipped for s in c.stages) + sum(not s.done for s in benches)
    done = sum(s.done for c in chains for s in c.stages) + sum(s.done for s in benches)
    skipped = sum(bool(c.skipped) for c in chains)
    total = f"{todo} stages to run, {done} done" + (f", {skipped} variants skipped by min_speedup" if skipped else "")
    return table, total
