"""Each run's quality in a report frame, in the words of its metric (asymprune.metrics).

    quality = quality_columns(summary, runs)   # per run: every key of its metric, gen_len, reference, ...
    metric_of(rows)                            # the Metric of a model x dataset's rows, or of one row
    intervals(db, frame)                       # the headline's paired bootstrap interval vs the reference

A run's metric is the one its stored scores belong to; a run not yet evaluated takes its model x
dataset's, else its dataset's (asymprune.data.dataset_metric). Columns are named after the metric:
ROUGE's frame has `rouge2`, `rouge2_delta`, `rouge2_low`, `rouge2_loss`, ...; WER's has `wer`,
`wer_delta`, ... `loss` is how much worse than the reference, whichever way the metric goes (the
budget's unit); `delta` is value - reference.
"""

from __future__ import annotations

import pandas as pd

from ..data import dataset_metric
from ..errors import UsageError
from ..metrics import GENERATION_KEYS, METRICS, Metric, metric_for, owner_of, paired_bootstrap
from ..store import Store

KEY = ["sweep", "model", "dataset", "variant"]
GROUP = ["sweep", "model", "dataset"]
HEADLINE_COLUMNS = ("impact_pct", "delta", "impact_pct_base", "delta_base")  # the summary view's, per headline


def metric_of(x) -> Metric:
    """The metric of a frame's rows (one model x dataset, or one dataset) or of one row: the one its
    `metric` column names, else the registered metric whose headline is a column (a frame made by hand)."""
    if isinstance(x, pd.DataFrame):
        names = list(x["metric"].dropna().unique()) if "metric" in x else []
        if len(names) > 1:
            raise ValueError(f"rows of several metrics ({', '.join(names)}); take one model x dataset at a time")
        fields = list(x.columns)
    else:
        name = getattr(x, "metric", None)
        names = [name] if isinstance(name, str) else []
        fields = list(getattr(x, "_fields", None) or getattr(x, "index", []))
    if names:
        return metric_for(names[0])
    found = next((m for m in METRICS.values() if m.headline in fields), None)
    if found is None:
        raise ValueError(f"no metric's headline among the columns {fields}")
    return found


def metrics_in(frame: pd.DataFrame) -> list[Metric]:
    """The metrics a frame's runs are scored with, in registry order."""
    names = set(frame["metric"].dropna()) if "metric" in frame else {metric_of(frame).name}
    return [m for m in METRICS.values() if m.name in names]


def _run_metric(keys: set, where: str) -> str | None:
    owners = {owner_of(k) for k in keys} - {None}
    unknown = sorted(k for k in keys if owner_of(k) is None and k not in GENERATION_KEYS)
    if unknown:
        raise UsageError(f"{where} has scores this asymprune knows no metric for ({', '.join(unknown)}); upgrade "
                         "asymprune, or register the metric (asymprune.metrics.register_metric) before reporting")
    if len(owners) > 1:
        raise UsageError(f"{where} has scores of several metrics ({', '.join(sorted(m.name for m in owners))}) "
                         "for one run; evaluate each run with its dataset's metric only")
    return owners.pop().name if owners else None


def _fill_unscored(runs: pd.DataFrame, names: list) -> list[str]:
    """A run without scores (failed, pending) takes its model x dataset's metric, else its dataset's:
    the one other runs on it were scored with, else the one the dataset names."""
    frame = runs[KEY].assign(metric=names)
    by_group = frame.dropna(subset=["metric"]).drop_duplicates(GROUP).set_index(GROUP).metric
    by_dataset = frame.dropna(subset=["metric"]).drop_duplicates("dataset").set_index("dataset").metric
    return [name if name is not None else by_group.get((r.sweep, r.model, r.dataset))
            or by_dataset.get(r.dataset) or dataset_metric(r.dataset) for name, r in zip(names, frame.itertuples())]


def quality_columns(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run (KEY): `metric`, every key of its metric and gen_len, `reference`, and the headline's
    impact and difference against the reference and against the full model (`{headline}_delta`, ...)."""
    scores = summary.dropna(subset=["metric"]).drop_duplicates(KEY + ["metric"])
    keys = scores.groupby(KEY).metric.agg(set)
    names = _fill_unscored(runs, [_run_metric(keys.get(tuple(r), set()), f"run {r[1]} · {r[2]} · {r[3]}")
                                  for r in runs[KEY].itertuples(index=False)])
    used = [m for m in METRICS.values() if m.name in set(names)]
    columns = [k for m in used for k in m.keys] + ["gen_len"]
    wide = scores.pivot(index=KEY, columns="metric", values="value").reindex(columns=columns)
    wide.columns.name = None
    out = runs[KEY].assign(metric=names).merge(wide.reset_index(), on=KEY, how="left")
    heads = scores[scores.metric.isin([m.headline for m in used])]
    out = out.merge(heads[KEY + ["reference"]], on=KEY, how="left")
    for m in used:
        rows = heads[heads.metric == m.headline][KEY + list(HEADLINE_COLUMNS)]
        out = out.merge(rows.rename(columns={c: f"{m.headline}_{c}" for c in HEADLINE_COLUMNS}), on=KEY, how="left")
    numeric = [c for c in out.columns if c not in KEY + ["metric", "reference"]]
    out[numeric] = out[numeric].apply(pd.to_numeric, errors="coerce")
    return out


def add_references(frame: pd.DataFrame) -> pd.DataFrame:
    """`{headline}_ref` (the reference's value), `_full` (the full model's) and `_loss` (points worse
    than the reference, in the metric's direction) per metric; interval columns NaN where missing."""
    for m in metrics_in(frame):
        h = m.headline
        for col in (f"{h}_low", f"{h}_high"):
            frame[col] = frame[col] if col in frame else float("nan")
        frame[f"{h}_ref"] = frame[h] - frame[f"{h}_delta"]      # the reference's value (control, else full)
        frame[f"{h}_full"] = frame[h] - frame[f"{h}_delta_base"]
        frame[f"{h}_loss"] = m.loss(frame[f"{h}_delta"], 0.0)  # worse than the reference; the budget's unit
    return frame


def intervals(db, frame: pd.DataFrame) -> pd.DataFrame:
    """Per run: the paired bootstrap 95% interval of its headline difference with its reference run
    (the control, else the full model), over the test documents both were scored on."""
    used = metrics_in(frame)
    columns = KEY + [f"{m.headline}_{c}" for m in used for c in ("low", "high", "docs")]
    needed = [_stats(m) for m in used]
    stats = None if None in needed else sorted({s for n in needed for s in n})  # None: every statistic
    query = "SELECT d.run_id, d.doc, d.stat, d.value FROM documents d WHERE d.split = 'test'"
    if stats is not None:
        query += f" AND d.stat IN ({', '.join('?' * len(stats))})"
    store = Store(db, create=False)
    try:
        docs = store.frame(query, tuple(stats or ()))
        runs = store.frame("SELECT id AS run_id, sweep, model, dataset, variant, kind FROM runs")
    finally:
        store.close()
    if docs.empty:
        return pd.DataFrame(columns=columns)
    docs = docs.pivot(index=["run_id", "doc"], columns="stat", values="value").reset_index()
    docs = runs.merge(docs, on="run_id")
    which = frame.drop_duplicates(GROUP).set_index(GROUP).metric
    rows = []
    for key, g in docs.groupby(GROUP, sort=False):
        m = metric_for(which[key]) if key in which.index else None
        kinds = set(g.kind)
        ref_kind = "control" if "control" in kinds else "full" if "full" in kinds else None
        if m is None or ref_kind is None or not set(_stats(m) or ()) <= set(g.columns):
            continue
        ref = g[g.kind == ref_kind].set_index("doc").sort_index()
        for variant, v in g[g.kind != ref_kind].groupby("variant", sort=False):
            v = v.set_index("doc").sort_index()
            if list(v.index) != list(ref.index):
                continue  # not the same documents: no paired interval
            ci = paired_bootstrap(m, m.headline, _records(v, m), _records(ref, m))
            rows.append({**dict(zip(GROUP, key)), "variant": variant, f"{m.headline}_low": ci["low"],
                         f"{m.headline}_high": ci["high"], f"{m.headline}_docs": ci["n"]})
    return pd.DataFrame(rows, columns=columns)


def _stats(metric: Metric) -> list[str] | None:
    """The per-document statistics the headline's interval needs (None: all, for aggregate())."""
    ratio = metric.ratios().get(metric.headline)
    return None if ratio is None else [s for s in ratio[:2] if s is not None]


def _records(docs: pd.DataFrame, metric: Metric) -> list[dict]:
    stats = _stats(metric)
    if stats is None:
        stats = [c for c in docs.columns if c not in KEY + ["run_id", "kind"]]
    return docs[stats].to_dict("records")


def headline(frame: pd.DataFrame, suffix: str = "") -> pd.Series:
    """Each row's `{headline}{suffix}` column (its score, `_delta`, `_loss`, ...), whatever its metric."""
    if frame.empty:
        return pd.Series(float("nan"), index=frame.index)
    if "metric" not in frame:
        return frame[f"{metric_of(frame).headline}{suffix}"]
    out = pd.Series(float("nan"), index=frame.index)
    for m in metrics_in(frame):
        rows = frame.metric == m.name
        out[rows] = frame.loc[rows, f"{m.headline}{suffix}"]
    return out
