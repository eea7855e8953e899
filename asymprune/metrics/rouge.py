"""ROUGE, the registry's first entry: rouge-score F-measures (stemmer on) x 100, plain means over examples.

The math is asymprune/rouge.py's; this entry says what the rest of asymprune needs to know: the
keys, ROUGE-2 as the headline, higher is better, and each key's corpus score is the mean of its
per-example value (the default ratio), which is how the paired bootstrap re-aggregates it.
"""

from __future__ import annotations

from ..rouge import ROUGE_KEYS, mean_scores, rouge_per_example
from .registry import Metric, register_metric


@register_metric
class Rouge(Metric):
    name = "rouge"
    keys = ROUGE_KEYS
    headline = "rouge2"
    higher_is_better = True
    label = "ROUGE-2"
    short = "R-2"
    labels = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum"}
    budget_flag = "--max-rouge2-loss"
    about = "ROUGE F-measures × 100 (rouge-score with the stemmer) of the model's summaries; higher is better."

    def per_example(self, predictions, references):
        return rouge_per_example(predictions, references)

    def aggregate(self, rows):
        return mean_scores(rows)
