"""A sweep's results.db as one pandas frame: a row per run, its test metrics, latency per batch size.

    frame = load_runs("runs/demo/results.db")     # latency_ms_bs1, speedup_bs1 (_low, _high), rouge2_low, ...
    frame.metric                                  # the metric each run is scored with (asymprune.metrics)
    frame.attrs["latency_setup"]                  # 'hf / float32 / cpu': the one latency setup used
    frame.attrs["latency_inputs"]                 # what it timed: random ids, or K calls of which documents
    for label, rows in by_group(frame): ...         # per sweep x model x dataset, in the frame's order

Quality is compared with the same model's re-tuned control (the full model given the variants'
extra training; its full run when the sweep has none), with a paired bootstrap 95% interval over
the test documents, in the columns of the run's metric (report/quality.py: `rouge2`, `rouge2_delta`,
`rouge2_loss`, ... for ROUGE). Speed-up is the full run's median latency over the variant's, from one
interleaved measurement (the store's `summary` view compares nothing else), with a paired
bootstrap 95% interval over that measurement's rounds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from ..bench.documents import speedup_interval_over_documents
from ..bench.speedup import speedup_interval
from ..console import display_names
from ..errors import UsageError
from ..grid import variant_kind
from ..store import Store
from .quality import GROUP, KEY, add_references, intervals, quality_columns

SETUP = ["backend", "dtype", "device"]  # what a latency row was measured on
KIND_ORDER = {"full": 0, "control": 0.5, "lossless": 0.7, "decoder": 1, "encoder": 2, "both": 3}


def _pick_setup(summary: pd.DataFrame) -> tuple[str, str, str] | None:
    """The (backend, dtype, device) with the most latency rows: one setup per report."""
    lat = summary.dropna(subset=["backend", "mean_ms"])
    lat = lat.drop_duplicates(KEY + SETUP + ["batch_size"])  # the view repeats it per score
    if lat.empty:
        return None
    counts = lat.groupby(SETUP).size().reset_index(name="n")
    counts = counts.sort_values(["n", *SETUP], ascending=[False, True, True, True])
    return tuple(counts.iloc[0][SETUP])


def _infer_kind(r) -> str:
    enc_cut = r.encoder_layers < r.encoder_total if pd.notna(r.encoder_total) else r.enc < 6
    dec_cut = r.decoder_layers < r.decoder_total if pd.notna(r.decoder_total) else r.dec < 6
    return variant_kind(enc_cut, dec_cut)


def load_runs(db: str | Path) -> pd.DataFrame:
    """Every run of `db` as one row: run fields, test metrics, impact, and per batch size
    `latency_ms_bs{N}` (median), `std_ms_bs{N}`, `speedup_bs{N}` and its interval `speedup_low_bs{N}`,
    `speedup_high_bs{N}`, `bench_id_bs{N}` (the interleaved run; one latency setup: see attrs),
    `ceiling_ms_per_token_bs{N}` and `fraction_of_ceiling_bs{N}` (NaN where the row has none: measured
    before schema 6, or an assisted row)."""
    store = Store(db, create=False)  # UsageError for a missing, foreign or newer-schema file
    try:
        runs = store.frame("SELECT sweep, model, dataset, variant, kind, encoder_layers, decoder_layers, "
                           "encoder_total, decoder_total, params, status, error FROM runs")
        summary = store.frame("SELECT * FROM summary")
    finally:
        store.close()
    if runs.empty:
        raise UsageError(f"{db} has no runs yet; run a sweep into it first")

    frame = runs.merge(quality_columns(summary, runs), on=KEY, how="left")
    # SQL NULLs (an impact against a full model whose score is 0, a run without metrics) arrive
    # as None in object columns; as NaN they print as "–" and drop out of picks and plots.
    frame["params"] = pd.to_numeric(frame.params, errors="coerce")
    setup = _pick_setup(summary)
    if setup is not None:
        lat = summary[summary[SETUP].apply(tuple, axis=1) == tuple(setup)]  # one setup's rows: a filter, not a dispatch
        lat = lat.assign(batch_size=lat.batch_size.astype(int)).drop_duplicates(KEY + ["batch_size"])
        lat = lat.assign(latency_ms=lat.median_ms.fillna(lat.mean_ms), **_speedup_intervals(lat))
        values = ["latency_ms", "std_ms", "speedup", "speedup_low", "speedup_high", "bench_id", "ceiling_ms_per_token",
                  "fraction_of_ceiling"]
        wide = lat.pivot(index=KEY, columns="batch_size", values=values)
        cols = [(v, bs) for bs in sorted(lat.batch_size.unique()) for v in values]
        wide = wide[cols]
        wide.columns = [f"{v}_bs{bs}" for v, bs in cols]
        numbers = [c for c in wide.columns if not c.startswith("bench_id_")]  # the pivot made every column object
        wide[numbers] = wide[numbers].apply(pd.to_numeric)
        frame = frame.merge(wide.reset_index(), on=KEY, how="left")

    frame = frame.merge(intervals(db, frame), on=KEY, how="left") if len(frame) else frame
    frame = add_references(frame)
    # The variant names the layers kept, 'ENC/DEC' (sixths or counts); fall back to the counts.
    parts = frame.variant.str.split("/", n=1, expand=True).reindex(columns=[0, 1])
    frame["enc"] = pd.to_numeric(parts[0], errors="coerce").fillna(frame.encoder_layers)
    frame["dec"] = pd.to_numeric(parts[1], errors="coerce").fillna(frame.decoder_layers)
    missing = frame.kind.isna()
    if missing.any():
        frame.loc[missing, "kind"] = [_infer_kind(r) for r in frame[missing].itertuples()]

    # Order like the paper: models by size, then full, decoder-only, encoder-only, both; deepest first.
    size = frame.groupby("model").params.transform("max").fillna(float("inf"))
    frame = frame.assign(_size=size, _kind=frame.kind.map(KIND_ORDER).fillna(9))
    frame = frame.sort_values(["sweep", "dataset", "_size", "model", "_kind", "enc", "dec"],
                              ascending=[True, True, True, True, True, False, False])
    frame = frame.drop(columns=["_size", "_kind"]).reset_index(drop=True)
    # How tables name a model: with several sweeps in one file, the same model can appear in each.
    names = display_names(frame.model.unique())
    shown = frame.model.map(names)
    frame["who"] = shown if frame.sweep.nunique() == 1 else frame.sweep + ": " + shown
    if setup is not None:
        frame = _label_random_ids(frame, lat)
    frame.attrs["latency_setup"] = " / ".join(setup) if setup else None
    frame.attrs["latency_inputs"] = _inputs_text(lat) if setup else None
    return frame


def _label_random_ids(frame: pd.DataFrame, lat: pd.DataFrame) -> pd.DataFrame:
    """A lossless row timed on random ids says nothing of a real document's acceptance: its variant
    reads 'lossless 6/1 (random ids)' wherever it is shown."""
    random = lat[(lat.kind == "lossless") & lat.bench_dataset.isna()].set_index(KEY).index
    marked = frame.set_index(KEY).index.isin(random)
    return frame.assign(variant=frame.variant.where(~marked, frame.variant + " (random ids)"))


def _inputs_text(lat: pd.DataFrame) -> str:
    """What the latencies timed: random ids, or per dataset K calls per round and the document ids."""
    from ..bench.documents import ids_text
    parts = []
    if lat.bench_dataset.isna().any():
        parts.append("seeded random inputs of fixed length (token ids; for speech, log-mel windows of random "
                     "features)")
    for dataset, rows in lat.dropna(subset=["bench_dataset"]).groupby("bench_dataset", sort=False):
        if rows.bench_docs.isna().all():  # schema 3 and older: the first batch-size documents, one call per round
            parts.append(f"{dataset}: the first batch-size documents, one call per round")
            continue
        docs = int(rows.bench_docs.dropna().iloc[0])
        ids = rows.dropna(subset=["documents"]).drop_duplicates("batch_size").sort_values("batch_size")
        parts.append(f"{dataset}: {docs} calls per round, the same documents for every model (row ids "
                     + ", ".join(f"{ids_text(json.loads(d))} at batch {b}" for d, b in zip(ids.documents,
                                                                                          ids.batch_size)) + ")")
    return "; ".join(parts)


def _speedup_intervals(lat: pd.DataFrame) -> dict:
    """`speedup_low`/`speedup_high` per latency row: the paired bootstrap interval over the rounds
    of the interleaved run it shares with the full model, and over the documents in dataset mode
    (NaN where there is none)."""
    low, high = [], []
    for runs, full, calls, calls_full, kind in zip(lat.runs_ms, lat.runs_ms_full, lat.calls_ms, lat.calls_ms_full,
                                                   lat.kind):
        measured = isinstance(runs, str) and isinstance(full, str) and kind != "full"  # not the full run itself
        if measured and isinstance(calls, str) and isinstance(calls_full, str):
            ci = speedup_interval_over_documents(json.loads(calls_full), json.loads(calls))
        else:
            ci = speedup_interval(json.loads(full), json.loads(runs)) if measured else None
        low.append(ci["low"] if ci else float("nan"))
        high.append(ci["high"] if ci else float("nan"))
    return {"speedup_low": low, "speedup_high": high}


def batch_sizes(frame: pd.DataFrame) -> list[int]:
    """Batch sizes with latency columns in `frame`, ascending."""
    return sorted(int(m.group(1)) for c in frame.columns if (m := re.fullmatch(r"latency_ms_bs(\d+)", c)))


def check_batch_size(frame: pd.DataFrame, batch_size: int) -> None:
    measured = batch_sizes(frame)
    if measured and batch_size not in measured:
        raise UsageError(f"no latency at batch size {batch_size} in this database (measured: "
                         f"{', '.join(map(str, measured))}); pass one of those to --batch-size")


def by_group(frame: pd.DataFrame):
    """(label, rows) per sweep x model x dataset, in the frame's order."""
    several_sweeps = frame.sweep.nunique() > 1
    for key, rows in frame.groupby(GROUP, sort=False):
        sweep, model, dataset = key
        yield (f"{sweep}: " if several_sweeps else "") + f"{model} · {dataset}", rows
