"""Word and character error rates as Whisper's evaluations compute them, and paired intervals on differences.

    stats = wer_per_example(predictions, references)   # per utterance: errors, words, S/D/I, char_errors, chars
    wer_aggregate(stats)                                # {"wer": 12.5, "cer": 6.1, "errors": 50, "words": 400, ...}
    wer(predictions, references)                        # the same in one call
    paired_bootstrap(variant_stats, control_stats)      # {"delta": +1.2, "low": +0.4, "high": +2.0, ...} (points)
    difference_text(interval)                           # 'measurable loss (+1.20, 95% CI +0.40 to +2.00)'

Both texts go through Whisper's English text normaliser first (`normalize`): `EnglishTextNormalizer`
from openai-whisper, as packaged by `whisper-normalizer` (MIT) with its British-to-American
spelling table `english.json`, the same rules as transformers' `EnglishTextNormalizer` and as
the Open ASR Leaderboard. It lower-cases, removes punctuation and fillers ("um", "hmm"), expands
contractions and titles ("won't" -> "will not", "Mr." -> "mister"), writes numbers as digits
("forty two" -> "42") and Americanises spelling ("colour" -> "color").

Errors are counted with jiwer: substitutions + deletions + insertions of the normalised words
against the normalised reference. Corpus WER is sum(errors) / sum(reference words) x 100, never a
mean of per-utterance rates (a short utterance must not weigh as much as a long one). CER is the
same over characters of the normalised texts, spaces included (jiwer's default). Lower is better.

A difference between two systems on the same utterances gets a paired bootstrap interval that
re-aggregates: each of 1,000 seeded resamples of utterances recomputes both corpus WERs from
their summed errors and words, and the interval holds the middle 95% of their differences.
"""

from __future__ import annotations

from functools import lru_cache

from . import intervals

NAME = "wer"
KEYS = ("wer", "cer")                 # corpus rates, percent
HEADLINE = "wer"
HIGHER_IS_BETTER = False
NORMALISER = "Whisper EnglishTextNormalizer (openai-whisper rules + english.json; pip whisper-normalizer, MIT)"
COUNTS = {"wer": ("errors", "words"), "cer": ("char_errors", "chars")}  # numerator, denominator per key


@lru_cache(maxsize=1)
def _normaliser():
    from whisper_normalizer.english import EnglishTextNormalizer
    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English normalisation: lower case, no punctuation or fillers, digits, American spelling."""
    return _normaliser()(text)


def wer_per_example(predictions: list[str], references: list[str], normalise: bool = True) -> list[dict[str, int]]:
    """Per utterance: errors (S + D + I) and reference words, S, D, I, and char_errors / chars for CER."""
    import jiwer
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    stats = []
    for pred, ref in zip(predictions, references):
        if normalise:
            pred, ref = normalize(pred), normalize(ref)
        words = jiwer.process_words(ref, pred)
        chars = jiwer.process_characters(ref, pred)
        stats.append({
            "errors": words.substitutions + words.deletions + words.insertions,
            "words": words.substitutions + words.deletions + words.hits,
            "substitutions": words.substitutions, "deletions": words.deletions, "insertions": words.insertions,
            "char_errors": chars.substitutions + chars.deletions + chars.insertions,
            "chars": chars.substitutions + chars.deletions + chars.hits,
        })
    return stats


def wer_aggregate(stats: list[dict[str, int]]) -> dict:
    """Corpus WER and CER (percent) from per-utterance counts: sums of errors over sums of reference units."""
    if not stats:
        raise ValueError("no utterances to score")
    keys = [k for k in ("errors", "words", "substitutions", "deletions", "insertions", "char_errors", "chars")
            if k in stats[0]]
    totals = {k: sum(s[k] for s in stats) for k in keys}
    if totals["words"] == 0:
        raise ValueError("no reference words after normalisation: WER is undefined")
    rates = {key: 100 * totals[num] / totals[den] if totals.get(den) else float("nan")
             for key, (num, den) in COUNTS.items()}
    return {**rates, **totals, "utterances": len(stats)}


def wer(predictions: list[str], references: list[str]) -> dict:
    """Corpus WER and CER (percent) of `predictions` against `references`, after Whisper's normaliser."""
    return wer_aggregate(wer_per_example(predictions, references))


def paired_bootstrap(stats, baseline, key: str = "wer", samples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> dict:
    """Corpus `key` of `stats` minus that of `baseline` (same utterances, in order), with a bootstrap interval.

    Utterances are resampled with replacement `samples` times (seeded, so a report is
    reproducible); each resample re-aggregates both systems' summed errors over summed reference
    units (asymprune.intervals). delta > 0 means `stats` has more errors than `baseline`.
    """
    num, den = COUNTS[key]
    if len(stats) != len(baseline) or not stats:
        raise ValueError(f"paired statistics must be two equal, non-empty lists (got {len(stats)} and {len(baseline)})")
    units = [s[den] for s in stats]
    if units != [s[den] for s in baseline]:
        raise ValueError("the two systems were scored against different references: their reference counts differ")
    if sum(units) == 0:
        raise ValueError(f"no reference {den} after normalisation: {key.upper()} is undefined")
    ci = intervals.ratio_bootstrap([s[num] for s in stats], [s[num] for s in baseline], units, 100, samples, seed,
                                   confidence)
    return {**ci, "key": key}


def difference_text(ci: dict, digits: int = 2) -> str:
    """'no measurable loss (+0.31, 95% CI -0.40 to +1.02)', or the measured loss (more errors) or gain."""
    return intervals.difference_text(ci, False, digits)
