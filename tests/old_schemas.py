"""The results database as schemas 1-4 created it (ROUGE in wide tables), for tests of the upgrade to schema 5.

    db = sqlite3.connect(path)
    create_old_tables(db, 3)     # meta at schema 3, runs, stages, wide metrics and documents, latency, the old view

Runs and stages never changed; latency gained columns (LATENCY[version]); documents came with schema 2.
"""

from __future__ import annotations

import sqlite3

RUNS = """CREATE TABLE runs (id INTEGER PRIMARY KEY, sweep TEXT NOT NULL, model TEXT NOT NULL, dataset TEXT NOT NULL,
    variant TEXT NOT NULL, kind TEXT, encoder_layers INTEGER, decoder_layers INTEGER, encoder_total INTEGER,
    decoder_total INTEGER, strategy TEXT, kept TEXT, params INTEGER, status TEXT NOT NULL DEFAULT 'pending',
    error TEXT, config TEXT, updated REAL, UNIQUE (sweep, model, dataset, variant))"""
STAGES = """CREATE TABLE stages (run_id INTEGER NOT NULL REFERENCES runs(id), stage TEXT NOT NULL, key TEXT NOT NULL,
    status TEXT NOT NULL, started REAL, finished REAL, seconds REAL, error TEXT, output TEXT,
    PRIMARY KEY (run_id, stage))"""
WIDE_METRICS = """CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs(id), split TEXT NOT NULL,
    rouge1 REAL, rouge2 REAL, rougeL REAL, rougeLsum REAL, gen_len REAL, n_samples INTEGER,
    PRIMARY KEY (run_id, split))"""
WIDE_DOCUMENTS = """CREATE TABLE documents (run_id INTEGER NOT NULL REFERENCES runs(id), split TEXT NOT NULL,
    doc INTEGER NOT NULL, rouge1 REAL, rouge2 REAL, rougeL REAL, rougeLsum REAL, gen_len INTEGER,
    PRIMARY KEY (run_id, split, doc))"""
LATENCY = {1: ("run_id", "backend", "dtype", "device", "batch_size", "source_length", "new_tokens", "mean_ms", "std_ms",
               "median_ms", "prefill_ms", "decode_ms_per_token", "tokens_per_s", "peak_memory_mb", "runs_ms")}
LATENCY[2] = LATENCY[3] = LATENCY[1] + ("bench_id", "gen_len", "dataset", "hardware", "threads", "torch",
                                        "transformers", "ctranslate2")
LATENCY[4] = LATENCY[2] + ("bench_docs", "documents", "doc_lengths", "source_tokens", "calls_ms")
# Every old view read ROUGE from the wide metrics table: the upgrade must drop it before replacing that table.
OLD_VIEW = ("CREATE VIEW summary AS SELECT r.sweep, r.variant, m.rouge2 FROM runs r "
            "LEFT JOIN metrics m ON m.run_id = r.id AND m.split = 'test'")
WIDE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "n_samples")


def create_old_tables(db: sqlite3.Connection, version: int) -> None:
    """Every table and the summary view of schema `version` (1-4), empty, and meta saying which schema it is."""
    db.executescript(f"""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '{version}');
        {RUNS}; {STAGES}; {WIDE_METRICS}; {WIDE_DOCUMENTS if version >= 2 else 'SELECT 1'};
        CREATE TABLE latency ({', '.join(LATENCY[version])}, PRIMARY KEY (run_id, backend, dtype, device, batch_size));
        {OLD_VIEW};
    """)
