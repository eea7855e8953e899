"""Tables, plots, a Pareto frontier and a recommendation from a sweep's results.db.

    frame = load_runs("runs/demo/results.db")       # one row per run; latency pivoted by batch size
    rec = recommend(frame, max_loss=1.0)            # one model x dataset: {'variant': '6/3', 'line': ...}
    front = pareto(frame, batch_size=1)             # variants nothing beats on both latency and quality
    write_report("runs/demo/results.db", Path("runs/demo/report"), min_speedup=2.0)

    load.py    load_runs: the database as one frame, latency per batch size
    quality.py each run's metric, its scores and paired intervals against the reference run
    choose.py  verdicts, the Pareto frontier, budgets and the recommendation
    tables.py  the paper's tables, the runs table (`asymprune results`), CSV output
    plots.py   the paper's figures 1, 3 and 5
    render.py  write_report: report.md, a one-file report.html, plots and CSVs
"""

from .choose import (DEFAULT_MAX_LOSS, budget_text, check_budget, pareto, parse_max_loss, recommend, recommend_each,
                     recommendation_line, verdict)
from .load import batch_sizes, load_runs
from .render import write_report
from .tables import disk_use_line, list_runs, results_table, runs_table, write_csv_atomic

__all__ = ["DEFAULT_MAX_LOSS", "budget_text", "check_budget", "pareto", "parse_max_loss", "recommend", "recommend_each",
           "recommendation_line", "verdict", "batch_sizes", "load_runs", "write_report", "disk_use_line", "list_runs",
           "results_table", "runs_table", "write_csv_atomic"]
