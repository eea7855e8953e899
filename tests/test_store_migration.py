"""Old results databases (schemas 1-4: ROUGE in wide tables) open, move to the long tables of schema 5 in
one transaction, and report the same numbers as before; a schema-5 file gains the ceiling's columns (schema 6),
blank for the rows it holds.

tests/fixtures/results-schema3-demo.db.gz is a real file: `make demo` by asymprune before issue 21 (schema 3).
The other versions are written here with their old DDL (tests/old_schemas.py), from a database made through
today's Store.
"""

import gzip
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from asymprune.errors import UsageError
from asymprune.report import load_runs, recommend
from asymprune.store import LATENCY_V6, SCHEMA_VERSION, Store
from tests.helpers import run_cli
from tests.old_schemas import LATENCY, WIDE_KEYS, create_old_tables
from tests.results_db import make_control_db, make_results_db

FIXTURE = Path(__file__).parent / "fixtures" / "results-schema3-demo.db.gz"


def write_old_schema(new: Path, old: Path, version: int) -> Path:
    """The data of a schema-5 database `new`, as asymprune of schema `version` (1-4) would have stored it."""
    src = sqlite3.connect(new)
    db = sqlite3.connect(old)
    cols = LATENCY[version]
    create_old_tables(db, version)
    for table in ("runs", "stages"):
        rows = src.execute(f"SELECT * FROM {table}").fetchall()
        if rows:
            db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    rows = src.execute(f"SELECT {', '.join(cols)} FROM latency").fetchall()
    db.executemany(f"INSERT INTO latency VALUES ({', '.join('?' * len(cols))})", rows)
    pivot = ", ".join(f"MAX(CASE WHEN metric = '{k}' THEN value END)" for k in WIDE_KEYS)
    db.executemany(f"INSERT INTO metrics VALUES (?, ?, {', '.join('?' * len(WIDE_KEYS))})",
                   src.execute(f"SELECT run_id, split, {pivot} FROM metrics GROUP BY run_id, split").fetchall())
    if version >= 2:
        pivot = ", ".join(f"MAX(CASE WHEN stat = '{k}' THEN value END)" for k in WIDE_KEYS[:5])
        db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       src.execute(f"SELECT run_id, split, doc, {pivot} FROM documents "
                                   "GROUP BY run_id, split, doc").fetchall())
    db.commit()
    db.close()
    src.close()
    return old


@pytest.fixture(scope="module")
def today(tmp_path_factory) -> Path:
    return make_control_db(tmp_path_factory.mktemp("today") / "results.db")


def _tables(path: Path) -> dict:
    con = sqlite3.connect(path)
    try:
        return {name: sql for name, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")}
    finally:
        con.close()


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_every_old_schema_reports_what_today_s_database_reports(today, tmp_path, version):
    old = write_old_schema(today, tmp_path / f"v{version}.db", version)
    assert "rouge2 REAL" in _tables(old)["metrics"]
    frame, expected = load_runs(old), load_runs(today)  # load_runs opens the file: the upgrade happens here
    store = Store(old, create=False)
    assert store._version() == SCHEMA_VERSION == 6
    long = store.frame("SELECT metric, count(*) AS n FROM metrics GROUP BY metric").set_index("metric").n
    assert long.to_dict() == {"gen_len": 5, "n_samples": 5, "rouge2": 5}  # NULL columns leave no rows
    assert store.frame("SELECT count(*) AS n FROM documents").n[0] == (5 * 40 if version >= 2 else 0)
    store.close()
    assert not {"metrics_wide", "documents_wide"} & set(_tables(old))
    if version >= 2:  # the same scores, intervals, latencies and picks
        pd.testing.assert_frame_equal(frame, expected)
        assert recommend(frame, max_loss=1.0)["line"] == recommend(expected, max_loss=1.0)["line"]
    else:  # schema 1 kept neither per-document scores nor where latency was measured
        quality = ["variant", "metric", "rouge2", "rouge2_delta", "rouge2_loss", "reference", "gen_len"]
        pd.testing.assert_frame_equal(frame[quality], expected[quality])
        assert frame.rouge2_low.isna().all() and frame.speedup_bs1.isna().all()


def test_the_real_schema_3_demo_database_reports_the_same_numbers(tmp_path, capsys):
    db = tmp_path / "results.db"
    with gzip.open(FIXTURE) as f, open(db, "wb") as out:
        shutil.copyfileobj(f, out)
    assert Store(db, create=False)._version() == 6
    frame = load_runs(db).set_index("variant")
    # What asymprune printed for this file before issue 21 (its speedup-synthetic.csv and pareto.csv, 4 decimals).
    before = {"6/6": (25.574, -0.0517, -1.7912, 1.7263), "6/3": (22.9137, -2.7119, -4.6491, -0.6822),
              "6/1": (15.5894, -10.0362, -12.0558, -7.9556), "3/6": (23.1345, -2.4911, -4.3881, -0.6507),
              "1/6": (24.2894, -1.3363, -3.089, 0.3236), "3/3": (19.7605, -5.8652, -7.974, -3.8595)}
    got = {v: tuple(round(x, 4) for x in frame.loc[v, ["rouge2", "rouge2_delta", "rouge2_low", "rouge2_high"]])
           for v in before}
    assert got == before
    assert frame.rouge2_docs.dropna().unique().tolist() == [200]
    assert run_cli(["report", str(db), "--out", str(tmp_path / "rep")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("recommendation: t5-tiny-synthetic · synthetic: no pruned variant is within 1.00 ROUGE-2 "
                           "points of the re-tuned control; keep the full model; closest: 1/6 (encoder): ROUGE-2 24.29 "
                           "vs 25.63 for the re-tuned control: no measurable loss (-1.34, 95% CI -3.09 to +0.32); ")
    with open(tmp_path / "rep" / "pareto.csv") as f:  # as the old report wrote it, to 4 decimals
        assert f.read().splitlines()[1] == ("t5-tiny-synthetic,synthetic,6/1,decoder,15.5894,-10.0362,-12.0558,"
                                            "-7.9556,-39.1648,451.1799,2.9944,1.4744,4.5345,measurable loss")
    assert run_cli(["results", str(db)]) == 0
    assert "1/6     encoder done    24.29  -5.2%  27   902 1.50  1628 1.70" in capsys.readouterr().out


def test_a_failed_upgrade_leaves_the_file_as_it_was(today, tmp_path, capsys):
    old = write_old_schema(today, tmp_path / "v4.db", 4)
    con = sqlite3.connect(old)
    con.execute("CREATE TABLE metrics_wide (x)")  # in the way of the upgrade's rename
    con.commit()
    con.close()
    before = _tables(old)
    with pytest.raises(UsageError, match=r"is schema 4 and could not be upgraded to schema 6 \(.*metrics_wide.*\); "
                                          r"it is unchanged"):
        Store(old, create=False)
    assert _tables(old) == before  # the view, the wide tables, schema 4: all still there
    assert sqlite3.connect(old).execute("SELECT value FROM meta").fetchone() == ("4",)
    assert run_cli(["results", str(old)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_scores_and_statistics_of_any_metric_are_rows(tmp_path):
    store = Store(tmp_path / "r.db")
    run = store.upsert_run("s", "whisper", "speech", "6/6", kind="full", status="done")
    store.record_metrics(run, "test", {"wer": 12.5, "cer": 6.0, "gen_len": 20.0, "n_samples": 2, "note": "text",
                                       "missing": None})
    store.record_documents(run, "test", [
        {"index": 0, "prediction": "a b", "reference": "a c", "errors": 1, "words": 2, "gen_len": 3},
        {"index": 1, "prediction": "x", "reference": "x", "errors": 0, "words": 1, "gen_len": 2, "exact": True}])
    assert dict(store.db.execute("SELECT metric, value FROM metrics")) == {
        "wer": 12.5, "cer": 6.0, "gen_len": 20.0, "n_samples": 2}
    assert store.db.execute("SELECT doc, stat, value FROM documents ORDER BY doc, stat").fetchall() == [
        (0, "errors", 1), (0, "gen_len", 3), (0, "words", 2), (1, "errors", 0), (1, "gen_len", 2), (1, "words", 1)]
    store.record_metrics(run, "test", {"wer": 10.0})  # a re-evaluation replaces the split's scores
    assert store.db.execute("SELECT metric, value FROM metrics").fetchall() == [("wer", 10.0)]
    store.close()


def _as_schema_5(path: Path) -> Path:
    """Today's file as schema 5 stored it: latency without the ceiling's columns, a view without them."""
    con = sqlite3.connect(path)
    con.executescript("DROP VIEW summary; "
                      + "; ".join(f"ALTER TABLE latency DROP COLUMN {c.split()[0]}" for c in LATENCY_V6)
                      + "; UPDATE meta SET value = '5' WHERE key = 'schema_version';"
                        " CREATE VIEW summary AS SELECT r.sweep, r.variant FROM runs r;")
    con.close()
    return path


def test_a_schema_5_file_gets_the_ceiling_columns_blank(tmp_path, capsys):
    expected = load_runs(make_results_db(tmp_path / "today.db"))
    old = _as_schema_5(make_results_db(tmp_path / "v5.db"))
    assert "fraction_of_ceiling" not in _tables(old)["latency"]
    frame = load_runs(old)  # the upgrade happens here, in place
    store = Store(old, create=False)
    assert store._version() == SCHEMA_VERSION == 6
    assert store.frame("SELECT count(*) AS n FROM latency WHERE fraction_of_ceiling IS NOT NULL").n[0] == 0
    store.close()
    assert expected.fraction_of_ceiling_bs1.notna().any() and frame.fraction_of_ceiling_bs1.isna().all()
    others = [c for c in expected.columns if "ceiling" not in c]
    pd.testing.assert_frame_equal(frame[others], expected[others])  # everything else as before
    assert run_cli(["report", str(old), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| 4.00× | 1.60× | 1.60× |  |  |  |" in md  # blank, not 0%


def test_a_damaged_database_is_refused_not_recreated(tmp_path, capsys):
    db = tmp_path / "results.db"
    db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)  # a header, then garbage
    before = db.read_bytes()
    assert run_cli(["report", str(db), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {db} is not a results database") and err.count("\n") == 1
    assert db.read_bytes() == before and not (tmp_path / "rep").exists()
