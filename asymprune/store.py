"""The results database: one SQLite file per sweep, written only by the sweep's driver.

    store = Store("runs/demo/results.db")
    run = store.upsert_run("demo", "t5-tiny", "synthetic", "6/3", encoder_layers=6, decoder_layers=3, ...)
    store.record_metrics(run, "test", {"rouge2": 17.2, "gen_len": 31.0, ...})
    store.frame("select * from summary where metric = 'rouge2'")          # a pandas DataFrame

Tables (see SCHEMA): `runs` (one row per model x dataset x variant), `stages` (each stage's
status, timing and error), `metrics` (one row per run x split x score: a metric's keys such as
rouge2 or wer, and the generation statistics gen_len and n_samples), `documents` (per-document
statistics, long too, for paired bootstrap intervals) and `latency` (one row per backend x dtype
x device x batch size, tagged with the interleaved measurement it came from and where it was
taken; in dataset mode with the documents it timed; with its decode step's ceiling and the fraction
of it reached). Which metric a score belongs to, and which
way is better, is the metric registry's knowledge (asymprune.metrics), not the schema's.
The `summary` view joins each test score of a run and its latencies with its reference runs':
quality against the re-tuned control (else the full model), speed against the full model
measured in the same interleaved run only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from .errors import UsageError

SCHEMA_VERSION = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    sweep TEXT NOT NULL,            -- sweep name
    model TEXT NOT NULL,            -- model as the spec names it: hub id, path or preset
    dataset TEXT NOT NULL,          -- dataset SPEC
    variant TEXT NOT NULL,          -- 'ENC/DEC' as the grid names it, e.g. '6/3' (sixths) or '8/2' (counts)
    kind TEXT,                      -- full, control (the full model re-tuned like the variants), encoder, decoder or both
    encoder_layers INTEGER,         -- layers kept
    decoder_layers INTEGER,
    encoder_total INTEGER,          -- layers of the unpruned model
    decoder_total INTEGER,
    strategy TEXT,                  -- layer-selection strategy used
    kept TEXT,                      -- JSON: kept indices per stack
    params INTEGER,                 -- parameters after pruning
    status TEXT NOT NULL DEFAULT 'pending',  -- pending, running, done, failed, skipped
    error TEXT,                     -- last error, one line
    config TEXT,                    -- JSON: the settings this run used
    updated REAL,                   -- unix time of the last change
    UNIQUE (sweep, model, dataset, variant)
);
CREATE TABLE IF NOT EXISTS stages (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    stage TEXT NOT NULL,            -- train, evaluate, bench, prune
    key TEXT NOT NULL,              -- hash of the stage's inputs; names its output folder
    status TEXT NOT NULL,           -- done, failed, skipped
    started REAL, finished REAL, seconds REAL,
    error TEXT,
    output TEXT,                    -- output folder
    PRIMARY KEY (run_id, stage)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    split TEXT NOT NULL,
    metric TEXT NOT NULL,           -- a metric's key (rouge1, rouge2, ..., wer, cer), gen_len or n_samples
    value REAL,                     -- corpus score (ROUGE: mean 0-100; WER: percent), mean generated tokens, count
    PRIMARY KEY (run_id, split, metric)
) WITHOUT ROWID;  -- rows live in the key's b-tree: a long table stored once, not twice
CREATE TABLE IF NOT EXISTS documents (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    split TEXT NOT NULL,
    doc INTEGER NOT NULL,           -- row of the split, from 0: the same document across runs
    stat TEXT NOT NULL,             -- per-document statistic: rouge2 (0-100), errors, words, gen_len, ...
    value REAL,
    PRIMARY KEY (run_id, split, doc, stat)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latency (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    backend TEXT NOT NULL, dtype TEXT NOT NULL, device TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    source_length INTEGER, new_tokens INTEGER,  -- new_tokens NULL: real documents, natural stopping
    mean_ms REAL, std_ms REAL, median_ms REAL,
    prefill_ms REAL, decode_ms_per_token REAL, tokens_per_s REAL, peak_memory_mb REAL,
    runs_ms TEXT,                   -- JSON: every timed run
    bench_id TEXT,                  -- the interleaved run it came from: only rows sharing it are compared
    gen_len REAL,                   -- mean generated tokens per document (GenL), EOS included
    dataset TEXT,                   -- documents timed (dataset mode), else NULL: seeded random ids
    hardware TEXT,                  -- CPU model, or GPU name on cuda
    threads INTEGER,                -- intra-op threads used (torch or CTranslate2)
    torch TEXT, transformers TEXT, ctranslate2 TEXT,  -- versions
    bench_docs INTEGER,             -- dataset mode: K calls (of batch_size documents each) per round, else NULL
    documents TEXT,                 -- JSON: row ids of the split timed, K x batch_size (dataset mode)
    doc_lengths TEXT,               -- JSON: generated tokens of each of those documents, EOS included
    source_tokens TEXT,             -- JSON: source tokens of each document (dataset mode) or row (random ids)
    calls_ms TEXT,                  -- JSON: rounds x K call times; runs_ms holds each round's mean
    bytes_per_step REAL,            -- what one decode step reads at the row's precision (asymprune.bench.ceiling)
    bandwidth_gb_s REAL,            -- the machine's read bandwidth at that working set
    bandwidth_regime TEXT,          -- cache or dram
    ceiling_ms_per_token REAL,      -- the decode step's limit on this machine; NULL: none (an assisted row)
    fraction_of_ceiling REAL,       -- ceiling_ms_per_token / decode_ms_per_token (1.0 is the limit)
    PRIMARY KEY (run_id, backend, dtype, device, batch_size)
);
"""

# One row per run x test score x latency row (a run without scores or latency keeps one row).
# Quality is compared with the re-tuned control when the sweep has one (it had the same extra
# training as the variants), else with the full model; `*_base` columns always use the full model.
# `delta` is value - reference whatever the metric's direction: the registry says which way is better.
# Speed-up is defined only between rows of one interleaved measurement (same bench_id), as a ratio
# of medians (a mean lets one disturbed run decide); `runs_ms`/`runs_ms_full` give its interval.
VIEW = """
CREATE VIEW IF NOT EXISTS summary AS
SELECT r.sweep, r.model, r.dataset, r.variant, r.kind, r.encoder_layers, r.decoder_layers,
       r.encoder_total, r.decoder_total, r.params, r.status,
       m.metric, m.value,
       CASE WHEN cm.value IS NOT NULL THEN 'control' WHEN fm.value IS NOT NULL THEN 'full' END AS reference,
       COALESCE(cm.value, fm.value) AS reference_value,
       100.0 * (m.value - COALESCE(cm.value, fm.value)) / NULLIF(COALESCE(cm.value, fm.value), 0) AS impact_pct,
       m.value - COALESCE(cm.value, fm.value) AS delta,
       100.0 * (m.value - fm.value) / NULLIF(fm.value, 0) AS impact_pct_base,
       m.value - fm.value AS delta_base,
       l.backend, l.dtype, l.device, l.batch_size, l.mean_ms, l.std_ms, l.median_ms, l.gen_len AS bench_gen_len,
       l.bench_id, l.hardware, l.threads, l.runs_ms, l.dataset AS bench_dataset, l.bench_docs, l.documents,
       l.calls_ms, l.ceiling_ms_per_token, l.fraction_of_ceiling,
       CASE WHEN fl.bench_id = l.bench_id THEN fl.runs_ms END AS runs_ms_full,
       CASE WHEN fl.bench_id = l.bench_id THEN fl.calls_ms END AS calls_ms_full,
       CASE WHEN fl.bench_id = l.bench_id
            THEN COALESCE(fl.median_ms, fl.mean_ms) / COALESCE(l.median_ms, l.mean_ms) END AS speedup
FROM runs r
LEFT JOIN metrics m ON m.run_id = r.id AND m.split = 'test'
LEFT JOIN runs f ON f.sweep = r.sweep AND f.model = r.model AND f.dataset = r.dataset AND f.kind = 'full'
LEFT JOIN metrics fm ON fm.run_id = f.id AND fm.split = 'test' AND fm.metric = m.metric
LEFT JOIN runs c ON c.sweep = r.sweep AND c.model = r.model AND c.dataset = r.dataset AND c.kind = 'control'
LEFT JOIN metrics cm ON cm.run_id = c.id AND cm.split = 'test' AND cm.metric = m.metric
LEFT JOIN latency l ON l.run_id = r.id
LEFT JOIN latency fl ON fl.run_id = f.id AND fl.backend = l.backend AND fl.dtype = l.dtype
                     AND fl.device = l.device AND fl.batch_size = l.batch_size;
"""

# Columns added to `latency` in schema 2; a schema-1 file gets them (NULL: measured apart, unknown where).
LATENCY_V2 = ("bench_id TEXT", "gen_len REAL", "dataset TEXT", "hardware TEXT", "threads INTEGER", "torch TEXT",
              "transformers TEXT", "ctranslate2 TEXT")
# Added in schema 4; older files get them as NULL (dataset mode then timed one call per round).
LATENCY_V4 = ("bench_docs INTEGER", "documents TEXT", "doc_lengths TEXT", "source_tokens TEXT", "calls_ms TEXT")
# Added in schema 6; older files get them as NULL (measured before the ceiling existed: no figure, not 0).
LATENCY_V6 = ("bytes_per_step REAL", "bandwidth_gb_s REAL", "bandwidth_regime TEXT", "ceiling_ms_per_token REAL",
              "fraction_of_ceiling REAL")

# Schemas 1-4 held ROUGE in wide tables, a column per score; schema 5 holds every score as a row.
WIDE_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "n_samples")
WIDE_DOCUMENTS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len")

RUN_FIELDS = ("kind", "encoder_layers", "decoder_layers", "encoder_total", "decoder_total", "strategy", "kept",
              "params", "status", "error", "config")
LATENCY_FIELDS = ("source_length", "new_tokens", "mean_ms", "std_ms", "median_ms", "prefill_ms",
                  "decode_ms_per_token", "tokens_per_s", "peak_memory_mb", "runs_ms", "bench_id", "gen_len",
                  "dataset", "hardware", "threads", "torch", "transformers", "ctranslate2", "bench_docs", "documents",
                  "doc_lengths", "source_tokens", "calls_ms", "bytes_per_step", "bandwidth_gb_s", "bandwidth_regime",
                  "ceiling_ms_per_token", "fraction_of_ceiling")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json(value):
    return json.dumps(value) if isinstance(value, (dict, list)) else value


class Store:
    """A results database; creates it, or checks that its schema is one this version reads."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if self.path.is_dir():
            inside = self.path / "results.db"
            raise UsageError(f"{self.path} is a directory; pass the results.db file a sweep wrote"
                             + (f", e.g. {inside}" if inside.is_file() else ""))
        if not create and not self.path.is_file():
            raise UsageError(f"{self.path} not found; pass the results.db a sweep wrote")
        try:
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA foreign_keys = ON")
            version = self._version()
        except sqlite3.DatabaseError as e:
            raise UsageError(f"{self.path} is not a results database ({e}); pass the results.db a sweep wrote") from None
        if version is not None and version > SCHEMA_VERSION:
            raise UsageError(f"{self.path} was written by a newer asymprune (schema {version}, this version reads "
                             f"up to {SCHEMA_VERSION}); upgrade asymprune to read it")
        if version is None:
            if not create:
                raise UsageError(f"{self.path} is not a results database (no schema); pass the results.db a sweep wrote")
            with self.db:
                self.db.executescript(SCHEMA + VIEW)
                self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif version < SCHEMA_VERSION:
            try:
                self._upgrade()
            except sqlite3.DatabaseError as e:  # rolled back: the file is as it was
                raise UsageError(f"{self.path} is schema {version} and could not be upgraded to schema "
                                 f"{SCHEMA_VERSION} ({e}); it is unchanged: make it writable, or read it with the asymprune that "
                                 "wrote it") from None

    def _upgrade(self) -> None:
        """Schema 1 -> 2: per-document scores, where and with what each latency row was measured.
        2 -> 3: the summary view's speed-up from medians, with the runs behind it (the view only).
        3 -> 4: dataset-mode latency over K calls per round: the documents, their lengths, every call.
        4 -> 5: metrics and documents long, one row per score, so that any registered metric fits.
        5 -> 6: each latency row's decode-step ceiling and the fraction of it reached (NULL before).
        One transaction: the wide tables are renamed, the long ones created, the rows copied, the
        wide ones dropped; a failure leaves the file as it was."""
        script = ["BEGIN", "DROP VIEW IF EXISTS summary"]  # first: a view naming a renamed table blocks the rename
        have = self._columns("latency")
        script += [f"ALTER TABLE latency ADD COLUMN {c}" for c in LATENCY_V2 + LATENCY_V4 + LATENCY_V6
                   if c.split()[0] not in have]
        wide = {}
        for table, keys in (("metrics", WIDE_METRICS), ("documents", WIDE_DOCUMENTS)):
            columns = self._columns(table)
            if columns and "value" not in columns:
                wide[table] = [k for k in keys if k in columns]
                script.append(f"ALTER TABLE {table} RENAME TO {table}_wide")
        script.append(SCHEMA)
        for key in wide.get("metrics", []):
            script.append(f"INSERT INTO metrics (run_id, split, metric, value) SELECT run_id, split, '{key}', {key} "
                          f"FROM metrics_wide WHERE {key} IS NOT NULL")
        for key in wide.get("documents", []):
            script.append(f"INSERT INTO documents (run_id, split, doc, stat, value) SELECT run_id, split, doc, "
                          f"'{key}', {key} FROM documents_wide WHERE {key} IS NOT NULL")
        script += [f"DROP TABLE {table}_wide" for table in wide]
        script += [VIEW, f"UPDATE meta SET value='{SCHEMA_VERSION}' WHERE key='schema_version'", "COMMIT"]
        try:
            self.db.executescript(";\n".join(part.strip().rstrip(";") for part in script) + ";")
        except BaseException:
            if self.db.in_transaction:
                self.db.rollback()
            raise

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}

    def _version(self) -> int | None:
        has_meta = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else None

    def close(self) -> None:
        self.db.close()

    def upsert_run(self, sweep: str, model: str, dataset: str, variant: str, **fields) -> int:
        """The id of the run (sweep, model, dataset, variant), created or updated with `fields`."""
        unknown = set(fields) - set(RUN_FIELDS)
        assert not unknown, f"unknown run fields {unknown}"
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO runs (sweep, model, dataset, variant, updated) VALUES (?,?,?,?,?)",
                            (sweep, model, dataset, variant, time.time()))
            run_id = self.db.execute("SELECT id FROM runs WHERE sweep=? AND model=? AND dataset=? AND variant=?",
                                     (sweep, model, dataset, variant)).fetchone()[0]
            if fields:
                sets = ", ".join(f"{k}=?" for k in fields)
                self.db.execute(f"UPDATE runs SET {sets}, updated=? WHERE id=?",
                                (*[_json(v) for v in fields.values()], time.time(), run_id))
        return run_id

    def run_statuses(self, sweep: str) -> dict[tuple[str, str, str], tuple[str, str | None]]:
        """(model, dataset, variant) -> (status, error) of every run of `sweep`."""
        rows = self.db.execute("SELECT model, dataset, variant, status, error FROM runs WHERE sweep=?", (sweep,))
        return {(m, d, v): (status, error) for m, d, v, status, error in rows}

    def record_stage(self, run_id: int, stage: str, key: str, status: str, started: float | None = None,
                     finished: float | None = None, error: str | None = None, output: str | None = None) -> None:
        seconds = finished - started if started is not None and finished is not None else None
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO stages VALUES (?,?,?,?,?,?,?,?,?)",
                            (run_id, stage, key, status, started, finished, seconds, error, output))

    def record_metrics(self, run_id: int, split: str, metrics: dict) -> None:
        """The scores of one evaluation, {key: number}: a metric's keys, gen_len, n_samples. Entries
        that are not numbers (None, text, nested results) are not scores and are left out."""
        rows = [(run_id, split, key, value) for key, value in metrics.items() if _number(value)]
        with self.db:
            self.db.execute("DELETE FROM metrics WHERE run_id=? AND split=?", (run_id, split))
            self.db.executemany("INSERT INTO metrics (run_id, split, metric, value) VALUES (?, ?, ?, ?)", rows)

    def record_documents(self, run_id: int, split: str, rows: list[dict]) -> None:
        """Per-document statistics of one evaluation (predictions.jsonl rows: index, then numbers such as
        rouge2, errors, words, gen_len; text fields are left out)."""
        values = [(run_id, split, r["index"], stat, value) for r in rows for stat, value in r.items()
                  if stat != "index" and _number(value)]
        with self.db:
            self.db.execute("DELETE FROM documents WHERE run_id=? AND split=?", (run_id, split))
            self.db.executemany("INSERT INTO documents (run_id, split, doc, stat, value) VALUES (?, ?, ?, ?, ?)",
                                values)

    def record_latency(self, run_id: int, rows: list[dict]) -> None:
        """Rows as `asymprune bench` reports them (one per batch size), plus backend/dtype/device."""
        cols = ("run_id", "backend", "dtype", "device", "batch_size", *LATENCY_FIELDS)
        with self.db:
            for r in rows:
                values = (run_id, r["backend"], r["dtype"], r["device"], r["batch_size"],
                          *[_json(r.get(k)) for k in LATENCY_FIELDS])
                self.db.execute(f"INSERT OR REPLACE INTO latency ({', '.join(cols)}) VALUES "
                                f"({', '.join('?' * len(cols))})", values)

    def frame(self, query: str, params: tuple = ()):
        import pandas as pd
        return pd.read_sql_query(query, self.db, params=params)
