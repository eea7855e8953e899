"""Check `asymprune plan` against measurement, and write benchmarks/results/planner.md.

    python benchmarks/planner_check.py --threads 2     # about 12 minutes on 2 CPU cores (estimate)

The estimate is worked out from perf_bars' timings of flan-t5-small on a 2-core EPYC (8/8 at
batch 1: about 2.5 s per generation), not timed: fitting times 3 shapes and checking times 8
models, each at batch 1 and 8, (runs + warm-up) times, plus one untimed peak-memory run each.

Setup: flan-t5-small architecture (random weights, 8/8 layers), source 512 tokens, exactly 64
new tokens, batch sizes 1 and 8. The planner fits its cost model from its own three
measurements (8/8, 8/1, 1/8); then other variants, never seen by the fit, are timed in one
interleaved run_bench with the full model as baseline, and their measured speed-ups are
compared with the predicted ones. Bar: mean absolute error of the speed-ups under 10%.

Smoke run (a minute): python benchmarks/planner_check.py --model t5-tiny --variants 6/3,3/6,3/3 \\
    --source-length 32 --new-tokens 8 --runs 1 --warmup 0 --out /tmp/planner.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_description, machine_name  # noqa: E402

from asymprune.bench import BenchConfig, run_bench  # noqa: E402
from asymprune.grid import parse_grid  # noqa: E402
from asymprune.plan import build_shapes, coefficient_lines, measure, predict  # noqa: E402

BAR = 10.0  # % mean absolute error of predicted speed-ups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="flan-t5-small", help="preset, directory or hub id")
    ap.add_argument("--variants", default="8/4,8/2,4/8,2/8,4/4,2/2,6/6",
                    help="layer counts ENC/DEC to check (not sixths)")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--source-length", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "planner.md")
    args = ap.parse_args()
    from asymprune.console import quiet_transformers
    quiet_transformers()
    cfg = BenchConfig(batch_sizes=[int(b) for b in args.batch_sizes.split(",")], source_length=args.source_length,
                      new_tokens=args.new_tokens, runs=args.runs, warmup=args.warmup, threads=args.threads,
                      seed=args.seed)
    grid = ",".join(f"{v.split('/')[0]}L/{v.split('/')[1]}L" for v in args.variants.split(","))

    fitted = measure(args.model, cfg)  # validates the settings, then times full, E/1 and 1/D
    shapes = parse_grid(grid, args.model, fitted["layers"])
    full = (fitted["layers"]["encoder"], fitted["layers"]["decoder"])
    with tempfile.TemporaryDirectory(prefix="planner-check-") as tmp:
        paths = build_shapes(args.model, [full] + [(e, d) for _, e, d in shapes], Path(tmp), args.seed)
        checked = run_bench(paths, cfg)  # one interleaved run; the full model is the baseline
    measured = {(r["layers"]["encoder"], r["layers"]["decoder"], r["batch_size"]): r for r in checked["results"]}
    predicted = predict(fitted, shapes)

    rows, errors = [], []
    for p in predicted:
        m = measured[(p["encoder_layers"], p["decoder_layers"], p["batch_size"])]
        # A fit that predicts no positive latency counts as 100% wrong.
        err = abs(p["speedup"] - m["speedup"]) / m["speedup"] * 100 if p["speedup"] is not None else 100.0
        errors.append(err)
        guess = "n/a" if p["speedup"] is None else f"{p['speedup']:.2f}×"
        rows.append(f"| {p['encoder_layers']}/{p['decoder_layers']} | {p['batch_size']} | {m['mean_ms']:.0f} ± "
                    f"{m['std_ms']:.0f} | {p['ms']:.0f} | {m['speedup']:.2f}× | {guess} | {err:.1f}% |")
    mae = statistics.fmean(errors)
    fit_rows = [f"| {r['layers']['encoder']}/{r['layers']['decoder']} | {r['batch_size']} | {r['mean_ms']:.0f} ± "
                f"{r['std_ms']:.0f} | {r['fitted_ms']:.0f} | {r['prefill_ms']:.0f} | {r['decode_ms_per_token']:.1f} |"
                for r in fitted["measurements"]]
    timed = dict.fromkeys(f"{m['layers']['encoder']}/{m['layers']['decoder']}" for m in fitted["measurements"])
    command = (f"python benchmarks/planner_check.py --model {args.model} --variants {args.variants} "
               f"--batch-sizes {args.batch_sizes} --source-length {args.source_length} --new-tokens {args.new_tokens} "
               f"--threads {args.threads} --runs {args.runs} --warmup {args.warmup} --seed {args.seed}")
    lines = [
        f"# Planner vs measurement on {machine_name()}",
        "",
        f"Machine: {machine_description()}.",
        "",
        f"Command: `{command}`. {args.model} (random weights, {full[0]}/{full[1]} layers), hf float32 on CPU, source "
        f"{args.source_length} tokens, exactly {args.new_tokens} new tokens, {args.threads} threads, {args.runs} runs "
        f"after {args.warmup} warm-up(s) per model and batch size.",
        "",
        f"**Mean absolute error of predicted speed-ups: {mae:.1f}%** over {len(errors)} variant × batch-size "
        f"pairs (bar: < {BAR:g}%: {'met' if mae < BAR else '**not met**'}).",
        "",
        "## Fit",
        "",
        f"The planner timed {', '.join(timed)} in one interleaved run and fitted, per batch size "
        "(ms; enc, dec: layers kept):",
        "",
        *[f"- {line}" for line in coefficient_lines(fitted)],
        "",
        "| measured shape | batch | measured ms | fitted ms | prefill ms | decode ms/token |",
        "|---|---|---|---|---|---|",
        *fit_rows,
        "",
        "## Check",
        "",
        "Variants the fit never saw, timed in a second interleaved run with the full model as baseline; "
        "speed-up = full / variant, measured within that run and predicted from the fit.",
        "",
        "| variant (enc/dec) | batch | measured ms | predicted ms | measured speed-up | predicted speed-up | "
        "abs. error |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Full model in the check run: " + ", ".join(
            f"batch {bs}: {measured[(*full, bs)]['mean_ms']:.0f} ms" for bs in cfg.batch_sizes) + ".",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
