"""The report's tables, as (raw, shown) pairs per dataset: numbers for the CSVs, text for the page.

    quality_tables(done)        # paper Tables 5-7: ROUGE-2 (the metric's headline) per variant and size, % of full
    speedup_tables(done)        # paper Tables 8-10: difference with the control [95% CI], speed-up per batch
    scale_tables(done)          # paper Tables 2-4: the full models, gain and latency vs the smallest ("measured apart")
    frame = list_runs(db, csv=Path("runs.csv"))   # what `asymprune results` shows (or writes as CSV)
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..bench.describe import percent_of_ceiling
from ..bench.speedup import speedup_text
from ..fsutil import atomic_file, check_writable_out, disk_usage, human_size
from .choose import verdict
from .load import KIND_ORDER, batch_sizes, by_group, load_runs
from .quality import metric_of, metrics_in


def _num(x, digits=2, suffix="") -> str:
    return "–" if x is None or pd.isna(x) else f"{x:.{digits}f}{suffix}"


def _layers(x) -> str:
    return "–" if pd.isna(x) else f"{x:g}"


def _pct(x, digits=2) -> str:
    return "–" if x is None or pd.isna(x) else f"{x:+.{digits}f}%"


def runs_table(frame: pd.DataFrame) -> pd.DataFrame:
    """All runs, one row each, raw numbers: what `asymprune results --csv` writes."""
    cols = ["sweep", "model", "dataset", "variant", "kind", "status", "params"]
    for m in metrics_in(frame):  # each metric's keys, then its headline's impact and loss
        cols += [*m.keys, f"{m.headline}_impact_pct", f"{m.headline}_loss"]
    cols.append("gen_len")
    for bs in batch_sizes(frame):
        cols += [f"latency_ms_bs{bs}", f"std_ms_bs{bs}", f"speedup_bs{bs}", f"speedup_low_bs{bs}",
                 f"speedup_high_bs{bs}", f"ceiling_ms_per_token_bs{bs}", f"fraction_of_ceiling_bs{bs}"]
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
    if frame.attrs.get("latency_inputs"):
        parts.append(Text(f"timed: {frame.attrs['latency_inputs']}"))
    for label, rows in by_group(frame):
        table = Table(title=label, title_justify="left", box=box.SIMPLE_HEAD, padding=0, pad_edge=False,
                      show_edge=False)
        m = metric_of(rows)
        for h in ["variant", "kind", "status", m.column, "impact", "len"] + [f"{u} b{bs}" for bs in sizes
                                                                             for u in ("ms", "×")]:
            text = h in ("variant", "kind", "status")
            table.add_column(h, justify="left" if text else "right", min_width=7 if text else None)
        for r in rows.itertuples():
            cells = [r.variant, str(r.kind), r.status, _num(getattr(r, m.headline)),
                     _pct(getattr(r, f"{m.headline}_impact_pct"), 1), _num(r.gen_len, 0)]
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
    """Tables 5-7: per dataset, rows ENC/DEC, per model its metric's headline (ROUGE-2) and % of its
    full model. Returns {dataset: (raw, shown)}."""
    out = {}
    for dataset, rows in done.groupby("dataset", sort=False):
        m = metric_of(rows)
        h = m.headline
        models = list(dict.fromkeys(rows.who))
        variants = rows.drop_duplicates("variant")[["variant", "enc", "dec", "kind"]]
        variants = variants.assign(_k=variants.kind.map(KIND_ORDER).fillna(9)).sort_values(
            ["_k", "enc", "dec"], ascending=[True, False, False]).drop(columns="_k")  # the paper's row order
        raw = variants.rename(columns={"enc": "encoder", "dec": "decoder"}).reset_index(drop=True)
        raw["encoder"], raw["decoder"] = raw.encoder.map(_layers), raw.decoder.map(_layers)
        shown = raw[["encoder", "decoder", "kind"]].copy()
        for who in models:
            by_variant = rows[rows.who == who].set_index("variant")
            full = by_variant[f"{h}_full"]
            score = raw.variant.map(by_variant[h])
            pct = raw.variant.map(100 * by_variant[h] / full.where(full != 0))
            raw[f"{who} {h}"], raw[f"{who} pct_of_full"] = score.round(4), pct.round(4)
            shown[f"{who} {m.column}"], shown[f"{who} % of full"] = score.map(_num), pct.map(lambda x: _num(x, 2, "%"))
        out[dataset] = (raw.drop(columns="variant"), shown)
    return out


def _delta_cell(r) -> str:
    """'-0.31 [-0.92, +0.30]': the headline's difference (value - reference) and its 95% interval."""
    if verdict(r) == "reference":
        return "reference"
    h = metric_of(r).headline
    delta, low, high = getattr(r, f"{h}_delta"), getattr(r, f"{h}_low"), getattr(r, f"{h}_high")
    if pd.isna(delta):
        return "–"
    if pd.isna(low):
        return f"{delta:+.2f}"
    return f"{delta:+.2f} [{low:+.2f}, {high:+.2f}]"


def speedup_tables(done: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Tables 8-10: per dataset, the control and each pruned variant: the headline's difference with
    the reference (control) and its interval, and speed-up at every batch size."""
    out = {}
    sizes = batch_sizes(done)
    for dataset, rows in done.groupby("dataset", sort=False):
        rows = rows[rows.kind != "full"]
        m = metric_of(rows)
        h = m.headline
        raw = rows[["who", "variant", "kind", h, "reference", f"{h}_delta", f"{h}_low", f"{h}_high",
                    f"{h}_impact_pct", f"{h}_delta_base"]].rename(columns={"who": "model"})
        raw = raw.assign(verdict=[verdict(r) for r in rows.itertuples()])
        shown = pd.DataFrame({"model": rows.who, "variant": rows.variant, "kind": rows.kind,
                              m.column: rows[h].map(_num),
                              f"Δ {m.column} vs reference [95% CI]": [_delta_cell(r) for r in rows.itertuples()],
                              "verdict": raw.verdict, "impact": rows[f"{h}_impact_pct"].map(_pct),
                              "Δ vs base": rows[f"{h}_delta_base"].map(lambda x: _num(x, 2) if pd.isna(x)
                                                                        else f"{x:+.2f}")})
        for bs in sizes:
            for col in (f"speedup_bs{bs}", f"speedup_low_bs{bs}", f"speedup_high_bs{bs}"):
                raw[col] = rows[col]
            shown[f"speed-up BS{bs} [95% CI]"] = _speedup_cells(rows, bs)
        for bs in sizes:  # blank, not 0, for rows measured without a ceiling (older databases, assisted rows)
            raw[f"fraction_of_ceiling_bs{bs}"] = rows[f"fraction_of_ceiling_bs{bs}"]
            shown[f"BS{bs} % of ceiling"] = rows[f"fraction_of_ceiling_bs{bs}"].map(_pct_of_ceiling)
        out[dataset] = (raw.round(4).reset_index(drop=True), shown.reset_index(drop=True))
    return out


def _pct_of_ceiling(fraction) -> str:
    return "" if fraction is None or pd.isna(fraction) else percent_of_ceiling(fraction)


def _speedup_cells(rows: pd.DataFrame, bs: int) -> list[str]:
    """'1.56× [1.49, 1.63]', with 'no measurable speed-up' where the interval holds 1, 'slower' below 1."""
    return [speedup_text(s, lo, hi) for s, lo, hi in
            zip(rows[f"speedup_bs{bs}"], rows[f"speedup_low_bs{bs}"], rows[f"speedup_high_bs{bs}"])]


def scale_tables(done: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Tables 2-4: per dataset, the full models by size: gain in the headline (ROUGE-2; positive: better,
    whichever way the metric goes) and latency ratio vs the smallest.

    A latency ratio is a speed comparison, so it holds only between rows of one interleaved bench
    (same bench_id). A sweep benches each model with its own variants, so full models of
    different sizes are usually timed apart: their ratios are then marked "measured apart"
    (`same_bench_bs{N}` false in the CSV), the machine's drift between runs included.
    """
    out = {}
    sizes = batch_sizes(done)
    for dataset, rows in done.groupby("dataset", sort=False):
        full = rows[rows.kind == "full"].sort_values("params", na_position="last")
        if full.empty:
            continue
        small = full.iloc[0]
        m = metric_of(rows)
        h = m.headline
        raw = pd.DataFrame({"model": full.who, "params": full.params.astype("Int64"), h: full[h],
                            "gain_pct": 100 * m.loss(small[h], full[h]) / small[h] if small[h] else math.nan})
        shown = pd.DataFrame({"model": full.who, "params": full.params.map(lambda p: "–" if pd.isna(p) else _num(p / 1e6, 1, "M")),
                              m.column: raw[h].map(_num), "gain": raw.gain_pct.map(_pct)})
        for bs in sizes:
            ms = full[f"latency_ms_bs{bs}"]
            bench = full.get(f"bench_id_bs{bs}", pd.Series(index=full.index, dtype=object))
            together = (bench.notna() & (bench == small.get(f"bench_id_bs{bs}"))) | (full.index == small.name)
            raw[f"latency_ms_bs{bs}"], raw[f"latency_ratio_bs{bs}"] = ms, ms / small[f"latency_ms_bs{bs}"]
            raw[f"same_bench_bs{bs}"] = together
            shown[f"BS{bs} ms"] = ms.map(lambda x: _num(x, 1))
            shown[f"BS{bs} impact"] = [_num(x, 2, "×") + ("" if same or pd.isna(x) else " (measured apart)")
                                       for x, same in zip(raw[f"latency_ratio_bs{bs}"], together)]
        out[dataset] = (raw.round(4).reset_index(drop=True), shown.reset_index(drop=True))
    return out


def pareto_table(front: pd.DataFrame, batch_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Pareto frontier of one metric's runs: raw numbers for pareto.csv, text for the page."""
    lat, spd = f"latency_ms_bs{batch_size}", f"speedup_bs{batch_size}"
    m = metric_of(front)
    h = m.headline
    raw = front[["who", "dataset", "variant", "kind", h, f"{h}_delta", f"{h}_low", f"{h}_high",
                 f"{h}_impact_pct", lat, spd, f"speedup_low_bs{batch_size}", f"speedup_high_bs{batch_size}"]].round(4)
    raw = raw.rename(columns={"who": "model"}).assign(verdict=[verdict(r) for r in front.itertuples()])
    shown = pd.DataFrame({"model": front.who, "dataset": front.dataset, "variant": front.variant,
                          "kind": front.kind, m.column: front[h].map(_num),
                          f"Δ {m.column} vs reference [95% CI]": [_delta_cell(r) for r in front.itertuples()],
                          "verdict": raw.verdict.values,
                          f"BS{batch_size} ms": front[lat].map(lambda x: _num(x, 1)),
                          "speed-up [95% CI]": _speedup_cells(front, batch_size)})
    return raw.reset_index(drop=True), shown.reset_index(drop=True)


def write_csv_atomic(frame: pd.DataFrame, path: Path, overwrite: bool = False) -> None:
    """Write `frame` as CSV to `path` via a temporary file in the same folder, then rename."""
    path = Path(path)
    check_writable_out(path, overwrite, file=True, flag="--csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, newline="") as f:
        frame.to_csv(f, index=False)


def list_runs(db: str | Path, csv: Path | None = None, overwrite: bool = False) -> pd.DataFrame:
    """Every run of `db` (load_runs); with `csv`, also written there as `runs_table` (checked first)."""
    if csv is not None:
        check_writable_out(csv, overwrite, file=True, flag="--csv", inputs=[db])
    frame = load_runs(db)
    if csv is not None:
        write_csv_atomic(runs_table(frame), csv, overwrite=overwrite)
    return frame
