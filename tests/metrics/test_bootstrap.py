"""One paired bootstrap for every metric: ROUGE's numbers as before, WER's intervals from corpus ratios."""

import numpy as np
import pytest

from asymprune import rouge, wer
from asymprune.metrics import metric_for, paired_bootstrap, ratio_bootstrap


def test_rouge_gives_today_s_numbers_exactly():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 60, 57), rng.uniform(0, 60, 57)
    ci = paired_bootstrap(metric_for("rouge"), "rouge2", [{"rouge2": x} for x in a], [{"rouge2": x} for x in b])
    # The mean of per-document differences over the same seeded resamples, by hand, as the report always did.
    draws, tail = np.random.default_rng(0), 100 * (1 - 0.95) / 2  # 2.5000000000000022, as it always was
    means = np.concatenate([(a - b)[draws.integers(0, 57, size=(100, 57))].mean(axis=1) for _ in range(10)])
    assert ci == {"delta": float((a - b).mean()), "low": float(np.percentile(means, tail)),
                  "high": float(np.percentile(means, 100 - tail)), "n": 57, "samples": 1000, "confidence": 0.95}
    assert rouge.paired_bootstrap(list(a), list(b)) == ci


# Three utterances where the mean of per-utterance WERs (36.7 vs 3.3) is not the corpus WER (15.4 vs 7.7):
# the one-word utterance weighs 1/13 of the corpus, not 1/3.
CONTROL = [{"errors": 0, "words": 1}, {"errors": 1, "words": 10}, {"errors": 0, "words": 2}]
VARIANT = [{"errors": 1, "words": 1}, {"errors": 1, "words": 10}, {"errors": 0, "words": 2}]


def test_wer_interval_re_aggregates_corpus_ratios():
    w = metric_for("wer")
    rows = [{**r, "char_errors": r["errors"], "chars": 5 * r["words"]} for r in VARIANT]
    base = [{**r, "char_errors": r["errors"], "chars": 5 * r["words"]} for r in CONTROL]
    ci = paired_bootstrap(w, "wer", rows, base, samples=400, seed=5)
    assert ci["delta"] == pytest.approx(100 * 2 / 13 - 100 * 1 / 13)  # corpus: 15.38 - 7.69
    # By hand: each resample's corpus WER of both systems from summed errors and words, then the difference.
    draws, deltas, means = np.random.default_rng(5), [], []
    for _ in range(4):
        for idx in draws.integers(0, 3, size=(100, 3)):
            words = sum(CONTROL[i]["words"] for i in idx)
            deltas.append(100 * sum(VARIANT[i]["errors"] for i in idx) / words
                          - 100 * sum(CONTROL[i]["errors"] for i in idx) / words)
            means.append(np.mean([100 * (VARIANT[i]["errors"] - CONTROL[i]["errors"]) / VARIANT[i]["words"]
                                  for i in idx]))
    assert (ci["low"], ci["high"]) == pytest.approx((np.percentile(deltas, 2.5), np.percentile(deltas, 97.5)))
    # A mean of per-utterance rates would centre on 33 points: the one-word utterance weighing a third.
    assert np.median(deltas) == pytest.approx(100 / 13) and np.median(means) == pytest.approx(100 / 3)
    assert wer.paired_bootstrap(rows, base, samples=400, seed=5) == {**ci, "key": "wer"}
    assert w.verdict(ci) == "no measurable loss"  # resamples without the first utterance differ by 0


def test_a_key_without_a_ratio_re_aggregates_through_aggregate(toy_metric):
    class Median(toy_metric):  # a corpus score that is no ratio of sums: the bootstrap calls aggregate() per resample
        def ratios(self):
            return {}

        def aggregate(self, rows):
            return {"err": float(np.median([r["err"] for r in rows]))}
    m, a, b = Median(), [{"err": x} for x in (0, 1, 1, 2, 5)], [{"err": x} for x in (0, 0, 1, 1, 1)]
    ci = paired_bootstrap(m, "err", a, b, samples=200, seed=1)
    draws, deltas = np.random.default_rng(1), []
    for _ in range(2):
        for idx in draws.integers(0, 5, size=(100, 5)):
            deltas.append(np.median([a[i]["err"] for i in idx]) - np.median([b[i]["err"] for i in idx]))
    assert ci["delta"] == 0.0 and (ci["low"], ci["high"]) == pytest.approx(tuple(np.percentile(deltas, [2.5, 97.5])))


def test_unpaired_inputs_are_refused():
    w = metric_for("wer")
    with pytest.raises(ValueError, match="two equal, non-empty lists"):
        paired_bootstrap(w, "wer", VARIANT, CONTROL[:2])
    with pytest.raises(ValueError, match="scored against different references: their words differ"):
        paired_bootstrap(w, "wer", VARIANT, [{**r, "words": 3} for r in CONTROL])
    with pytest.raises(ValueError, match="paired scores must be two equal"):
        ratio_bootstrap([1.0], [])
