"""The paired bootstrap of a metric's key: a difference between two systems on the same examples, with its interval.

    paired_bootstrap(metric_for("wer"), "wer", variant_rows, control_rows)   # {"delta": +1.2, "low": ..., ...}

A key declared as a ratio of per-example sums (a mean, a corpus rate) is re-aggregated from arrays
by asymprune.intervals.ratio_bootstrap: for a mean (ROUGE) that is the mean of the per-example
differences; for a corpus rate (WER = sum of errors / sum of words) a short utterance weighs what
its words weigh. Any other key calls the metric's aggregate() on every resample.
"""

from __future__ import annotations

from ..intervals import ratio_bootstrap
from .registry import Metric


def paired_bootstrap(metric: Metric, key: str, rows: list[dict], baseline: list[dict], samples: int = 1000,
                     seed: int = 0, confidence: float = 0.95) -> dict:
    """`metric`'s corpus `key` of `rows` minus that of `baseline` (per-example statistics of the same
    examples, in order), with its paired bootstrap interval; delta > 0 means a higher score.

    A key that is a ratio of sums is re-aggregated from arrays; any other key calls the metric's
    aggregate() on every resample (slower, the same meaning)."""
    if len(rows) != len(baseline) or not rows:
        raise ValueError(f"paired statistics must be two equal, non-empty lists (got {len(rows)} and "
                         f"{len(baseline)})")
    ratio = metric.ratios().get(key)
    if ratio is None:
        return _aggregate_bootstrap(metric, key, rows, baseline, samples, seed, confidence)
    num, den, scale = ratio
    units = None
    if den is not None:
        units = [r[den] for r in rows]
        if units != [r[den] for r in baseline]:
            raise ValueError(f"the two systems were scored against different references: their {den} differ")
        if sum(units) == 0:
            raise ValueError(f"no reference {den}: {key} is undefined")
    return ratio_bootstrap([r[num] for r in rows], [r[num] for r in baseline], units, scale, samples, seed,
                           confidence)


def _aggregate_bootstrap(metric: Metric, key: str, rows, baseline, samples, seed, confidence) -> dict:
    import numpy as np
    rng = np.random.default_rng(seed)
    n = len(rows)
    deltas = []
    for start in range(0, samples, 100):  # the same resamples as ratio_bootstrap's for the same seed
        for idx in rng.integers(0, n, size=(min(100, samples - start), n)):
            deltas.append(metric.aggregate([rows[i] for i in idx])[key]
                          - metric.aggregate([baseline[i] for i in idx])[key])
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(deltas, [tail, 100 - tail])
    return {"delta": float(metric.aggregate(rows)[key] - metric.aggregate(baseline)[key]), "low": float(low),
            "high": float(high), "n": n, "samples": samples, "confidence": confidence}

