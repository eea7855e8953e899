"""Speed-up of one model over another from one interleaved run, with a paired bootstrap interval.

    speedup(base["runs_ms"], pruned["runs_ms"])                   # 1.56: ratio of the medians
    speedup_interval(base["runs_ms"], pruned["runs_ms"])          # {"low": 1.49, "high": 1.63, ...}
    speedup_text(1.56, 1.49, 1.63)                                # '1.56× [1.49, 1.63]'

Medians, not means: one run slowed by a page fault or a noisy neighbour moves a mean of 10 runs
by several percent and can turn a smaller model "slower". Runs are paired by round: round i of
an interleaved run timed every model within seconds of each other, so resampling rounds (not
runs of each model apart) keeps the drift that both saw out of the interval.
"""

from __future__ import annotations

import statistics


def speedup(base_ms: list[float], ms: list[float]) -> float:
    """Median latency of the baseline over the model's: above 1 means faster."""
    return statistics.median(base_ms) / statistics.median(ms)


def speedup_interval(base_ms: list[float], ms: list[float], samples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> dict | None:
    """Percentile bootstrap interval of `speedup`, resampling rounds of the interleaved run.

    None with fewer than 3 paired rounds (no interval is honest there) or unequal run counts
    (not one interleaved run).
    """
    import numpy as np
    a, b = np.asarray(base_ms, dtype=float), np.asarray(ms, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 3:
        return None
    rng = np.random.default_rng(seed)
    rounds = rng.integers(0, a.size, size=(samples, a.size))
    ratios = np.median(a[rounds], axis=1) / np.median(b[rounds], axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return {"speedup": speedup(base_ms, ms), "low": float(low), "high": float(high), "runs": int(a.size),
            "samples": samples, "confidence": confidence}


def speedup_text(value: float, low: float | None = None, high: float | None = None, short: bool = False) -> str:
    """'1.56× [1.49, 1.63]'; '1.02× (no measurable speed-up) [0.97, 1.08]' when the interval holds 1
    (`short`: without the words, for narrow tables whose caption says it)."""
    if value is None or value != value:  # None or NaN
        return "–"
    if low is None or high is None or low != low or high != high:
        return f"{value:.2f}×"
    flat = " (no measurable speed-up)" if low <= 1 <= high and not short else ""
    return f"{value:.2f}×{flat} [{low:.2f}, {high:.2f}]"
