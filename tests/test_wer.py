"""WER and CER after Whisper's normaliser, checked against jiwer and a golden file; paired bootstrap intervals."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import jiwer
import numpy as np
import pytest

from asymprune.wer import (HIGHER_IS_BETTER, NORMALISER, difference_text, normalize, paired_bootstrap, wer,
                           wer_aggregate, wer_per_example)

PAIRS = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "wer_pairs.jsonl").open()]
COUNTS = ("errors", "words", "substitutions", "deletions", "insertions", "char_errors", "chars")


@pytest.mark.parametrize("pair", PAIRS, ids=[p["why"][:40] for p in PAIRS])
def test_golden_pairs(pair):
    assert normalize(pair["reference"]) == pair["reference_normalised"]
    assert normalize(pair["prediction"]) == pair["prediction_normalised"]
    stats = wer_per_example([pair["prediction"]], [pair["reference"]])[0]
    assert {k: stats[k] for k in COUNTS} == {k: pair[k] for k in COUNTS}
    # The same counts as jiwer's own on the normalised texts.
    words = jiwer.process_words(pair["reference_normalised"], pair["prediction_normalised"])
    assert (words.substitutions, words.deletions, words.insertions) == \
        (pair["substitutions"], pair["deletions"], pair["insertions"])
    if pair["words"]:
        assert 100 * pair["errors"] / pair["words"] == pytest.approx(100 * words.wer)
        assert 100 * pair["char_errors"] / pair["chars"] == pytest.approx(
            100 * jiwer.cer(pair["reference_normalised"], pair["prediction_normalised"]))


def test_corpus_wer_is_summed_errors_over_summed_words_as_jiwer_computes_it():
    scores = wer([p["prediction"] for p in PAIRS], [p["reference"] for p in PAIRS])
    assert (scores["errors"], scores["words"], scores["utterances"]) == (11, 57, len(PAIRS))
    assert scores["wer"] == pytest.approx(100 * 11 / 57)
    refs, hyps = [p["reference_normalised"] for p in PAIRS], [p["prediction_normalised"] for p in PAIRS]
    assert scores["wer"] == pytest.approx(100 * jiwer.wer(refs, hyps))
    assert scores["cer"] == pytest.approx(100 * jiwer.cer(refs, hyps))
    per_utterance_mean = np.mean([100 * p["errors"] / p["words"] for p in PAIRS])
    assert scores["wer"] != pytest.approx(per_utterance_mean)   # a corpus rate, not a mean of rates


def test_the_normaliser_is_whispers_as_transformers_implements_it():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer
    spelling = json.loads(files("whisper_normalizer").joinpath("normalizers/english.json").read_text())
    theirs = EnglishTextNormalizer(spelling)
    texts = [p[k] for p in PAIRS for k in ("reference", "prediction")] + [
        "Dr. Jones' 2nd appointment cost £1,500.50 — hmm, that's 10% more!", "They've analysed 1,000,001 records."]
    assert [normalize(t) for t in texts] == [theirs(t) for t in texts]
    assert "EnglishTextNormalizer" in NORMALISER and HIGHER_IS_BETTER is False


def test_empty_references_count_insertions_and_an_all_empty_corpus_has_no_wer():
    stats = wer_per_example(["something said", "hello"], ["Hmm.", "hello"])   # "Hmm." normalises to nothing
    assert stats[0]["words"] == 0 and stats[0]["errors"] == 2
    assert wer_aggregate(stats)["wer"] == pytest.approx(200.0)
    with pytest.raises(ValueError, match="no reference words"):
        wer_aggregate(wer_per_example(["a"], ["um"]))


def utterances(n, seed, words=(4, 30)):
    rng = np.random.default_rng(seed)
    w = rng.integers(*words, size=n)
    e = rng.binomial(w, 0.1)
    return [{"errors": int(a), "words": int(b), "char_errors": int(a), "chars": int(5 * b)} for a, b in zip(e, w)]


def test_the_bootstrap_re_aggregates_each_resample():
    control, variant = utterances(50, 0), utterances(50, 1)
    variant = [{**v, "words": c["words"], "chars": c["chars"]} for v, c in zip(variant, control)]
    ci = paired_bootstrap(variant, control, samples=300, seed=7)
    # The same resamples, aggregated by hand: corpus WER of each, then their difference.
    rng, deltas = np.random.default_rng(7), []
    e_v, e_c, w = (np.array([s[k] for s in rows]) for rows, k in ((variant, "errors"), (control, "errors"),
                                                                  (control, "words")))
    for start in range(0, 300, 100):
        for idx in rng.integers(0, 50, size=(100, 50)):
            deltas.append(100 * e_v[idx].sum() / w[idx].sum() - 100 * e_c[idx].sum() / w[idx].sum())
    assert (ci["low"], ci["high"]) == pytest.approx(tuple(np.percentile(deltas, [2.5, 97.5])))
    assert ci["delta"] == pytest.approx(wer_aggregate(variant)["wer"] - wer_aggregate(control)["wer"])


def test_bootstrap_verdicts_and_reproducibility():
    control = utterances(400, 0)
    worse = [{**s, "errors": s["errors"] + 1, "char_errors": s["char_errors"] + 2} for s in control]
    better = [{**s, "errors": max(0, s["errors"] - 1)} for s in control]
    some = [i for i, s in enumerate(control) if s["errors"]]   # half of these gain an error, half lose one
    shift = {i: 1 if k % 2 else -1 for k, i in enumerate(some[: len(some) // 2 * 2])}
    noisy = [{**s, "errors": s["errors"] + shift.get(i, 0)} for i, s in enumerate(control)]
    assert paired_bootstrap(control, control) == {"delta": 0.0, "low": 0.0, "high": 0.0, "n": 400, "samples": 1000,
                                                  "confidence": 0.95, "key": "wer"}
    assert difference_text(paired_bootstrap(worse, control)).startswith("measurable loss (+")
    assert difference_text(paired_bootstrap(better, control)).startswith("measurable gain (-")
    assert difference_text(paired_bootstrap(noisy, control)).startswith("no measurable loss")
    assert paired_bootstrap(noisy, control, seed=3) == paired_bootstrap(noisy, control, seed=3)
    cer = paired_bootstrap(worse, control, key="cer")
    assert cer["key"] == "cer" and cer["low"] > 0


def test_more_utterances_give_a_narrower_interval():
    def width(n):
        control = utterances(n, 0)
        variant = [{**v, "words": c["words"], "chars": c["chars"]} for v, c in zip(utterances(n, 1), control)]
        ci = paired_bootstrap(variant, control)
        return ci["high"] - ci["low"]
    assert width(1600) < 0.6 * width(100)


def test_unpaired_statistics_are_refused():
    with pytest.raises(ValueError, match="two equal, non-empty lists"):
        paired_bootstrap(utterances(3, 0), utterances(4, 0))
    with pytest.raises(ValueError, match="different references"):
        paired_bootstrap(utterances(30, 0), utterances(30, 1))
