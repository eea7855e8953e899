"""Speed-up of a domain vocabulary on top of decoder pruning, offline, on random weights.

    python benchmarks/vocab.py                       # the CPU protocol below -> benchmarks/results/vocab.md (+ .json)
    python benchmarks/vocab.py --smoke --out /tmp/vocab-smoke.md   # seconds: a tiny model, end to end

Models: the flan-t5-small and flan-t5-base architectures with the full encoder and the decoder
at full depth, 2 and 1 layers (8/8, 8/2, 8/1 on small; 12/12, 12/2, 12/1 on base; the paper's
keep-maps, `spread` where it has none), each with the shared embedding and the lm_head cut to
32128 (full), 16000, 8000 and 4000 rows. Which rows are kept does not change the timing, so
the first N are kept, with `asymprune.vocab.shrink_model` (what `asymprune vocab` runs).

Backends: HF float32 and CTranslate2 int8. Each backend is one interleaved `run_bench` over
every model (each in its own worker process, A B C ... A B C ...), so drift hits them alike;
`--per-architecture` splits it into one run per architecture and backend, for machines with
less memory (all 24 float32 models at once take about 18 GB). The temporary models take about
10 GB of disk.

Writes the markdown and a JSON with every run; speed-ups are ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_timing_args, build_variant, machine_description, machine_name  # noqa: E402

from asymprune.bench import BenchConfig, run_bench  # noqa: E402

BACKENDS = {  # name: (label, BenchConfig overrides)
    "hf-fp32": ("HF float32", dict(backend="hf", dtype="float32")),
    "ct2-int8": ("CTranslate2 int8", dict(backend="ct2", ct2_compute_type="int8")),
}
SMOKE = dict(archs="t5-tiny-2-2", sizes="full,300", decoder_layers="1", batch_sizes="1", source_length=16,
             new_tokens=4, runs=1, warmup=0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="flan-t5-small,flan-t5-base")
    ap.add_argument("--sizes", default="full,16000,8000,4000", help="vocabulary rows kept; full: all")
    ap.add_argument("--decoder-layers", default="full,2,1")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    add_timing_args(ap)
    ap.add_argument("--per-architecture", action="store_true", help="one interleaved run per architecture")
    ap.add_argument("--smoke", action="store_true", help="a tiny model and settings: checks the script in seconds")
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/vocab.md")
    args = ap.parse_args(argv)
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    out = args.out or Path(__file__).parent / "results" / "vocab.md"
    archs, sizes, decoders = args.archs.split(","), args.sizes.split(","), args.decoder_layers.split(",")
    batch_sizes, backends = [int(b) for b in args.batch_sizes.split(",")], args.backends.split(",")

    reports = {}  # (backend, group) -> report; group: "all" or an architecture
    names = {}  # model path -> (arch, variant, rows)
    with tempfile.TemporaryDirectory(prefix="asymprune-vocab-bench-") as tmp:
        for arch in archs:
            for dec in decoders:
                for size in sizes:
                    label, path = build_variant(arch, Path(tmp), decoder=dec, rows=size)
                    rows = json.loads((Path(path) / "config.json").read_text())["vocab_size"]
                    names[path] = (arch, label, rows)
        groups = {a: [p for p, n in names.items() if n[0] == a] for a in archs} if args.per_architecture \
            else {"all": list(names)}
        for backend in backends:
            for group, paths in groups.items():
                cfg = BenchConfig(batch_sizes=batch_sizes, source_length=args.source_length,
                                  new_tokens=args.new_tokens, runs=args.runs, warmup=args.warmup,
                                  threads=args.threads, device=args.device, **BACKENDS[backend][1])
                print(f"[{backend} {group}] benchmarking {len(paths)} models ...", flush=True)
                report = run_bench(paths, cfg)
                for r in report["results"]:
                    r["arch"], r["variant"], r["rows"] = names[r["model"]]
                reports[(backend, group)] = report
    lines = render(reports, args, archs, batch_sizes, backends)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({f"{b}/{g}": r for (b, g), r in reports.items()}, indent=1))
    print("\n".join(lines))


def render(reports: dict, args, archs: list[str], batch_sizes: list[int], backends: list[str]) -> list[str]:
    results = [(b, r) for (b, _), rep in reports.items() for r in rep["results"]]
    env = next(iter(reports.values()))["env"]

    def find(backend, arch, variant, rows, bs):
        return next(r for b, r in results if b == backend and (r["arch"], r["variant"], r["rows"], r["batch_size"])
                    == (arch, variant, rows, bs))

    lines = [
        f"# Domain vocabulary speed-up on {machine_name(args.device)}",
        "",
        f"Machine: {machine_description(args.device)}; {env['threads']} threads.",
        "",
        "Command: `python benchmarks/vocab.py " + " ".join(sys.argv[1:]) + "`",
        "",
        f"Protocol: random-weight architectures, the full encoder and the decoder at full depth or cut; the shared "
        f"embedding and lm_head cut to the first N rows (the timing does not depend on which rows). Source "
        f"{args.source_length} tokens, exactly {args.new_tokens} new tokens (EOS suppressed), {args.runs} "
        f"interleaved runs after {args.warmup} warm-up, mean ms per batch. "
        + ("One interleaved run per backend and architecture." if args.per_architecture
           else "One interleaved run per backend, every model in it."),
        "",
        "Cells: mean ms (speed-up from the vocabulary alone, vs the same depth at full vocabulary; "
        "speed-up vs the full model at full vocabulary).",
    ]
    for backend in backends:
        for bs in batch_sizes:
            rows_seen = sorted({r["rows"] for b, r in results if b == backend}, reverse=True)
            lines += ["", f"## {BACKENDS[backend][0]}, batch {bs}", "",
                      "| model | enc/dec |" + "".join(f" {n} |" for n in rows_seen),
                      "|---|---|" + "---|" * len(rows_seen)]
            for arch in archs:
                variants = list(dict.fromkeys(r["variant"] for b, r in results if b == backend and r["arch"] == arch))
                full = find(backend, arch, variants[0], rows_seen[0], bs)
                for variant in variants:
                    base = find(backend, arch, variant, rows_seen[0], bs)
                    cells = []
                    for n in rows_seen:
                        r = find(backend, arch, variant, n, bs)
                        cells.append(f"{r['mean_ms']:.0f} ({base['mean_ms'] / r['mean_ms']:.2f}×; "
                                     f"{full['mean_ms'] / r['mean_ms']:.2f}×)")
                    lines.append(f"| {arch} | {variant} | " + " | ".join(cells) + " |")
        lines += ["", f"Decode ms per token, {BACKENDS[backend][0]}, batch {batch_sizes[0]}:", "",
                  "| model | enc/dec |" + "".join(f" {n} |" for n in rows_seen), "|---|---|" + "---|" * len(rows_seen)]
        for arch in archs:
            for variant in dict.fromkeys(r["variant"] for b, r in results if b == backend and r["arch"] == arch):
                cells = [f"{find(backend, arch, variant, n, batch_sizes[0])['decode_ms_per_token']:.1f}"
                         for n in rows_seen]
                lines.append(f"| {arch} | {variant} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()
