"""A hand-made results.db, written through the real Store API, whose answers are known by hand.

Two sizes on one dataset ('cnndm'); latency in ms at batch sizes 1, 8, 16 (backend hf/float32/cpu).

    flan-t5-small (full R-2 20.0, 100/200/400 ms)      flan-t5-base (full R-2 25.0, 200/500/1000 ms)
    variant kind     R-2   ms b1/b8/b16   speed-up b1   R-2   ms b1/b8/b16   speed-up b1
    6/6     full     20.0  100/200/400    1.00          25.0  200/500/1000   1.00
    6/3     decoder  19.4  50/160/320     2.00          24.5  100/400/800    2.00
    6/1     decoder  17.0  25/125/250     4.00          24.1  50/250/500     4.00
    3/6     encoder  18.0  80/100/200     1.25          24.0  160/250/500    1.25
    1/6     encoder  15.0  80/90/180      1.25          22.0  150/200/400    1.33
    3/3     both     16.0  40/80/160      2.50          23.0  80/200/400     2.50
    2/2     both     failed (CUDA out of memory)        -
    1/1     both     -                                  pending

Pareto at batch 1, both sizes: 6/1, 6/3, 6/6 (everything else is slower and worse than one of them).
Pareto at batch 8: small 3/3, 3/6, 6/3, 6/6; base 3/3, 6/1, 6/3, 6/6.
Within 1.0 ROUGE-2 point, fastest at batch 1: small 6/3 (loss 0.6), base 6/1 (loss 0.9).
At least 2x faster at batch 1, most accurate: 6/3 for both sizes.
A few ct2/int8 rows exist too; the report uses the setup with the most rows (hf/float32/cpu).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from asymprune.store import Store

MODELS = {
    "flan-t5-small": dict(params=76_961_152, layers=8, variants={
        "6/6": ("full", 20.0, (100, 200, 400)),
        "6/3": ("decoder", 19.4, (50, 160, 320)),
        "6/1": ("decoder", 17.0, (25, 125, 250)),
        "3/6": ("encoder", 18.0, (80, 100, 200)),
        "1/6": ("encoder", 15.0, (80, 90, 180)),
        "3/3": ("both", 16.0, (40, 80, 160)),
    }),
    "flan-t5-base": dict(params=247_577_856, layers=12, variants={
        "6/6": ("full", 25.0, (200, 500, 1000)),
        "6/3": ("decoder", 24.5, (100, 400, 800)),
        "6/1": ("decoder", 24.1, (50, 250, 500)),
        "3/6": ("encoder", 24.0, (160, 250, 500)),
        "1/6": ("encoder", 22.0, (150, 200, 400)),
        "3/3": ("both", 23.0, (80, 200, 400)),
    }),
}
BATCH_SIZES = (1, 8, 16)


def _layers(variant: str, total: int) -> tuple[int, int]:
    enc, dec = (int(x) for x in variant.split("/"))
    return total * enc // 6, total * dec // 6


def make_results_db(path: Path, with_latency: bool = True, finished: bool = True) -> Path:
    store = Store(path)
    for model, spec in MODELS.items():
        total = spec["layers"]
        for variant, (kind, rouge2, ms) in spec["variants"].items():
            enc, dec = _layers(variant, total)
            params = spec["params"] * (enc + dec) // (2 * total)
            run = store.upsert_run("t", model, "cnndm", variant, kind=kind, encoder_layers=enc, decoder_layers=dec,
                                   encoder_total=total, decoder_total=total, strategy="paper", params=params,
                                   kept={"encoder": list(range(enc)), "decoder": list(range(dec))},
                                   status="done" if finished else "running")
            if finished:
                store.record_metrics(run, "test", {"rouge1": rouge2 + 20, "rouge2": rouge2, "rougeL": rouge2 + 10,
                                                   "rougeLsum": rouge2 + 12, "gen_len": 30.0 + enc, "n_samples": 100})
            if finished and with_latency:
                # One interleaved measurement per model and backend: speed-ups compare only rows sharing a bench_id.
                # flan-t5-small's rows carry a decode-step ceiling of 1 ms/token (a decode of m/10 ms per
                # token reaches 10/m of it); flan-t5-base's were measured without one (NULL: a blank cell)
                ceiling = (lambda m: dict(ceiling_ms_per_token=1.0, fraction_of_ceiling=10 / m)) if \
                    model == "flan-t5-small" else (lambda m: {})
                store.record_latency(run, [dict(backend="hf", dtype="float32", device="cpu", batch_size=bs,
                                                mean_ms=m, std_ms=m / 20, median_ms=m, runs_ms=[m, m],
                                                bench_id=f"{model}-hf", **ceiling(m))
                                           for bs, m in zip(BATCH_SIZES, ms)])
                if model == "flan-t5-small" and variant in ("6/6", "6/3"):
                    store.record_latency(run, [dict(backend="ct2", dtype="int8", device="cpu", batch_size=1,
                                                    mean_ms=ms[0] / 4, std_ms=1.0, bench_id=f"{model}-ct2")])
    failed = store.upsert_run("t", "flan-t5-small", "cnndm", "2/2", kind="both", encoder_layers=2, decoder_layers=2,
                              encoder_total=8, decoder_total=8, status="failed", error="CUDA out of memory")
    store.record_stage(failed, "train", "k1", "failed", error="CUDA out of memory")
    store.upsert_run("t", "flan-t5-base", "cnndm", "1/1", kind="both", encoder_layers=2, decoder_layers=2,
                     encoder_total=12, decoder_total=12)  # pending
    store.close()
    return path


CONTROL_VARIANTS = {  # variant: (kind, mean shift of per-document ROUGE-2 vs the control, noise, ms at batch 1)
    "6/6": ("full", -0.1, 2.0, 100.0),
    "control": ("control", 0.0, 0.0, 101.0),
    "6/3": ("decoder", -0.2, 3.0, 60.0),
    "6/1": ("decoder", -4.0, 1.0, 40.0),
    "3/3": ("both", +0.5, 3.0, 50.0),
}


# Nine rounds of one interleaved run: the machine's drift, shared by every model in a round.
ROUNDS = (0.97, 0.98, 0.99, 1.0, 1.0, 1.0, 1.01, 1.02, 1.03)


def make_control_db(path: Path, docs: int = 40) -> Path:
    """One model x dataset with a re-tuned control and per-document ROUGE-2 on `docs` test documents.

    Against the control: 6/3 and 3/3 differ by less than their noise (their intervals hold 0; 3/3's
    point estimate is a gain that must not be presented as one), 6/1 loses 4 points, measurably.
    All latencies come from one interleaved run (bench_id 'g') of nine rounds; 3/3 has one stalled round.
    """
    import random
    rng = random.Random(0)
    control = [rng.uniform(10, 30) for _ in range(docs)]
    store = Store(path)
    for variant, (kind, shift, noise, ms) in CONTROL_VARIANTS.items():
        noises = [rng.gauss(0, noise) for _ in range(docs)]
        offset = shift - sum(noises) / docs  # the mean difference is exactly `shift`
        scores = [c + n + offset for c, n in zip(control, noises)]
        run = store.upsert_run("c", "t5-tiny", "synthetic", variant, kind=kind, encoder_layers=6, decoder_layers=6,
                               encoder_total=6, decoder_total=6, status="done")
        store.record_metrics(run, "test", {"rouge2": sum(scores) / docs, "gen_len": 30.0, "n_samples": docs})
        store.record_documents(run, "test", [{"index": i, "rouge2": x} for i, x in enumerate(scores)])
        runs = [ms * f * (1 + rng.uniform(-0.01, 0.01)) for f in ROUNDS]
        if variant == "3/3":
            runs[-1] = ms * 6  # one stalled round: its mean is 1.55x, its median 2.0x the full model's speed
        store.record_latency(run, [dict(backend="hf", dtype="float32", device="cpu", batch_size=1,
                                        mean_ms=statistics.fmean(runs), median_ms=statistics.median(runs),
                                        std_ms=statistics.stdev(runs), runs_ms=runs, bench_id="g")])
    store.close()
    return path


# A speech study scored with WER (lower is better): whisper-tiny.en, 20 test utterances of 10 words
# (200 words: one error is 0.5 WER points). The control makes 2 errors per utterance, 3 on the last two
# (42 errors, WER 21.0). Each variant: its per-utterance error differences with the control, and ms at
# batch 1 and 8. CER counts two character errors per word error over 50 characters per utterance.
WER_VARIANTS = {  # variant: (kind, per-utterance error differences vs the control, ms at batch 1, ms at batch 8)
    "4/4": ("full", [0] * 18 + [-1, -1], 100.0, 400.0),                 # WER 20.0: -1.0, inside the noise
    "control": ("control", [0] * 20, 101.0, 404.0),                     # WER 21.0: the reference
    "4/3": ("decoder", [2] * 5 + [-2] * 4 + [0] * 11, 75.0, 330.0),     # WER 22.0: +1.0, inside the noise
    "4/2": ("decoder", [1] * 18 + [0, 0], 50.0, 260.0),                 # WER 30.0: +9.0, measurably worse
    "4/1": ("decoder", [4] * 20, 30.0, 200.0),                          # WER 61.0: the fastest, far worse
    "2/4": ("encoder", [-1] * 16 + [0] * 4, 90.0, 250.0),               # WER 13.0: -8.0, measurably better
    "2/2": ("both", [1] * 6 + [-1] * 5 + [0] * 9, 60.0, 150.0),         # WER 21.5: +0.5, inside the noise
}
WER_CONTROL_ERRORS = [2] * 18 + [3, 3]


def wer_documents(variant: str) -> list[dict]:
    """The per-utterance statistics a WER evaluation stores (predictions.jsonl's numbers)."""
    diffs = WER_VARIANTS[variant][1]
    return [{"index": i, "errors": c + d, "words": 10, "char_errors": 2 * (c + d), "chars": 50, "gen_len": 12}
            for i, (c, d) in enumerate(zip(WER_CONTROL_ERRORS, diffs))]


def make_wer_db(path: Path) -> Path:
    """One Whisper model x speech dataset scored with WER, with a control, through the real Store API.

    Lower is better, so against the control (WER 21.0): 2/4 is a measurable gain, 4/2 and 4/1 measurable
    losses, the rest inside the noise. Pareto at batch 1: 4/1, 4/2, 2/2, 2/4 (2/2 beats 4/3, 2/4 beats 4/4).
    Within 1 WER point: 2/2 (fastest, +0.5); within 0: 2/4; at least 1.5x faster, most accurate: 2/2.
    All latencies come from one interleaved run (bench_id 'g') of nine rounds.
    """
    store = Store(path)
    for variant, (kind, _, ms1, ms8) in WER_VARIANTS.items():
        enc, dec = (4, 4) if kind == "control" else (int(x) for x in variant.split("/"))
        docs = wer_documents(variant)
        run = store.upsert_run("w", "whisper-tiny.en", "synthetic-speech", variant, kind=kind, encoder_layers=enc,
                               decoder_layers=dec, encoder_total=4, decoder_total=4,
                               params=37_760_640 * (enc + dec) // 8, status="done")
        errors, chars = sum(d["errors"] for d in docs), sum(d["char_errors"] for d in docs)
        store.record_metrics(run, "test", {"metric": "wer", "wer": 100 * errors / 200, "cer": 100 * chars / 1000,
                                           "gen_len": 12.0, "n_samples": 20})
        store.record_documents(run, "test", docs)
        store.record_latency(run, [dict(backend="hf", dtype="float32", device="cpu", batch_size=bs, mean_ms=ms,
                                        median_ms=ms, std_ms=ms / 50, runs_ms=[ms * f for f in ROUNDS], bench_id="g")
                                   for bs, ms in ((1, ms1), (8, ms8))])
    store.close()
    return path
