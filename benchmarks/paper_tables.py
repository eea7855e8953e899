"""The shape of the paper's speed tables (Table 2 and Tables 8-10), offline, on random weights.

    python benchmarks/paper_tables.py                       # CPU protocol below, ~30 min on 2 cores
    python benchmarks/paper_tables.py --device cuda --source-length 1024 --new-tokens 256 --batch-sizes 1,8,16 --runs 7

FLAN-T5-small and -base architectures with random weights (at a fixed generated length the
weights' values do not change the timing), pruned in sixths with the paper's keep-maps:
decoder-only (6/3, 6/1), encoder-only (3/6, 1/6) and symmetric (3/3, 1/1), against the full
model (6/6). Each (size, backend) is one interleaved `asymprune bench` run. Backends: HF
float32, HF bfloat16 where the hardware supports it, and CTranslate2 int8.

Writes benchmarks/results/<machine>.md (and .json with every run) describing the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_timing_args, bf16_supported, machine_description, machine_name, make_variants  # noqa: E402

from asymprune.bench import BenchConfig, run_bench  # noqa: E402

VARIANTS = [(6, 6), (6, 3), (6, 1), (3, 6), (1, 6), (3, 3), (1, 1)]
KIND = {(6, 6): "full", (6, 3): "decoder", (6, 1): "decoder", (3, 6): "encoder", (1, 6): "encoder",
        (3, 3): "both", (1, 1): "both"}
CONFIGS = {  # name: BenchConfig overrides
    "hf-fp32": dict(backend="hf", dtype="float32"),
    "hf-bf16": dict(backend="hf", dtype="bfloat16"),
    "ct2-int8": dict(backend="ct2", ct2_compute_type="int8"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="flan-t5-small,flan-t5-base")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    add_timing_args(ap)
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/<machine>.md")
    ap.add_argument("--reuse", type=Path, default=None,
                    help="JSON of an earlier run: its sizes not in --sizes are reported from it, not re-measured")
    args = ap.parse_args()
    out = args.out or Path(__file__).parent / "results" / f"{machine_name(args.device)}.md"
    sizes, batch_sizes = args.sizes.split(","), [int(b) for b in args.batch_sizes.split(",")]
    configs = [c for c in args.configs.split(",") if c != "hf-bf16" or bf16_supported(args.device)]
    skipped = [c for c in args.configs.split(",") if c not in configs]

    reports = {}  # (config, size) -> report
    if args.reuse:  # e.g. re-measure one size whose run was disturbed, keep the other
        for key, report in json.loads(args.reuse.read_text()).items():
            config, size = key.split("/", 1)
            if config in configs and size not in sizes:
                reports[(config, size)] = report
    measured = list(sizes)
    order = ["flan-t5-small", "flan-t5-base", "flan-t5-large"]
    sizes = sorted({s for _, s in reports} | set(sizes), key=lambda s: order.index(s) if s in order else len(order))
    with tempfile.TemporaryDirectory() as tmp:
        for size in measured:
            paths = make_variants(size, VARIANTS, Path(tmp))
            for config in configs:
                cfg = BenchConfig(batch_sizes=batch_sizes, source_length=args.source_length,
                                  new_tokens=args.new_tokens, runs=args.runs, warmup=args.warmup,
                                  threads=args.threads, device=args.device, **CONFIGS[config])
                print(f"[{size} {config}] benchmarking {len(paths)} models ...", flush=True)
                report = run_bench(list(paths.values()), cfg)
                for r in report["results"]:  # name rows by variant, not by temporary path
                    r["model"] = next(v for v, p in paths.items() if p == r["model"])
                reports[(config, size)] = report

    def row(config, size, variant, bs):
        return next(r for r in reports[(config, size)]["results"] if r["model"] == variant and r["batch_size"] == bs)

    env = next(iter(reports.values()))["env"]
    lines = [
        f"# Paper speed tables on {machine_name(args.device)}",
        "",
        f"Machine: {machine_description(args.device)}; {env['threads']} threads.",
        "",
        "Command: `python benchmarks/paper_tables.py " + " ".join(sys.argv[1:]) + "`"
        + (f" (sizes not measured by this command are reported from {args.reuse.name}, an earlier run of this "
           "script on the same machine)" if args.reuse else ""),
        "",
        f"Protocol: random-weight FLAN-T5 architectures, source {args.source_length} tokens, exactly "
        f"{args.new_tokens} new tokens (EOS suppressed), {args.runs} interleaved runs after {args.warmup} warm-up, "
        "mean ± std in ms per batch. Variants are (encoder, decoder) in sixths with the paper's keep-maps. "
        "The paper's GPU protocol is source 1024, up to 256 tokens, 7 runs; on 2 CPU cores that would take hours, "
        "so the CPU run is reduced; speed-ups are ratios within one interleaved run.",
    ]
    if skipped:
        lines += ["", f"Skipped: {', '.join(skipped)} (no hardware bfloat16 support here)."]
    lines += ["", "## Table 2 shape: scale and latency (full models)", ""]
    head = "| backend | model | params |" + "".join(f" BS {b} ms | impact |" for b in batch_sizes)
    lines += [head, "|---|---|---|" + "---|---|" * len(batch_sizes)]
    for config in configs:
        for size in sizes:
            cells = []
            for bs in batch_sizes:
                r, small = row(config, size, "6/6", bs), row(config, sizes[0], "6/6", bs)
                cells += [f"{r['mean_ms']:.0f} ± {r['std_ms']:.0f}", f"{r['mean_ms'] / small['mean_ms']:.2f}"]
            params = row(config, size, "6/6", batch_sizes[0])["params"]["total"] / 1e6
            lines.append(f"| {config} | {size} | {params:.1f}M | " + " | ".join(cells) + " |")
    lines += ["", "Impact: latency relative to the smallest model (as in the paper's Table 2)."]

    for config in configs:
        lines += ["", f"## Tables 8–10 shape: speed-up vs the full model, {config}", ""]
        head = "| enc/6 | dec/6 | pruned |" + "".join(f" {s.removeprefix('flan-t5-')} BS {b} |"
                                                      for s in sizes for b in batch_sizes)
        lines += [head, "|---|---|---|" + "---|" * (len(sizes) * len(batch_sizes))]
        for enc, dec in VARIANTS:
            cells = []
            for size in sizes:
                for bs in batch_sizes:
                    r = row(config, size, f"{enc}/{dec}", bs)
                    cells.append(f"{r['speedup']:.2f}× ({r['mean_ms']:.0f} ms)")
            lines.append(f"| {enc} | {dec} | {KIND[(enc, dec)]} | " + " | ".join(cells) + " |")

    lines += ["", "## Per-token decode and prefill (batch 1)", "",
              "| backend | model | variant | prefill ms | decode ms/token |", "|---|---|---|---|---|"]
    for config in configs:
        for size in sizes:
            for enc, dec in VARIANTS:
                r = row(config, size, f"{enc}/{dec}", batch_sizes[0])
                lines.append(f"| {config} | {size} | {enc}/{dec} | {r['prefill_ms']:.0f} | "
                             f"{r['decode_ms_per_token']:.1f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({f"{c}/{s}": rep for (c, s), rep in reports.items()}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
