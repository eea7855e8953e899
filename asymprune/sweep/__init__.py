"""`asymprune sweep SPEC.yaml`: the paper's grid as resumable, hash-keyed stages.

    asymprune sweep configs/paper-flan-t5.yaml            # runs what is not done yet
    asymprune sweep configs/paper-flan-t5.yaml --dry-run  # lists what would run
    chains = run_sweep(load_spec("configs/paper-flan-t5.yaml"))

Per model x dataset: fine-tune the base and evaluate it; re-tune a copy of it with the variants'
recipe and evaluate that (the control); per variant: prune, re-fine-tune, evaluate. Once every
chain of a model x dataset is trained, one `bench` stage times them all in a single interleaved
run, so every speed-up is a ratio of two numbers measured side by side.

    spec.py       SweepSpec, load_spec: keys and types (pydantic), settings, grid, one line per error
    chains.py     build_plan: the chains of stages per run; bench_groups: one interleaved bench each
    stages.py     Stage: its folder, its hash key and lock
    stage_kinds.py  the table of stage kinds (name -> library call, result file), execute
    record.py     Recorder: outcomes into results.db
    executors.py  run_chain; local and Ray executors, group benches after all training
    run.py        run_sweep, the planner's min_speedup skips, run_counts, dry_run_table
    demo.py       run_demo: the demo's spec (text, or --speech: the real tiny.en), its sweep and its report
"""

from ..grid import PAPER_GRID
from .chains import CONTROL, BenchGroup, Chain, bench_groups, build_plan
from .demo import DEMO_BASE, DEMO_SCRATCH, DEMO_SPEC, SPEECH_SPEC, demo_spec, run_demo
from .executors import run_chain
from .record import Recorder
from .run import check_output_dir, dry_run_table, run_counts, run_sweep, skip_slow_variants
from .spec import SweepSpec, bench_settings, check_fields, check_sections, load_spec
from .stage_kinds import STAGE_KINDS, StageKind, execute, read_result, register_stage
from .stages import Outcome, Stage, fingerprint

__all__ = [
    "PAPER_GRID", "CONTROL", "BenchGroup", "Chain", "bench_groups", "build_plan", "DEMO_BASE", "DEMO_SCRATCH",
    "DEMO_SPEC", "SPEECH_SPEC", "demo_spec", "run_demo", "run_chain", "Recorder", "check_output_dir", "dry_run_table", "run_counts", "run_sweep",
    "skip_slow_variants", "SweepSpec", "bench_settings", "check_fields", "check_sections", "load_spec", "Outcome",
    "Stage", "execute", "fingerprint", "read_result", "STAGE_KINDS", "StageKind", "register_stage",
]
