"""The tables of benchmarks/gpu.py's result file, in the layout of the paper's Tables 2 and 8-10, with each
row's distance to the bandwidth limit and the priority rows (flan-t5-large, full and 6/1, batch 1) first.

    text = render(args, reports, log, notes, machine, description, seconds)
    print(summary(args, reports, notes))

`reports`: gpu.py's run_bench reports by block, in the order they ran; a row of a (backend, size,
variant, batch) timed in more than one block is taken from the last (the full grid's block times
the priority pair again beside the other variants).
"""

from __future__ import annotations

import sys

from gpu_plan import LOSSLESS

KIND = {(6, 6): "full", (6, 3): "decoder", (6, 1): "decoder", (3, 6): "encoder", (1, 6): "encoder",
        (3, 3): "both", (1, 1): "both"}


def _pct(fraction) -> str:
    from asymprune.bench.describe import percent_of_ceiling
    return percent_of_ceiling(fraction)


def _equal(r) -> str:
    """The compiled row's token check: 'yes', 'NO (from token k)', or '-' for a row without one."""
    if r.get("tokens_equal_eager") is None:
        return "-"
    return "yes" if r["tokens_equal_eager"] else f"NO (from token {r['tokens_first_difference']})"


def _blocks(reports, backend, size, priority: bool | None = None):
    for rep in reversed(list(reports.values())):
        b = rep["block"]
        if b["backend"] == backend and b["size"] == size and (priority is None or (b["variants"] is not None) == priority):
            yield rep


def _row(reports, backend, size, variant, bs, priority: bool | None = None):
    """The result row of `variant` at batch `bs` from the last block of (backend, size) that timed it."""
    return next((r for rep in _blocks(reports, backend, size, priority) for r in rep["results"]
                 if r["variant"] == variant and r["batch_size"] == bs), None)


def _has(reports, backend, size) -> bool:
    return next(_blocks(reports, backend, size), None) is not None


def priority_lines(args, reports: dict) -> list[str]:
    """The priority blocks' table: the full model and 6/1 at batch 1 per backend, from those blocks' own runs."""
    rows = [(b, s) for b in args.backends for s in args.sizes if next(_blocks(reports, b, s, True), None)]
    if not rows:
        return []
    lines = ["", "## Priority: the full model and 6/1 at batch 1 (each backend one interleaved run)", "",
             "| backend | model | 6/6 ms | 6/1 ms | 6/1 speed-up | 6/6 ms/token | 6/1 ms/token | 6/6 % of ceiling | "
             "6/1 % of ceiling | tokens = eager |", "|---|---|---|---|---|---|---|---|---|---|"]
    for b, s in rows:
        full, cut = (_row(reports, b, s, v, args.batch_sizes[0], True) for v in ("6/6", "6/1"))
        if full is None:
            continue
        cells = [f"{full['mean_ms']:.0f} ± {full['std_ms']:.0f}", f"{cut['mean_ms']:.0f} ± {cut['std_ms']:.0f}" if cut
                 else "n/a", f"{cut['speedup']:.2f}×" if cut else "n/a", f"{full['decode_ms_per_token']:.2f}",
                 f"{cut['decode_ms_per_token']:.2f}" if cut else "n/a", _pct(full.get("fraction_of_ceiling")),
                 _pct(cut.get("fraction_of_ceiling")) if cut else "n/a",
                 " / ".join(dict.fromkeys(_equal(r) for r in (full, cut) if r))]
        lines.append(f"| {b} | {s} | " + " | ".join(cells) + " |")
    lines += ["", "% of ceiling: the ms per token that reading one decode step's bytes (decoder weights, lm_head, "
                  "KV caches, at the backend's precision) takes at this machine's measured bandwidth, over the measured "
                  "ms per token (100% is the limit). tokens = eager: the compiled rows' tokens against their eager "
                  "path on one untimed call (bfloat16 kernels may flip a near-tie of random weights)."]
    return lines


def render(args, reports: dict, log: list[dict], notes: list[str], machine: str, description: str,
           seconds: float) -> str:
    sizes, bss = args.sizes, args.batch_sizes
    short = {s: s.removeprefix("flan-t5-") for s in sizes}
    lines = [
        f"# The paper's latency protocol on {machine}" + (" (smoke run)" if args.smoke else ""),
        "",
        f"Machine: {description}.",
        "",
        "Command: `python benchmarks/gpu.py " + " ".join(sys.argv[1:]) + f"` ({seconds / 60:.1f} min in all)",
        "",
        f"Protocol: random-weight {', '.join(sizes)} architectures, pruned in sixths with the paper's keep-maps; "
        f"source {args.source_length} tokens, exactly {args.new_tokens} new tokens (EOS suppressed), "
        f"{args.warmup} warm-up run(s), then the timed runs of the block table below. Each (backend, size) is one "
        "interleaved `run_bench` with a fresh worker per model; mean ± std ms per batch. No ROUGE: random weights, "
        "so the paper's R-2 and impact-on-quality columns have no counterpart here.",
        "",
        "Blocks, in priority order"
        + (f", within a budget of {args.budget_min:g} min" if args.budget_min else ", no time budget")
        + " (protocol: 7 runs; flan-t5-large and the lossless row cut to 3 up front; further cuts and skips are "
          "the budget's):",
        "",
        "| block | batch sizes | protocol runs | timed runs | estimated s | measured s | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in log:
        status = f"not run: {e['skipped']}" if "skipped" in e else \
            "cut for time" if e["runs_timed"] < e["runs"] else "as planned"
        estimated = f"{e['estimated_s']:.0f}" if "estimated_s" in e else "-"
        took = f"{e['seconds']:.0f}" if "seconds" in e else "-"
        lines.append(f"| {e['block']} | {','.join(map(str, e['batch_sizes']))} | {e['runs']} | "
                     f"{e.get('runs_timed', '-')} | {estimated} | {took} | {status} |")
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    lines += priority_lines(args, reports)
    backends = [b for b in args.backends if b != LOSSLESS and any(_has(reports, b, s) for s in sizes)]

    lines += ["", "## Table 2 layout: scale and latency (full models)", "",
              "| backend | model | params |" + "".join(f" BS {b} ms | impact |" for b in bss),
              "|---|---|---|" + "---|---|" * len(bss)]
    for b in backends:
        for s in sizes:
            if _row(reports, b, s, "6/6", bss[0]) is None:
                continue
            cells = []
            for bs in bss:
                r, small = _row(reports, b, s, "6/6", bs), _row(reports, b, sizes[0], "6/6", bs)
                cells += [f"{r['mean_ms']:.0f} ± {r['std_ms']:.0f}" if r else "n/a",
                          f"{r['mean_ms'] / small['mean_ms']:.2f}" if r and small else "n/a"]
            params = _row(reports, b, s, "6/6", bss[0])["params"]["total"] / 1e6
            lines.append(f"| {b} | {s} | {params:.1f}M | " + " | ".join(cells) + " |")
    lines += ["", f"Impact: latency relative to {sizes[0]} at the same batch size (the paper's Table 2)."]

    lines += ["", "## Tables 8 and 9 layout: speed-up at batch 1 vs the full model, per size", "",
              "| backend | enc/6 | dec/6 | pruned |" + "".join(f" {short[s]} |" for s in sizes),
              "|---|---|---|---|" + "---|" * len(sizes)]
    for b in backends:
        for enc, dec in args.variants:
            cells = []
            for s in sizes:
                r = _row(reports, b, s, f"{enc}/{dec}", bss[0])
                cells.append(f"{r['speedup']:.2f}× ({r['mean_ms']:.0f} ms)" if r else "n/a")
            lines.append(f"| {b} | {enc} | {dec} | {KIND[(enc, dec)]} | " + " | ".join(cells) + " |")

    for s in sizes:
        lines += ["", f"## Table 10 layout: speed-up vs batch size, {s}", "",
                  "| backend | enc/6 | dec/6 | pruned |" + "".join(f" BS {bs} |" for bs in bss),
                  "|---|---|---|---|" + "---|" * len(bss)]
        for b in backends:
            for enc, dec in args.variants:
                cells = [f"{r['speedup']:.2f}×" if (r := _row(reports, b, s, f"{enc}/{dec}", bs)) else "n/a"
                         for bs in bss]
                lines.append(f"| {b} | {enc} | {dec} | {KIND[(enc, dec)]} | " + " | ".join(cells) + " |")

    lines += ["", "## Prefill, per-token decode and the bandwidth limit", "",
              "| backend | model | variant | batch | prefill ms | decode ms/token | ceiling ms/token | % of ceiling | "
              "tokens = eager |", "|---|---|---|---|---|---|---|---|---|"]
    for b in backends:
        for s in sizes:
            for enc, dec in args.variants:
                for bs in bss:
                    if r := _row(reports, b, s, f"{enc}/{dec}", bs):
                        ceiling = r.get("ceiling_ms_per_token")
                        lines.append(f"| {b} | {s} | {enc}/{dec} | {bs} | {r['prefill_ms']:.0f} | "
                                     f"{r['decode_ms_per_token']:.2f} | {'-' if ceiling is None else f'{ceiling:.3g}'} | "
                                     f"{_pct(r.get('fraction_of_ceiling'))} | {_equal(r)} |")
    lines += ["", "The ceiling is the decode step's alone: prefill (the encoder over the source) is outside it."]

    lossless = {s: next((r["results"] for r in reports.values() if r["block"]["backend"] == LOSSLESS
                         and r["block"]["size"] == s), None) for s in sizes}
    if any(lossless.values()):
        lines += ["", "## Lossless mode at batch 1: the full model verifying drafts of its 6/1 variant", "",
                  "| model | full alone ms | assisted ms | speed-up | acceptance rate | tokens per full pass |",
                  "|---|---|---|---|---|---|"]
        for s in sizes:
            if lossless[s]:
                full, assisted = lossless[s]
                lines.append(f"| {s} | {full['mean_ms']:.0f} ± {full['std_ms']:.0f} | {assisted['mean_ms']:.0f} ± "
                             f"{assisted['std_ms']:.0f} | {assisted['speedup']:.2f}× | "
                             f"{assisted['acceptance_rate'] or 0:.1%} | {assisted['draft']['tokens_per_round'] or 0:.2f} |")
        lines += ["", "Random weights: the draft and the full model rarely agree, so this times the mechanism "
                      "(draft steps plus one verification pass per round) at a near-zero acceptance rate; it is no "
                      "estimate of the speed-up of a trained draft (see benchmarks/lossless.py for that, on CPU)."]
    return "\n".join(lines) + "\n"


def summary(args, reports: dict, notes: list[str]) -> str:
    """A short plain-text table, printed last: per backend and size, the full model and two speed-ups."""
    bs = args.batch_sizes[0]
    head = f"{'backend':<18}{'size':<15}{'6/6 ms':>10}{'% ceil':>8}{'6/1 ×':>8}{'1/1 ×':>8}"
    out = [f"summary (batch {bs}; × = speed-up over 6/6; % ceil: 6/6's decode against the bandwidth limit)", head,
           "-" * len(head)]
    for b in args.backends:
        for s in args.sizes:
            full, one, both = (_row(reports, b, s, v, bs) for v in ("6/6", "6/1", "1/1"))
            if b == LOSSLESS and full:
                out.append(f"{b:<18}{s:<15}{full['mean_ms']:>10.0f}{_pct(full.get('fraction_of_ceiling')):>8}"
                           f"{_row(reports, b, s, '6/6+6/1', 1)['speedup']:>7.2f}× (assisted by 6/1)")
            elif full:
                out.append(f"{b:<18}{s:<15}{full['mean_ms']:>10.0f}{_pct(full.get('fraction_of_ceiling')):>8}"
                           + "".join(f"{c['speedup']:>7.2f}×" if c else f"{'n/a':>8}" for c in (one, both)))
    return "\n".join(out + [f"note: {n}" for n in notes])

