"""What a report concludes: the Pareto frontier, a verdict per difference, and a recommendation.

    rec = recommend(frame[frame.model == "flan-t5-small"], max_loss=1.0)   # {'variant': '6/3', 'line': ...}
    rec = recommend(rows, min_speedup=2)           # the most accurate variant at least twice as fast
    front = pareto(frame, batch_size=1)            # variants nothing beats on both latency and quality
    verdict(row)                                   # 'no measurable loss': the interval contains 0
    check_budget(["rouge2=1.0"])                   # ({'rouge2': 1.0}, None): what --max-loss gives
    check_budget(max_wer_increase=1.0)             # ({'wer': 1.0}, None): a metric's own flag (Metric.budget_flag)

Quality is each run's metric's headline (ROUGE-2, WER, ...), in the metric's direction: a loss is
how much worse than the reference. The control is the yardstick, not a candidate. A difference
whose interval contains 0 is no measurable loss, never a gain.
"""

from __future__ import annotations

import math

import pandas as pd

from ..bench.speedup import speedup_text, speedup_verdict
from ..errors import UsageError
from ..metrics import Metric, budget_metric, headline_metric, metric_for
from .load import GROUP, by_group, check_batch_size
from .quality import headline, metric_of

REFERENCE_NAMES = {"control": "the re-tuned control", "full": "the full model"}
DEFAULT_MAX_LOSS = 1.0  # points of each metric's headline, when no budget is given
EPS = 1e-9              # budgets are inclusive; don't let float noise (25.0 - 24.1) decide


def verdict(r) -> str:
    """What the headline difference with the reference says, given its interval and the metric's direction."""
    if getattr(r, "kind", None) == r_kind_reference(r):
        return "reference"
    h = metric_of(r).headline
    low, high, delta = getattr(r, f"{h}_low", None), getattr(r, f"{h}_high", None), getattr(r, f"{h}_delta")
    if low is None or pd.isna(low) or high is None or pd.isna(high):
        return "–" if delta is None or pd.isna(delta) else "no interval"
    return metric_of(r).verdict({"low": low, "high": high})


def r_kind_reference(r) -> str | None:
    """The kind of the run this row is compared with: control or full (None: nothing to compare)."""
    ref = getattr(r, "reference", None)
    return None if ref is None or pd.isna(ref) else ref


def pareto(frame: pd.DataFrame, batch_size: int = 1) -> pd.DataFrame:
    """Finished runs that no run of the same model x dataset beats on both latency and quality (the
    headline of its metric, in the metric's direction).

    The control is the yardstick, not a candidate: it has the full model's shape and speed."""
    col = f"latency_ms_bs{batch_size}"
    if col not in frame:
        return frame.iloc[0:0]
    done = frame[(frame.status == "done") & (frame.kind != "control") & headline(frame).notna() & frame[col].notna()]
    fronts = []
    for _, g in done.groupby(GROUP, sort=False):
        m = metric_of(g)
        h = m.headline
        keep = []
        for i, r in g.iterrows():
            no_worse = (g[col] <= r[col]) & m.at_least_as_good(g[h], r[h])
            better = (g[col] < r[col]) | m.better(g[h], r[h])
            if not (no_worse & better).any():
                keep.append(i)
        fronts.append(g.loc[keep].sort_values(col, kind="stable"))  # slowest last: the full model
    return pd.concat(fronts) if fronts else done


def parse_max_loss(items) -> dict[str, float]:
    """{headline key: points} from --max-loss texts 'KEY=POINTS' (or a {key: points} dict), each checked."""
    if isinstance(items, dict):
        items = [f"{k}={v}" for k, v in items.items()]
    budgets: dict[str, float] = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key or not text:
            raise UsageError(f"--max-loss {item}: pass METRIC=POINTS, e.g. --max-loss rouge2=1.0")
        try:
            metric = headline_metric(key)
        except UsageError as e:
            raise UsageError(f"--max-loss {item}: {e}") from None
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"--max-loss {item}: '{text}' is not a number; pass e.g. {key}=1.0") from None
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"--max-loss {item}: the loss must be 0 or more {metric.label} {metric.unit} "
                             f"(got {text})")
        if key in budgets and budgets[key] != value:
            raise UsageError(f"--max-loss gives {key} twice ({budgets[key]:g} and {value:g}); pass it once")
        budgets[key] = value
    return budgets


def check_budget(max_loss=None, min_speedup: float | None = None, **flags) -> tuple:
    """Validated (budgets, min_speedup): exactly one kind of budget. `budgets` is {headline key:
    points} from `max_loss` (--max-loss texts 'rouge2=1.0', or a dict) and each metric's own budget
    flag (`flags`, by its Python keyword: max_rouge2_loss=1.0 is --max-rouge2-loss, max_wer_increase=1.0
    --max-wer-increase; see Metric.budget_flag); a metric not named there may lose DEFAULT_MAX_LOSS
    points. None when the budget is a speed-up."""
    given = {budget_metric(k): v for k, v in flags.items() if v is not None}  # TypeError for an unknown keyword
    given_flags = (["--max-loss"] if max_loss else []) + [m.budget_flag for m in given]
    if given_flags and min_speedup is not None:
        raise UsageError(f"{' and '.join(given_flags)} and --min-speedup both given; pass one budget")
    for metric, value in given.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise UsageError(f"{metric.budget_flag} must be 0 or more {metric.label} {metric.unit} (got {value})")
    if min_speedup is not None and not min_speedup > 0:
        raise UsageError(f"--min-speedup must be a positive factor, e.g. 2 for twice as fast (got {min_speedup})")
    if min_speedup is not None:
        return None, min_speedup
    budgets = parse_max_loss(max_loss or [])
    for metric, value in given.items():
        h = metric.headline
        if budgets.get(h, value) != value:
            raise UsageError(f"{metric.budget_flag} {value:g} and --max-loss {h}={budgets[h]:g} disagree; pass one "
                             "of them")
        budgets[h] = float(value)
    return budgets, None


def loss_budget(budgets: dict | None, metric: Metric) -> float | None:
    """The points of `metric`'s headline a budget allows to lose (None: the budget is a speed-up)."""
    return None if budgets is None else budgets.get(metric.headline, DEFAULT_MAX_LOSS)


def budget_text(budgets: dict | None, min_speedup: float | None, batch_size: int, metrics: list[Metric],
                reference: str | None = "full") -> str:
    """'at most 1.00 ROUGE-2 points below the full model; fastest at batch size 1 wins', a clause per metric."""
    if min_speedup is not None:
        return f"at least {min_speedup:.2f}× faster than the full model at batch size {batch_size}; most accurate wins"
    where = REFERENCE_NAMES.get(reference, "the full model")
    losses = [f"at most {loss_budget(budgets, m):.2f} {m.label} {m.unit} {m.worse_word()} {where}"
              for m in metrics]
    return f"{', '.join(losses)}; fastest at batch size {batch_size} wins"


def recommend(frame: pd.DataFrame, max_loss=None, min_speedup: float | None = None, batch_size: int = 1,
              **flags) -> dict | None:
    """The pick for one model x dataset: the fastest variant within `max_loss` points of the
    headline of its metric (a number, or {headline key: points}; `flags` are the metrics' own budget
    flags, max_rouge2_loss=1.0 or max_wer_increase=1.0, as check_budget takes them) of the reference
    (the re-tuned control, else the full model), or the most accurate at least `min_speedup` times faster.

    `met` is False when nothing meets the budget; the pick is then the closest. When the pick is
    the full model itself, the line says to keep it and `closest` names the nearest pruned variant.
    None when no finished run has a score and latency at `batch_size` next to a finished full model.
    """
    done = frame[(frame.status == "done") & (frame.kind != "control")]  # the control is the yardstick
    if len(done[GROUP].drop_duplicates()) > 1:
        raise ValueError("recommend() compares variants of one model x dataset; filter the frame "
                         "(frame[frame.model == ...]) or use recommend_each()")
    metric = metric_of(frame)
    if isinstance(max_loss, (int, float)) and not isinstance(max_loss, bool):
        max_loss = {metric.headline: max_loss}
    budgets, min_speedup = check_budget(max_loss, min_speedup, **flags)
    max_loss = loss_budget(budgets, metric)
    check_batch_size(frame, batch_size)
    h, worst_first = metric.headline, not metric.higher_is_better  # sort order that puts the best first
    lat, spd = f"latency_ms_bs{batch_size}", f"speedup_bs{batch_size}"
    if lat not in frame:
        return None
    cand = done.dropna(subset=[h, f"{h}_loss", lat, spd])
    if cand.empty:
        return None
    if max_loss is not None:
        ok = cand[cand[f"{h}_loss"] <= max_loss + EPS]
        pick = (ok.sort_values([lat, h], ascending=[True, worst_first]) if len(ok)
                else cand.sort_values([f"{h}_loss", lat])).iloc[0]
    else:
        ok = cand[cand[spd] >= min_speedup - EPS]
        pick = (ok.sort_values([h, spd], ascending=[worst_first, False]) if len(ok)
                else cand.sort_values([spd, h], ascending=[False, worst_first])).iloc[0]
    # The full model "within budget" of its own control is no answer to "what should I prune?":
    # say so, and name the pruned variant that came closest.
    closest = None
    if pick.kind == "full" and (pruned := cand[cand.kind != "full"]).shape[0]:
        closest = _summary(pruned.sort_values([f"{h}_loss", lat]).iloc[0], lat, spd, batch_size, metric)
    rec = {k: pick[k] for k in ("sweep", "model", "who", "dataset")}
    rec.update(_summary(pick, lat, spd, batch_size, metric), met=bool(len(ok)), max_loss=max_loss,
               min_speedup=min_speedup, closest=closest,
               budget=budget_text({h: max_loss} if max_loss is not None else None, min_speedup, batch_size,
                                  [metric], pick.reference))
    rec[f"{h}_full"] = float(pick[f"{h}_full"])
    rec["line"] = _rec_line(rec)
    return rec


def _summary(r, lat: str, spd: str, batch_size: int, metric: Metric) -> dict:
    """The numbers a recommendation line quotes for one run (the headline under its own key)."""
    h = metric.headline
    interval = None if pd.isna(r[f"{h}_low"]) else {"delta": float(r[f"{h}_delta"]), "low": float(r[f"{h}_low"]),
                                                    "high": float(r[f"{h}_high"]), "confidence": 0.95}
    return {"variant": r.variant, "kind": r.kind, "reference": r.reference, "metric": metric.name, h: float(r[h]),
            f"{h}_ref": float(r[f"{h}_ref"]), f"{h}_loss": float(r[f"{h}_loss"]),
            "impact_pct": _float(r[f"{h}_impact_pct"]), "interval": interval, "latency_ms": float(r[lat]),
            "speedup": float(r[spd]), "speedup_low": _float(r.get(f"speedup_low_bs{batch_size}")),
            "speedup_high": _float(r.get(f"speedup_high_bs{batch_size}")), "batch_size": batch_size}


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
    m = metric_for(r["metric"])
    h = m.headline
    reference = REFERENCE_NAMES.get(r["reference"], "the full model")
    impact = "" if r["impact_pct"] is None else f", {r['impact_pct']:+.2f}%"
    if r["interval"] is not None:  # say whether the difference is measurable at all
        return (f"{m.label} {r[h]:.2f} vs {r[f'{h}_ref']:.2f} for {reference}: "
                f"{m.difference_text(r['interval'])}; {_speed(r)}")
    return f"{m.label} {r[h]:.2f} ({m.loss(r[f'{h}_loss'], 0.0):+.2f} {m.unit}{impact}), {_speed(r)}"


def _caveat(r: dict) -> str:
    """Budgets are met on the measured values; say where the 95% interval reaches past the budget."""
    interval, m = r["interval"], metric_for(r["metric"])
    worst = None if interval is None else max(m.loss(interval["low"], 0.0), m.loss(interval["high"], 0.0))
    if r["min_speedup"] is None and worst is not None and worst > r["max_loss"] + EPS:
        return (f" (met by the measured difference; its 95% interval reaches a {worst:.2f}-point {m.label} "
                f"{m.loss_noun}, past the budget)")
    if r["min_speedup"] is not None and r["speedup_low"] is not None and r["speedup_low"] < r["min_speedup"] - EPS:
        return (f" (met by the measured speed-up; its 95% interval starts at {r['speedup_low']:.2f}×, below "
                f"{r['min_speedup']:.2f}×)")
    return ""


def _rec_line(r: dict) -> str:
    where = f"{r['who']} · {r['dataset']}"
    reference = REFERENCE_NAMES.get(r["reference"], "the full model")
    m = metric_for(r["metric"])
    numbers = _numbers(r)
    if r["min_speedup"] is not None:
        goal = f"at least {r['min_speedup']:.2f}× faster at batch size {r['batch_size']}"
        best = "the most accurate"
    else:
        goal = f"within {r['max_loss']:.2f} {m.label} {m.unit} of {reference}"
        best = "the fastest"
    pick = f"{r['variant']} ({r['kind']})"
    if r["kind"] == "full" and r["min_speedup"] is None:
        closest = r.get("closest")
        tail = f"; closest: {closest['variant']} ({closest['kind']}): {_numbers(closest)}" if closest else ""
        return f"{where}: no pruned variant is {goal}; keep the full model{tail}"
    if r["met"]:
        return f"{where}: {pick} is {best} {goal}: {numbers}{_caveat(r)}"
    return f"{where}: no variant is {goal}; closest: {pick}: {numbers}"


def recommendation_line(label: str, rec: dict | None, batch_size: int, metric: Metric | None = None) -> str:
    """The one-line verdict for a model x dataset (scored with `metric`), also when there is nothing to compare."""
    quality = metric.label if metric is not None else "a quality score"
    return rec["line"] if rec else (f"{label}: nothing to recommend: no finished run has {quality} and latency at "
                                    f"batch size {batch_size} next to a finished full model")


def recommend_each(frame: pd.DataFrame, max_loss=None, min_speedup: float | None = None, batch_size: int = 1,
                   **flags) -> list[tuple[str, dict | None]]:
    """(label, recommendation or None) for every model x dataset with finished runs."""
    done = frame[frame.status == "done"]
    return [(label, recommend(rows, max_loss, min_speedup, batch_size, **flags))
            for label, rows in by_group(done)]
