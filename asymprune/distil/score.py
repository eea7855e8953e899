"""A fast WER for re-tune experiments: greedy transcripts on cached encoder outputs, paired against a control.

    control = score(control_model, tokenizer, rows, control_cache)
    variant = score(model, tokenizer, rows, cache, control=control)
    variant["wer"], variant["vs_control"]      # 31.2, {"delta": +1.4, "low": +0.2, "high": +2.6, ...}

The product's `evaluate` computes WER through its metric registry; this is the small loop the
re-tune's experiments and the speech study use, with the same normaliser and the same paired
bootstrap (asymprune.wer).
"""

from __future__ import annotations

import time

from ..wer import difference_text, paired_bootstrap, wer_aggregate, wer_per_example
from .cache import EncoderCache
from .decode import transcribe


def score(model, tokenizer, rows, cache: EncoderCache, *, control: dict | None = None, batch_size: int = 16,
          threads: int | None = None) -> dict:
    """{"wer", "cer", ..., "predictions", "stats", "seconds", "vs_control"?} of `model` on `rows`."""
    started = time.perf_counter()
    predictions = transcribe(model, tokenizer, cache, rows, batch_size=batch_size, threads=threads)
    stats = wer_per_example(predictions, [r.text for r in rows])
    out = {**wer_aggregate(stats), "predictions": predictions, "stats": stats,
           "ids": [r.id for r in rows], "seconds": round(time.perf_counter() - started, 2)}
    if control is not None:
        if control["ids"] != out["ids"]:
            raise ValueError("the control was scored on other utterances; score both on the same rows")
        ci = paired_bootstrap(stats, control["stats"])
        out["vs_control"] = {**ci, "text": difference_text(ci)}
    return out
