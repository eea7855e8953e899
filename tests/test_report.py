"""Reports from a hand-made results.db (tests/results_db.py) whose Pareto sets and picks are known by hand."""

import csv
import sqlite3

import pandas as pd
import pytest

from asymprune.errors import UsageError
from asymprune.report import check_budget, load_runs, pareto, recommend, recommend_each
from tests.helpers import run_cli
from tests.results_db import make_results_db


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return make_results_db(tmp_path_factory.mktemp("report") / "results.db")


@pytest.fixture(scope="module")
def frame(db):
    return load_runs(db)


def _one(frame, model):
    return frame[frame.model == model]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_load_runs_pivots_one_row_per_run(frame):
    assert len(frame) == 14 and frame.attrs["latency_setup"] == "hf / float32 / cpu"  # ct2 has fewer rows
    assert list(frame.model.unique()) == ["flan-t5-small", "flan-t5-base"]  # by size
    assert list(_one(frame, "flan-t5-small").variant) == ["6/6", "6/3", "6/1", "3/6", "1/6", "3/3", "2/2"]
    r = frame[(frame.model == "flan-t5-base") & (frame.variant == "1/6")].iloc[0]
    assert (r.latency_ms_bs8, r.speedup_bs8, r.rouge2_loss) == pytest.approx((200.0, 2.5, 3.0))
    failed = frame[frame.status == "failed"].iloc[0]
    assert failed.error == "CUDA out of memory" and failed[["rouge2", "latency_ms_bs1"]].isna().all()


def test_pareto_sets(frame):
    def front(bs):
        p = pareto(frame, bs)
        return {m: list(p[p.model == m].variant) for m in p.model.unique()}
    assert front(1) == {"flan-t5-small": ["6/1", "6/3", "6/6"], "flan-t5-base": ["6/1", "6/3", "6/6"]}
    # Equal latency: the more accurate one wins (base 6/1 over 3/6 at 250 ms, 3/3 over 1/6 at 200 ms).
    assert front(8) == {"flan-t5-small": ["3/3", "3/6", "6/3", "6/6"], "flan-t5-base": ["3/3", "6/1", "6/3", "6/6"]}


@pytest.mark.parametrize("budget, model, variant, met", [
    (dict(), "flan-t5-small", "6/3", True),                               # default: 1 point; 6/3 loses 0.6
    (dict(), "flan-t5-base", "6/1", True),                                # 0.9 <= 1.0, 4x
    (dict(max_rouge2_loss=3.0), "flan-t5-small", "6/1", True),            # exactly 3.0 lost: inclusive
    (dict(max_rouge2_loss=0.0), "flan-t5-small", "6/6", True),            # only the full model qualifies
    (dict(min_speedup=2), "flan-t5-small", "6/3", True),                  # 2.0x exactly, most accurate
    (dict(min_speedup=2), "flan-t5-base", "6/3", True),
    (dict(min_speedup=2, batch_size=8), "flan-t5-small", "3/6", True),    # at batch 8 the encoder cut pays
    (dict(min_speedup=2, batch_size=8), "flan-t5-base", "6/1", True),
    (dict(min_speedup=5), "flan-t5-small", "6/1", False),                 # nothing reaches 5x: closest
])
def test_recommend(frame, budget, model, variant, met):
    rec = recommend(_one(frame, model), **budget)
    assert (rec["variant"], rec["met"]) == (variant, met)
    assert rec["line"].startswith(f"{model} · cnndm: ")


def test_recommend_details_and_misuse(frame):
    rec = recommend(_one(frame, "flan-t5-base"), max_rouge2_loss=1.0)
    assert rec["rouge2_loss"] == pytest.approx(0.9) and rec["speedup"] == 4.0 and rec["latency_ms"] == 50.0
    assert rec["line"] == ("flan-t5-base · cnndm: 6/1 (decoder) is the fastest within 1.00 ROUGE-2 points of the "
                           "full model: ROUGE-2 24.10 (-0.90 points, -3.60%), 4.00× faster at batch size 1 (50.0 ms)")
    missed = recommend(_one(frame, "flan-t5-small"), min_speedup=5)
    assert missed["line"].startswith("flan-t5-small · cnndm: no variant is at least 5.00× faster at batch size 1; "
                                     "closest: 6/1 (decoder)")
    assert [(label, r["variant"]) for label, r in recommend_each(frame)] == [
        ("flan-t5-small · cnndm", "6/3"), ("flan-t5-base · cnndm", "6/1")]
    with pytest.raises(ValueError, match="one model x dataset"):
        recommend(frame)
    with pytest.raises(UsageError, match=r"no latency at batch size 4 in this database \(measured: 1, 8, 16\)"):
        recommend(_one(frame, "flan-t5-small"), batch_size=4)
    assert check_budget() == ({}, None)  # no budget: DEFAULT_MAX_LOSS points on every metric


def test_report_files_tables_and_plots(db, tmp_path, capsys):
    out = tmp_path / "rep"
    assert run_cli(["report", str(db), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert f"wrote {out / 'report.md'}" in stdout
    assert stdout.strip().splitlines()[-2:] == [
        "recommendation: flan-t5-small · cnndm: 6/3 (decoder) is the fastest within 1.00 ROUGE-2 points of the full "
        "model: ROUGE-2 19.40 (-0.60 points, -3.00%), 2.00× faster at batch size 1 (50.0 ms)",
        "recommendation: flan-t5-base · cnndm: 6/1 (decoder) is the fastest within 1.00 ROUGE-2 points of the full "
        "model: ROUGE-2 24.10 (-0.90 points, -3.60%), 4.00× faster at batch size 1 (50.0 ms)"]
    pngs = ["speedup_vs_impact.png", "quality_vs_layers.png", "speedup_vs_batch.png"]
    csvs = ["quality-cnndm.csv", "speedup-cnndm.csv", "scale-cnndm.csv", "pareto.csv", "unfinished.csv", "runs.csv"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["report.md", "report.html", *pngs, *csvs])
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temporary leftovers

    md = (out / "report.md").read_text()
    assert "Budget: at most 1.00 ROUGE-2 points below the full model; fastest at batch size 1 wins." in md
    assert "**flan-t5-small · cnndm: 6/3 (decoder) is the fastest" in md
    assert all(f"]({p})" in md for p in pngs + csvs)
    assert "| encoder | decoder | kind | flan-t5-small R-2 | flan-t5-small % of full | flan-t5-base R-2 |" in md
    assert "| 6 | 1 | decoder | 17.00 | 85.00% | 24.10 | 96.40% |" in md                     # Tables 5-7
    # Tables 8-10; this database has no control and no per-document scores: differences without intervals.
    # The % of the decode-step ceiling per batch size: blank (not 0) where a row was measured without it.
    assert "| flan-t5-base | 1/6 | encoder | 22.00 | -3.00 | no interval | -12.00% | -3.00 | 1.33× | 2.50× | 2.50× " \
           "|  |  |  |" in md
    assert "| flan-t5-small | 6/1 | decoder | 17.00 | -3.00 | no interval | -15.00% | -3.00 | 4.00× | 1.60× | 1.60× " \
           "| 40% | 8% | 4% |" in md
    assert "BS1 % of ceiling" in md
    # Tables 2-4: each model was benched with its own variants, so the full models' ratio is marked.
    assert ("| flan-t5-base | 247.6M | 25.00 | +25.00% | 200.0 | 2.00× (measured apart) | 500.0 | 2.50× (measured "
            "apart) | 1000.0 | 2.50× (measured apart) |") in md
    assert "| flan-t5-small | 77.0M | 20.00 | +0.00% | 100.0 | 1.00× | 200.0 | 1.00× | 400.0 | 1.00× |" in md
    assert "| flan-t5-small | cnndm | 2/2 | both | failed | CUDA out of memory |" in md
    assert "| flan-t5-base | cnndm | 1/1 | both | pending | – |" in md

    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3 and "src=\"speedup" not in page  # one self-contained file
    assert page.count("<table") == 5 and "<td>CUDA out of memory</td>" in page
    assert "<strong>flan-t5-base · cnndm: 6/1 (decoder) is the fastest" in page

    assert [(r["model"], r["variant"], r["latency_ms_bs1"], r["speedup_bs1"]) for r in _rows(out / "pareto.csv")] == [
        ("flan-t5-small", "6/1", "25.0", "4.0"), ("flan-t5-small", "6/3", "50.0", "2.0"),
        ("flan-t5-small", "6/6", "100.0", "1.0"), ("flan-t5-base", "6/1", "50.0", "4.0"),
        ("flan-t5-base", "6/3", "100.0", "2.0"), ("flan-t5-base", "6/6", "200.0", "1.0")]
    speed = {(r["model"], r["variant"]): r for r in _rows(out / "speedup-cnndm.csv")}
    assert len(speed) == 10 and ("flan-t5-small", "6/6") not in speed  # pruned variants only
    assert {k: speed[("flan-t5-small", "6/1")][k] for k in ("rouge2_impact_pct", "speedup_bs1", "speedup_bs8",
                                                             "speedup_bs16")} == {
        "rouge2_impact_pct": "-15.0", "speedup_bs1": "4.0", "speedup_bs8": "1.6", "speedup_bs16": "1.6"}
    assert speed[("flan-t5-small", "6/1")]["fraction_of_ceiling_bs1"] == "0.4"
    assert speed[("flan-t5-base", "6/1")]["fraction_of_ceiling_bs1"] == ""  # unknown, not 0
    scale = _rows(out / "scale-cnndm.csv")
    assert [(r["model"], r["params"], r["gain_pct"], r["latency_ratio_bs16"], r["same_bench_bs16"]) for r in scale] == [
        ("flan-t5-small", "76961152", "0.0", "1.0", "True"), ("flan-t5-base", "247577856", "25.0", "2.5", "False")]
    quality = _rows(out / "quality-cnndm.csv")
    assert quality[2] == {"encoder": "6", "decoder": "1", "kind": "decoder", "flan-t5-small rouge2": "17.0",
                          "flan-t5-small pct_of_full": "85.0", "flan-t5-base rouge2": "24.1",
                          "flan-t5-base pct_of_full": "96.4"}
    assert len(_rows(out / "runs.csv")) == 14


def test_report_min_speedup_at_batch_8_and_overwrite(db, tmp_path, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert run_cli(["report", str(db), "--out", str(out), "--min-speedup", "2", "--batch-size", "8"]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert run_cli(["report", str(db), "--out", str(out), "--min-speedup", "2", "--batch-size", "8",
                    "--overwrite"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("recommendation: flan-t5-small · cnndm: 3/6 (encoder) is the most accurate at least "
                                "2.00× faster at batch size 8")
    assert lines[-1].startswith("recommendation: flan-t5-base · cnndm: 6/1 (decoder) is the most accurate")
    assert not (out / "mine.txt").exists()
    assert "Budget: at least 2.00× faster than the full model at batch size 8" in (out / "report.md").read_text()
    assert [r["variant"] for r in _rows(out / "pareto.csv")] == ["3/3", "3/6", "6/3", "6/6", "3/3", "6/1", "6/3", "6/6"]


def test_report_without_latency(tmp_path, capsys):
    db = make_results_db(tmp_path / "results.db", with_latency=False)
    out = tmp_path / "rep"
    assert run_cli(["report", str(db), "--out", str(out)]) == 0
    assert "recommendation: flan-t5-small · cnndm: nothing to recommend" in capsys.readouterr().out
    md = (out / "report.md").read_text()
    assert "Latency: none measured yet." in md and "quality_vs_layers.png" in md and "speedup_vs_impact" not in md
    assert not (out / "pareto.csv").exists() and (out / "quality-cnndm.csv").exists()


def test_results_table_and_csv(db, tmp_path, capsys):
    assert run_cli(["results", str(db)]) == 0
    shown = capsys.readouterr().out
    assert "flan-t5-small · cnndm" in shown and "2/2 failed: CUDA out of memory" in shown and "pending" in shown
    assert "6/1     decoder done    17.00 -15.0%  38    25 4.00   125 1.60    250  1.60" in shown
    path = tmp_path / "runs.csv"
    assert run_cli(["results", str(db), "--csv", str(path)]) == 0
    rows = _rows(path)
    assert len(rows) == 14 and rows[1]["variant"] == "6/3" and rows[1]["speedup_bs1"] == "2.0"
    assert [r["error"] for r in rows if r["status"] == "failed"] == ["CUDA out of memory"]
    assert run_cli(["results", str(db), "--csv", str(path)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert run_cli(["results", str(db), "--csv", str(path), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def _newer(tmp_path):
    path = make_results_db(tmp_path / "newer.db")
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    return path


def _unfinished(tmp_path):
    return make_results_db(tmp_path / "running.db", finished=False)


def _text(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not sqlite at all\n" * 50)
    return path


@pytest.mark.parametrize("make_db, extra, message", [
    (lambda t: t / "missing.db", [], "missing.db not found; pass the results.db a sweep wrote"),
    (_text, [], "notes.db is not a results database (file is not a database)"),
    (_newer, [], "was written by a newer asymprune (schema 99, this version reads up to 6); upgrade asymprune"),
    (_unfinished, [], "has no finished runs yet (12 running, 1 failed, 1 pending); wait for the sweep"),
    (None, ["--max-rouge2-loss", "1", "--min-speedup", "2"], "--max-rouge2-loss and --min-speedup both given"),
    (None, ["--max-rouge2-loss", "-1"], "--max-rouge2-loss must be 0 or more ROUGE-2 points (got -1.0)"),
    (None, ["--min-speedup", "-2"], "--min-speedup must be a positive factor"),
    (None, ["--batch-size", "4"], "no latency at batch size 4 in this database (measured: 1, 8, 16)"),
])
def test_bad_input_is_one_line(db, tmp_path, capsys, make_db, extra, message):
    path = db if make_db is None else make_db(tmp_path)
    out = tmp_path / "rep"
    assert run_cli(["report", str(path), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_results_bad_input(tmp_path, capsys):
    assert run_cli(["results", str(_newer(tmp_path))]) == 2
    assert "newer asymprune (schema 99" in capsys.readouterr().err
    empty = tmp_path / "empty.db"
    from asymprune.store import Store
    Store(empty).close()
    assert run_cli(["results", str(empty)]) == 2
    assert "has no runs yet" in capsys.readouterr().err


def test_quality_against_the_control_with_intervals(tmp_path, capsys):
    from tests.results_db import make_control_db
    db = make_control_db(tmp_path / "c.db")
    frame = load_runs(db)
    by = frame.set_index("variant")
    assert set(by.reference) == {"control"} and by.loc["6/1", "rouge2_delta"] == pytest.approx(-4.0)
    assert by.loc["6/1", "rouge2_high"] < 0 < by.loc["3/3", "rouge2_high"] and by.loc["3/3", "rouge2_low"] < 0
    assert by.loc["6/3", "rouge2_low"] < 0 < by.loc["6/3", "rouge2_high"]
    rec = recommend(frame, max_rouge2_loss=1.0)  # 3/3 is the fastest within a point; the control is no candidate
    assert rec["variant"] == "3/3" and rec["interval"]["low"] < 0
    assert "within 1.00 ROUGE-2 points of the re-tuned control" in rec["line"]
    assert "no measurable loss (+0.50, 95% CI" in rec["line"] and "gain" not in rec["line"]
    assert recommend(frame, max_rouge2_loss=5.0)["line"].split(": ", 1)[1].startswith("6/1 (decoder)")
    assert "measurable loss (-4.00, 95% CI -4." in recommend(frame, max_rouge2_loss=5.0)["line"]
    assert list(pareto(frame, 1).variant) == ["6/1", "3/3"]  # 3/3 beats 6/3 and 6/6 on both; no control
    # Speed-ups are ratios of medians: 3/3's stalled round moves its mean, not its 2.00x.
    assert by.loc["3/3", "speedup_bs1"] == pytest.approx(2.0, abs=0.02)
    assert by.loc["3/3", "speedup_low_bs1"] <= by.loc["3/3", "speedup_bs1"] <= by.loc["3/3", "speedup_high_bs1"]
    assert "2.00× [" in rec["line"] and pd.isna(by.loc["6/6", "speedup_low_bs1"])  # no interval against itself
    assert by.loc["control", "speedup_low_bs1"] < 1 < by.loc["control", "speedup_high_bs1"]
    # Only the full model within budget: the answer is to keep it, and the closest pruned variant is named.
    keep = recommend(frame[frame.variant.isin(["6/6", "control", "6/1"])], max_rouge2_loss=1.0)["line"]
    assert "no pruned variant is within 1.00 ROUGE-2 points of the re-tuned control; keep the full model; " \
           "closest: 6/1 (decoder): ROUGE-2 17.99" in keep

    out = tmp_path / "rep"
    assert run_cli(["report", str(db), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Budget: at most 1.00 ROUGE-2 points below the re-tuned control" in md
    assert "| t5-tiny | control | control |" in md and "| reference | reference |" in md
    verdicts = {r["variant"]: r["verdict"] for r in _rows(out / "pareto.csv")}
    assert verdicts == {"6/1": "measurable loss", "3/3": "no measurable loss"}
    assert "0.99× (no measurable speed-up) [" in md  # the control: same shape, same speed


def test_tables_name_local_folders_by_their_last_part_where_unambiguous():
    from asymprune.console import display_names
    got = display_names(["/a/b/t5", "/c/t5", "/x/y/base", "./runs/small", "google/flan-t5-small", "t5-tiny"])
    assert got == {"/a/b/t5": "/a/b/t5", "/c/t5": "/c/t5", "/x/y/base": "base", "./runs/small": "small",
                   "google/flan-t5-small": "google/flan-t5-small", "t5-tiny": "t5-tiny"}


def _hand_frame() -> pd.DataFrame:
    """One model: the full run, its control, 6/3 (within a point measured, not by its interval; 1.50× [1.40, 1.60])
    and 3/3 (measurably slower)."""
    def run(variant, kind, rouge2, delta, low, high, ms, speedup, s_low, s_high):
        return dict(sweep="s", model="m", who="m", dataset="d", variant=variant, kind=kind, status="done",
                    reference="control", rouge2=rouge2, rouge2_delta=delta, rouge2_loss=-delta, rouge2_low=low,
                    rouge2_high=high, rouge2_ref=rouge2 - delta, rouge2_full=20.0, rouge2_impact_pct=None,
                    latency_ms_bs1=ms, speedup_bs1=speedup, speedup_low_bs1=s_low, speedup_high_bs1=s_high)
    return pd.DataFrame([run("6/6", "full", 20.0, -0.2, -0.6, 0.3, 100.0, 1.0, None, None),
                         run("control", "control", 20.2, 0.0, None, None, 99.0, 1.01, 0.97, 1.05),
                         run("6/3", "decoder", 19.7, -0.5, -1.8, 0.7, 66.0, 1.5, 1.4, 1.6),
                         run("3/3", "both", 20.0, -0.2, -0.9, 0.4, 111.0, 0.9, 0.85, 0.95)])


def test_verdicts_say_slower_and_where_an_interval_reaches_past_the_budget():
    frame = _hand_frame()
    line = recommend(frame, max_rouge2_loss=1.0)["line"]
    assert line.startswith("m · d: 6/3 (decoder) is the fastest within 1.00 ROUGE-2 points of the re-tuned control")
    assert line.endswith("1.50× [1.40, 1.60] faster at batch size 1 (66.0 ms) (met by the measured difference; its 95% "
                         "interval reaches a 1.80-point ROUGE-2 loss, past the budget)")
    line = recommend(frame, min_speedup=1.45)["line"]
    assert "6/3 (decoder) is the most accurate at least 1.45× faster" in line
    assert line.endswith("(met by the measured speed-up; its 95% interval starts at 1.40×, below 1.45×)")
    assert "past the budget" not in recommend(frame, max_rouge2_loss=2.0)["line"]
    # A speed-up whose whole interval is below 1 is slower, never "faster".
    keep = recommend(frame[frame.variant != "6/3"], max_rouge2_loss=1.0)["line"]
    assert "keep the full model; closest: 3/3 (both)" in keep
    assert keep.endswith("0.90× [0.85, 0.95], slower than the full model at batch size 1 (111.0 ms)")
    assert "faster" not in keep.split("closest")[1]


def _latency(bs, ms, bench_id, **extra):
    return dict(backend="hf", dtype="float32", device="cpu", batch_size=bs, median_ms=ms, mean_ms=ms,
                runs_ms=[ms] * 3, bench_id=bench_id, **extra)


def test_scale_ratios_are_plain_only_within_one_bench():
    from asymprune.report.tables import scale_tables
    done = pd.DataFrame({"dataset": ["d", "d"], "kind": ["full", "full"], "params": [1e6, 2e6], "who": ["s", "b"],
                         "rouge2": [10.0, 12.0], "latency_ms_bs1": [10.0, 25.0], "bench_id_bs1": ["g", "g"]})
    raw, shown = scale_tables(done)["d"]
    assert list(shown["BS1 impact"]) == ["1.00×", "2.50×"] and list(raw.same_bench_bs1) == [True, True]
    apart = done.assign(bench_id_bs1=["g", "h"])
    raw, shown = scale_tables(apart)["d"]
    assert list(shown["BS1 impact"]) == ["1.00×", "2.50× (measured apart)"] and list(raw.same_bench_bs1) == [True, False]


def test_dataset_mode_documents_intervals_and_random_id_lossless_rows(tmp_path):
    """K calls per round: the report names the documents and its interval resamples them; a lossless
    row timed on random ids is labelled so."""
    from asymprune.store import Store
    path = tmp_path / "results.db"
    store = Store(path)
    calls_full = [[10.0, 30.0, 20.0, 40.0, 25.0]] * 3  # documents differ far more than rounds
    for variant, kind, factor in (("6/6", "full", 1.0), ("6/1", "decoder", 0.5)):
        run = store.upsert_run("s", "m", "synthetic", variant, kind=kind, status="done")
        calls = [[c * factor for c in r] for r in calls_full]
        store.record_latency(run, [_latency(2, 25.0 * factor, "g", dataset="synthetic", bench_docs=5,
                                            documents=list(range(10)), calls_ms=calls)])
    store.close()
    frame = load_runs(path)
    assert frame.attrs["latency_inputs"] == ("synthetic: 5 calls per round, the same documents for every model "
                                             "(row ids 0–9 at batch 2)")
    pruned = frame[frame.variant == "6/1"].iloc[0]
    assert pruned.speedup_bs2 == 2.0 and pruned.speedup_low_bs2 == pruned.speedup_high_bs2 == pytest.approx(2.0)

    lossless = tmp_path / "lossless.db"
    store = Store(lossless)
    for variant, kind in (("6/6", "full"), ("lossless 6/1", "lossless")):
        run = store.upsert_run("s", "m", "synthetic", variant, kind=kind, status="done")
        store.record_latency(run, [_latency(1, 10.0, "g")])
    store.close()
    frame = load_runs(lossless)
    assert list(frame.variant) == ["6/6", "lossless 6/1 (random ids)"]
    assert frame.attrs["latency_inputs"] == ("seeded random inputs of fixed length (token ids; for speech, log-mel "
                                             "windows of random features)")


def test_a_control_measured_off_1_flags_its_batch_size():
    """The control does the full model's work: a speed-up interval of its that excludes 1 is the bench's own offset,
    and the report says which speed-ups lie within it."""
    from asymprune.report.checks import control_speed_checks
    done = pd.DataFrame({"who": ["w", "w", "w"], "dataset": ["d"] * 3, "kind": ["full", "control", "decoder"],
                         "latency_ms_bs1": [10.0, 10.1, 8.0], "speedup_bs1": [1.0, 0.99, 1.25],
                         "speedup_low_bs1": [None, 0.95, 1.2], "speedup_high_bs1": [None, 1.03, 1.3],
                         "latency_ms_bs8": [30.0, 26.0, 27.0], "speedup_bs8": [1.0, 1.15, 1.11],
                         "speedup_low_bs8": [None, 1.13, 1.08], "speedup_high_bs8": [None, 1.21, 1.14]})
    (line,) = control_speed_checks(done)
    assert line.startswith("w · d, batch size 8: the re-tuned control") and "1.15× [1.13, 1.21]" in line
    assert "between 0.83× and 1.21×" in line
    assert control_speed_checks(done[done.kind != "control"]) == []  # no control: nothing to gauge by
    slow = done.assign(speedup_bs8=[1.0, 0.9, 1.1], speedup_low_bs8=[None, 0.8, 1.0], speedup_high_bs8=[None, 0.95, 1.2])
    assert "between 0.80× and 1.25×" in control_speed_checks(slow)[0]
