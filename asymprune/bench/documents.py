"""Dataset mode: which documents each round times, and the interval that resamples them too.

    calls = document_calls(rows=200, docs=16, batch_size=8)   # 16 calls of 8 row ids: 0-127
    speedup_interval_over_documents(base_calls_ms, calls_ms)  # rounds x calls, paired

A round times the same K calls for every model: at batch b, call i generates for rows
[i·b, (i+1)·b) of the split (K·b rows; a shorter split is cycled). One document at batch 1 would
make every latency, GenL and lossless speed-up the cost of test document 0; K calls make them an
average over documents, and the interval below covers the variation across them as well as the
timing noise across rounds.
"""

from __future__ import annotations

from .speedup import MIN_ROUNDS

DEFAULT_DOCS = 16  # K: calls per round in dataset mode


def document_calls(rows: int, docs: int, batch_size: int) -> list[list[int]]:
    """Row ids of each of the `docs` calls at `batch_size`: K·b consecutive rows, cycled over `rows`."""
    ids = [i % rows for i in range(docs * batch_size)]
    return [ids[i * batch_size:(i + 1) * batch_size] for i in range(docs)]


def ids_text(ids: list[int]) -> str:
    """'0–15', or '0–99 cycled to 128' for ids that repeat, or the ids themselves when scattered."""
    if not ids:
        return "none"
    unique = sorted(set(ids))
    if unique != list(range(unique[0], unique[-1] + 1)):
        return ", ".join(map(str, ids))
    span = f"{unique[0]}–{unique[-1]}" if len(unique) > 1 else str(unique[0])
    return span if len(unique) == len(ids) else f"{span} cycled to {len(ids)}"


def round_means(calls_ms: list[list[float]]) -> list[float]:
    """Per round, the mean milliseconds of its calls: the round's latency."""
    return [sum(r) / len(r) for r in calls_ms]


def speedup_interval_over_documents(base_calls_ms: list[list[float]], calls_ms: list[list[float]],
                                    samples: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict | None:
    """Percentile bootstrap interval of the speed-up (median over rounds of the per-round mean
    call time, baseline over model), resampling the documents (calls) and the rounds together.

    Both models are resampled with the same draws: round i and call j timed the same documents
    within seconds of each other. None for unequal shapes (not one interleaved run), or with
    fewer than MIN_ROUNDS rounds and fewer than MIN_ROUNDS calls (nothing honest to resample: speedup.py).
    """
    import numpy as np
    a, b = np.asarray(base_calls_ms, dtype=float), np.asarray(calls_ms, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or (a.shape[0] < MIN_ROUNDS and a.shape[1] < MIN_ROUNDS):
        return None
    rng = np.random.default_rng(seed)
    n_rounds, n_calls = a.shape
    ratios = np.empty(samples)
    for s in range(samples):
        rounds = rng.integers(0, n_rounds, n_rounds)
        calls = rng.integers(0, n_calls, n_calls)
        pick = np.ix_(rounds, calls)
        ratios[s] = np.median(a[pick].mean(axis=1)) / np.median(b[pick].mean(axis=1))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    point = float(np.median(a.mean(axis=1)) / np.median(b.mean(axis=1)))
    return {"speedup": point, "low": float(low), "high": float(high), "runs": int(n_rounds), "calls": int(n_calls),
            "samples": samples, "confidence": confidence}
