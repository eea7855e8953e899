"""A speech study scored with WER, end to end through the report: lower is better everywhere (the quality
table, deltas, intervals, verdicts, the Pareto frontier, the recommendation), and --max-wer-increase is
--max-loss wer=X. The database is tests/results_db.make_wer_db (hand-made, through the real Store)."""

import csv

import pytest

from asymprune.errors import UsageError
from asymprune.report import check_budget, load_runs, pareto, recommend, verdict
from asymprune.wer import paired_bootstrap as wer_bootstrap
from tests.helpers import run_cli, reports_under
from tests.results_db import make_results_db, make_wer_db, wer_documents


@pytest.fixture(scope="module")
def wer_db(tmp_path_factory):
    return make_wer_db(tmp_path_factory.mktemp("wer") / "results.db")


def test_lower_wer_is_better_in_deltas_intervals_verdicts_and_pareto(wer_db):
    frame = load_runs(wer_db)
    assert set(frame.metric) == {"wer"} and "rouge2" not in frame
    by = frame.set_index("variant")
    assert by.wer.to_dict() == {"4/4": 20.0, "control": 21.0, "4/3": 22.0, "4/2": 30.0, "4/1": 61.0, "2/4": 13.0,
                                "2/2": 21.5}
    assert by.loc["2/4", "cer"] == pytest.approx(5.2)  # 52 character errors in 1,000 characters
    assert set(by.reference) == {"control"} and by.loc["2/4", "wer_ref"] == 21.0
    # delta is value - reference; a loss is a WER increase, so the loss is the delta itself.
    assert by.loc["4/2", "wer_delta"] == pytest.approx(9.0) and by.loc["4/2", "wer_loss"] == pytest.approx(9.0)
    assert by.loc["2/4", "wer_loss"] == pytest.approx(-8.0)  # fewer errors than the control: negative loss
    for variant in ("4/3", "2/4", "4/1"):  # the corpus-ratio bootstrap over the stored errors and words
        ci = wer_bootstrap(wer_documents(variant), wer_documents("control"))
        assert (by.loc[variant, "wer_low"], by.loc[variant, "wer_high"]) == (ci["low"], ci["high"])
    assert by.loc["2/4", "wer_high"] < 0 < by.loc["4/2", "wer_low"]
    assert {v: verdict(r) for v, r in zip(by.index, by.itertuples())} == {
        "4/4": "no measurable loss", "control": "reference", "4/3": "no measurable loss", "4/2": "measurable loss",
        "4/1": "measurable loss", "2/4": "measurable gain", "2/2": "no measurable loss"}
    # Fewer errors and less time win: 2/2 beats 4/3, 2/4 beats the full model. (Read as higher-is-better,
    # 4/1 would beat everything.)
    assert list(pareto(frame, 1).variant) == ["4/1", "4/2", "2/2", "2/4"]
    assert list(pareto(frame, 8).variant) == ["2/2", "2/4"]  # at batch 8, 2/2 is the fastest, 2/4 the most accurate


@pytest.mark.parametrize("budget, pick", [
    (dict(max_wer_increase=1.0), "2/2"),       # 4/3 (+1.0, inclusive), 2/2, 2/4, the full model: 2/2 is fastest
    (dict(max_loss=["wer=1"]), "2/2"),          # the same budget
    (dict(max_wer_increase=0.0), "2/4"),       # no more errors than the control: only 2/4 and the full model
    (dict(max_wer_increase=10.0), "4/2"),      # +9.0 is within 10
    (dict(min_speedup=1.5), "2/2"),            # 4/1, 4/2, 2/2 are 1.5x faster; 2/2 has the fewest errors
    (dict(), "2/2"),                           # the default: 1 point of every metric
])
def test_the_pick_reads_wer_as_lower_is_better(wer_db, budget, pick):
    assert recommend(load_runs(wer_db), **budget)["variant"] == pick


def test_the_wer_report_and_its_recommendation(wer_db, tmp_path, capsys):
    out = tmp_path / "rep"
    assert run_cli(["report", str(wer_db), "--out", str(out), "--max-wer-increase", "1"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    (line,) = [x for x in printed if x.startswith("recommendation: ")]
    # the fixture's control reads 0.99x in every round: an offset of the bench, said per batch size, not hidden
    checks = [x for x in printed if x.startswith("bench check: ")]
    assert [c.split(": the re-tuned control")[0] for c in checks] == [
        f"bench check: whisper-tiny.en · synthetic-speech, batch size {bs}" for bs in (1, 8)]
    assert "between 0.99× and 1.01× are within it" in checks[0]
    assert line == ("recommendation: whisper-tiny.en · synthetic-speech: 2/2 (both) is the fastest within 1.00 WER "
                    "points of the re-tuned control: WER 21.50 vs 21.00 for the re-tuned control: no measurable loss "
                    "(+0.50, 95% CI -2.50 to +3.50); 1.67× [1.67, 1.67] faster at batch size 1 (60.0 ms) (met by the "
                    "measured difference; its 95% interval reaches a 3.50-point WER increase, past the budget)")
    md = (out / "report.md").read_text()
    assert "Budget: at most 1.00 WER points above the re-tuned control; fastest at batch size 1 wins." in md
    assert "## WER by variant and model size" in md and "(WER: lower is better)" in md
    assert "| 2 | 4 | encoder | 13.00 | 65.00% |" in md  # the quality table: WER and % of the full model's
    assert "Δ = value - reference (WER: lower is better, so a positive Δ is a loss)" in md
    assert ("| whisper-tiny.en | 2/4 | encoder | 13.00 | -8.00 [-9.50, -6.00] | measurable gain | -38.10% | -7.00 | "
            "1.11× [1.11, 1.11] | 1.60× [1.60, 1.60] |") in md
    assert "| whisper-tiny.en | 4/2 | decoder | 30.00 | +9.00 [+7.50, +10.00] | measurable loss |" in md
    assert "ROUGE" not in md
    with open(out / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["variant"], r["wer"], r["verdict"]) for r in rows] == [
        ("4/1", "61.0", "measurable loss"), ("4/2", "30.0", "measurable loss"), ("2/2", "21.5", "no measurable loss"),
        ("2/4", "13.0", "measurable gain")]
    assert run_cli(["results", str(wer_db)]) == 0
    shown = capsys.readouterr().out
    assert "WER" in shown and "R-2" not in shown


def test_max_wer_increase_is_max_loss_wer(wer_db, tmp_path, capsys):
    flag_sets = [["--max-wer-increase", "10"], ["--max-loss", "wer=10"],
                 ["--max-loss", "wer=10", "--max-wer-increase", "10.0"]]
    outputs = reports_under(wer_db, tmp_path, capsys, flag_sets)
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][0][0].startswith("recommendation: whisper-tiny.en · synthetic-speech: 4/2 (decoder) is the "
                                       "fastest within 10.00 WER points of the re-tuned control")


@pytest.mark.parametrize("given, budgets", [
    (dict(max_wer_increase=1.5), {"wer": 1.5}),
    (dict(max_wer_increase=0), {"wer": 0.0}),
    (dict(max_wer_increase=2, max_rouge2_loss=1), {"wer": 2.0, "rouge2": 1.0}),
    (dict(max_loss=["wer=2"], max_wer_increase=2.0), {"wer": 2.0}),
    (dict(max_wer_increase=None), {}),
])
def test_wer_budgets(given, budgets):
    assert check_budget(**given) == (budgets, None)


@pytest.mark.parametrize("given, message", [
    (dict(max_wer_increase=-1.0), "--max-wer-increase must be 0 or more WER points (got -1.0)"),
    (dict(max_wer_increase=float("inf")), "--max-wer-increase must be 0 or more WER points (got inf)"),
    (dict(max_loss=["wer=2"], max_wer_increase=1.0), "--max-wer-increase 1 and --max-loss wer=2 disagree"),
    (dict(max_wer_increase=1.0, min_speedup=2.0), "--max-wer-increase and --min-speedup both given; pass one budget"),
])
def test_bad_wer_budgets_are_one_line(given, message):
    with pytest.raises(UsageError) as e:
        check_budget(**given)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_an_unknown_budget_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected budget keyword 'max_bleu_loss'"):
        check_budget(max_bleu_loss=1.0)


@pytest.fixture(scope="module")
def rouge_db(tmp_path_factory):
    return make_results_db(tmp_path_factory.mktemp("rouge") / "results.db")


@pytest.mark.parametrize("db, flags, message", [
    ("wer", ["--max-wer-increase", "-1"], "error: --max-wer-increase must be 0 or more WER points (got -1.0)"),
    ("wer", ["--max-wer-increase", "nan"], "error: --max-wer-increase must be 0 or more WER points (got nan)"),
    ("wer", ["--max-wer-increase", "1", "--max-loss", "wer=2"],
     "error: --max-wer-increase 1 and --max-loss wer=2 disagree"),
    ("wer", ["--max-wer-increase", "1", "--min-speedup", "2"], "error: --max-wer-increase and --min-speedup both given"),
    ("wer", ["--max-rouge2-loss", "1"], "error: a loss budget on rouge2, but no run in"),
    ("rouge", ["--max-wer-increase", "1"], "error: a loss budget on wer, but no run in"),
])
def test_bad_wer_budgets_on_the_command_line(wer_db, rouge_db, tmp_path, capsys, db, flags, message):
    out = tmp_path / "rep"
    assert run_cli(["report", str(wer_db if db == "wer" else rouge_db), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not out.exists()
