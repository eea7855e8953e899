"""ROUGE the way the paper's tables compute it, lead-k baselines, impact, and paired intervals.

    rouge(["the cat sat."], ["the cat lay."])          # plain means x 100 of rouge-score F-measures
    impact(metrics, baseline)                           # {"rouge2": -4.1, ...}: % change vs. the unpruned model
    paired_bootstrap(variant_r2, control_r2)           # {"delta": -0.4, "low": -1.1, "high": 0.3, ...}
    difference_text(interval)                           # 'no measurable loss (-0.40, 95% CI -1.10 to +0.30)'

ROUGE is `rouge_score.rouge_scorer` with the Porter stemmer, reported as the plain mean of the
per-example F-measures scaled to 0-100. A difference between two models is given with a paired
bootstrap 95% interval over the same documents (`paired_bootstrap`): when it contains 0, the
difference is within the noise of the test set. For ROUGE-Lsum every text is split into
sentences joined by newlines, as transformers' run_summarization.py does; the splitter here is a
rule (end punctuation followed by white space) rather than nltk's punkt, which needs a download.
"""

from __future__ import annotations

import re

from . import intervals

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
METRICS = (*ROUGE_KEYS, "gen_len")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`: split after . ! ? followed by white space, and at newlines."""
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def _scorer():
    from rouge_score import rouge_scorer
    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)


def rouge_per_example(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """ROUGE F-measures (0-100) of each prediction against its reference."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scorer = _scorer()
    scores = []
    for pred, ref in zip(predictions, references):
        # Newline-joined sentences change only rougeLsum: the other scores ignore line breaks.
        s = scorer.score("\n".join(split_sentences(ref)), "\n".join(split_sentences(pred)))
        scores.append({k: 100 * s[k].fmeasure for k in ROUGE_KEYS})
    return scores


def mean_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(s[k] for s in scores) / len(scores) for k in scores[0]} if scores else {}


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Plain means (0-100) of ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum."""
    return mean_scores(rouge_per_example(predictions, references))


def lead(text: str, sentences: int = 3) -> str:
    """The first `sentences` sentences of `text`: the lead-k baseline summary."""
    return " ".join(split_sentences(text)[:sentences])


def lead_baseline(rows, sentences: int = 3) -> dict[str, float]:
    """ROUGE of copying the first `sentences` sentences of each source (rows: a split)."""
    return rouge([lead(s, sentences) for s in rows["source"]], list(rows["target"]))


def impact(metrics: dict, baseline: dict, keys=METRICS) -> dict[str, float | None]:
    """Relative change (%) of each of `keys` against the baseline: (value - baseline) / baseline x 100."""
    out = {}
    for key in keys:
        if key in metrics and key in baseline:
            b = baseline[key]
            out[key] = None if not b else 100 * (metrics[key] - b) / b
    return out


def paired_bootstrap(scores, baseline, samples: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Mean of `scores - baseline` (per document, same documents) and its percentile bootstrap interval.

    Documents are resampled with replacement `samples` times (seeded, so a report is reproducible);
    the interval holds the middle `confidence` of the resampled means (asymprune.intervals).
    """
    return intervals.ratio_bootstrap(scores, baseline, None, 1.0, samples, seed, confidence)


def difference_text(ci: dict, digits: int = 2) -> str:
    """'no measurable loss (-0.31, 95% CI -0.92 to +0.30)', or the measured loss or gain."""
    return intervals.difference_text(ci, True, digits)
