"""WER, the registry's second entry: word (and character) error rates after Whisper's English normaliser.

The math is asymprune/wer.py's. Lower is better; each rate is a corpus ratio, the sum of errors
over the sum of reference units (x 100), so the paired bootstrap re-aggregates summed counts
rather than averaging per-utterance rates.
"""

from __future__ import annotations

from .. import wer
from .registry import Metric, Ratio, register_metric


@register_metric
class Wer(Metric):
    name = wer.NAME
    keys = wer.KEYS
    headline = wer.HEADLINE
    higher_is_better = wer.HIGHER_IS_BETTER
    label = "WER"
    labels = {"wer": "WER", "cer": "CER"}
    loss_noun = "increase"
    budget_flag = "--max-wer-increase"
    about = (f"Word and character error rates in percent (jiwer, corpus errors over reference words or characters) "
             f"of the model's transcripts after the {wer.NORMALISER}; lower is better.")
    hub_types = {"wer": "wer", "cer": "cer"}

    def normalize(self, text):
        return wer.normalize(text)

    def per_example(self, predictions, references):
        return wer.wer_per_example(predictions, references)  # normalises both texts first

    def ratios(self):
        return {key: Ratio(num, den, 100.0) for key, (num, den) in wer.COUNTS.items()}

    def aggregate(self, rows):
        return wer.wer_aggregate(rows)
