"""A baseline evaluation's scores beside this one's: its metrics.json checked, relative impact, paired intervals.

    baseline = load_baseline(Path("runs/base/eval/metrics.json"), expected="wer")   # checked, one-line errors
    add_baseline(result, path)     # result["metrics"]: "baseline", "impact" and "intervals" (paired bootstrap)
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import UsageError
from .metrics import metric_for, paired_bootstrap
from .rouge import impact


def load_predictions(metrics_path: Path) -> list[dict] | None:
    """The per-document rows (predictions.jsonl) beside a metrics.json, or None when there are none."""
    path = Path(metrics_path).with_name("predictions.jsonl")
    if not path.is_file():
        return None
    try:
        return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def load_baseline(path: Path, expected: str | None = None) -> dict:
    """Metrics of another evaluation (its metrics.json), checked to hold every score of its metric
    (and to be scored with the metric named `expected`, when given)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.is_file():
        raise UsageError(f"baseline {path} not found; pass the metrics.json of an earlier asymprune evaluate")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"baseline {path} is not valid JSON ({e}); pass a metrics.json written by asymprune "
                         "evaluate") from None
    name = data.get("metric", "rouge") if isinstance(data, dict) else "rouge"
    try:
        metric = metric_for(name)
    except UsageError as e:
        raise UsageError(f"baseline {path}: {e}") from None
    if expected is not None and name != expected:
        raise UsageError(f"baseline {path} is scored with {name}, this evaluation with {expected}; pass the "
                         "metrics.json of an evaluation on the same kind of dataset")
    missing = [k for k in (*metric.keys, "gen_len")
               if not isinstance(data.get(k) if isinstance(data, dict) else None, (int, float))]
    if missing:
        raise UsageError(f"baseline {path} has no {', '.join(missing)}; pass a metrics.json written by asymprune "
                         "evaluate")
    return data


def add_baseline(result: dict, baseline_path: Path) -> dict:
    """Add the baseline's scores, the relative impact (%) per score and, when the baseline's
    predictions.jsonl covers the same documents, a paired bootstrap interval per key of the metric."""
    m = result["metrics"]
    metric = metric_for(m.get("metric", "rouge"))
    baseline = load_baseline(baseline_path, metric.name)
    path = Path(baseline_path)
    path = path / "metrics.json" if path.is_dir() else path
    keys = (*metric.keys, "gen_len")  # what an evaluation reports and compares
    m["baseline"] = {"path": str(baseline_path), **{k: baseline[k] for k in keys}}
    m["impact"] = impact(m, baseline, keys)
    theirs, ours = load_predictions(path), result["predictions"]
    same = theirs is not None and len(theirs) == len(ours) and all(
        a.get("reference") == b["reference"] for a, b in zip(theirs, ours))
    m["intervals"] = {k: paired_bootstrap(metric, k, ours, theirs) for k in metric.keys} if same else None
    if not same:
        m["intervals_missing"] = ("the baseline's predictions.jsonl is missing or covers other documents; evaluate "
                                  "both models on the same split and samples for intervals")
    return result
