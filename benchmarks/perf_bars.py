"""The issue's performance bars for `asymprune bench`, measured and written to a markdown file.

    python benchmarks/perf_bars.py --threads 2          # ~5 minutes on 2 CPU cores

Setup: flan-t5-small architecture (random weights), source 512 tokens, exactly 64 new tokens,
batch 1. Bars:
1. harness overhead < 3% vs a bare `model.generate` loop on the same inputs;
2. decoder pruning 8/8 -> 8/2 gives >= 1.45x at batch 1 (HF backend);
3. CTranslate2 int8 on 8/2 is >= 5x faster than HF fp32 8/8, with ct2 float32 greedy tokens equal to HF's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_description, machine_name, make_variants  # noqa: E402

from asymprune.bench import BenchConfig, run_bench  # noqa: E402

BARE = r"""
import sys, time, json, torch
from transformers import AutoModelForSeq2SeqLM
path, threads, runs, warmup, src_len, new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()
gen = torch.Generator().manual_seed(0)  # the same ids as asymprune bench with --seed 0
ids = torch.randint(5, min(model.config.vocab_size, 32000), (1, src_len - 1), generator=gen)
ids = torch.cat([ids, torch.tensor([[model.config.eos_token_id]])], dim=1)
times = []
with torch.inference_mode():
    for i in range(warmup + runs):
        t = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new, do_sample=False)
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1000)
print(json.dumps(times))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="alternations of bare loop and harness")
    ap.add_argument("--out", type=Path, default=None, help="markdown file (default benchmarks/results/perf-bars-<machine>.md)")
    args = ap.parse_args()
    out = args.out or Path(__file__).parent / "results" / f"perf-bars-{machine_name()}.md"
    common = dict(batch_sizes=[1], source_length=512, new_tokens=64, runs=args.runs, warmup=args.warmup,
                  threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_variants("flan-t5-small", [(6, 6), (6, 1)], Path(tmp))  # 1/6 of 8 layers = 2: [0, 7]
        full, pruned = paths["6/6"], paths["6/1"]
        hf = run_bench([full, pruned], BenchConfig(**common))
        # Overhead: the harness and a bare generate() loop in a fresh process, alternated over
        # several rounds so drift hits both; medians resist the odd slow run.
        bare, harness = [], []
        for _ in range(args.rounds):
            bare += json.loads(subprocess.run(
                [sys.executable, "-c", BARE, full, str(args.threads), str(args.runs), str(args.warmup), "512", "64"],
                capture_output=True, text=True, check=True).stdout)
            harness += run_bench([full], BenchConfig(**common))["results"][0]["runs_ms"]
        ct2 = run_bench([pruned], BenchConfig(**common, backend="ct2", ct2_compute_type="int8"))
        ct2_f32 = run_bench([pruned], BenchConfig(**{**common, "runs": 1, "warmup": 0}, backend="ct2",
                                                  ct2_compute_type="float32"))

    full_r, pruned_r = hf["results"]
    harness_ms, bare_ms = statistics.median(harness), statistics.median(bare)
    overhead = 100 * (harness_ms / bare_ms - 1)
    speedup = pruned_r["speedup"]
    ct2_r = ct2["results"][0]
    ct2_speedup = full_r["mean_ms"] / ct2_r["mean_ms"]
    check = ct2_f32["results"][0]["ct2_check"]
    rows = [
        ("harness overhead vs bare generate loop (medians)", f"{overhead:+.1f}% ({harness_ms:.0f} vs {bare_ms:.0f} ms)",
         "< 3%", abs(overhead) < 3),
        ("HF fp32 8/2 vs 8/8 speed-up, batch 1", f"{speedup:.2f}× ({pruned_r['mean_ms']:.0f} vs "
         f"{full_r['mean_ms']:.0f} ms)", "≥ 1.45×", speedup >= 1.45),
        ("ct2 int8 8/2 vs HF fp32 8/8, batch 1", f"{ct2_speedup:.2f}× ({ct2_r['mean_ms']:.0f} vs "
         f"{full_r['mean_ms']:.0f} ms)", "≥ 5×", ct2_speedup >= 5),
        ("ct2 float32 greedy tokens = HF (8/2)", f"tokens {check['tokens_match']}, max |Δ log-prob| "
         f"{check['max_logprob_diff']:.1e}", "equal", check["tokens_match"]),
    ]
    lines = [
        f"# Performance bars on {machine_name()}",
        "",
        f"Machine: {machine_description()}.",
        "",
        f"Command: `python benchmarks/perf_bars.py --threads {args.threads} --runs {args.runs} "
        f"--warmup {args.warmup} --rounds {args.rounds}`. flan-t5-small architecture (random weights), source 512 tokens, exactly "
        f"64 new tokens, batch 1, {args.threads} threads, {args.runs} runs after {args.warmup} warm-ups.",
        "",
        "| bar | measured | target | met |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {'yes' if d else '**no**'} |" for a, b, c, d in rows],
        "",
        f"Prefill (encoder + first token) 8/8: {full_r['prefill_ms']:.0f} ms; decode 8/8: "
        f"{full_r['decode_ms_per_token']:.1f} ms/token, 8/2: {pruned_r['decode_ms_per_token']:.1f} ms/token, "
        f"ct2 int8 8/2: {ct2_r['decode_ms_per_token']:.1f} ms/token.",
        "",
        "Bare-loop runs (ms): " + ", ".join(f"{t:.0f}" for t in bare) + ".",
        "Harness runs (ms): " + ", ".join(f"{t:.0f}" for t in harness) + ".",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
