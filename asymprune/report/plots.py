"""The report's figures, drawn by matplotlib's Agg backend with no pyplot state.

    plot_speedup_vs_impact(done, front, 1, Path("speedup_vs_impact.png"))   # paper Figure 1, frontier circled
    plot_quality_vs_layers(done, Path("quality_vs_layers.png"))             # paper Figure 3
    plot_speedup_vs_batch(done, Path("speedup_vs_batch.png"))               # paper Figure 5

Each returns False, drawing nothing, when the frame has nothing to plot.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .load import batch_sizes, by_group
from .quality import headline, metric_of

KIND_COLORS = {"full": "black", "control": "tab:gray", "lossless": "tab:purple", "decoder": "tab:blue",
               "encoder": "tab:orange", "both": "tab:green", "other": "tab:gray"}


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
    """Figure 1: speed-up vs the headline's impact (ROUGE-2), a labelled point per variant, Pareto frontier marked."""
    spd = f"speedup_bs{batch_size}"
    data = done[done[spd].notna() & headline(done, "_impact_pct").notna()] if spd in done else done.iloc[0:0]
    if data.empty:
        return False
    groups = list(by_group(data))
    fig, axes = _grid(len(groups))
    for ax, (label, rows) in zip(axes, groups):
        m = metric_of(rows)
        impact = f"{m.headline}_impact_pct"
        for kind, k_rows in rows.groupby("kind", sort=False):
            ax.scatter(k_rows[impact], k_rows[spd], color=KIND_COLORS.get(kind, "tab:gray"), label=kind, zorder=3)
        for r in rows.itertuples():
            ax.annotate(r.variant, (getattr(r, impact), getattr(r, spd)), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
        on_front = rows.index.intersection(front.index)
        if len(on_front):
            f = rows.loc[on_front].sort_values(spd)
            ax.plot(f[impact], f[spd], "--", color="crimson", lw=1, zorder=2)
            ax.scatter(f[impact], f[spd], s=160, facecolors="none", edgecolors="crimson",
                       label="Pareto frontier", zorder=4)
        ax.margins(0.1)  # room for the labels of points at the edges
        ax.set(title=label, xlabel=f"{m.label} impact vs full (%)", ylabel=f"speed-up at batch size {batch_size} (×)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)
    return True


def plot_quality_vs_layers(done: pd.DataFrame, path: Path) -> bool:
    """Figure 3: the headline (ROUGE-2) vs layers kept, one line each for encoder-only, decoder-only and both."""
    data = done[headline(done).notna()]
    if data.empty:
        return False
    groups = list(by_group(data))
    fig, axes = _grid(len(groups))
    for ax, (label, rows) in zip(axes, groups):
        m = metric_of(rows)
        full = rows[rows.kind == "full"]
        for kind, x in (("encoder", "enc"), ("decoder", "dec"), ("both", "enc")):
            line = pd.concat([rows[rows.kind == kind], full]).sort_values(x)
            if len(line) > len(full):
                ax.plot(line[x], line[m.headline], "o-", color=KIND_COLORS[kind], label=f"{kind} pruned")
        ax.set(title=label, xlabel="layers kept (as the variant names them, e.g. sixths)", ylabel=m.label)
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
    groups = list(by_group(pruned))
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
