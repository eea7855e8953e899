"""The report itself: report.md, a self-contained report.html, the plots and a CSV per table.

    written = write_report("runs/demo/results.db", Path("runs/demo/report"), min_speedup=2.0)
    written["report"], written["html"], written["recommendations"], written["lines"], written["checks"]

The report follows the paper's layouts: quality per variant across model sizes (Tables 5-7),
ROUGE-2 impact vs speed-up per batch size (Tables 8-10), scale vs gain of the full models
(Tables 2-4), speed-up vs impact (Figure 1), ROUGE-2 vs layers kept (Figure 3) and speed-up
vs batch size (Figure 5), the Pareto frontier and a recommendation per model x dataset.
Quality is each run's metric's headline (ROUGE-2 for summarization), named as the metric names it.
"""

from __future__ import annotations

import base64
import html
import re
import time
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..fsutil import atomic_dir, check_writable_out
from .checks import control_speed_checks
from .choose import budget_text, check_budget, pareto, recommend_each, recommendation_line
from .load import batch_sizes, by_group, check_batch_size, load_runs
from .quality import metric_of, metrics_in
from .plots import plot_quality_vs_layers, plot_speedup_vs_batch, plot_speedup_vs_impact
from .tables import pareto_table, quality_tables, runs_table, scale_tables, speedup_tables


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


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table of string cells (pandas' to_markdown needs tabulate)."""
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


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


def write_report(db: str | Path, out: Path, max_loss=None, min_speedup: float | None = None,
                 batch_size: int = 1, overwrite: bool = False, **flags) -> dict:
    """Write report.md, report.html, PNG plots and one CSV per table into `out`, atomically.
    `max_loss`: --max-loss texts ('rouge2=1.0') or {headline key: points}; `flags`: the metrics' own
    budget flags by keyword (max_rouge2_loss=1.0, max_wer_increase=1.0; choose.check_budget).
    Returns {'report': path, 'html': path, 'recommendations': [(label, rec or None), ...], 'lines': [...]}."""
    budgets, min_speedup = check_budget(max_loss, min_speedup, **flags)
    if batch_size <= 0:
        raise UsageError(f"--batch-size must be at least 1 (got {batch_size})")
    frame = load_runs(db)
    done = frame[frame.status == "done"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(frame.status.value_counts().items(), key=lambda x: (-x[1], x[0])))
    if done.empty:
        raise UsageError(f"{db} has no finished runs yet ({counts}); wait for the sweep or rerun its failed runs")
    check_batch_size(frame, batch_size)
    metrics = metrics_in(frame)
    _check_budgets_name_metrics(budgets, metrics, db)
    check_writable_out(Path(out), overwrite, inputs=[db])

    sizes = batch_sizes(frame)
    setup = frame.attrs.get("latency_setup")
    recs = recommend_each(frame, budgets, min_speedup, batch_size)
    lines = [recommendation_line(label, rec, batch_size, metric_of(rows))
             for (label, rec), (_, rows) in zip(recs, by_group(frame[frame.status == "done"]))]
    front = pareto(frame, batch_size)
    checks = control_speed_checks(done)
    reference = "control" if (frame.kind == "control").any() else "full"
    quality = " / ".join(m.label for m in metrics)  # "ROUGE-2"

    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        blocks: list[tuple] = [
            ("h1", "asymprune report"),
            ("p", f"Database `{db}`: {len(frame)} runs ({counts}). Written {time.strftime('%Y-%m-%d %H:%M')}."),
            ("p", (f"Latency: {setup}, median ms per batch at batch sizes {', '.join(map(str, sizes))}; timed: "
                   f"{frame.attrs.get('latency_inputs')}. " if setup else "Latency: none measured yet. ")
             + f"{quality} differences are taken against the same model's re-tuned control (the full model trained "
               "again with the variants' recipe: the same extra training, no pruning), or its full run when the "
               "sweep has no control, with a paired bootstrap 95% interval over the same test documents; an "
               "interval that contains 0 is no measurable loss. Impact is that difference relative to the "
               "reference (%). Speed-up is the full run's median latency divided by the variant's at the same "
               "batch size, both from one interleaved measurement, with a paired bootstrap 95% interval over its "
               "rounds; an interval that contains 1 is no measurable speed-up, one below 1 is slower. A budget is met "
               "on the measured values; where a pick's interval reaches past the budget, the recommendation says "
               "so."),
            ("h2", "Recommendation"),
            ("p", f"Budget: {budget_text(budgets, min_speedup, batch_size, metrics, reference)}."),
        ]
        for (label, rec), line in zip(recs, lines):
            blocks.append(("p", f"**{line}**" if rec and rec["met"] else line))

        def table(title: str, tables: dict, stem: str, note: str) -> None:
            blocks.append(("h2", title))
            blocks.append(("p", note))
            for dataset, (raw, shown) in tables.items():
                csv = f"{stem}-{_slug(dataset)}.csv"
                raw.to_csv(tmp / csv, index=False)
                blocks.extend([("h3", dataset), ("table", shown, csv)])

        directions = "; ".join(f"{m.label}: {m.direction}" for m in metrics)  # "WER: lower is better"
        table(f"{quality} by variant and model size (paper Tables 5-7)", quality_tables(done), "quality",
              f"Variant = encoder/decoder layers kept; % of full = {quality} relative to the same model unpruned "
              f"({directions}).")
        if sizes:
            table(f"{quality} impact vs speed-up by batch size (paper Tables 8-10)", speedup_tables(done), "speedup",
                  "Pruned variants only; speed-up = full latency / variant latency at each batch size; Δ = value - "
                  f"reference ({'; '.join(m.delta_note() for m in metrics)}); % of ceiling = the ms per token that "
                  "reading one decode step's bytes takes at the machine's bandwidth / the measured ms per token "
                  "(100% is the limit; blank: measured without it).")
            if checks:
                blocks.append(("p", "**Bench check.** " + "; ".join(checks) + "."))
        table("Scale vs gain of the full models (paper Tables 2-4)", scale_tables(done), "scale",
              f"Gain = {quality} change vs the smallest model (by parameters"
              + ("; positive is better" if any(not m.higher_is_better for m in metrics) else "")
              + "); impact = latency ratio vs the smallest, marked measured apart where the two were not timed in "
                "one interleaved run.")

        blocks.append(("h2", f"Pareto frontier (batch size {batch_size})"))
        fronts = list(front.groupby("metric", sort=False)) if len(metrics) > 1 else [(None, front)]
        for name, part in fronts:
            if not len(part):
                continue
            raw, shown = pareto_table(part, batch_size)
            csv = "pareto.csv" if name is None else f"pareto-{_slug(name)}.csv"
            raw.to_csv(tmp / csv, index=False)
            blocks += [("p", "Variants that no other variant of the same model and dataset beats on both latency "
                             f"and {metric_of(part).label}; circled on the speed-up vs impact plot."),
                       ("table", shown, csv)]
        if not len(front):
            blocks.append(("p", f"No finished run has both {quality} and latency at batch size {batch_size}."))

        blocks.append(("h2", "Plots"))
        for png, alt, drawn in (
            ("speedup_vs_impact.png", f"Speed-up (batch size {batch_size}) vs {quality} impact; Pareto frontier "
             "circled (paper Figure 1)", lambda p: plot_speedup_vs_impact(done, front, batch_size, p)),
            ("quality_vs_layers.png", f"{quality} vs layers kept for encoder-only, decoder-only and both (paper "
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
    return {"report": Path(out) / "report.md", "html": Path(out) / "report.html", "recommendations": recs,
            "lines": lines, "checks": checks}


def _check_budgets_name_metrics(budgets: dict | None, metrics: list, db) -> None:
    """A --max-loss for a metric no run is scored with is a mistake, not a budget to ignore."""
    headlines = {m.headline for m in metrics}
    for key in sorted(set(budgets or {}) - headlines):
        raise UsageError(f"a loss budget on {key}, but no run in {db} is scored with {key}; budget "
                         f"{', '.join(f'{m.headline} ({m.label})' for m in metrics)} instead")
