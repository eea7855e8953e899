"""results/deploy.md from benchmarks/deploy.py's result: one table per run and batch size, then what holds the rest."""

from __future__ import annotations

from asymprune.bench import speedup_text
from asymprune.bench.speedup import MIN_ROUNDS

TITLES = {"hf-fp32": "HF float32", "ct2-int8": "CTranslate2 int8"}
GOAL = 10.0  # issue 18: >= 10x over HF float32 of the full flan-t5-small at batch 1


def _f(x, spec="{:.1f}") -> str:
    return "–" if x is None or x != x else spec.format(x)


def _pct(x) -> str:
    return _f(None if x is None else 100 * x, "{:.1f}%")


def split(row: dict) -> dict:
    """Where a call's time goes: prefill (encoder and first step), decode at the bandwidth limit (the ceiling per
    step), decode above it (per-step overhead), as fractions of the mean call that bench's decode ms per token is
    derived from; the lm_head's share of a step's bytes; and the speed-up the row would reach with free prefill,
    or with every step at its ceiling (its measured speed-up scaled by the time saved)."""
    call, prefill, ceiling = row["mean_ms"], row["prefill_ms"], row["ceiling_ms_per_token"]
    steps = max(row["decoder_steps_mean"] - 1, 1)  # bench's divisor: the steps after the first
    parts = row["ceiling"]["bytes_by_part"] if row.get("ceiling") else None
    return {"prefill": prefill / call,
            "limit": steps * ceiling / call if ceiling else None,
            "overhead": (call - prefill - steps * ceiling) / call if ceiling else None,
            "overhead_ms": row["decode_ms_per_token"] - ceiling if ceiling else None,
            "lm_head": parts["lm_head"] / row["bytes_per_step"] if parts else None,
            "no_prefill": row["speedup"] * call / (call - prefill) if call > prefill else None,
            "at_ceiling": row["speedup"] * call / (prefill + steps * ceiling) if ceiling else None}


def _name(row: dict) -> str:
    return f"{TITLES[row['setup']]} {row['variant']}, {row['vocab_rows']} rows"


def _runs(result: dict):
    """(title, rows) per run and batch size, the baseline first in each."""
    for run in result["runs"]:
        rows = run["report"]["results"]
        for bs in dict.fromkeys(r["batch_size"] for r in rows):
            title = f"{run['arch']}, source {run['source_length']}, {run['new_tokens']} new tokens, batch {bs}"
            yield run, title, [r for r in rows if r["batch_size"] == bs]


def timing_table(rows: list[dict]) -> list[str]:
    lines = ["| enc/dec | vocab rows | backend | ms per call (median) | speed-up vs HF float32 full [95% CI] | "
             "prefill ms | decode ms/token | ceiling ms/token | % of ceiling |", "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        speed = "1.00× (baseline)" if i == 0 else speedup_text(r["speedup"], r["speedup_low"], r["speedup_high"])
        lines.append(f"| {r['variant']} | {r['vocab_rows']} | {TITLES[r['setup']]} | {r['median_ms']:.1f} | {speed} | "
                     f"{r['prefill_ms']:.1f} | {r['decode_ms_per_token']:.2f} | {_f(r['ceiling_ms_per_token'], '{:.3f}')}"
                     f" | {_pct(r['fraction_of_ceiling'])} |")
    return lines


def rest_table(rows: list[dict]) -> list[str]:
    lines = ["| enc/dec | vocab rows | backend | prefill | decode at the limit | decode above it | overhead ms/step | "
             "lm_head share of step bytes | speed-up with free prefill | with decode at the ceiling |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = split(r)
        lines.append(f"| {r['variant']} | {r['vocab_rows']} | {TITLES[r['setup']]} | {_pct(s['prefill'])} | "
                     f"{_pct(s['limit'])} | {_pct(s['overhead'])} | {_f(s['overhead_ms'], '{:.3f}')} | "
                     f"{_pct(s['lm_head'])} | {_f(s['no_prefill'], '{:.1f}×')} | {_f(s['at_ceiling'], '{:.1f}×')} |")
    return lines


def fastest_sentence(run: dict, rows: list[dict]) -> str:
    r = max(rows[1:] or rows, key=lambda r: r["speedup"])
    s = split(r)
    text = (f"Fastest: {_name(r)}, {speedup_text(r['speedup'], r['speedup_low'], r['speedup_high'])}. Of its "
            f"{r['mean_ms']:.0f} ms call, {_pct(s['prefill'])} is prefill (a {r['encoder']}-layer encoder over "
            f"{run['source_length']} tokens, and the first step)")
    if s["limit"] is not None:
        text += (f", {_pct(s['limit'])} decode at the bandwidth limit and {_pct(s['overhead'])} decode above it "
                 f"({s['overhead_ms']:.2f} ms per step over a {r['ceiling_ms_per_token']:.3f} ms ceiling); the lm_head "
                 f"is {_pct(s['lm_head'])} of the bytes a step reads. Free prefill would take it to "
                 f"{_f(s['no_prefill'], '{:.1f}×')}, decode at the ceiling to {_f(s['at_ceiling'], '{:.1f}×')}")
    return text + "."


def summary(result: dict) -> list[str]:
    lines = []
    for run, title, rows in _runs(result):
        best = max(rows[1:] or rows, key=lambda r: r["speedup"])
        goal = ""
        if run["arch"] == "flan-t5-small" and best["batch_size"] == 1:
            met = (best["speedup_low"] or best["speedup"]) >= GOAL
            goal = f" (goal ≥ {GOAL:.0f}×: {'met' if met else 'not met'})"
        lines.append(f"- {title}: best {_name(best)}, "
                     f"{speedup_text(best['speedup'], best['speedup_low'], best['speedup_high'])}{goal}.")
    return lines


def render(result: dict) -> str:
    first = result["runs"][0]["report"]
    p = result["protocol"]
    lines = [f"# A deployed CPU path on {result['machine_name']}", "",
             f"Machine: {result['machine']}; {first['env']['threads']} threads. Load average (1, 5, 15 min) "
             f"{', '.join(f'{x:.2f}' for x in result['load_average_start'])} at the start, "
             f"{', '.join(f'{x:.2f}' for x in result['load_average_end'])} at the end; "
             f"{result['seconds'] / 60:.1f} min.", "",
             f"Command: `{result['command']}`", "",
             "Protocol: random-weight architectures (`benchmarks/common.build_variant`: the paper's keep-maps, "
             "`spread` where it has none; the first N vocabulary rows kept, `asymprune.vocab.shrink_model`). "
             "One interleaved `run_bench` per architecture and setting: every model below in its own worker, "
             f"A B C ... in turn, {p['runs']} timed rounds after {p['warmup']} warm-up, exactly the new tokens asked "
             "for (EOS suppressed). Speed-ups are ratios of medians against the first row, HF float32 of the full "
             f"model, in the same run, with paired bootstrap 95% intervals over the rounds (none under {MIN_ROUNDS} rounds). "
             "Prefill is the encoder and the first token; decode ms/token is the rest of the mean call over the "
             "steps after the first. The ceiling is bench's: the bytes one decode step reads at the row's precision "
             "(int8 for CTranslate2) over this machine's measured bandwidth; % of ceiling is ceiling / measured.",
             "", "## Summary", "", *summary(result)]
    for run, title, rows in _runs(result):
        lines += ["", f"## {title}", "", *timing_table(rows)]
    lines += ["", "## What holds the rest", "",
              "Each call split three ways (shares of the mean call): prefill; decode at the limit (steps × the "
              "ceiling); decode above it (the per-step overhead: kernel launches, Python, sampling, what the "
              "bandwidth does not explain). The lm_head share says how much of a step's bytes a smaller vocabulary "
              "can remove. The last two columns are the row's speed-up if its prefill cost nothing, or if every "
              "decode step ran at its ceiling: the lever each leaves."]
    for run, title, rows in _runs(result):
        lines += ["", f"### {title}", "", *rest_table(rows), "", fastest_sentence(run, rows)]
    notes = dict.fromkeys(w for run in result["runs"] for r in run["report"]["results"]
                          for w in ((r.get("ceiling") or {}).get("warnings") or [r.get("ceiling_note")]) if w)
    if notes:
        lines += ["", "Notes from the ceiling:", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
