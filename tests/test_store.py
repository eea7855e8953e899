"""The results database: the summary view's impact and speed-up, and refusing files it cannot read.

Upgrades of older files (schemas 1-4, ROUGE in wide tables) are in tests/test_store_migration.py."""

import sqlite3

import pytest

from asymprune.errors import UsageError
from asymprune.store import SCHEMA_VERSION, Store
from tests.old_schemas import create_old_tables
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
    rows = _summary(db, "WHERE model = 'flan-t5-small' AND backend = 'hf' AND metric = 'rouge2' "
                        "ORDER BY variant, batch_size")
    got = {(r.variant, r.batch_size): (r.impact_pct, r.delta, r.speedup) for r in rows.itertuples()}
    assert got[("6/6", 1)] == pytest.approx((0.0, 0.0, 1.0))
    assert got[("6/3", 1)] == pytest.approx((-3.0, -0.6, 2.0))      # 19.4 vs 20.0; 100 ms / 50 ms
    assert got[("6/3", 8)] == pytest.approx((-3.0, -0.6, 1.25))     # 200 ms / 160 ms
    assert got[("6/1", 16)] == pytest.approx((-15.0, -3.0, 1.6))    # 400 ms / 250 ms
    assert got[("3/3", 8)] == pytest.approx((-20.0, -4.0, 2.5))
    assert len(rows) == 6 * 3  # one row per run x batch size (x score: rouge2 here)
    every = _summary(db, "WHERE model = 'flan-t5-small' AND backend = 'hf' AND variant = '6/3' AND batch_size = 1")
    assert sorted(every.metric) == ["gen_len", "n_samples", "rouge1", "rouge2", "rougeL", "rougeLsum"]
    assert every.set_index("metric").value.to_dict() == pytest.approx(
        {"rouge1": 39.4, "rouge2": 19.4, "rougeL": 29.4, "rougeLsum": 31.4, "gen_len": 38.0, "n_samples": 100})
    assert set(every.reference) == {"full"} and every.set_index("metric").reference_value["rouge2"] == 20.0


def test_summary_matches_latency_setup_and_keeps_runs_without_data(db):
    ct2 = _summary(db, "WHERE model = 'flan-t5-small' AND backend = 'ct2' AND metric = 'rouge2' ORDER BY variant")
    assert list(ct2.variant) == ["6/3", "6/6"] and list(ct2.speedup) == pytest.approx([2.0, 1.0])  # 25/12.5, 25/25
    failed = _summary(db, "WHERE variant = '2/2'")
    assert len(failed) == 1 and failed.status[0] == "failed"  # no score, no latency: still one row
    assert failed[["metric", "value", "batch_size", "speedup"]].isna().all(axis=None)
    base = _summary(db, "WHERE model = 'flan-t5-base' AND variant = '6/1' AND batch_size = 1 AND metric = 'rouge2'")
    assert base.impact_pct[0] == pytest.approx(-3.6) and base.speedup[0] == pytest.approx(4.0)


def test_readme_query_works(db):
    con = sqlite3.connect(db)
    rows = con.execute("select variant, value, speedup from summary "
                       "where metric = 'rouge2' and batch_size = 1").fetchall()  # README's
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


def _run(store, variant, kind, rouge2):
    run = store.upsert_run("s", "m", "d", variant, kind=kind, encoder_layers=6, decoder_layers=6, status="done")
    store.record_metrics(run, "test", {"rouge2": rouge2})
    return run


def test_quality_against_the_control_and_speed_only_within_one_measurement(tmp_path):
    store = Store(tmp_path / "r.db")
    full, control, pruned = _run(store, "6/6", "full", 20.0), _run(store, "control", "control", 22.0), \
        _run(store, "6/3", "decoder", 21.0)
    row = dict(backend="hf", dtype="float32", device="cpu", batch_size=1)
    store.record_latency(full, [{**row, "mean_ms": 100.0, "bench_id": "a"}])
    store.record_latency(control, [{**row, "mean_ms": 101.0, "bench_id": "a"}])
    store.record_latency(pruned, [{**row, "mean_ms": 50.0, "bench_id": "b"}])  # measured in another run
    got = {r.variant: r for r in store.frame("SELECT * FROM summary WHERE metric = 'rouge2'").itertuples()}
    assert got["6/3"].reference == "control" and got["6/3"].delta == pytest.approx(-1.0)
    assert got["6/3"].delta_base == pytest.approx(1.0)  # the base alongside
    assert got["6/3"].speedup is None or got["6/3"].speedup != got["6/3"].speedup  # NULL: not measured together
    assert got["control"].speedup == pytest.approx(100 / 101)
    store.record_latency(pruned, [{**row, "mean_ms": 50.0, "bench_id": "a"}])  # re-benched with its group
    assert store.frame("SELECT speedup FROM summary WHERE variant='6/3'").speedup[0] == pytest.approx(2.0)
    store.close()


def test_a_schema_1_file_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    create_old_tables(db, 1)
    db.executescript("""
        INSERT INTO runs (id, sweep, model, dataset, variant, kind, status) VALUES (1, 's', 'm', 'd', '6/6', 'full', 'done');
        INSERT INTO latency (run_id, backend, dtype, device, batch_size, mean_ms) VALUES (1, 'hf', 'float32', 'cpu', 1, 9.0);
    """)
    db.commit()
    db.close()
    store = Store(path, create=False)
    assert store._version() == SCHEMA_VERSION == 6
    rows = store.frame("SELECT variant, mean_ms, bench_id, speedup FROM summary")
    assert list(rows.variant) == ["6/6"] and rows.mean_ms[0] == 9.0
    assert rows.bench_id.isna().all() and rows.speedup.isna().all()  # measured apart: no ratio is claimed
    store.close()


def test_a_schema_3_file_gets_the_dataset_mode_columns(tmp_path):
    path = tmp_path / "v3.db"
    db = sqlite3.connect(path)
    create_old_tables(db, 3)
    db.executescript("""
        INSERT INTO runs (id, sweep, model, dataset, variant, kind, status) VALUES (1, 's', 'm', 'd', '6/6', 'full', 'done');
        INSERT INTO latency (run_id, backend, dtype, device, batch_size, median_ms, runs_ms, bench_id, dataset)
            VALUES (1, 'hf', 'float32', 'cpu', 1, 9.0, '[9.0]', 'b', 'd');
    """)
    db.commit()
    db.close()
    store = Store(path, create=False)
    assert store._version() == SCHEMA_VERSION == 6
    rows = store.frame("SELECT variant, median_ms, bench_docs, documents, calls_ms, calls_ms_full, speedup "
                       "FROM summary")
    assert list(rows.variant) == ["6/6"] and rows.median_ms[0] == 9.0 and rows.speedup[0] == 1.0
    assert rows[["bench_docs", "documents", "calls_ms", "calls_ms_full"]].isna().all().all()  # timed before K
    # A new dataset-mode row keeps its documents, their lengths and every call.
    store.record_latency(1, [{"backend": "hf", "dtype": "float32", "device": "cpu", "batch_size": 2, "median_ms": 5.0,
                              "runs_ms": [5.0], "bench_id": "c", "dataset": "d", "bench_docs": 2,
                              "documents": [0, 1, 2, 3], "doc_lengths": [7, 9, 8, 6], "source_tokens": [30, 41, 35, 28],
                              "calls_ms": [[4.0, 6.0]]}])
    got = store.frame("SELECT bench_docs, documents, calls_ms, calls_ms_full FROM summary WHERE batch_size = 2").iloc[0]
    assert got.bench_docs == 2 and got.documents == "[0, 1, 2, 3]" and got.calls_ms == got.calls_ms_full == "[[4.0, 6.0]]"
    lengths = store.frame("SELECT doc_lengths, source_tokens FROM latency WHERE batch_size = 2").iloc[0]
    assert (lengths.doc_lengths, lengths.source_tokens) == ("[7, 9, 8, 6]", "[30, 41, 35, 28]")
    store.close()
