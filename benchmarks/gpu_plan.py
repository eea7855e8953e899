"""The blocks of benchmarks/gpu.py and how they share a time budget.

    plan = default_plan(SIZES, ["hf-bf16", "lossless", "ct2-float16"], runs=None, batch_sizes=[1, 8, 16])
    runs = fit_runs(plan[0], plan[1:], layers, tokens=257, warmup=1, speed=1.0, left=420)  # 0: skip it

A block is one interleaved `run_bench` call (a backend on one model size, at batch 1 or at the
larger batch sizes, on every variant or on the priority pair 6/6 and 6/1: every speed-up
compares models of one block). Blocks run in priority
order. Before each, its timed runs are cut (down to MIN_RUNS) so that it, and every later block
that fits at MIN_RUNS, stay within the time left; a block that does not fit even then is skipped.
Estimates come from a prior cost model for one H100, scaled by `speed`: measured over estimated
seconds of the blocks run so far, so a slower or faster machine corrects the plan as it goes.
"""

from __future__ import annotations

from dataclasses import dataclass

LOSSLESS = "lossless"  # batch 1: the full model alone vs assisted by its 6/1 variant
MIN_RUNS = 3           # a block is cut down to this many timed runs before it is skipped

# Prior for one H100, per generated token: o + k * decoder layers (ms), times 1 + 0.015 * (batch - 1);
# `setup`: seconds per model before its first timed run. HF eager decoding is launch-bound.
PRIORITY_VARIANTS = ["6/6", "6/1"]  # the full model and its decoder cut to one sixth
# Eager, CTranslate2, compiled: the compiled block costs most (a minute of compiling per model) and is the least
# certain, so the cheaper two go first and cannot be starved by it.
PRIORITY_BACKENDS = ["hf-bf16", "hf-float32", "ct2-float16", "ct2-int8", "hf-compiled"]
PRIOR = {
    "hf": dict(o=3.0, k=0.8, setup=0.0),
    "compiled": dict(o=1.5, k=0.25, setup=60.0),  # torch.compile in each worker's warm-up
    "ct2": dict(o=0.6, k=0.15, setup=10.0),       # conversion and its check against transformers
}
START_S = 15.0  # starting a block's workers side by side, inputs, bookkeeping
BUILD_S = {"flan-t5-small": 10.0, "flan-t5-base": 20.0, "flan-t5-large": 60.0}  # a size's variants, once


@dataclass
class Block:
    backend: str            # a backend name of gpu.py, or LOSSLESS
    size: str               # preset name
    runs: int               # timed runs the protocol asks for, before any cut for time
    batch_sizes: list[int]  # batch sizes of this block
    variants: list[str] | None = None  # variants ("6/6", "6/1") this block times; None: all of gpu.py's --variants


def default_plan(sizes: list[str], backends: list[str], runs: int | None, batch_sizes: list[int],
                 split: bool = True, variants: list[str] | None = None) -> list[Block]:
    """Blocks in priority order, what is cut first last.

    First the full and 6/1 variants of flan-t5-large (else of the last size) at batch 1 on HF eager,
    CTranslate2 and HF compiled, each its own block: the issue's priority within 8 minutes on one
    H100. Then the rest of the grid, every variant: HF bfloat16 at batch 1 on every size (Tables 8
    and 9; its flan-t5-large block times 6/6 and 6/1 again beside the others), flan-t5-large at the
    larger batches (Table 10), CTranslate2 float16 at batch 1, the lossless row, the larger batches
    of the other sizes (Table 2), int8_float16, and the compiled path last (each worker compiles
    for about a minute). The protocol's 7 runs are 3 for flan-t5-large and the lossless row from
    the start. `split=False` keeps all batch sizes in one block per backend and size (fewer workers).
    `variants`: gpu.py's; where they are the priority pair alone, a later block that would time again
    what a priority block timed is left out.
    """
    first, rest = (batch_sizes[:1], batch_sizes[1:]) if split else (batch_sizes, [])
    large = [s for s in sizes if s == "flan-t5-large"]  # the paper's Table 10 model
    others = [s for s in sizes if s not in large]
    tiers = [("hf-bf16", first, sizes), ("hf-float32", first, sizes), ("hf-bf16", rest, large),
             ("ct2-float16", first, sizes), ("ct2-int8", first, sizes), (LOSSLESS, [1], sizes),
             ("hf-bf16", rest, others), ("hf-float32", rest, sizes), ("ct2-int8_float16", first, sizes),
             ("ct2-float16", rest, large + others), ("ct2-int8", rest, sizes), ("ct2-int8_float16", rest, large + others),
             ("hf-compiled", first, sizes), ("hf-compiled", rest, large + others)]
    top = large[-1:] or sizes[-1:]
    plan = [Block(b, s, runs or (3 if s == "flan-t5-large" else 7), list(first), list(PRIORITY_VARIANTS))
            for b in PRIORITY_BACKENDS if b in backends for s in top]
    covered = {(b.backend, b.size) for b in plan} if variants and set(variants) <= set(PRIORITY_VARIANTS) else set()
    for backend, bss, order in tiers:
        if backend not in backends or not bss:
            continue
        for size in order:
            if bss == first and (backend, size) in covered:
                continue
            protocol = 3 if backend == LOSSLESS or size == "flan-t5-large" else 7
            plan.append(Block(backend, size, runs or protocol, list(bss)))
    return plan


def kind(backend: str) -> str:
    return "compiled" if backend == "hf-compiled" else "ct2" if backend.startswith("ct2") else "hf"


def estimate(block: Block, runs: int, layers: dict[str, int], tokens: int, warmup: int, speed: float) -> float:
    """Seconds for `block` with `runs` timed runs; `layers`: decoder layers per variant of its size."""
    p = PRIOR[kind(block.backend)]
    # The lossless block runs the full model alone and assisted (draft steps plus verification).
    if block.backend == LOSSLESS:
        models = [layers["6/6"], layers["6/6"] * 1.8]
    else:
        models = [n for v, n in layers.items() if block.variants is None or v in block.variants]
    calls = warmup + runs + 1  # + the peak-memory pass
    gen = sum(tokens * (p["o"] + p["k"] * dec) * (1 + 0.015 * (bs - 1)) for dec in models
              for bs in block.batch_sizes) / 1000
    # The compiled path's token check: one eager generation per model and batch size (its compiled call
    # is the compilation, in `setup`).
    check = sum(tokens * (PRIOR["hf"]["o"] + PRIOR["hf"]["k"] * dec) * (1 + 0.015 * (bs - 1)) for dec in models
                for bs in block.batch_sizes) / 1000 if kind(block.backend) == "compiled" else 0.0
    return speed * (START_S + p["setup"] * len(models) + calls * gen + check)


def fit_runs(block: Block, later: list[Block], layers: dict[str, dict[str, int]], tokens: int, warmup: int,
             speed: float, left: float) -> int:
    """Timed runs for `block` that leave room for the later blocks that fit at MIN_RUNS; 0: skip it."""
    def cost(b, runs):
        return estimate(b, runs, layers[b.size], tokens, warmup, speed)

    lowest = min(block.runs, MIN_RUNS)
    reserve = 0.0
    for b in later:  # in priority order
        need = cost(b, min(b.runs, MIN_RUNS))
        if reserve + need + cost(block, lowest) <= left:
            reserve += need
    runs = block.runs
    while runs > lowest and cost(block, runs) > left - reserve:
        runs -= 1
    return runs if cost(block, runs) <= left - reserve else 0
