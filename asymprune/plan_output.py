"""What `asymprune plan` shows: the predicted speed-up heatmap, the fitted coefficients, the table.

    heatmap(result, out / "heatmap.png"); coefficient_lines(result); plan_table(result)   # with each variant's ceiling
"""

from __future__ import annotations

from pathlib import Path

def heatmap(result: dict, path: Path) -> None:
    """Encoder layers x decoder layers, predicted speed-up at the first batch size, annotated."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bs = result["config"]["batch_sizes"][0]
    rows = [r for r in result["predictions"] if r["batch_size"] == bs]
    encs = sorted({r["encoder_layers"] for r in rows})
    decs = sorted({r["decoder_layers"] for r in rows})
    grid = np.full((len(encs), len(decs)), np.nan)
    for r in rows:
        grid[encs.index(r["encoder_layers"]), decs.index(r["decoder_layers"])] = r["speedup"] or np.nan
    fig = Figure(figsize=(min(2.5 + 0.6 * len(decs), 16), min(1.8 + 0.45 * len(encs), 12)))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label="predicted speed-up")
    ax.set_xticks(range(len(decs)), [str(d) for d in decs])
    ax.set_yticks(range(len(encs)), [str(e) for e in encs])
    ax.set_xlabel("decoder layers kept")
    ax.set_ylabel("encoder layers kept")
    cfg = result["config"]
    ax.set_title(f"{result['model']}: predicted speed-up, batch {bs}\nsource {cfg['source_length']}, "
                 f"{cfg['new_tokens']} new tokens, {cfg['backend']} {cfg['device']}", fontsize=9)
    middle = np.nanmean(grid) if np.isfinite(grid).any() else 0
    size = max(4, min(9, 140 / max(len(encs), len(decs))))
    for i in range(len(encs)):
        for j in range(len(decs)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=size,
                        color="black" if grid[i, j] > middle else "white")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def coefficient_lines(result: dict) -> list[str]:
    return [f"batch {c['batch_size']}: prefill = {c['p0']:.2f} + {c['p1']:.2f}·enc + {c['p2']:.2f}·dec ms; "
            f"per token = {c['t0']:.3f} + {c['t1']:.3f}·dec ms" for c in result["coefficients"]]


def ceiling_cell(row: dict) -> str:
    """'0.52 (35%)': the ceiling in ms per token and the % of it reached; '–' where there is none."""
    from .bench.describe import percent_of_ceiling
    limit = row.get("ceiling_ms_per_token")
    if limit is None:
        return "–"
    return f"{limit:.3g} ({percent_of_ceiling(row.get('fraction_of_ceiling'))})"


def plan_table(result: dict):
    """A rich table: a row per variant, predicted ms and speed-up per batch size."""
    from rich.table import Table
    cfg = result["config"]
    sizes = cfg["batch_sizes"]
    table = Table(title=f"predicted latency of {result['model']} ({result['layers']['encoder']}/"
                        f"{result['layers']['decoder']} layers): {cfg['backend']} {cfg['dtype']} on "
                        f"{cfg['device']}, source {cfg['source_length']}, {cfg['new_tokens']} new tokens",
                  title_justify="left")
    table.add_column("variant")
    table.add_column("enc/dec", justify="right")
    for bs in sizes:
        table.add_column(f"ms bs{bs}", justify="right")
    for bs in sizes:
        table.add_column(f"× bs{bs}", justify="right")
    for bs in sizes:  # the decode step's limit on this machine, and the % of it the predicted ms per token reaches
        table.add_column(f"ceiling ms/tok bs{bs} (% reached)", justify="right")
    by_variant: dict[str, dict[int, dict]] = {}
    for r in result["predictions"]:
        by_variant.setdefault(r["variant"], {})[r["batch_size"]] = r
    for label, per_bs in by_variant.items():
        first = per_bs[sizes[0]]
        table.add_row(label, f"{first['encoder_layers']}/{first['decoder_layers']}",
                      *[f"{per_bs[bs]['ms']:.0f}" for bs in sizes],
                      *["n/a" if per_bs[bs]["speedup"] is None else f"{per_bs[bs]['speedup']:.2f}×" for bs in sizes],
                      *[ceiling_cell(per_bs[bs]) for bs in sizes])
    return table
