"""The report reads each run's metric: direction in Pareto, verdicts and picks, its labels, its intervals;
--max-loss METRIC=X budgets, and --max-rouge2-loss as its alias."""

import csv

import pytest

from asymprune.errors import UsageError
from asymprune.metrics import metric_for
from asymprune.report import check_budget, load_runs, pareto, recommend, verdict
from asymprune.store import Store
from asymprune.wer import paired_bootstrap as wer_bootstrap
from tests.helpers import run_cli, reports_under
from tests.results_db import make_results_db

# A lower-is-better toy metric (tests/toy_metric.py), one model against its control, 20 documents each.
# Per document: the control's error, shifted by the variant's mean `shift` and +-`noise` on alternate documents.
TOY = {  # variant: (kind, shift, noise, ms at batch 1)
    "6/6": ("full", 0.5, 0.0, 100.0),
    "control": ("control", 0.0, 0.0, 101.0),
    "6/3": ("decoder", 0.7, 3.0, 50.0),    # within a point, and inside its noise
    "6/1": ("decoder", 2.5, 0.0, 25.0),    # fastest, 2.5 points more errors: measurably worse
    "3/3": ("both", -0.5, 0.0, 60.0),      # fewer errors than the control: a measurable gain
    "3/6": ("encoder", 1.5, 0.0, 80.0),    # slower and worse than 3/3
}


def make_toy_db(path):
    control = [9.5 + (1 if i % 2 else -1) for i in range(20)]
    store = Store(path)
    for variant, (kind, shift, noise, ms) in TOY.items():
        docs = [c + shift + (noise if i % 2 else -noise) for i, c in enumerate(control)]
        run = store.upsert_run("s", "m", "d", variant, kind=kind, encoder_layers=6, decoder_layers=6,
                               encoder_total=6, decoder_total=6, status="done")
        store.record_metrics(run, "test", {"err": sum(docs) / len(docs), "gen_len": 9.0, "n_samples": 20})
        store.record_documents(run, "test", [{"index": i, "err": x, "gen_len": 9} for i, x in enumerate(docs)])
        store.record_latency(run, [dict(backend="hf", dtype="float32", device="cpu", batch_size=1, median_ms=ms,
                                        mean_ms=ms, bench_id="g")])
    store.upsert_run("s", "m", "d", "1/1", kind="both", status="failed", error="boom")  # no score: still toyerr
    store.close()
    return path


def test_lower_is_better_drives_pareto_verdicts_and_picks(toy_metric, tmp_path):
    frame = load_runs(make_toy_db(tmp_path / "toy.db"))
    assert set(frame.metric) == {"toyerr"} and "rouge2" not in frame
    by = frame.set_index("variant")
    assert by.loc["6/1", "err_loss"] == pytest.approx(2.5) and by.loc["3/3", "err_loss"] == pytest.approx(-0.5)
    assert {v: verdict(r) for v, r in zip(by.index, by.itertuples())} == {
        "6/6": "measurable loss", "control": "reference", "6/3": "no measurable loss", "6/1": "measurable loss",
        "3/3": "measurable gain", "3/6": "measurable loss", "1/1": "–"}
    assert list(pareto(frame, 1).variant) == ["6/1", "6/3", "3/3"]  # fewer errors is better: 3/3 beats 6/6, 3/6
    rec = recommend(frame, max_loss=1.0)
    assert rec["variant"] == "6/3" and rec["err_loss"] == pytest.approx(0.7)
    assert rec["line"].startswith("m · d: 6/3 (decoder) is the fastest within 1.00 ERR points of the re-tuned "
                                  "control: ERR 10.20 vs 9.50 for the re-tuned control: no measurable loss (+0.70, ")
    assert recommend(frame, max_loss=0.0)["variant"] == "3/3"  # the fastest with no more errors than the control
    assert recommend(frame, min_speedup=1.5)["variant"] == "3/3"  # the most accurate: the fewest errors
    worst = recommend(frame, max_loss=2.0)["line"]  # met by +0.70; its interval, on the side of more errors, is not
    assert "its 95% interval reaches a 2.20-point ERR loss, past the budget" in worst
    assert rec["budget"] == "at most 1.00 ERR points above the re-tuned control; fastest at batch size 1 wins"


def test_the_report_names_the_metric(toy_metric, tmp_path, capsys):
    db = make_toy_db(tmp_path / "toy.db")
    out = tmp_path / "rep"
    assert run_cli(["report", str(db), "--out", str(out), "--max-loss", "err=1"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(
        "recommendation: m · d: 6/3 (decoder) is the fastest within 1.00 ERR points")
    md = (out / "report.md").read_text()
    assert "## ERR by variant and model size" in md and "| encoder | decoder | kind | m ERR | m % of full |" in md
    assert "Budget: at most 1.00 ERR points above the re-tuned control" in md
    assert "| m | control | control | 9.50 | reference | reference |" in md
    with open(out / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["variant"], r["err"], r["verdict"]) for r in rows] == [
        ("6/1", "12.0", "measurable loss"), ("6/3", "10.2", "no measurable loss"), ("3/3", "9.0", "measurable gain")]
    assert run_cli(["report", str(db), "--out", str(out), "--overwrite", "--max-rouge2-loss", "1"]) == 2
    assert "error: a loss budget on rouge2, but no run in" in capsys.readouterr().err
    assert run_cli(["results", str(db)]) == 0
    assert "ERR" in capsys.readouterr().out


def test_wer_intervals_re_aggregate_the_documents(tmp_path):
    """WER runs: the headline interval comes from each document's errors and words, as a corpus ratio."""
    words = [1, 10, 2, 7, 4, 12, 3, 5]
    control = [{"index": i, "errors": e, "words": w} for i, (e, w) in enumerate(zip([0, 1, 0, 2, 0, 1, 0, 1], words))]
    pruned = [{"index": i, "errors": e, "words": w} for i, (e, w) in enumerate(zip([1, 3, 0, 2, 1, 2, 1, 1], words))]
    store = Store(tmp_path / "wer.db")
    for variant, kind, docs, ms in (("control", "control", control, 100.0), ("6/3", "decoder", pruned, 50.0),
                                    ("6/6", "full", control, 100.0)):
        run = store.upsert_run("s", "whisper", "speech", variant, kind=kind, status="done")
        total = sum(d["errors"] for d in docs) / sum(d["words"] for d in docs)
        store.record_metrics(run, "test", {"wer": 100 * total, "cer": 100 * total, "gen_len": 5.0})
        store.record_documents(run, "test", [{**d, "char_errors": d["errors"], "chars": d["words"]} for d in docs])
        store.record_latency(run, [dict(backend="hf", dtype="float32", device="cpu", batch_size=1, median_ms=ms,
                                        mean_ms=ms, bench_id="g")])
    store.close()
    frame = load_runs(tmp_path / "wer.db")
    r = frame.set_index("variant").loc["6/3"]
    ci = wer_bootstrap(pruned, control)
    assert (r.metric, r.wer_delta, r.wer_low, r.wer_high) == ("wer", pytest.approx(ci["delta"]), ci["low"], ci["high"])
    assert r.wer_delta == pytest.approx(100 * 6 / 44) and r.wer_loss == r.wer_delta  # lower is better: loss = delta
    assert verdict(r) == metric_for("wer").verdict(ci) == "measurable loss"
    line = recommend(frame, max_loss={"wer": 20.0})["line"]
    assert "6/3 (decoder) is the fastest within 20.00 WER points of the re-tuned control: WER 25.00 vs 11.36" in line


@pytest.mark.parametrize("given, budgets", [
    (dict(max_loss=["rouge2=1.5"]), {"rouge2": 1.5}),
    (dict(max_loss=["rouge2=1.5", "wer=2"]), {"rouge2": 1.5, "wer": 2.0}),
    (dict(max_loss=[" rouge2 = 0 "]), {"rouge2": 0.0}),
    (dict(max_rouge2_loss=1.5), {"rouge2": 1.5}),                           # the alias
    (dict(max_loss=["rouge2=1.5"], max_rouge2_loss=1.5), {"rouge2": 1.5}),  # both, agreeing
    (dict(max_loss={"wer": 3}), {"wer": 3.0}),                               # from Python
    (dict(), {}),                                                            # DEFAULT_MAX_LOSS on every metric
])
def test_max_loss_budgets(given, budgets):
    assert check_budget(**given) == (budgets, None)


@pytest.mark.parametrize("given, message", [
    (dict(max_loss=["bleu=1"]), "--max-loss bleu=1: no metric has a score called 'bleu'; name a metric's headline: "
                                "rouge2 (ROUGE-2), wer (WER)"),
    (dict(max_loss=["rouge1=1"]), "--max-loss rouge1=1: 'rouge1' is not the headline of rouge; budgets are on rouge2"),
    (dict(max_loss=["rouge2=abc"]), "--max-loss rouge2=abc: 'abc' is not a number; pass e.g. rouge2=1.0"),
    (dict(max_loss=["rouge2=-1"]), "--max-loss rouge2=-1: the loss must be 0 or more ROUGE-2 points (got -1)"),
    (dict(max_loss=["wer=nan"]), "--max-loss wer=nan: the loss must be 0 or more WER points (got nan)"),
    (dict(max_loss=["rouge2"]), "--max-loss rouge2: pass METRIC=POINTS, e.g. --max-loss rouge2=1.0"),
    (dict(max_loss=["=1"]), "--max-loss =1: pass METRIC=POINTS"),
    (dict(max_loss=["rouge2=1", "rouge2=2"]), "--max-loss gives rouge2 twice (1 and 2); pass it once"),
    (dict(max_loss=["rouge2=2"], max_rouge2_loss=1.0), "--max-rouge2-loss 1 and --max-loss rouge2=2 disagree"),
    (dict(max_loss=["rouge2=1"], min_speedup=2.0), "--max-loss and --min-speedup both given; pass one budget"),
    (dict(max_rouge2_loss=-1.0), "--max-rouge2-loss must be 0 or more ROUGE-2 points (got -1.0)"),
])
def test_bad_budgets_are_one_line(given, message):
    with pytest.raises(UsageError) as e:
        check_budget(**given)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


@pytest.fixture(scope="module")
def rouge_db(tmp_path_factory):
    return make_results_db(tmp_path_factory.mktemp("budgets") / "results.db")


def test_max_loss_and_its_alias_give_the_same_report(rouge_db, tmp_path, capsys):
    flag_sets = [["--max-rouge2-loss", "3"], ["--max-loss", "rouge2=3"],
                 ["--max-loss", "rouge2=3", "--max-rouge2-loss", "3.0"]]
    outputs = reports_under(rouge_db, tmp_path, capsys, flag_sets)
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][0][0].startswith("recommendation: flan-t5-small · cnndm: 6/1 (decoder) is the fastest within "
                                       "3.00 ROUGE-2 points of the full model")


@pytest.mark.parametrize("flags, message", [
    (["--max-loss", "bleu=1"], "error: --max-loss bleu=1: no metric has a score called 'bleu'"),
    (["--max-loss", "rouge2=x"], "error: --max-loss rouge2=x: 'x' is not a number"),
    (["--max-loss", "rouge2=-0.5"], "error: --max-loss rouge2=-0.5: the loss must be 0 or more ROUGE-2 points"),
    (["--max-loss", "rouge2=1", "--max-rouge2-loss", "2"],
     "error: --max-rouge2-loss 2 and --max-loss rouge2=1 disagree"),
    (["--max-loss", "wer=1"], "error: a loss budget on wer, but no run in"),
])
def test_bad_max_loss_on_the_command_line(rouge_db, tmp_path, capsys, flags, message):
    out = tmp_path / "rep"
    assert run_cli(["report", str(rouge_db), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not out.exists()
