"""The paired bootstrap: a difference between two systems on the same examples, with its interval.

    paired_bootstrap(metric_for("wer"), "wer", variant_rows, control_rows)   # {"delta": +1.2, "low": ..., ...}
    ratio_bootstrap(errors_a, errors_b, words, scale=100)                      # the same on plain arrays

Each of `samples` seeded resamples of the examples (with replacement) re-aggregates both systems'
corpus score from their summed statistics, and the interval holds the middle `confidence` of the
resampled differences. For a mean (ROUGE) that is the mean of the per-example differences; for a
corpus rate (WER = sum of errors / sum of words) a short utterance weighs what its words weigh.
"""

from __future__ import annotations

from .registry import Metric, Ratio


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


__all__ = ["Ratio", "paired_bootstrap", "ratio_bootstrap"]
