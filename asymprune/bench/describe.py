"""Where a measurement was taken, and the table that shows it.

    report["env"] = environment(cfg, threads)   # versions, processor (and GPU), threads, backend and dtype
    console.print(results_table(report))        # headers wrap at 80 columns; the JSON has every field
    ceiling_warnings(report)                    # sentences: limits measured on busy cores, a decode above its ceiling
    token_check_warnings(report)                # sentences: a compiled row whose tokens differ from its eager path's
"""

from __future__ import annotations

import os
import platform

from .backends import backend_for
from .config import BenchConfig
from .speedup import speedup_text


def environment(cfg: BenchConfig, threads: int | None = None) -> dict:
    """Where a measurement was taken: versions, processor (and GPU), threads, backend and dtype."""
    import torch
    import transformers

    from ..version import __version__
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "asymprune": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "ctranslate2": _version("ctranslate2"),
        "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if cfg.device == "cuda" else None,
        "threads": threads, "device": cfg.device, "source_length": cfg.source_length,
        "new_tokens": cfg.new_tokens if cfg.dataset is None else None, "dataset": cfg.dataset,
        "bench_docs": cfg.docs if cfg.dataset else None,
        "dtype": backend_for(cfg.backend).label(cfg.setup()), "backend": cfg.backend,
    }


def _version(package: str) -> str | None:
    """An optional package's version, or None where it is not installed (hf-only machines)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _setup_text(backend: str, dtype: str) -> str:
    """'hf float32', 'ct2 int8' (a row's dtype names its backend too: 'ct2:int8')."""
    return f"{backend} {dtype.removeprefix(backend + ':')}"


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def percent_of_ceiling(fraction: float | None) -> str:
    """'35%', '0.52%': two significant figures below 10%; '–' where there is no ceiling (an assisted row)."""
    if fraction is None:
        return "–"
    return f"{100 * fraction:.0f}%" if fraction >= 0.1 else f"{100 * fraction:.2g}%"


def ceiling_warnings(report: dict) -> list[str]:
    """The ceiling's warnings (busy cores when measured, a decode above its ceiling), each once, with its rows."""
    out: dict[str, list[str]] = {}
    for r in report["results"]:
        for w in (r.get("ceiling") or {}).get("warnings", []):
            out.setdefault(w, []).append(f"{r['model']} bs{r['batch_size']}")
    return [f"{', '.join(rows)}: {w}" for w, rows in out.items()]


def token_check_warnings(report: dict) -> list[str]:
    """A sentence per row whose tokens differ from its eager path's (`--compile`: bench checks one call per batch)."""
    return [f"{r['model']} bs{r['batch_size']}: the compiled path's tokens differ from the eager path's from "
            f"generated token {r['tokens_first_difference']} on (a kernel's rounding can flip a near-tie, most "
            "often in bfloat16 and with random weights); the timing is of the same number of tokens"
            for r in report["results"] if r.get("tokens_equal_eager") is False]


def results_table(report: dict):
    """A rich table of a report."""
    from rich import box
    from rich.table import Table
    cfg = report["config"]
    natural = cfg["dataset"] is not None
    env = report["env"]
    # What was timed, as the models' family says (text: ids of a source length; Whisper: 30-second mel windows)
    inputs = env.get("inputs") or (f"{cfg['dataset']}:{cfg['split']}" if natural
                                   else f"source {cfg['source_length']}, random ids")
    length = (f"{cfg['docs']} calls per round, natural stopping (at most {cfg['new_tokens']} new tokens)" if natural
              else f"{cfg['new_tokens']} new tokens (EOS suppressed)")
    over = "the paired rounds and documents" if natural else "the paired rounds (3 or more)"
    setups = {(r.get("backend", env["backend"]), r.get("dtype", env["dtype"])) for r in report["results"]}
    setup = _setup_text(*next(iter(setups))) if len(setups) == 1 else "each model's setup (in its name)"
    table = Table(title=f"latency: {setup} on {env['device']}, {env['threads']} threads, "
                        f"{inputs}, {length}, {cfg['runs']} runs", title_justify="left",
                  caption=f"median ± std ms per call; speed-up: ratio of medians over the first model, [95% CI] "
                          f"over {over}; a CI holding 1 is no measurable speed-up; ceiling: the ms per token that "
                          "reading one decode step's bytes (weights, lm_head, caches) takes at this machine's "
                          "bandwidth, and the % of it the measured ms/token reaches (100% is the limit)" + (
                              "" if natural or not cfg.get("assistants") else "; a lossless row on random ids "
                              "says nothing of a real document's acceptance: pass --dataset"),
                  caption_justify="left", box=box.SIMPLE_HEAD, padding=0, pad_edge=False, show_edge=False)
    cols = ["model", "enc/dec", "bs", "median ms", "prefill ms", "ms/token", "tok/s", "speed-up", "ceiling ms/tok",
            "% of ceiling"]
    cols = cols[:3] + (["gen len"] if natural else []) + cols[3:]
    rows = []
    for r in report["results"]:
        name = r["model"] + (" (random ids)" if "assistant" in r and not natural else "")
        cells = [name, f"{r['layers']['encoder']}/{r['layers']['decoder']}", str(r["batch_size"])]
        cells += [f"{r['generated_tokens_mean']:.1f}"] if natural else []
        cells += [f"{r['median_ms']:.0f} ± {r['std_ms']:.0f}", f"{r['prefill_ms']:.0f}",
                  f"{r['decode_ms_per_token']:.1f}", f"{r['tokens_per_s']:.0f}",
                  speedup_text(r["speedup"], r.get("speedup_low"), r.get("speedup_high"), short=True),
                  _ms(r.get("ceiling_ms_per_token")), percent_of_ceiling(r.get("fraction_of_ceiling"))]
        rows.append(cells)
    # Fits an 80-column terminal: each number column as wide as its widest cell or header word (headers wrap
    # between words); a long model name folds. The JSON has every field.
    widths = [max(*(len(cells[i]) for cells in rows), *map(len, col.split())) for i, col in enumerate(cols)]
    for col, width in zip(cols, widths):
        if col == "model":  # at least what 80 columns leave it (a wider terminal shows whole names)
            table.add_column(col, overflow="fold", min_width=min(width, max(8, 80 - sum(widths[1:]) - len(cols) + 1)))
        elif col == "speed-up" and sum(widths) + len(cols) > 80:  # its interval folds rather than crop the table
            table.add_column(col, justify="right", overflow="fold", min_width=min(width, 6))
        else:
            table.add_column(col, justify="right", width=width)
    for cells in rows:
        table.add_row(*cells)
    return table
