"""Paired bootstrap intervals of a difference between two systems on the same examples, and their words.

    ratio_bootstrap(errors_a, errors_b, words, scale=100)   # {"delta": +1.2, "low": ..., "high": ..., ...}
    ratio_bootstrap(rouge2_a, rouge2_b)                      # a mean: the mean of per-example differences
    difference_text(interval, higher_is_better=True)         # 'no measurable loss (-0.31, 95% CI -0.92 to +0.30)'

The math under every metric's interval (asymprune.metrics.paired_bootstrap names the statistics
of a metric's key; asymprune.rouge and asymprune.wer call it directly). Each of `samples` seeded
resamples of the examples (with replacement) re-aggregates both systems' corpus score from their
summed statistics, and the interval holds the middle `confidence` of the resampled differences.
"""

from __future__ import annotations


def ratio_bootstrap(num_a, num_b, den=None, scale: float = 1.0, samples: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> dict:
    """scale x (sum(num_a) - sum(num_b)) / sum(den) over the examples (den None: their number), and the
    percentile interval of the same over resamples. Resamples whose denominator sums to 0 are left out."""
    import numpy as np
    a, b = np.asarray(num_a, dtype=float), np.asarray(num_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired scores must be two equal, non-empty lists (got {a.shape} and {b.shape})")
    units = np.ones_like(a) if den is None else np.asarray(den, dtype=float)
    diff = a - b  # summed per resample: for a mean this is the mean of the differences, as it always was
    rng = np.random.default_rng(seed)
    deltas = []
    for start in range(0, samples, 100):  # in chunks: memory stays small on big test sets
        idx = rng.integers(0, diff.size, size=(min(100, samples - start), diff.size))
        total = units[idx].sum(axis=1)
        total[total == 0] = np.nan
        deltas.append(scale * diff[idx].sum(axis=1) / total)
    deltas = np.concatenate(deltas)
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(deltas, [tail, 100 - tail])
    return {"delta": float(scale * diff.sum() / units.sum()), "low": float(low), "high": float(high),
            "n": int(diff.size), "samples": samples, "confidence": confidence}


def verdict(interval: dict, higher_is_better: bool = True) -> str:
    """'no measurable loss' when the interval of (value - reference) contains 0, whatever the sign of
    the difference (inside the noise is never a gain); else 'measurable gain' or 'measurable loss'."""
    if interval["low"] <= 0 <= interval["high"]:
        return "no measurable loss"
    return "measurable gain" if (interval["low"] > 0) == higher_is_better else "measurable loss"


def difference_text(interval: dict, higher_is_better: bool = True, digits: int = 2) -> str:
    """'no measurable loss (-0.31, 95% CI -0.92 to +0.30)', or the measured loss or gain."""
    numbers = (f"{interval['delta']:+.{digits}f}, {100 * interval['confidence']:.0f}% CI "
               f"{interval['low']:+.{digits}f} to {interval['high']:+.{digits}f}")
    return f"{verdict(interval, higher_is_better)} ({numbers})"
