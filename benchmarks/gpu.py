"""The paper's latency protocol on one GPU, in the layout of its Tables 2 and 8-10, against the bandwidth limit.

    python benchmarks/gpu.py                      # one H100: under 8 minutes (--budget-min 7.5)
    python benchmarks/gpu.py --budget-min 0       # the whole protocol, no cuts (about an hour)
    python benchmarks/gpu.py --out /tmp/r --sizes flan-t5-small --backends hf-bf16
    python benchmarks/gpu.py --smoke --out /tmp/r # CPU, end to end in a minute or two: a tiny preset, tiny lengths

Models: the flan-t5-small, -base and -large architectures with random weights (at a fixed
generated length the values of the weights do not change the timing), pruned in sixths with
asymprune's prune functions (the paper's keep-maps) to 6/6, 6/3, 6/1, 3/6, 1/6, 3/3 and 1/1.
Settings: source 1024 tokens, exactly 256 new tokens (EOS suppressed), batch sizes 1, 8 and 16,
7 timed runs. Each block (gpu_plan.py) is one `asymprune.bench.run_bench` call: interleaved
runs, a fresh worker process per model, CUDA synchronised before each clock read. Every row
carries its decode step's ceiling (bench's ceiling.py: the bytes one step reads at the row's
precision over the GPU's measured bandwidth) and the fraction of it reached.

Backends: HF bfloat16 (eager), HF bfloat16 compiled (static cache + torch.compile in
"reduce-overhead" mode: the decoding step runs as CUDA graphs; asymprune.compiled; each model's
tokens are checked against its eager path, column "tokens = eager"), CTranslate2 float16 and
int8_float16, and the lossless mode at batch 1 (the full model verifying drafts of its 6/1
variant, asymprune.assist). A backend that cannot run here is skipped with its reason in the
result file, and the others go on.

CTranslate2 on a CUDA-13 machine (gpu_setup.py): PyPI's ctranslate2 wheel needs libcublas.so.12.
Before the first block the script's own setup installs ctranslate2 from carried wheels (--wheels,
default .gpu-wheels/, gitignored), looks for cuBLAS 12 (a carried nvidia-cublas-cu12, the
system's), else links libcublas.so.12 to the image's cuBLAS 13, and keeps the first that lets a
probe process run a converted model on CUDA (float32 tokens equal to CPU's); otherwise the reason
and every attempt go into the result file. The device machine has no internet and carries at
most 64 MiB, so download the wheel here first and carry the folder:

    python benchmarks/gpu_setup.py --download     # ctranslate2 4.8.5, cp312 (43 MB) into .gpu-wheels/
    # device tool: carry [".gpu-wheels"], command:
    #   PYTHONPATH=. python benchmarks/gpu.py --out $OUT

(the cuBLAS 12 wheel, 581 MB, is over the 64 MiB a call carries: `--download --with-cublas` only
for a machine reached otherwise.)

Time budget (benchmarks/gpu_plan.py): the whole protocol takes far longer than 8 minutes (HF
generates 256 tokens per call, so 7 variants x 3 batch sizes x 7 runs per size is most of an
hour). Blocks run in priority order: first flan-t5-large's full and 6/1 variants at batch 1 on HF
eager, CTranslate2 and HF compiled (the costliest last), then the rest of the grid, HF bfloat16
on every size first; each block's runs are cut (to 3 at least) so that the blocks after it
still fit, and a block that cannot fit is skipped. The estimates start from a prior for one
H100 and follow the measured speed. The file lists the CTranslate2 setup and every cut and skip,
with planned and measured seconds.

Writes OUT/gpu-<device>.md and OUT/gpu-<device>.json (every run), then prints a summary table.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_plan import BUILD_S, LOSSLESS, Block, default_plan, estimate, fit_runs  # noqa: E402
from gpu_setup import WHEELS, prepare_ct2  # noqa: E402
from gpu_tables import KIND, render, summary  # noqa: E402

from asymprune.errors import first_line  # noqa: E402

VARIANTS = [(6, 6), (6, 3), (6, 1), (3, 6), (1, 6), (3, 3), (1, 1)]
BACKENDS = {  # name: BenchConfig overrides
    "hf-bf16": dict(backend="hf", dtype="bfloat16"),
    "hf-compiled": dict(backend="hf", dtype="bfloat16", compile=True),
    "ct2-float16": dict(backend="ct2", ct2_compute_type="float16"),
    "ct2-int8_float16": dict(backend="ct2", ct2_compute_type="int8_float16"),
}
SMOKE_BACKENDS = {  # the same code paths in CPU dtypes
    "hf-float32": dict(backend="hf", dtype="float32"),
    "ct2-int8": dict(backend="ct2", ct2_compute_type="int8"),
}
SIZES = ["flan-t5-small", "flan-t5-base", "flan-t5-large"]


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--backends", default=",".join([*BACKENDS, LOSSLESS]))
    ap.add_argument("--variants", default=",".join(f"{e}/{d}" for e, d in VARIANTS))
    ap.add_argument("--batch-sizes", default="1,8,16")
    ap.add_argument("--source-length", type=int, default=1024)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--runs", type=int, default=None, help="Timed runs of every block (default: 7; 3 for "
                                                            "flan-t5-large and the lossless row).")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--budget-min", type=float, default=7.5, help="Minutes for everything; 0: no limit, no cuts.")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--wheels", type=Path, default=WHEELS, help="Carried wheels for the CTranslate2 setup on CUDA "
                                                                 "(benchmarks/gpu_setup.py --download fills it).")
    ap.add_argument("--smoke", action="store_true", help="CPU, t5-tiny, 2 variants, tiny lengths, 1 run.")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes, args.variants = "t5-tiny", "6/6,6/1"
        args.batch_sizes = "1,2" if args.batch_sizes == "1,8,16" else args.batch_sizes  # unless given
        args.source_length, args.new_tokens, args.runs, args.warmup, args.device = 16, 4, 1, 0, "cpu"
        if args.backends == ",".join([*BACKENDS, LOSSLESS]):  # not chosen: the CPU stand-ins (hf-compiled: slow test)
            args.backends = ",".join([*SMOKE_BACKENDS, LOSSLESS])
        args.budget_min = 0
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.backends = [b for b in args.backends.split(",") if b]
    args.variants = [tuple(int(x) for x in v.split("/")) for v in args.variants.split(",") if v]
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    known = {**BACKENDS, **SMOKE_BACKENDS, LOSSLESS: None}
    bad = [b for b in args.backends if b not in known] + [f"{e}/{d}" for e, d in args.variants if (e, d) not in KIND]
    if bad:
        ap.error(f"unknown backend or variant: {', '.join(bad)}; backends: {', '.join(known)}; variants: "
                 + ", ".join(f"{e}/{d}" for e, d in VARIANTS))
    if (6, 6) not in args.variants:
        ap.error("--variants must include 6/6, the baseline of every speed-up")
    args.variants.sort(key=VARIANTS.index)
    return args


def build_variants(size: str, variants: list[tuple[int, int]], root: Path, seed: int = 0) -> dict[str, str]:
    """The preset once (random weights), then each variant pruned in sixths and saved in bfloat16."""
    import torch

    from asymprune import prune_layers
    from asymprune.errors import UsageError
    from asymprune.models import build_preset

    model, tokenizer = build_preset(size, seed=seed)
    paths = {}
    for enc, dec in variants:
        variant = copy.deepcopy(model)
        if (enc, dec) != (6, 6):
            try:
                prune_layers(variant, encoder=f"{enc}/6", decoder=f"{dec}/6", strategy="paper")
            except UsageError:  # depths without a paper keep-map (tiny presets)
                prune_layers(variant, encoder=f"{enc}/6", decoder=f"{dec}/6", strategy="spread")
        path = root / f"{size}-{enc}-{dec}"
        variant.to(torch.bfloat16).save_pretrained(path)  # half the bytes to write; workers pick their dtype
        tokenizer.save_pretrained(path)
        paths[f"{enc}/{dec}"] = str(path)
        del variant
    return paths


def ct2_problem(compute_type: str, device: str) -> str | None:
    """Why CTranslate2 cannot run `compute_type` on `device` here, or None."""
    try:
        import ctranslate2
    except ImportError:
        return "ctranslate2 is not installed"
    try:
        if device == "cuda" and ctranslate2.get_cuda_device_count() < 1:
            return "CTranslate2 sees no CUDA device (a CPU-only build, or no CUDA runtime it can load)"
        if compute_type not in ctranslate2.get_supported_compute_types(device):
            return f"CTranslate2 cannot run {compute_type} on this {device}"
    except Exception as e:  # a CUDA library it cannot load surfaces here
        return f"CTranslate2 on {device}: {first_line(e, typed=True)}"
    return None


def decoder_layers(size: str, variants: list[tuple[int, int]]) -> dict[str, int]:
    """Decoder layers of each variant of a preset (for the time estimates), without building it."""
    from asymprune.models import family_for
    from asymprune.models.presets import preset_config
    config = preset_config(size)[0]
    full = family_for(config).layer_counts(config)["decoder"]
    return {f"{e}/{d}": max(1, full * d // 6) for e, d in variants}


def _bench_config(block: Block, runs: int, paths: dict[str, str], args):
    from asymprune.assist import AssistConfig
    from asymprune.bench import BenchConfig
    common = dict(source_length=args.source_length, new_tokens=args.new_tokens, runs=runs, warmup=args.warmup,
                  device=args.device, batch_sizes=block.batch_sizes)
    if block.backend == LOSSLESS:
        return [paths["6/6"]], BenchConfig(**common, dtype="float32" if args.smoke else "bfloat16",
                                           assistants=[paths["6/1"]], assist=AssistConfig())
    models = [p for v, p in paths.items() if block.variants is None or v in block.variants]
    return models, BenchConfig(**common, **{**BACKENDS, **SMOKE_BACKENDS}[block.backend])


def block_key(block: Block) -> str:
    """'hf-bf16/flan-t5-large/bs1,8' for a block of every variant; '.../bs1 (6/6, 6/1)' for the priority pair."""
    key = f"{block.backend}/{block.size}/bs{','.join(map(str, block.batch_sizes))}"
    return key + (f" ({', '.join(block.variants)})" if block.variants else "")


def setup_ct2(args, root: Path, notes: list[str]) -> dict[str, str]:
    """gpu_setup's CTranslate2 step on CUDA (wheels, cuBLAS 12 or an alias to 13, a probe): every ct2 backend's
    reason not to run, if it cannot; what was tried goes into the notes either way."""
    ct2 = [b for b in args.backends if b.startswith("ct2")]
    if not ct2 or args.device != "cuda":
        return {}
    reason, tried = prepare_ct2(args.wheels, root)
    notes += [f"CTranslate2 setup: {t}." for t in tried]
    return {b: f"CTranslate2 cannot run on this GPU: {reason}" for b in ct2} if reason else {}


def measure(args, root: Path, notes: list[str], started: float) -> tuple[dict, list[dict]]:
    """Every block in priority order within the budget; a backend that fails once is skipped after."""
    from asymprune.bench import run_bench

    variants = [f"{e}/{d}" for e, d in args.variants]
    plan = default_plan(args.sizes, args.backends, args.runs, args.batch_sizes, split=not args.smoke,
                        variants=variants)
    for block in plan:  # the priority pair, as far as --variants has it
        block.variants = block.variants and [v for v in block.variants if v in variants]
    layers = {s: decoder_layers(s, args.variants) for s in args.sizes}
    budget = args.budget_min * 60 or float("inf")
    paths, reports, log, broken = {}, {}, [], setup_ct2(args, root, notes)
    spent = estimated = 0.0  # seconds measured and estimated (at speed 1) over the blocks run so far
    tokens = args.new_tokens + 1
    for i, block in enumerate(plan):
        key = block_key(block)
        speed = spent / estimated if estimated else 1.0
        entry = {"block": key, **asdict(block)}
        log.append(entry)
        if block.backend in broken:
            entry["skipped"] = broken[block.backend]
            continue
        if block.backend.startswith("ct2") and (why := ct2_problem(BACKENDS.get(block.backend, SMOKE_BACKENDS.get(
                block.backend, {})).get("ct2_compute_type"), args.device)):
            broken[block.backend] = entry["skipped"] = why
            continue
        later = [b for b in plan[i + 1:] if b.backend not in broken]
        left = budget - (time.perf_counter() - started) - (0 if block.size in paths else BUILD_S.get(block.size, 5.0))
        runs = block.runs if budget == float("inf") else fit_runs(block, later, layers, tokens, args.warmup, speed,
                                                                    left)
        entry["estimated_s"] = estimate(block, runs or block.runs, layers[block.size], tokens, args.warmup, speed)
        if runs == 0:
            entry["skipped"] = f"time: about {entry['estimated_s']:.0f} s at {block.runs} runs, {left:.0f} s left"
            continue
        entry["runs_timed"] = runs
        if block.size not in paths:
            t = time.perf_counter()
            paths[block.size] = build_variants(block.size, args.variants, root)
            print(f"[{block.size}] {len(paths[block.size])} variants built in {time.perf_counter() - t:.0f} s",
                  flush=True)
        models, cfg = _bench_config(block, runs, paths[block.size], args)
        print(f"[{key}] {len(models) + len(cfg.assistants)} models, {runs} runs, about {entry['estimated_s']:.0f} s",
              flush=True)
        t = time.perf_counter()
        try:
            report = run_bench(models, cfg)
        except Exception as e:  # a backend this machine cannot run: note it, go on with the others
            broken[block.backend] = entry["skipped"] = first_line(e, typed=True)
            print(f"[{key}] skipped: {broken[block.backend]}", flush=True)
            continue
        entry["seconds"] = time.perf_counter() - t
        spent += entry["seconds"]
        estimated += estimate(block, runs, layers[block.size], tokens, args.warmup, 1.0)
        names = {p: v for v, p in paths[block.size].items()}
        for r in report["results"]:  # rows named by variant, not by temporary path
            r["variant"] = names.get(r["model"], "6/6+6/1" if r.get("assistant") else r["model"])
        report["block"] = asdict(block)
        reports[key] = report
        print(f"[{key}] {entry['seconds']:.0f} s", flush=True)
    notes += [f"{b}: not run ({why})." for b, why in broken.items()]
    return reports, log



def main(argv=None) -> None:
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    from common import machine_description, machine_name

    args = _args(argv)
    started = time.perf_counter()
    notes: list[str] = []
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            sys.exit("error: no CUDA GPU is visible; run on a GPU machine, or pass --smoke for the CPU check")
    if args.smoke:
        notes.append("smoke run: hf-float32 and ct2-int8 stand in for the GPU's bfloat16 and float16 types; "
                     "hf-compiled only when --backends names it (compiling takes a minute on CPU); the CTranslate2 "
                     "setup for CUDA (gpu_setup.py) is not needed on CPU.")
    if LOSSLESS in args.backends and (6, 1) not in args.variants:
        args.backends.remove(LOSSLESS)
        notes.append("lossless: not run (its draft is the 6/1 variant, not in --variants).")
    machine = machine_name(args.device)
    with tempfile.TemporaryDirectory(prefix="asymprune-gpu-") as tmp:
        reports, log = measure(args, Path(tmp), notes, started)
    seconds = time.perf_counter() - started
    text = render(args, reports, log, notes, machine, machine_description(args.device), seconds)
    stem = f"gpu-smoke-{machine}" if args.smoke else f"gpu-{machine.removeprefix('gpu-')}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text(text)
    (args.out / f"{stem}.json").write_text(json.dumps({"command": sys.argv, "notes": notes, "seconds": seconds,
                                                       "blocks": log, "reports": reports}, indent=1, default=str))
    print(text)
    print(summary(args, reports, notes))
    print(f"wrote {args.out / (stem + '.md')} and .json ({seconds / 60:.1f} min)")


if __name__ == "__main__":
    main()
