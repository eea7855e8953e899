"""The compiled generation path: a static KV cache and a `torch.compile`d decoding step.

    from asymprune.compiled import check_compile, compiled_generation_config
    check_compile(model.config, device="cpu")
    gen = compiled_generation_config(model.generation_config, device="cpu")
    model.generate(input_ids, generation_config=gen)      # same tokens as the eager path

This is transformers' own mechanism (5.24): with `cache_implementation="static"` generate()
preallocates the cache for `max_length` tokens and runs every decoding step after the first
through `torch.compile(model.__call__)`; the prefill (encoder and first token) stays eager.
transformers compiles automatically on CUDA; on CPU it compiles only when the compile config's
`_compile_all_devices` flag is set (transformers' own switch for CPU, a private attribute).
T5 and BART (and the other families asymprune supports) declare `_can_compile_fullgraph`.

On CUDA the compile mode is "reduce-overhead": inductor captures the decoding step in CUDA graphs
(the static cache gives it fixed shapes and addresses), so a step replays one graph instead of
launching each kernel from Python. `bench --compile` checks each compiled model's tokens against
its eager path on one untimed call per batch size (`compare_tokens`; the row's `tokens_equal_eager`).

Costs: the first call per shape compiles (tens of seconds to minutes on CPU, so warm up), and
a static cache cannot be cropped, so it does not combine with assisted generation.
"""

from __future__ import annotations

import copy

from .errors import UsageError


def check_compile(config, *, device: str = "cpu", assistant: str | None = None, num_beams: int = 1) -> None:
    """One-line errors for settings the compiled path cannot run (the hf backend's: other backends refuse
    --compile themselves)."""
    if assistant is not None:
        raise UsageError("--compile and --assistant cannot be combined: assisted generation crops the KV cache "
                         "after each round, and transformers' static cache cannot be cropped; drop one of them")
    if num_beams > 1:
        raise UsageError("--compile runs greedy decoding only here; pass --num-beams 1")
    from .models import family_for
    cls = family_for(config).model_class(config)
    if cls is None or not getattr(cls, "_can_compile_fullgraph", False):
        raise UsageError(f"transformers cannot compile generation for model type '{config.model_type}'; drop "
                         "--compile")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--compile: unknown device '{device}'; use cpu or cuda")


def compiled_generation_config(generation_config, device: str = "cpu"):
    """A copy of `generation_config` that generates with a static cache and a compiled decoding step."""
    from transformers import CompileConfig

    gen = copy.deepcopy(generation_config)
    gen.cache_implementation = "static"
    # reduce-overhead adds CUDA graphs on a GPU; on CPU the plain inductor mode is the one that applies.
    compile_config = CompileConfig(fullgraph=False, mode="reduce-overhead" if device == "cuda" else "default")
    if device != "cuda":
        compile_config._compile_all_devices = True  # transformers' switch to compile off-GPU
    gen.compile_config = compile_config
    return gen


def compare_tokens(compiled: list[list[int]], eager: list[list[int]]) -> dict:
    """Row fields: whether the compiled path generated the eager path's tokens, and where they first differ.

    `tokens_first_difference`: the first generated position (0-based) at which any sequence differs, or None.
    In bfloat16 a fused kernel may round differently from eager and flip a near-tie, so a difference is
    reported, not raised: the call still generated the same number of tokens.
    """
    first = None
    for c, e in zip(compiled, eager, strict=True):
        at = next((i for i, (a, b) in enumerate(zip(c, e)) if a != b), None if len(c) == len(e) else min(len(c), len(e)))
        if at is not None:
            first = at if first is None else min(first, at)
    return {"tokens_equal_eager": first is None, "tokens_first_difference": first}
