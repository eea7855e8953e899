"""Tables, plots, a Pareto frontier and a recommendation from a sweep's results.db.

    frame = load_runs("runs/demo/results.db")       # one row per run; latency pivoted by batch size
    rec = recommend(frame, max_rouge2_loss=1.0)     # one model x dataset: {'variant': '6/3', 'line': ...}
    front = pareto(frame, batch_size=1)             # variants nothing beats on both latency and ROUGE-2
    write_report("runs/demo/results.db", Path("runs/demo/report"), min_speedup=2.0)

The report follows the paper's layouts: quality per variant across model sizes (Tables 5-7),
ROUGE-2 impact vs speed-up per batch size (Tables 8-10), scale vs gain of the full models
(Tables 2-4), speed-up vs impact (Figure 1), ROUGE-2 vs layers kept (Figure 3) and speed-up
vs batch size (Figure 5). Quality is compared with the same model's re-tuned control (the full
model given the variants' extra training; its full run when the sweep has none), with a paired
bootstrap 95% interval over the test documents: a difference whose interval contains 0 is
reported as no measurable loss, never as a gain. Speed-up is the full run's latency over the
variant's, from one interleaved measurement (the store's `summary` view compares nothing else).
"""

from __future__ import annotations

import base64
import html
import math
import re
import time
from pathlib import Path

import pandas as pd

from .errors import UsageError
from .fsutil import atomic_dir, atomic_file, check_writable_out, disk_usage, human_size
from .store import Store

KEY = ["sweep", "model", "dataset", "variant"]
GROUP = ["sweep", "model", "dataset"]
KIND_ORDER = {"full": 0, "control": 0.5, "lossless": 0.7, "decoder": 1, "encoder": 2, "both": 3}
KIND_COLORS = {"full": "black", "control": "tab:gray", "lossless": "tab:purple", "decoder": "tab:blue",
               "encoder": "tab:orange",
               "both": "tab:green", "other": "tab:gray"}
REFERENCE_NAMES = {"control": "the re-tuned control", "full": "the full model"}
DEFAULT_MAX_LOSS = 1.0  # ROUGE-2 points, when no budget is given
EPS = 1e-9              # budgets are inclusive; don't let float noise (25.0 - 24.1) decide


# ---------------------------------------------------------------- loading

def _pick_setup(summary: pd.DataFrame) -> tuple[str, str, str] | None:
    """The (backend, dtype, device) with the most latency rows: one setup per report."""
    lat = summary.dropna(subset=["backend", "mean_ms"])
    if lat.empty:
        return None
    counts = lat.groupby(["backend", "dtype", "device"]).size().reset_index(name="n")
    counts = counts.sort_values(["n", "backend", "dtype", "device"], ascending=[False, True, True, True])
    return tuple(counts.iloc[0][["backend", "dtype", "device"]])


def _infer_kind(r) -> str:
    enc_cut = r.encoder_layers < r.encoder_total if pd.notna(r.encoder_total) else r.enc < 6
    dec_cut = r.decoder_layers < r.decoder_total if pd.notna(r.decoder_total) else r.dec < 6
    return {(False, False): "full", (True, False): "encoder", (False, True): "decoder"}.get((enc_cut, dec_cut), "both")


def load_runs(db: str | Path) -> pd.DataFrame:
    """Every run of `db` as one row: run fields, test metrics, impact, and per batch size
    `latency_ms_bs{N}`, `std_ms_bs{N}`, `speedup_bs{N}` (one latency setup: see attrs)."""
    store = Store(db, create=False)  # UsageError for a missing, foreign or newer-schema file
    try:
        runs = store.frame("SELECT sweep, model, dataset, variant, kind, encoder_layers, decoder_layers, "
                           "encoder_total, decoder_total, params, status, error FROM runs")
        summary = store.frame("SELECT * FROM summary")
    finally:
        store.close()
    if runs.empty:
        raise UsageError(f"{db} has no runs yet; run a sweep into it first")

    quality = summary.drop_duplicates(KEY)[KEY + ["rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "reference",
                                                  "rouge2_impact_pct", "rouge2_delta", "rouge2_impact_pct_base",
                                                  "rouge2_delta_base"]]
    frame = runs.merge(quality, on=KEY, how="left")
    # SQL NULLs (an impact against a full model whose ROUGE-2 is 0, a run without metrics) arrive
    # as None in object columns; as NaN they print as "–" and drop out of picks and plots.
    numeric = [c for c in quality.columns if c not in KEY + ["reference"]] + ["params"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    setup = _pick_setup(summary)
    if setup is not None:
        lat = summary[(summary.backend == setup[0]) & (summary.dtype == setup[1]) & (summary.device == setup[2])]
        lat = lat.assign(batch_size=lat.batch_size.astype(int)).drop_duplicates(KEY + ["batch_size"])
        wide = lat.pivot(index=KEY, columns="batch_size", values=["mean_ms", "std_ms", "speedup"])
        cols = []
        for bs in sorted(lat.batch_size.unique()):
            cols += [("mean_ms", bs), ("std_ms", bs), ("speedup", bs)]
        wide = wide[cols]
        wide.columns = [f"{'latency_ms' if v == 'mean_ms' else v}_bs{bs}" for v, bs in cols]
        frame = frame.merge(wide.reset_index(), on=KEY, how="left")

    frame = frame.merge(_intervals(db), on=KEY, how="left") if len(frame) else frame
    for col in ("rouge2_low", "rouge2_high"):
        frame[col] = frame[col] if col in frame else float("nan")
    frame["rouge2_ref"] = frame.rouge2 - frame.rouge2_delta     # the reference's ROUGE-2 (control, else full)
    frame["rouge2_full"] = frame.rouge2 - frame.rouge2_delta_base
    frame["rouge2_loss"] = 0.0 - frame.rouge2_delta  # points lost vs the reference; the budget's unit
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
    frame["who"] = frame.model if frame.sweep.nunique() == 1 else frame.sweep + ": " + frame.model
    frame.attrs["latency_setup"] = " / ".join(setup) if setup else None
    return frame


def _intervals(db) -> pd.DataFrame:
    """Per run: the paired bootstrap 95% interval of its ROUGE-2 difference with its reference run
    (the control, else the full model), over the test documents both were scored on."""
    from .rouge import paired_bootstrap
    store = Store(db, create=False)
    try:
        docs = store.frame("SELECT r.sweep, r.model, r.dataset, r.variant, r.kind, d.doc, d.rouge2 FROM documents d "
                           "JOIN runs r ON r.id = d.run_id WHERE d.split = 'test'")
    finally:
        store.close()
    rows = []
    for key, g in docs.groupby(GROUP, sort=False):
        kinds = set(g.kind)
        ref_kind = "control" if "control" in kinds else "full" if "full" in kinds else None
        if ref_kind is None:
            continue
        ref = g[g.kind == ref_kind].set_index("doc").rouge2.sort_index()
        for variant, v in g[g.kind != ref_kind].groupby("variant", sort=False):
            v = v.set_index("doc").rouge2.sort_index()
            if list(v.index) != list(ref.index):
                continue  # not the same documents: no paired interval
            ci = paired_bootstrap(v.to_numpy(), ref.to_numpy())
            rows.append({**dict(zip(GROUP, key)), "variant": variant,
                         "rouge2_low": ci["low"], "rouge2_high": ci["high"], "rouge2_docs": ci["n"]})
    return pd.DataFrame(rows, columns=KEY + ["rouge2_low", "rouge2_high", "rouge2_docs"])


def verdict(r) -> str:
    """What the ROUGE-2 difference with the reference says, given its interval."""
    if getattr(r, "kind", None) == r_kind_reference(r):
        return "reference"
    low, high, delta = getattr(r, "rouge2_low", None), getattr(r, "rouge2_high", None), getattr(r, "rouge2_delta")
    if low is None or pd.isna(low) or high is None or pd.isna(high):
        return "–" if delta is None or pd.isna(delta) else "no interval"
    if low <= 0 <= high:
        return "no measurable loss"
    return "measurable gain" if low > 0 else "measurable loss"


def r_kind_reference(r) -> str | None:
    """The kind of the run this row is compared with: control or full (None: nothing to compare)."""
    ref = getattr(r, "reference", None)
    return None if ref is None or pd.isna(ref) else ref


def batch_sizes(frame: pd.DataFrame) -> list[int]:
    """Batch sizes with latency columns in `frame`, ascending."""
    return sorted(int(m.group(1)) for c in frame.columns if (m := re.fullmatch(r"latency_ms_bs(\d+)", c)))


def _check_batch_size(frame: pd.DataFrame, batch_size: int) -> None:
    measured = batch_sizes(frame)
    if measured and batch_size not in measured:
        raise UsageError(f"no latency at batch size {batch_size} in this database (measured: "
                         f"{', '.join(map(str, measured))}); pass one of those to --batch-size")


def _groups(frame: pd.DataFrame):
    """(label, rows) per sweep x model x dataset, in the frame's order."""
    several_sweeps = frame.sweep.nunique() > 1
    for key, rows in frame.groupby(GROUP, sort=False):
        sweep, model, dataset = key
        yield (f"{sweep}: " if several_sweeps else "") + f"{model} · {dataset}", rows


# ---------------------------------------------------------------- Pareto and recommendation

def pareto(frame: pd.DataFrame, batch_size: int = 1) -> pd.DataFrame:
    """Finished runs that no run of the same model x dataset beats on both latency and ROUGE-2.

    The control is the yardstick, not a candidate: it has the full model's shape and speed."""
    col = f"latency_ms_bs{batch_size}"
    if col not in frame:
        return frame.iloc[0:0]
    done = frame[(frame.status == "done") & (frame.kind != "control") & frame.rouge2.notna() & frame[col].notna()]
    fronts = []
    for _, g in done.groupby(GROUP, sort=False):
        keep = []
        for i, r in g.iterrows():
            no_worse = (g[col] <= r[col]) & (g.rouge2 >= r.rouge2)
            better = (g[col] < r[col]) | (g.rouge2 > r.rouge2)
            if not (no_worse & better).any():
                keep.append(i)
        fronts.append(g.loc[keep].sort_values(col, kind="stable"))  # slowest last: the full model
    return pd.concat(fronts) if fronts else done


def check_budget(max_rouge2_loss: float | None = None, min_speedup: float | None = None) -> tuple:
    """Validated (max_rouge2_loss, min_speedup): exactly one set; default a 1-point ROUGE-2 loss."""
    if max_rouge2_loss is not None and min_speedup is not None:
        raise UsageError("--max-rouge2-loss and --min-speedup both given; pass one budget")
    if max_rouge2_loss is not None and not max_rouge2_loss >= 0:
        raise UsageError(f"--max-rouge2-loss must be 0 or more ROUGE-2 points (got {max_rouge2_loss})")
    if min_speedup is not None and not min_speedup > 0:
        raise UsageError(f"--min-speedup must be a positive factor, e.g. 2 for twice as fast (got {min_speedup})")
    if max_rouge2_loss is None and min_speedup is None:
        max_rouge2_loss = DEFAULT_MAX_LOSS
    return max_rouge2_loss, min_speedup


def budget_text(max_rouge2_loss: float | None, min_speedup: float | None, batch_size: int,
                reference: str | None = "full") -> str:
    if min_speedup is not None:
        return f"at least {min_speedup:.2f}× faster than the full model at batch size {batch_size}; most accurate wins"
    return (f"at most {max_rouge2_loss:.2f} ROUGE-2 points below {REFERENCE_NAMES.get(reference, 'the full model')}; "
            f"fastest at batch size {batch_size} wins")


def recommend(frame: pd.DataFrame, max_rouge2_loss: float | None = None, min_speedup: float | None = None,
              batch_size: int = 1) -> dict | None:
    """The pick for one model x dataset: the fastest variant within `max_rouge2_loss` ROUGE-2
    points of the full model, or the most accurate at least `min_speedup` times faster.

    `met` is False when nothing meets the budget; the pick is then the closest. None when no
    finished run has ROUGE-2 and latency at `batch_size` next to a finished full model.
    """
    max_loss, min_speedup = check_budget(max_rouge2_loss, min_speedup)
    done = frame[(frame.status == "done") & (frame.kind != "control")]  # the control is the yardstick
    if len(done[GROUP].drop_duplicates()) > 1:
        raise ValueError("recommend() compares variants of one model x dataset; filter the frame "
                         "(frame[frame.model == ...]) or use recommend_each()")
    _check_batch_size(frame, batch_size)
    lat, spd = f"latency_ms_bs{batch_size}", f"speedup_bs{batch_size}"
    if lat not in frame:
        return None
    cand = done.dropna(subset=["rouge2", "rouge2_loss", lat, spd])
    if cand.empty:
        return None
    if max_loss is not None:
        ok = cand[cand.rouge2_loss <= max_loss + EPS]
        pick = (ok.sort_values([lat, "rouge2"], ascending=[True, False]) if len(ok)
                else cand.sort_values(["rouge2_loss", lat])).iloc[0]
    else:
        ok = cand[cand[spd] >= min_speedup - EPS]
        pick = (ok.sort_values(["rouge2", spd], ascending=[False, False]) if len(ok)
                else cand.sort_values([spd, "rouge2"], ascending=[False, False])).iloc[0]
    rec = {k: pick[k] for k in ("sweep", "model", "who", "dataset", "variant", "kind", "reference")}
    interval = None if pd.isna(pick.rouge2_low) else {"delta": float(pick.rouge2_delta), "low": float(pick.rouge2_low),
                                                      "high": float(pick.rouge2_high), "confidence": 0.95}
    rec.update(rouge2=float(pick.rouge2), rouge2_full=float(pick.rouge2_full), rouge2_ref=float(pick.rouge2_ref),
               rouge2_loss=float(pick.rouge2_loss), impact_pct=_float(pick.rouge2_impact_pct),
               interval=interval, latency_ms=float(pick[lat]), speedup=float(pick[spd]),
               batch_size=batch_size, met=bool(len(ok)), max_rouge2_loss=max_loss, min_speedup=min_speedup,
               budget=budget_text(max_loss, min_speedup, batch_size, rec["reference"]))
    rec["line"] = _rec_line(rec)
    return rec


def _float(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _rec_line(r: dict) -> str:
    from .rouge import difference_text
    where = f"{r['who']} · {r['dataset']}"
    reference = REFERENCE_NAMES.get(r["reference"], "the full model")
    impact = "" if r["impact_pct"] is None else f", {r['impact_pct']:+.2f}%"
    speed = f"{r['speedup']:.2f}× faster at batch size {r['batch_size']} ({r['latency_ms']:.1f} ms)"
    if r["interval"] is not None:  # say whether the difference is measurable at all
        numbers = (f"ROUGE-2 {r['rouge2']:.2f} vs {r['rouge2_ref']:.2f} for {reference}: "
                   f"{difference_text(r['interval'])}; {speed}")
    else:
        numbers = f"ROUGE-2 {r['rouge2']:.2f} ({0.0 - r['rouge2_loss']:+.2f} points{impact}), {speed}"
    if r["min_speedup"] is not None:
        goal = f"at least {r['min_speedup']:.2f}× faster at batch size {r['batch_size']}"
        best = "the most accurate"
    else:
        goal = f"within {r['max_rouge2_loss']:.2f} ROUGE-2 points of {reference}"
        best = "the fastest"
    pick = f"{r['variant']} ({r['kind']})"
    if r["met"]:
        return f"{where}: {pick} is {best} {goal}: {numbers}"
    return f"{where}: no variant is {goal}; closest: {pick}: {numbers}"


def recommendation_line(label: str, rec: dict | None, batch_size: int) -> str:
    """The one-line verdict for a model x dataset, also when there is nothing to compare."""
    return rec["line"] if rec else (f"{label}: nothing to recommend: no finished run has ROUGE-2 and latency at "
                                    f"batch size {batch_size} next to a finished full model")


def recommend_each(frame: pd.DataFrame, max_rouge2_loss: float | None = None, min_speedup: float | None = None,
                   batch_size: int = 1) -> list[tuple[str, dict | None]]:
    """(label, recommendation or None) for every model x dataset with finished runs."""
    done = frame[frame.status == "done"]
    return [(label, recommend(rows, max_rouge2_loss, min_speedup, batch_size)) for label, rows in _groups(done)]


# ---------------------------------------------------------------- tables

def _num(x, digits=2, suffix="") -> str:
    return "–" if x is None or pd.isna(x) else f"{x:.{digits}f}{suffix}"


def _layers(x) -> str:
    return "–" if pd.isna(x) else f"{x:g}"


def _pct(x, digits=2) -> str:
    return "–" if x is None or pd.isna(x) else f"{x:+.{digits}f}%"


def runs_table(frame: pd.DataFrame) -> pd.DataFrame:
    """All runs, one row each, raw numbers: what `asymprune results --csv` writes."""
    cols = ["sweep", "model", "dataset", "variant", "kind", "status", "params", "rouge1", "rouge2", "rougeL",
            "rougeLsum", "rouge2_impact_pct", "rouge2_loss", "gen_len"]
    for bs in batch_sizes(frame):
        cols += [f"latency_ms_bs{bs}", f"std_ms_bs{bs}", f"speedup_bs{bs}"]
    return frame[cols + ["error"]].round(4).astype({"params": "Int64"})


def results_table(frame: pd.DataFrame):
    """Rich tables of all runs, one per model x dataset, narrow enough for 80 columns; failed
    and pending runs show their status, and errors are listed under their table."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    sizes = batch_sizes(frame)
    parts = [Text(f"latency: {frame.attrs.get('latency_setup') or 'none measured'}; impact and × vs the full model")]
    for label, rows in _groups(frame):
        table = Table(title=label, title_justify="left", box=box.SIMPLE_HEAD, padding=0, pad_edge=False,
                      show_edge=False)
        for h in ["variant", "kind", "status", "R-2", "impact", "len"] + [f"{u} b{bs}" for bs in sizes
                                                                          for u in ("ms", "×")]:
            text = h in ("variant", "kind", "status")
            table.add_column(h, justify="left" if text else "right", min_width=7 if text else None)
        for r in rows.itertuples():
            cells = [r.variant, str(r.kind), r.status, _num(r.rouge2), _pct(r.rouge2_impact_pct, 1),
                     _num(r.gen_len, 0)]
            for bs in sizes:
                cells += [_num(getattr(r, f"latency_ms_bs{bs}"), 0), _num(getattr(r, f"speedup_bs{bs}"), 2)]
            table.add_row(*cells, style="red" if r.status == "failed" else None if r.status == "done" else "dim")
        parts.append(table)
        for r in rows[rows.error.notna()].itertuples():
            parts.append(Text(f"  {r.variant} {r.status}: {r.error}", style="red"))
    return Group(*parts)


def disk_use_line(db: str | Path) -> str:
    """One line: the disk used by the sweep folder that holds `db`, and by its stages.

        disk_use_line("runs/demo/results.db")   # 'disk: 48.2 MB in runs/demo (stages 47.9 MB)'
    """
    out = Path(db).parent
    stages = out / "stages"
    return (f"disk: {human_size(disk_usage(out))} in {out} "
            f"({f'stages {human_size(disk_usage(stages))}' if stages.is_dir() else 'no stages folder'})")


def quality_tables(done: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Tables 5-7: per dataset, rows ENC/DEC, per model ROUGE-2 and % of its full model.
    Returns {dataset: (raw, shown)}."""
    out = {}
    for dataset, rows in done.groupby("dataset", sort=False):
        models = list(dict.fromkeys(rows.who))
        variants = rows.drop_duplicates("variant")[["variant", "enc", "dec", "kind"]]
        variants = variants.assign(_k=variants.kind.map(KIND_ORDER).fillna(9)).sort_values(
            ["_k", "enc", "dec"], ascending=[True, False, False]).drop(columns="_k")  # the paper's row order
        raw = variants.rename(columns={"enc": "encoder", "dec": "decoder"}).reset_index(drop=True)
        raw["encoder"], raw["decoder"] = raw.encoder.map(_layers), raw.decoder.map(_layers)
        shown = raw[["encoder", "decoder", "kind"]].copy()
        for m in models:
            by_variant = rows[rows.who == m].set_index("variant")
            r2 = raw.variant.map(by_variant.rouge2)
            pct = raw.variant.map(100 * by_variant.rouge2 / by_variant.rouge2_full.where(by_variant.rouge2_full != 0))
            raw[f"{m} rouge2"], raw[f"{m} pct_of_full"] = r2.round(4), pct.round(4)
            shown[f"{m} R-2"], shown[f"{m} % of full"] = r2.map(_num), pct.map(lambda x: _num(x, 2, "%"))
        out[dataset] = (raw.drop(columns="variant"), shown)
    return out


def _delta_cell(r) -> str:
    """'-0.31 [-0.92, +0.30]': the ROUGE-2 difference with the reference and its 95% interval."""
    if verdict(r) == "reference":
        return "reference"
    if pd.isna(r.rouge2_delta):
        return "–"
    if pd.isna(r.rouge2_low):
        return f"{r.rouge2_delta:+.2f}"
    return f"{r.rouge2_delta:+.2f} [{r.rouge2_low:+.2f}, {r.rouge2_high:+.2f}]"


def speedup_tables(done: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Tables 8-10: per dataset, the control and each pruned variant: ROUGE-2 difference with the
    reference (control) and its interval, and speed-up at every batch size."""
    out = {}
    sizes = batch_sizes(done)
    for dataset, rows in done.groupby("dataset", sort=False):
        rows = rows[rows.kind != "full"]
        raw = rows[["who", "variant", "kind", "rouge2", "reference", "rouge2_delta", "rouge2_low", "rouge2_high",
                    "rouge2_impact_pct", "rouge2_delta_base"]].rename(columns={"who": "model"})
        raw = raw.assign(verdict=[verdict(r) for r in rows.itertuples()])
        shown = pd.DataFrame({"model": rows.who, "variant": rows.variant, "kind": rows.kind,
                              "R-2": rows.rouge2.map(_num),
                              "Δ R-2 vs reference [95% CI]": [_delta_cell(r) for r in rows.itertuples()],
                              "verdict": raw.verdict, "impact": rows.rouge2_impact_pct.map(_pct),
                              "Δ vs base": rows.rouge2_delta_base.map(lambda x: _num(x, 2) if pd.isna(x)
                                                                       else f"{x:+.2f}")})
        for bs in sizes:
            raw[f"speedup_bs{bs}"] = rows[f"speedup_bs{bs}"]
            shown[f"speed-up BS{bs}"] = rows[f"speedup_bs{bs}"].map(lambda x: _num(x, 2, "×"))
        out[dataset] = (raw.round(4).reset_index(drop=True), shown.reset_index(drop=True))
    return out


def scale_tables(done: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Tables 2-4: per dataset, the full models by size: ROUGE-2 gain and latency ratio vs the smallest."""
    out = {}
    sizes = batch_sizes(done)
    for dataset, rows in done.groupby("dataset", sort=False):
        full = rows[rows.kind == "full"].sort_values("params", na_position="last")
        if full.empty:
            continue
        small = full.iloc[0]
        raw = pd.DataFrame({"model": full.who, "params": full.params.astype("Int64"), "rouge2": full.rouge2,
                            "gain_pct": 100 * (full.rouge2 - small.rouge2) / small.rouge2 if small.rouge2 else math.nan})
        shown = pd.DataFrame({"model": full.who, "params": full.params.map(lambda p: "–" if pd.isna(p) else _num(p / 1e6, 1, "M")),
                              "R-2": raw.rouge2.map(_num), "gain": raw.gain_pct.map(_pct)})
        for bs in sizes:
            ms = full[f"latency_ms_bs{bs}"]
            raw[f"latency_ms_bs{bs}"], raw[f"latency_ratio_bs{bs}"] = ms, ms / small[f"latency_ms_bs{bs}"]
            shown[f"BS{bs} ms"] = ms.map(lambda x: _num(x, 1))
            shown[f"BS{bs} impact"] = raw[f"latency_ratio_bs{bs}"].map(lambda x: _num(x, 2, "×"))
        out[dataset] = (raw.round(4).reset_index(drop=True), shown.reset_index(drop=True))
    return out


def pareto_table(front: pd.DataFrame, batch_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    lat, spd = f"latency_ms_bs{batch_size}", f"speedup_bs{batch_size}"
    raw = front[["who", "dataset", "variant", "kind", "rouge2", "rouge2_delta", "rouge2_low", "rouge2_high",
                 "rouge2_impact_pct", lat, spd]].round(4)
    raw = raw.rename(columns={"who": "model"}).assign(verdict=[verdict(r) for r in front.itertuples()])
    shown = pd.DataFrame({"model": front.who, "dataset": front.dataset, "variant": front.variant,
                          "kind": front.kind, "R-2": front.rouge2.map(_num),
                          "Δ R-2 vs reference [95% CI]": [_delta_cell(r) for r in front.itertuples()],
                          "verdict": raw.verdict.values,
                          f"BS{batch_size} ms": front[lat].map(lambda x: _num(x, 1)),
                          "speed-up": front[spd].map(lambda x: _num(x, 2, "×"))})
    return raw.reset_index(drop=True), shown.reset_index(drop=True)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table of string cells (pandas' to_markdown needs tabulate)."""
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


# ---------------------------------------------------------------- plots

def _grid(n: int):
    """A figure with one subplot per model x dataset, drawn by the Agg backend. No pyplot:
    no global figure state, no GUI backend, nothing to close."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.6 * cols, 4.3 * rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_speedup_vs_impact(done: pd.DataFrame, front: pd.DataFrame, batch_size: int, path: Path) -> bool:
    """Figure 1: speed-up vs ROUGE-2 impact, a labelled point per variant, Pareto frontier marked."""
    spd = f"speedup_bs{batch_size}"
    data = done.dropna(subset=[spd, "rouge2_impact_pct"]) if spd in done else done.iloc[0:0]
    if data.empty:
        return False
    groups = list(_groups(data))
    fig, axes = _grid(len(groups))
    for ax, (label, rows) in zip(axes, groups):
        for kind, k_rows in rows.groupby("kind", sort=False):
            ax.scatter(k_rows.rouge2_impact_pct, k_rows[spd], color=KIND_COLORS.get(kind, "tab:gray"), label=kind,
                       zorder=3)
        for r in rows.itertuples():
            ax.annotate(r.variant, (r.rouge2_impact_pct, getattr(r, spd)), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
        on_front = rows.index.intersection(front.index)
        if len(on_front):
            f = rows.loc[on_front].sort_values(spd)
            ax.plot(f.rouge2_impact_pct, f[spd], "--", color="crimson", lw=1, zorder=2)
            ax.scatter(f.rouge2_impact_pct, f[spd], s=160, facecolors="none", edgecolors="crimson",
                       label="Pareto frontier", zorder=4)
        ax.margins(0.1)  # room for the labels of points at the edges
        ax.set(title=label, xlabel="ROUGE-2 impact vs full (%)", ylabel=f"speed-up at batch size {batch_size} (×)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)
    return True


def plot_quality_vs_layers(done: pd.DataFrame, path: Path) -> bool:
    """Figure 3: ROUGE-2 vs layers kept, one line each for encoder-only, decoder-only and both."""
    data = done.dropna(subset=["rouge2"])
    if data.empty:
        return False
    groups = list(_groups(data))
    fig, axes = _grid(len(groups))
    for ax, (label, rows) in zip(axes, groups):
        full = rows[rows.kind == "full"]
        for kind, x in (("encoder", "enc"), ("decoder", "dec"), ("both", "enc")):
            line = pd.concat([rows[rows.kind == kind], full]).sort_values(x)
            if len(line) > len(full):
                ax.plot(line[x], line.rouge2, "o-", color=KIND_COLORS[kind], label=f"{kind} pruned")
        ax.set(title=label, xlabel="layers kept (as the variant names them, e.g. sixths)", ylabel="ROUGE-2")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)
    return True


def plot_speedup_vs_batch(done: pd.DataFrame, path: Path) -> bool:
    """Figure 5: speed-up vs batch size, one line per pruned variant."""
    sizes = batch_sizes(done)
    pruned = done[done.kind != "full"]
    cols = [f"speedup_bs{bs}" for bs in sizes]
    pruned = pruned[pruned[cols].notna().any(axis=1)] if cols else pruned.iloc[0:0]
    if pruned.empty:
        return False
    groups = list(_groups(pruned))
    fig, axes = _grid(len(groups))
    markers = "osD^v<>p*h"
    for ax, (label, rows) in zip(axes, groups):
        for i, r in enumerate(rows.itertuples()):
            ax.plot(sizes, [getattr(r, c) for c in cols], marker=markers[i % len(markers)],
                    color=KIND_COLORS.get(r.kind, "tab:gray"), label=f"{r.variant} ({r.kind})")
        ax.axhline(1.0, color="black", lw=0.8, ls=":")
        ax.set(title=label, xlabel="batch size", ylabel="speed-up vs full (×)", xticks=sizes)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, path)
    return True


# ---------------------------------------------------------------- the report

def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "data"


def _inline_html(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
code{background:#f3f3f3;padding:0 .2em}"""


def render(blocks: list[tuple], out: Path) -> tuple[str, str]:
    """(markdown, html) of blocks: (h1|h2|h3|p, text), (table, shown DataFrame, csv name), (img, png name, alt)."""
    md, body = [], []
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            md.append("#" * int(kind[1]) + " " + args[0])
            body.append(f"<{kind}>{html.escape(args[0])}</{kind}>")
        elif kind == "p":
            md.append(args[0])
            body.append(f"<p>{_inline_html(args[0])}</p>")
        elif kind == "table":
            shown, csv = args
            md.append(markdown_table(shown) + f"\n\nCSV: [{csv}]({csv})")
            body.append(shown.to_html(index=False, border=0, escape=True)
                        + f'<p>CSV: <a href="{html.escape(csv)}">{html.escape(csv)}</a></p>')
        elif kind == "img":
            png, alt = args
            md.append(f"![{alt}]({png})")
            data = base64.b64encode((out / png).read_bytes()).decode()  # one self-contained HTML file
            body.append(f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(alt)}</figcaption></figure>")
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>asymprune report</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    return "\n\n".join(md) + "\n", page


def write_report(db: str | Path, out: Path, max_rouge2_loss: float | None = None, min_speedup: float | None = None,
                 batch_size: int = 1, overwrite: bool = False) -> dict:
    """Write report.md, report.html, PNG plots and one CSV per table into `out`, atomically.
    Returns {'report': path, 'html': path, 'recommendations': [(label, rec or None), ...]}."""
    max_loss, min_speedup = check_budget(max_rouge2_loss, min_speedup)
    if batch_size <= 0:
        raise UsageError(f"--batch-size must be at least 1 (got {batch_size})")
    frame = load_runs(db)
    done = frame[frame.status == "done"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(frame.status.value_counts().items(), key=lambda x: (-x[1], x[0])))
    if done.empty:
        raise UsageError(f"{db} has no finished runs yet ({counts}); wait for the sweep or rerun its failed runs")
    _check_batch_size(frame, batch_size)
    check_writable_out(Path(out), overwrite)

    sizes = batch_sizes(frame)
    setup = frame.attrs.get("latency_setup")
    recs = recommend_each(frame, max_loss, min_speedup, batch_size)
    front = pareto(frame, batch_size)
    reference = "control" if (frame.kind == "control").any() else "full"

    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        blocks: list[tuple] = [
            ("h1", "asymprune report"),
            ("p", f"Database `{db}`: {len(frame)} runs ({counts}). Written {time.strftime('%Y-%m-%d %H:%M')}."),
            ("p", (f"Latency: {setup}, mean ms per batch at batch sizes {', '.join(map(str, sizes))}. "
                   if setup else "Latency: none measured yet. ")
             + "ROUGE-2 differences are taken against the same model's re-tuned control (the full model trained "
               "again with the variants' recipe: the same extra training, no pruning), or its full run when the "
               "sweep has no control, with a paired bootstrap 95% interval over the same test documents; an "
               "interval that contains 0 is no measurable loss. Impact is that difference relative to the "
               "reference (%). Speed-up is the full run's latency divided by the variant's at the same batch size, "
               "both from one interleaved measurement."),
            ("h2", "Recommendation"),
            ("p", f"Budget: {budget_text(max_loss, min_speedup, batch_size, reference)}."),
        ]
        for label, rec in recs:
            line = recommendation_line(label, rec, batch_size)
            blocks.append(("p", f"**{line}**" if rec and rec["met"] else line))

        def table(title: str, tables: dict, stem: str, note: str) -> None:
            blocks.append(("h2", title))
            blocks.append(("p", note))
            for dataset, (raw, shown) in tables.items():
                csv = f"{stem}-{_slug(dataset)}.csv"
                raw.to_csv(tmp / csv, index=False)
                blocks.extend([("h3", dataset), ("table", shown, csv)])

        table("ROUGE-2 by variant and model size (paper Tables 5-7)", quality_tables(done), "quality",
              "Variant = encoder/decoder layers kept; % of full = ROUGE-2 relative to the same model unpruned.")
        if sizes:
            table("ROUGE-2 impact vs speed-up by batch size (paper Tables 8-10)", speedup_tables(done), "speedup",
                  "Pruned variants only; speed-up = full latency / variant latency at each batch size.")
        table("Scale vs gain of the full models (paper Tables 2-4)", scale_tables(done), "scale",
              "Gain = ROUGE-2 change vs the smallest model (by parameters); impact = latency ratio vs the smallest.")

        blocks.append(("h2", f"Pareto frontier (batch size {batch_size})"))
        if len(front):
            raw, shown = pareto_table(front, batch_size)
            raw.to_csv(tmp / "pareto.csv", index=False)
            blocks += [("p", "Variants that no other variant of the same model and dataset beats on both latency "
                             "and ROUGE-2; circled on the speed-up vs impact plot."), ("table", shown, "pareto.csv")]
        else:
            blocks.append(("p", f"No finished run has both ROUGE-2 and latency at batch size {batch_size}."))

        blocks.append(("h2", "Plots"))
        for png, alt, drawn in (
            ("speedup_vs_impact.png", f"Speed-up (batch size {batch_size}) vs ROUGE-2 impact; Pareto frontier "
             "circled (paper Figure 1)", lambda p: plot_speedup_vs_impact(done, front, batch_size, p)),
            ("quality_vs_layers.png", "ROUGE-2 vs layers kept for encoder-only, decoder-only and both (paper "
             "Figure 3)", lambda p: plot_quality_vs_layers(done, p)),
            ("speedup_vs_batch.png", "Speed-up vs batch size per variant (paper Figure 5)",
             lambda p: plot_speedup_vs_batch(done, p)),
        ):
            if drawn(tmp / png):
                blocks.append(("img", png, alt))

        unfinished = frame[frame.status != "done"]
        if len(unfinished):
            raw = unfinished[["who", "dataset", "variant", "kind", "status", "error"]].reset_index(drop=True)
            raw = raw.rename(columns={"who": "model"})
            raw.to_csv(tmp / "unfinished.csv", index=False)
            blocks += [("h2", "Runs not finished"), ("table", raw.fillna("–"), "unfinished.csv")]

        runs_table(frame).to_csv(tmp / "runs.csv", index=False)
        blocks.append(("p", "Every run with all metrics: [runs.csv](runs.csv)."))
        md, page = render(blocks, tmp)
        (tmp / "report.md").write_text(md)
        (tmp / "report.html").write_text(page)
    return {"report": Path(out) / "report.md", "html": Path(out) / "report.html", "recommendations": recs}


def write_csv_atomic(frame: pd.DataFrame, path: Path, overwrite: bool = False) -> None:
    """Write `frame` as CSV to `path` via a temporary file in the same folder, then rename."""
    path = Path(path)
    check_writable_out(path, overwrite, file=True, flag="--csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, newline="") as f:
        frame.to_csv(f, index=False)
