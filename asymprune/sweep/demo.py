"""`asymprune demo` / `make demo`: the whole pipeline on 2 CPU cores, from a converged base to a recommendation.

    written = run_demo(Path("demo-out"))            # the sweep below, then its report
    written["recommendations"]                       # [(label, recommendation or None), ...]

It starts from a t5-tiny base that has converged on the synthetic task (shipped:
asymprune/assets/t5-tiny-synthetic, made by scripts/train_demo_base.py, whose log is beside it):
quality comparisons between variants mean something only after the base has converged (shared
notes). `--from-scratch` trains that base first, with the script's recipe.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .run import check_output_dir, run_sweep
from .spec import SweepSpec, check_sections

DEMO_BASE = Path(__file__).resolve().parent.parent / "assets" / "t5-tiny-synthetic"
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


def run_demo(out: Path, from_scratch: bool = False, console=None) -> dict:
    """Write OUT/spec.yaml, run that sweep into OUT and its report into OUT/report; return what
    `write_report` returns. A second run reuses every finished stage."""
    import yaml

    from ..report import write_report

    spec = SweepSpec(**{**DEMO_SPEC, **(DEMO_SCRATCH if from_scratch else {}), "output_dir": str(out)})
    if not from_scratch and not (DEMO_BASE / "model.safetensors").is_file():
        raise UsageError(f"the shipped demo base {DEMO_BASE} is missing; reinstall asymprune, or pass "
                         "--from-scratch to train it")
    check_sections(spec, "demo")
    check_output_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.yaml").write_text(yaml.safe_dump({k: v for k, v in vars(spec).items()}, sort_keys=False))
    if console is not None:
        base = "t5-tiny trained here" if from_scratch else f"the converged t5-tiny base in {DEMO_BASE.name}"
        console.print(f"demo: {base}, on {spec.datasets[0]}; variants {', '.join(spec.grid)} and a re-tuned "
                      f"control (same run as `asymprune sweep {out / 'spec.yaml'}`)", soft_wrap=True)
    run_sweep(spec, console=console)
    return write_report(out / "results.db", out / "report", overwrite=True)
