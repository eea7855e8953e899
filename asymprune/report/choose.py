"""What a report concludes: the Pareto frontier, a verdict per difference, and a recommendation.

    rec = recommend(frame[frame.model == "flan-t5-small"], max_rouge2_loss=1.0)   # {'variant': '6/3', 'line': ...}
    rec = recommend(rows, min_speedup=2)           # the most accurate variant at least twice as fast
    front = pareto(frame, batch_size=1)            # variants nothing beats on both latency and ROUGE-2
    verdict(row)                                   # 'no measurable loss': the interval contains 0

The control is the yardstick, not a candidate. A difference whose interval contains 0 is no
measurable loss, never a gain.
"""

from __future__ import annotations

import pandas as pd

from ..bench.speedup import speedup_text, speedup_verdict
from ..errors import UsageError
from ..rouge import difference_text
from .load import GROUP, by_group, check_batch_size

REFERENCE_NAMES = {"control": "the re-tuned control", "full": "the full model"}
DEFAULT_MAX_LOSS = 1.0  # ROUGE-2 points, when no budget is given
EPS = 1e-9              # budgets are inclusive; don't let float noise (25.0 - 24.1) decide


def verdict(r) -> str:
    """What the ROUGE-2 difference with the reference says, given its interval."""
    if getattr(r, "kind", None) == r_kind_reference(r):
        return "reference"
    low, high, delta = getattr(r, "rouge2_low", None), getattr(r, "rouge2_high", None), getattr(r, "rouge2_delta")
    if low is None or pd.isna(low) or high is None or pd.isna(high):
        return "–" if delta is None or pd.isna(delta) else "no interval"
    if low <= 0 <= high:
        return "no measurable loss"
    return "measurable gain" if low > 0 else "measurable loss"


def r_kind_reference(r) -> str | None:
    """The kind of the run this row is compared with: control or full (None: nothing to compare)."""
    ref = getattr(r, "reference", None)
    return None if ref is None or pd.isna(ref) else ref


def pareto(frame: pd.DataFrame, batch_size: int = 1) -> pd.DataFrame:
    """Finished runs that no run of the same model x dataset beats on both latency and ROUGE-2.

    The control is the yardstick, not a candidate: it has the full model's shape and speed."""
    col = f"latency_ms_bs{batch_size}"
    if col not in frame:
        return frame.iloc[0:0]
    done = frame[(frame.status == "done") & (frame.kind != "control") & frame.rouge2.notna() & frame[col].notna()]
    fronts = []
    for _, g in done.groupby(GROUP, sort=False):
        keep = []
        for i, r in g.iterrows():
            no_worse = (g[col] <= r[col]) & (g.rouge2 >= r.rouge2)
            better = (g[col] < r[col]) | (g.rouge2 > r.rouge2)
            if not (no_worse & better).any():
                keep.append(i)
        fronts.append(g.loc[keep].sort_values(col, kind="stable"))  # slowest last: the full model
    return pd.concat(fronts) if fronts else done


def check_budget(max_rouge2_loss: float | None = None, min_speedup: float | None = None) -> tuple:
    """Validated (max_rouge2_loss, min_speedup): exactly one set; default a 1-point ROUGE-2 loss."""
    if max_rouge2_loss is not None and min_speedup is not None:
        raise UsageError("--max-rouge2-loss and --min-speedup both given; pass one budget")
    if max_rouge2_loss is not None and not max_rouge2_loss >= 0:
        raise UsageError(f"--max-rouge2-loss must be 0 or more ROUGE-2 points (got {max_rouge2_loss})")
    if min_speedup is not None and not min_speedup > 0:
        raise UsageError(f"--min-speedup must be a positive factor, e.g. 2 for twice as fast (got {min_speedup})")
    if max_rouge2_loss is None and min_speedup is None:
        max_rouge2_loss = DEFAULT_MAX_LOSS
    return max_rouge2_loss, min_speedup


def budget_text(max_rouge2_loss: float | None, min_speedup: float | None, batch_size: int,
                reference: str | None = "full") -> str:
    if min_speedup is not None:
        return f"at least {min_speedup:.2f}× faster than the full model at batch size {batch_size}; most accurate wins"
    return (f"at most {max_rouge2_loss:.2f} ROUGE-2 points below {REFERENCE_NAMES.get(reference, 'the full model')}; "
            f"fastest at batch size {batch_size} wins")


def recommend(frame: pd.DataFrame, max_rouge2_loss: float | None = None, min_speedup: float | None = None,
              batch_size: int = 1) -> dict | None:
    """The pick for one model x dataset: the fastest variant within `max_rouge2_loss` ROUGE-2
    points of the reference (the re-tuned control, else the full model), or the most accurate at
    least `min_speedup` times faster.

    `met` is False when nothing meets the budget; the pick is then the closest. When the pick is
    the full model itself, the line says to keep it and `closest` names the nearest pruned variant.
    None when no finished run has ROUGE-2 and latency at `batch_size` next to a finished full model.
    """
    max_loss, min_speedup = check_budget(max_rouge2_loss, min_speedup)
    done = frame[(frame.status == "done") & (frame.kind != "control")]  # the control is the yardstick
    if len(done[GROUP].drop_duplicates()) > 1:
        raise ValueError("recommend() compares variants of one model x dataset; filter the frame "
                         "(frame[frame.model == ...]) or use recommend_each()")
    check_batch_size(frame, batch_size)
    lat, spd = f"latency_ms_bs{batch_size}", f"speedup_bs{batch_size}"
    if lat not in frame:
        return None
    cand = done.dropna(subset=["rouge2", "rouge2_loss", lat, spd])
    if cand.empty:
        return None
    if max_loss is not None:
        ok = cand[cand.rouge2_loss <= max_loss + EPS]
        pick = (ok.sort_values([lat, "rouge2"], ascending=[True, False]) if len(ok)
                else cand.sort_values(["rouge2_loss", lat])).iloc[0]
    else:
        ok = cand[cand[spd] >= min_speedup - EPS]
        pick = (ok.sort_values(["rouge2", spd], ascending=[False, False]) if len(ok)
                else cand.sort_values([spd, "rouge2"], ascending=[False, False])).iloc[0]
    # The full model "within budget" of its own control is no answer to "what should I prune?":
    # say so, and name the pruned variant that came closest.
    closest = None
    if pick.kind == "full" and (pruned := cand[cand.kind != "full"]).shape[0]:
        closest = _summary(pruned.sort_values(["rouge2_loss", lat]).iloc[0], lat, spd, batch_size)
    rec = {k: pick[k] for k in ("sweep", "model", "who", "dataset")}
    rec.update(_summary(pick, lat, spd, batch_size), rouge2_full=float(pick.rouge2_full), met=bool(len(ok)),
               max_rouge2_loss=max_loss, min_speedup=min_speedup, closest=closest,
               budget=budget_text(max_loss, min_speedup, batch_size, pick.reference))
    rec["line"] = _rec_line(rec)
    return rec


def _summary(r, lat: str, spd: str, batch_size: int) -> dict:
    """The numbers a recommendation line quotes for one run."""
    interval = None if pd.isna(r.rouge2_low) else {"delta": float(r.rouge2_delta), "low": float(r.rouge2_low),
                                                   "high": float(r.rouge2_high), "confidence": 0.95}
    return dict(variant=r.variant, kind=r.kind, reference=r.reference, rouge2=float(r.rouge2),
                rouge2_ref=float(r.rouge2_ref), rouge2_loss=float(r.rouge2_loss),
                impact_pct=_float(r.rouge2_impact_pct), interval=interval, latency_ms=float(r[lat]),
                speedup=float(r[spd]), speedup_low=_float(r.get(f"speedup_low_bs{batch_size}")),
                speedup_high=_float(r.get(f"speedup_high_bs{batch_size}")), batch_size=batch_size)


def _float(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _speed(r: dict) -> str:
    """'2.00× [1.90, 2.10] faster at batch size 1 (50.0 ms)'; a speed-up whose interval holds 1 is 'no
    measurable speed-up', one whose interval lies below 1 'slower', never 'faster'."""
    value, low, high = r["speedup"], r["speedup_low"], r["speedup_high"]
    shown = speedup_text(value, low, high, short=True)
    where = f"at batch size {r['batch_size']} ({r['latency_ms']:.1f} ms)"
    words = speedup_verdict(value, low, high)
    if words == "faster":
        return f"{shown} faster {where}"
    if words == "slower":
        return f"{shown}, slower than the full model {where}"
    return f"{shown} {where}: {words}"


def _numbers(r: dict) -> str:
    """'ROUGE-2 21.0 vs 22.0 for the re-tuned control: measurable loss (...); 2.00× [1.9, 2.1] faster ...'"""
    reference = REFERENCE_NAMES.get(r["reference"], "the full model")
    impact = "" if r["impact_pct"] is None else f", {r['impact_pct']:+.2f}%"
    if r["interval"] is not None:  # say whether the difference is measurable at all
        return (f"ROUGE-2 {r['rouge2']:.2f} vs {r['rouge2_ref']:.2f} for {reference}: "
                f"{difference_text(r['interval'])}; {_speed(r)}")
    return f"ROUGE-2 {r['rouge2']:.2f} ({0.0 - r['rouge2_loss']:+.2f} points{impact}), {_speed(r)}"


def _caveat(r: dict) -> str:
    """Budgets are met on the measured values; say where the 95% interval reaches past the budget."""
    interval = r["interval"]
    if r["min_speedup"] is None and interval is not None and -interval["low"] > r["max_rouge2_loss"] + EPS:
        return (f" (met by the measured difference; its 95% interval reaches a {-interval['low']:.2f}-point loss, "
                "past the budget)")
    if r["min_speedup"] is not None and r["speedup_low"] is not None and r["speedup_low"] < r["min_speedup"] - EPS:
        return (f" (met by the measured speed-up; its 95% interval starts at {r['speedup_low']:.2f}×, below "
                f"{r['min_speedup']:.2f}×)")
    return ""


def _rec_line(r: dict) -> str:
    where = f"{r['who']} · {r['dataset']}"
    reference = REFERENCE_NAMES.get(r["reference"], "the full model")
    numbers = _numbers(r)
    if r["min_speedup"] is not None:
        goal = f"at least {r['min_speedup']:.2f}× faster at batch size {r['batch_size']}"
        best = "the most accurate"
    else:
        goal = f"within {r['max_rouge2_loss']:.2f} ROUGE-2 points of {reference}"
        best = "the fastest"
    pick = f"{r['variant']} ({r['kind']})"
    if r["kind"] == "full" and r["min_speedup"] is None:
        closest = r.get("closest")
        tail = f"; closest: {closest['variant']} ({closest['kind']}): {_numbers(closest)}" if closest else ""
        return f"{where}: no pruned variant is {goal}; keep the full model{tail}"
    if r["met"]:
        return f"{where}: {pick} is {best} {goal}: {numbers}{_caveat(r)}"
    return f"{where}: no variant is {goal}; closest: {pick}: {numbers}"


def recommendation_line(label: str, rec: dict | None, batch_size: int) -> str:
    """The one-line verdict for a model x dataset, also when there is nothing to compare."""
    return rec["line"] if rec else (f"{label}: nothing to recommend: no finished run has ROUGE-2 and latency at "
                                    f"batch size {batch_size} next to a finished full model")


def recommend_each(frame: pd.DataFrame, max_rouge2_loss: float | None = None, min_speedup: float | None = None,
                   batch_size: int = 1) -> list[tuple[str, dict | None]]:
    """(label, recommendation or None) for every model x dataset with finished runs."""
    done = frame[frame.status == "done"]
    return [(label, recommend(rows, max_rouge2_loss, min_speedup, batch_size)) for label, rows in by_group(done)]
