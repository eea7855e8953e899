"""Speed-up of one model over another from one interleaved run, with a paired bootstrap interval.

    speedup(base["runs_ms"], pruned["runs_ms"])                   # 1.56: ratio of the medians
    speedup_interval(base["runs_ms"], pruned["runs_ms"])          # {"low": 1.49, "high": 1.63, ...}
    speedup_text(1.56, 1.49, 1.63)                                # '1.56× [1.49, 1.63]'
    speedup_verdict(0.9, 0.85, 0.95)                              # 'slower': the whole interval is below 1

Medians, not means: one run slowed by a page fault or a noisy neighbour moves a mean of 10 runs
by several percent and can turn a smaller model "slower". Runs are paired by round: round i of
an interleaved run timed every model within seconds of each other, so resampling rounds (not
runs of each model apart) keeps the drift that both saw out of the interval.
"""

from __future__ import annotations

import statistics


# A percentile bootstrap of n < 5 rounds spans about their lowest to highest ratio, so noise alone puts all of
# it on one side of 1 whenever every round leans the same way: 1 time in 4 with 3 rounds (a "slower"
# re-tuned control of the very same architecture, in the speech demo), 1 in 16 with 5.
MIN_ROUNDS = 5


def speedup(base_ms: list[float], ms: list[float]) -> float:
    """Median latency of the baseline over the model's: above 1 means faster."""
    return statistics.median(base_ms) / statistics.median(ms)


def speedup_interval(base_ms: list[float], ms: list[float], samples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> dict | None:
    """Percentile bootstrap interval of `speedup`, resampling rounds of the interleaved run.

    None with fewer than MIN_ROUNDS paired rounds (no interval is honest there) or unequal run counts
    (not one interleaved run).
    """
    import numpy as np
    a, b = np.asarray(base_ms, dtype=float), np.asarray(ms, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < MIN_ROUNDS:
        return None
    rng = np.random.default_rng(seed)
    rounds = rng.integers(0, a.size, size=(samples, a.size))
    ratios = np.median(a[rounds], axis=1) / np.median(b[rounds], axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return {"speedup": speedup(base_ms, ms), "low": float(low), "high": float(high), "runs": int(a.size),
            "samples": samples, "confidence": confidence}


def speedup_verdict(value: float, low: float | None = None, high: float | None = None) -> str:
    """What a speed-up and its interval say: 'faster', 'no measurable speed-up' (the interval holds 1) or
    'slower' (all of it below 1). Without an interval, the value alone: 'faster', 'slower' or 'as fast'."""
    if low is None or high is None or low != low or high != high:
        return "faster" if value > 1 else "slower" if value < 1 else "as fast"
    return "no measurable speed-up" if low <= 1 <= high else "slower" if high < 1 else "faster"


def speedup_text(value: float, low: float | None = None, high: float | None = None, short: bool = False) -> str:
    """'1.56× [1.49, 1.63]'; '1.02× (no measurable speed-up) [0.97, 1.08]' when the interval holds 1,
    '0.80× (slower) [0.75, 0.85]' when all of it is below 1 (`short`: without the words, for narrow
    tables whose caption says it)."""
    if value is None or value != value:  # None or NaN
        return "–"
    if low is None or high is None or low != low or high != high:
        return f"{value:.2f}×"
    words = speedup_verdict(value, low, high)
    flat = f" ({words})" if words != "faster" and not short else ""
    return f"{value:.2f}×{flat} [{low:.2f}, {high:.2f}]"
