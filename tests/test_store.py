"""The results database: the summary view's impact and speed-up, and refusing files it cannot read."""

import sqlite3

import pytest

from asymprune.errors import UsageError
from asymprune.store import SCHEMA_VERSION, Store
from tests.results_db import make_results_db


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return make_results_db(tmp_path_factory.mktemp("store") / "results.db")


def _summary(db, where: str = "", params: tuple = ()):
    store = Store(db, create=False)
    try:
        return store.frame(f"SELECT * FROM summary {where}", params)
    finally:
        store.close()


def test_summary_impact_and_speedup(db):
    rows = _summary(db, "WHERE model = 'flan-t5-small' AND backend = 'hf' ORDER BY variant, batch_size")
    got = {(r.variant, r.batch_size): (r.rouge2_impact_pct, r.rouge2_delta, r.speedup) for r in rows.itertuples()}
    assert got[("6/6", 1)] == pytest.approx((0.0, 0.0, 1.0))
    assert got[("6/3", 1)] == pytest.approx((-3.0, -0.6, 2.0))      # 19.4 vs 20.0; 100 ms / 50 ms
    assert got[("6/3", 8)] == pytest.approx((-3.0, -0.6, 1.25))     # 200 ms / 160 ms
    assert got[("6/1", 16)] == pytest.approx((-15.0, -3.0, 1.6))    # 400 ms / 250 ms
    assert got[("3/3", 8)] == pytest.approx((-20.0, -4.0, 2.5))
    assert len(rows) == 6 * 3  # one row per run x batch size


def test_summary_matches_latency_setup_and_keeps_runs_without_data(db):
    ct2 = _summary(db, "WHERE model = 'flan-t5-small' AND backend = 'ct2' ORDER BY variant")
    assert list(ct2.variant) == ["6/3", "6/6"] and list(ct2.speedup) == pytest.approx([2.0, 1.0])  # 25/12.5, 25/25
    failed = _summary(db, "WHERE variant = '2/2'")
    assert len(failed) == 1 and failed.status[0] == "failed"
    assert failed[["rouge2", "batch_size", "speedup"]].isna().all(axis=None)
    base = _summary(db, "WHERE model = 'flan-t5-base' AND variant = '6/1' AND batch_size = 1")
    assert base.rouge2_impact_pct[0] == pytest.approx(-3.6) and base.speedup[0] == pytest.approx(4.0)


def test_readme_query_works(db):
    con = sqlite3.connect(db)
    rows = con.execute("select variant, rouge2, speedup from summary where batch_size = 1").fetchall()  # README's
    con.close()
    assert len(rows) == 12 + 2 and ("6/1", 24.1, 4.0) in rows and ("6/3", 19.4, 2.0) in rows


def test_reopen_keeps_data(db):
    store = Store(db)  # create=True on an existing database of this version: no change
    assert store.frame("SELECT count(*) AS n FROM runs").n[0] == 14
    store.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "results.db"
    Store(path).close()
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(UsageError, match=f"newer asymprune \\(schema 99, this version reads up to {SCHEMA_VERSION}\\)"):
        Store(path)


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(UsageError, match="not found; pass the results.db a sweep wrote"):
        Store(tmp_path / "nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database\n" * 100)
    with pytest.raises(UsageError, match="is not a results database \\(file is not a database\\)"):
        Store(text, create=False)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.close()
    with pytest.raises(UsageError, match="is not a results database \\(no schema\\)"):
        Store(other, create=False)
