"""Does `--compile` (static KV cache + torch.compile) move HF closer to the limit? Eager vs compiled, interleaved.

    python benchmarks/compiled.py --model asymprune/assets/t5-tiny-synthetic --threads 2
    python benchmarks/compiled.py --model flan-t5-small --source-length 512 --new-tokens 64 --runs 5 \
        --out benchmarks/results/compiled-flan-t5-small.md
    python benchmarks/compiled.py --device cuda --dtype bfloat16 --model flan-t5-large   # CUDA graphs
    python benchmarks/compiled.py --smoke --out /tmp/r    # CPU, t5-tiny, tiny lengths: the script runs

One `asymprune.bench.run_bench` call times the model twice: eager (`hf DTYPE`) and compiled (`hf DTYPE
compiled`: asymprune.compiled, the path `bench --compile` and `generate --compile` use), each in
its own worker, on the same seeded source ids with exactly --new-tokens tokens (EOS suppressed),
interleaved A B A B; the speed-up is the ratio of medians with its paired 95% interval. Before the
warm-up the compiled worker generates one call per batch size both ways, untimed: that compiles,
and checks its tokens equal the eager path's. Each row carries its decode step's ceiling (the ms
per token that reading the step's bytes takes at this machine's bandwidth) and the fraction of it
the measured decode reaches, so the table answers whether compiling moves HF towards the limit.
Writes benchmarks/results/compiled.md (or --out FILE.md) and the bench report beside it (.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_description  # noqa: E402


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="asymprune/assets/t5-tiny-synthetic", help="directory or preset")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--source-length", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per path and batch size, after the check")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--smoke", action="store_true", help="t5-tiny, source 16, 4 new tokens, batch 1, 1 run")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compiled.md",
                    help="the .md file, or a folder for compiled-smoke.md")
    args = ap.parse_args(argv)
    if args.smoke:
        args.model, args.batch_sizes, args.source_length, args.new_tokens = "t5-tiny", "1", 16, 4
        args.runs, args.warmup, args.device = 1, 0, "cpu"
    if args.out.suffix != ".md":
        args.out = args.out / ("compiled-smoke.md" if args.smoke else "compiled.md")
    args.batch_sizes = [int(x) for x in args.batch_sizes.split(",") if x]
    return args


def _pct(fraction) -> str:
    from asymprune.bench.describe import percent_of_ceiling
    return percent_of_ceiling(fraction)


def render(args, report: dict, seconds: float, argv) -> str:
    from asymprune.bench.describe import ceiling_warnings, token_check_warnings
    from asymprune.bench.speedup import speedup_text
    rows = report["results"]
    env = report["env"]
    cmd = "python benchmarks/compiled.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"# The compiled HF path (`--compile`) vs eager, {args.device}", "",
             f"Machine: {machine_description(args.device)}; {env['threads']} threads.", "",
             f"Command: `{cmd.strip()}` ({seconds:.0f} s in all)", "",
             f"Model `{args.model}`, HF {args.dtype}; source {args.source_length} tokens, exactly {args.new_tokens} "
             f"new tokens, greedy. One interleaved `run_bench`: eager and compiled in their own workers; the "
             f"compiled worker's tokens are checked against its eager path on one untimed call per batch size "
             f"before the warm-up (that call compiles), then {args.warmup} warm-up calls and {args.runs} timed "
             "calls per path, alternating; medians, speed-up with its paired 95% interval. Ceiling: the ms per "
             "token that reading one decode step's bytes (decoder weights, lm_head, caches) takes at this "
             "machine's bandwidth; % of ceiling: the fraction of it the measured decode reaches (100% is the "
             "limit).", "",
             "| batch | eager ms | compiled ms | speed-up | eager ms/token | compiled ms/token | ceiling ms/token "
             "| eager % of ceiling | compiled % of ceiling | tokens equal |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for bs in args.batch_sizes:
        eager, compiled = (next(r for r in rows if r["batch_size"] == bs and r["model"].endswith(" compiled)") == c)
                           for c in (False, True))
        equal = {True: "yes", False: f"NO (from token {compiled.get('tokens_first_difference')})"}
        lines.append(f"| {bs} | {eager['median_ms']:.1f} | {compiled['median_ms']:.1f} | "
                     f"{speedup_text(compiled['speedup'], compiled['speedup_low'], compiled['speedup_high'])} | "
                     f"{eager['decode_ms_per_token']:.2f} | {compiled['decode_ms_per_token']:.2f} | "
                     f"{compiled['ceiling_ms_per_token'] or 0:.3g} | {_pct(eager['fraction_of_ceiling'])} | "
                     f"{_pct(compiled['fraction_of_ceiling'])} | {equal.get(compiled.get('tokens_equal_eager'), '?')} |")
    warnings = ceiling_warnings(report) + token_check_warnings(report)
    if warnings:
        lines += ["", "Warnings:", *[f"- {w}" for w in warnings]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = _args(argv)
    from asymprune.bench import BenchConfig, run_bench
    from asymprune.bench.backends import Setup
    from asymprune.console import quiet_transformers
    quiet_transformers()

    cfg = BenchConfig(batch_sizes=args.batch_sizes, source_length=args.source_length, new_tokens=args.new_tokens,
                      runs=args.runs, warmup=args.warmup, device=args.device, dtype=args.dtype, threads=args.threads)
    started = time.perf_counter()
    report = run_bench([args.model, (args.model, Setup(backend="hf", dtype=args.dtype, compile=True))], cfg)
    text = render(args, report, time.perf_counter() - started, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str))
    print(text)
    print(f"wrote {args.out} and .json")


if __name__ == "__main__":
    main()
