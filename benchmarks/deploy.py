"""A deployed CPU path measured in one run: HF float32 of the full model against every lever at once.

    python benchmarks/deploy.py                                    # the protocol below -> results/deploy.md (+ .json)
    python benchmarks/deploy.py --archs flan-t5-small --settings 512/64 --out /tmp/d   # one run first
    python benchmarks/deploy.py --archs flan-t5-base --settings 512/64 --out benchmarks/results/deploy-flan-t5-base.md
    python benchmarks/deploy.py --estimate                         # print the estimated runtime and stop
    python benchmarks/deploy.py --smoke --out /tmp/deploy          # a minute or two: a tiny model -> OUT/deploy-smoke.md

For each architecture (flan-t5-small and -base, random weights) and setting (source tokens / exactly
that many new tokens, EOS suppressed: 512/64 and the paper's 1024/256), ONE interleaved
`asymprune.bench.run_bench` (every model in its own worker, A B C ... A B C ...) times, at batch 1 and 8:
- HF float32: the full model (the baseline, first: every speed-up is against it), the decoder cut
  (--decoder-layers), and the encoder cut as well (--encoder-cuts: 4/8 and 2/8 of the encoder);
- CTranslate2 int8: the full model, and each cut model with the full vocabulary and with
  --vocab-rows rows (the shared embedding and lm_head cut, `asymprune.vocab.shrink_model`).
HF and CTranslate2 workers share the run, so a ratio across backends is as honest as one within.

Every row carries bench's decode-step ceiling (bench/ceiling.py: the bytes a step reads at the
row's precision over this machine's bandwidth) and the fraction of it reached. "What holds the rest"
splits each call into prefill, decode at that limit and decode above it (per-step overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import build_variant, machine_description, machine_name  # noqa: E402

from asymprune.bench import BenchConfig, Setup, run_bench  # noqa: E402
from asymprune.errors import UsageError  # noqa: E402

BACKENDS = {"hf-fp32": ("HF float32", Setup(backend="hf", dtype="float32")),
            "ct2-int8": ("CTranslate2 int8", Setup(backend="ct2", ct2_compute_type="int8"))}
SMOKE = dict(archs="t5-tiny", settings="16/4", encoder_cuts="3/6", vocab_rows=300, batch_sizes="1,2", runs=5,
             warmup=0)
# Rough per-call costs on 2 cores, from benchmarks/results/vocab.md (batch 1, 512/64, Intel Xeon): ms of prefill
# per encoder layer and source token; ms per decode step: fixed, per decoder layer, per vocabulary row.
COSTS = {"hf-fp32": {"flan-t5-small": (0.035, 0.57, 1.23, 7.5e-5), "flan-t5-base": (0.079, 0.0, 2.3, 1.24e-4)},
         "ct2-int8": {"flan-t5-small": (0.018, 0.15, 1.11, 3.6e-5), "flan-t5-base": (0.030, 0.0, 1.59, 5.0e-5)}}
SETUP_S = {"flan-t5-small": 15, "flan-t5-base": 45}  # building, saving, converting and checking one model folder


@dataclass(frozen=True)
class Variant:
    backend: str   # a key of BACKENDS
    encoder: int   # encoder layers kept
    decoder: int   # decoder layers kept
    rows: int      # vocabulary rows (embedding and lm_head)


def lineup(depths: dict, vocab: int, decoder: int, encoder_cuts: list[int], rows: int) -> list[Variant]:
    """The models of one run, the baseline (HF float32, full) first."""
    E, D = depths["encoder"], depths["decoder"]
    cut = [E, *[e for e in encoder_cuts if e != E]]
    hf = [Variant("hf-fp32", E, D, vocab), *[Variant("hf-fp32", e, decoder, vocab) for e in cut]]
    ct2 = [Variant("ct2-int8", E, D, vocab)]
    for e in cut:
        ct2 += [Variant("ct2-int8", e, decoder, vocab), *([Variant("ct2-int8", e, decoder, rows)] if rows < vocab else [])]
    return list(dict.fromkeys(hf + ct2))  # a cut equal to the full depth is not timed twice


def estimate_s(arch: str, variants: list[Variant], setting: tuple[int, int], batch_sizes: list[int], runs: int,
               warmup: int) -> float:
    """Seconds one run takes by COSTS (flan-t5-small's scaled by width for other presets): rough, +-50%."""
    src, new = setting
    total = 0.0
    for v in variants:
        pre, fixed, layer, row = COSTS[v.backend].get(arch) or [c / 16 for c in COSTS[v.backend]["flan-t5-small"]]
        for bs in batch_sizes:
            prefill = bs * src * v.encoder * pre
            call = prefill + (new - 1) * (fixed + v.decoder * layer + v.rows * row) * (1 + 0.15 * (bs - 1))
            total += (warmup + runs + 1) * call + runs * prefill  # + one untimed call for peak memory
    return total / 1000


def parse(args) -> dict:
    """The protocol's lists from the flags; a UsageError names a bad one."""
    try:
        settings = [tuple(int(n) for n in s.split("/")) for s in args.settings.split(",")]
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        raise UsageError("--settings is SOURCE/NEW pairs like 512/64,1024/256 and --batch-sizes integers like 1,8")
    if any(len(s) != 2 for s in settings):
        raise UsageError(f"--settings {args.settings}: pass SOURCE/NEW pairs like 512/64,1024/256")
    if args.vocab_rows < 1:
        raise UsageError(f"--vocab-rows must be at least 1 (got {args.vocab_rows})")
    for src, new in settings:  # bench's own checks, before any model is built
        bench_config(args, batch_sizes, src, new).validate()
    return {"archs": args.archs.split(","), "settings": settings, "batch_sizes": batch_sizes}


def bench_config(args, batch_sizes: list[int], source_length: int, new_tokens: int) -> BenchConfig:
    """One run's settings; each model's backend comes with its entry (BACKENDS)."""
    return BenchConfig(batch_sizes=batch_sizes, source_length=source_length, new_tokens=new_tokens, runs=args.runs,
                       warmup=args.warmup, threads=args.threads)


def arch_lineup(arch: str, args) -> list[Variant]:
    from asymprune.grid import parse_count
    from asymprune.models import family_for, load_config
    config = load_config(arch, presets=True)
    depths = family_for(config).layer_counts(config)
    cuts = [parse_count(c, depths["encoder"], "encoder") for c in args.encoder_cuts.split(",") if c]
    return lineup(depths, config.vocab_size, parse_count(args.decoder_layers, depths["decoder"], "decoder"), cuts,
                  min(args.vocab_rows, config.vocab_size))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="flan-t5-small,flan-t5-base", help="presets (random weights)")
    ap.add_argument("--settings", default="512/64,1024/256", help="SOURCE/NEW tokens; one run each")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--decoder-layers", default="1", help="decoder layers of the cut models (a count or a/b)")
    ap.add_argument("--encoder-cuts", default="4/8,2/8", help="encoder depths timed besides the full one (a/b: "
                                                                "of the encoder's layers)")
    ap.add_argument("--vocab-rows", type=int, default=4000, help="rows of the domain vocabulary (CTranslate2 rows)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads of every worker (default: all cores)")
    ap.add_argument("--estimate", action="store_true", help="print the estimated runtime and stop")
    ap.add_argument("--smoke", action="store_true", help="a tiny model and lengths: checks the script in a minute or two")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                    help="folder of deploy.md and deploy.json (deploy-smoke.* with --smoke), or the .md file itself")
    args = ap.parse_args(argv)
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    plan = parse(args)
    lineups = {arch: arch_lineup(arch, args) for arch in plan["archs"]}
    runs = [(arch, setting, lineups[arch]) for arch in plan["archs"] for setting in plan["settings"]]
    estimates = [estimate_s(a, vs, s, plan["batch_sizes"], args.runs, args.warmup) for a, s, vs in runs]
    setup_s = sum(SETUP_S.get(a, 5) * len({(v.encoder, v.decoder, v.rows) for v in vs}) for a, vs in lineups.items())
    print(f"estimated runtime: {(sum(estimates) + setup_s) / 60:.1f} min on 2 quiet cores (rough; "
          + ", ".join(f"{a} {s[0]}/{s[1]} {e / 60:.1f} min" for (a, s, _), e in zip(runs, estimates))
          + f", building and converting models {setup_s / 60:.1f} min)", flush=True)
    if args.estimate:
        return
    out = args.out if args.out.suffix == ".md" else args.out / ("deploy-smoke.md" if args.smoke else "deploy.md")
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    result = {"command": "python benchmarks/deploy.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": machine_description(), "machine_name": machine_name(), "protocol": vars(args),
              "load_average_start": os.getloadavg(), "runs": []}
    started = time.time()
    for arch in plan["archs"]:
        variants = lineups[arch]
        # One folder per (encoder, decoder, rows), shared by both backends and every setting (a CTranslate2
        # conversion is cached in it); an architecture's folders go before the next one's are built.
        with tempfile.TemporaryDirectory(prefix="asymprune-deploy-") as tmp:
            paths = {key: build_variant(arch, Path(tmp), *key)[1]
                     for key in dict.fromkeys((v.encoder, v.decoder, v.rows) for v in variants)}
            for src, new in plan["settings"]:
                cfg = bench_config(args, plan["batch_sizes"], src, new)
                print(f"[{arch} {src}/{new}] one interleaved run of {len(variants)} models ...", flush=True)
                report = run_bench([(paths[(v.encoder, v.decoder, v.rows)], BACKENDS[v.backend][1])
                                    for v in variants], cfg)
                per_model = len(plan["batch_sizes"])  # rows come per worker (in entry order), then per batch size
                for i, row in enumerate(report["results"]):
                    v = variants[i // per_model]
                    assert row["backend"] == BACKENDS[v.backend][1].backend, (row["model"], v)
                    row.update(arch=arch, variant=f"{v.encoder}/{v.decoder}", setup=v.backend, encoder=v.encoder,
                               decoder=v.decoder, vocab_rows=v.rows)
                result["runs"].append({"arch": arch, "source_length": src, "new_tokens": new, "report": report})
    result.update(seconds=time.time() - started, load_average_end=os.getloadavg())
    from deploy_render import render
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(result))
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {out} and {out.with_suffix('.json').name} in {result['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    import signal
    # A killed run (timeout, kill) leaves no workers and no temporary models (GBs for flan-t5-base) behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
