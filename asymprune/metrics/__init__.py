"""Quality metrics: one registered record per metric (ROUGE, WER), and the paired bootstrap they share.

    from asymprune.metrics import metric_for, paired_bootstrap
    metric = metric_for("rouge")                         # keys, headline, direction, labels
    rows = metric.per_example(predictions, references)   # per-example statistics
    metric.aggregate(rows)                               # {"rouge1": ..., "rouge2": ..., ...}
    paired_bootstrap(metric, "rouge2", rows, control_rows)  # difference and its 95% interval

    registry.py   Metric (hooks with defaults), Ratio, register_metric, metric_for, owner_of
    bootstrap.py  the paired bootstrap of a metric's key (asymprune/intervals.py's math), re-aggregating resamples
    rouge.py      ROUGE-1/2/L/Lsum (asymprune/rouge.py's math), higher is better
    wer.py        WER and CER (asymprune/wer.py's math), lower is better

A dataset kind names its metric (asymprune.data: summarization datasets score with rouge).
"""

from . import rouge  # noqa: F401  (registers the built-in metrics, in this order)
from . import wer  # noqa: F401
from ..intervals import ratio_bootstrap
from .bootstrap import paired_bootstrap
from .registry import (GENERATION_KEYS, METRICS, Metric, Ratio, budget_metric, headline_metric, metric_for, metric_names,
                       owner_of, register_metric, unregister_metric)

__all__ = ["GENERATION_KEYS", "METRICS", "Metric", "Ratio", "budget_metric", "headline_metric", "metric_for", "metric_names", "owner_of",
           "paired_bootstrap", "ratio_bootstrap", "register_metric", "unregister_metric"]
