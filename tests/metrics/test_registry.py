"""The metric registry: the built-in entries, their goldens unchanged, direction, and what it refuses."""

import json
from pathlib import Path

import pytest

from asymprune import rouge, wer
from asymprune.errors import UsageError
from asymprune.metrics import (METRICS, Metric, budget_metric, headline_metric, metric_for, owner_of,
                               register_metric)

FIXTURES = Path(__file__).parent.parent / "fixtures"
ROUGE_PAIRS = [json.loads(line) for line in (FIXTURES / "rouge_pairs.jsonl").open()]
WER_PAIRS = [json.loads(line) for line in (FIXTURES / "wer_pairs.jsonl").open()]


def test_the_built_in_entries():
    assert list(METRICS)[:2] == ["rouge", "wer"]
    r, w = metric_for("rouge"), metric_for("wer")
    assert (r.keys, r.headline, r.higher_is_better, r.label, r.column) == (
        ("rouge1", "rouge2", "rougeL", "rougeLsum"), "rouge2", True, "ROUGE-2", "R-2")
    assert (w.keys, w.headline, w.higher_is_better, w.label, w.column) == (("wer", "cer"), "wer", False, "WER", "WER")
    assert r.normalize("The Cat.") == "The Cat." and w.normalize("The Cat.") == "the cat"
    assert (owner_of("rougeLsum"), owner_of("cer"), owner_of("gen_len")) == (r, w, None)


def test_unknown_metric_is_one_line():
    with pytest.raises(UsageError, match=r"^unknown metric 'bleu'; asymprune knows rouge, wer"):
        metric_for("bleu")
    with pytest.raises(UsageError, match="no metric has a score called 'bleu'; name a metric's headline: rouge2 "
                                         r"\(ROUGE-2\), wer \(WER\)"):
        headline_metric("bleu")
    with pytest.raises(UsageError, match="'rouge1' is not the headline of rouge; budgets are on rouge2"):
        headline_metric("rouge1")


@pytest.mark.parametrize("pair", ROUGE_PAIRS, ids=[p["why"][:40] for p in ROUGE_PAIRS])
def test_rouge_entry_matches_the_reference_file(pair):
    got = metric_for("rouge").per_example([pair["prediction"]], [pair["reference"]])[0]
    assert got == pytest.approx({k: pair[k] for k in rouge.ROUGE_KEYS}, abs=1e-5)


def test_rouge_entry_aggregates_as_rouge_does():
    preds, refs = [p["prediction"] for p in ROUGE_PAIRS], [p["reference"] for p in ROUGE_PAIRS]
    m = metric_for("rouge")
    assert m.aggregate(m.per_example(preds, refs)) == rouge.rouge(preds, refs)  # the very same numbers
    # The default aggregate (each key the mean of its per-example value) agrees with ROUGE's own.
    assert Metric.aggregate(m, m.per_example(preds, refs)) == pytest.approx(rouge.rouge(preds, refs), abs=1e-12)


def test_wer_entry_is_corpus_errors_over_words():
    preds, refs = [p["prediction"] for p in WER_PAIRS], [p["reference"] for p in WER_PAIRS]
    m = metric_for("wer")
    rows = m.per_example(preds, refs)
    assert rows == wer.wer_per_example(preds, refs) and m.aggregate(rows) == wer.wer(preds, refs)
    assert m.aggregate(rows)["wer"] == pytest.approx(100 * 11 / 57)
    # The default aggregate from its ratios gives the same corpus rates.
    assert Metric.aggregate(m, rows) == pytest.approx({k: m.aggregate(rows)[k] for k in m.keys})


def test_direction_loss_and_verdicts():
    r, w = metric_for("rouge"), metric_for("wer")
    assert (r.loss(20.0, 22.0), w.loss(12.0, 10.0)) == (2.0, 2.0)  # both two points worse than the reference
    assert (r.loss(23.0, 22.0), w.loss(9.0, 10.0)) == (-1.0, -1.0)
    higher = {"delta": 1.0, "low": 0.5, "high": 1.5, "confidence": 0.95}  # value - reference, all above 0
    noise = {"delta": 1.0, "low": -0.5, "high": 1.5, "confidence": 0.95}
    assert (r.verdict(higher), w.verdict(higher)) == ("measurable gain", "measurable loss")
    assert r.verdict(noise) == w.verdict(noise) == "no measurable loss"
    assert w.difference_text(higher) == "measurable loss (+1.00, 95% CI +0.50 to +1.50)"
    assert rouge.difference_text(higher) == r.difference_text(higher) == \
        "measurable gain (+1.00, 95% CI +0.50 to +1.50)"
    assert (r.worse_word(), w.worse_word()) == ("below", "above")


def test_budget_flags_card_words_and_hub_types():
    r, w = metric_for("rouge"), metric_for("wer")
    assert (r.budget_flag, r.budget_keyword, w.budget_flag, w.budget_keyword) == (
        "--max-rouge2-loss", "max_rouge2_loss", "--max-wer-increase", "max_wer_increase")
    assert budget_metric("max_wer_increase") is w and budget_metric("max_rouge2_loss") is r
    with pytest.raises(TypeError, match="unexpected budget keyword 'max_wer_loss'"):
        budget_metric("max_wer_loss")
    assert (r.direction, w.direction) == ("higher is better", "lower is better")
    assert (r.loss_noun, w.loss_noun) == ("loss", "increase")
    assert w.delta_note() == "WER: lower is better, so a positive Δ is a loss"
    assert r.delta_note() == "ROUGE-2: higher is better, so a negative Δ is a loss"
    assert [r.hub_type(k) for k in r.keys] == ["rouge"] * 4 and [w.hub_type(k) for k in w.keys] == ["wer", "cer"]
    assert "lower is better" in w.about and "higher is better" in r.about


def test_a_metric_from_outside(toy_metric):
    m = metric_for("toyerr")
    rows = m.per_example(["a", "b", "c", "d"], ["a", "x", "c", "y"])
    assert m.aggregate(rows) == {"err": 0.5}  # the default: the mean of the per-example value
    assert owner_of("err") is m and headline_metric("err") is m


def test_registration_refuses_ambiguous_entries(toy_metric):
    def entry(**attrs):
        return type("Bad", (toy_metric,), {"name": "bad", **attrs})
    with pytest.raises(ValueError, match="headline 'x' is not one of its keys"):
        register_metric(entry(headline="x"))
    with pytest.raises(ValueError, match="key 'rouge2' already belongs to 'rouge'"):
        register_metric(entry(keys=("rouge2",), headline="rouge2"))
    with pytest.raises(ValueError, match="key 'gen_len' already belongs to every evaluation"):
        register_metric(entry(keys=("gen_len",), headline="gen_len"))
    with pytest.raises(ValueError, match="budget flag --max-wer-increase already belongs to 'wer'"):
        register_metric(entry(keys=("bad",), headline="bad", budget_flag="--max-wer-increase"))
    with pytest.raises(ValueError, match="budget flag 'max-err' must start with '--'"):
        register_metric(entry(keys=("bad",), headline="bad", budget_flag="max-err"))
    assert "bad" not in METRICS
