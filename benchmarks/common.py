"""Helpers shared by the benchmark scripts: machine naming and pruned (and vocabulary-cut) random-weight variants."""

from __future__ import annotations

import argparse
import platform
import re
from pathlib import Path


def machine_name(device: str = "cpu") -> str:
    """A file-name-safe description of this machine, e.g. 'cpu-amd-epyc-2c' or 'gpu-nvidia-h100'."""
    import os

    from asymprune.bench import environment, BenchConfig
    env = environment(BenchConfig(device=device))
    name = env["gpu"] if device == "cuda" else f"{env['cpu']}-{os.cpu_count()}c"
    return f"{'gpu' if device == 'cuda' else 'cpu'}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def machine_description(device: str = "cpu") -> str:
    from asymprune.bench import environment, BenchConfig
    env = environment(BenchConfig(device=device))
    what = env["gpu"] if device == "cuda" else f"{env['cpu']}, {env['cpu_count']} cores"
    return (f"{what}; {env['platform']}; Python {env['python']}, torch {env['torch']}, "
            f"transformers {env['transformers']}, ctranslate2 {env['ctranslate2']}, asymprune {env['asymprune']}")


def make_variants(preset: str, variants: list[tuple[int, int]], root: Path, seed: int = 0) -> dict[str, str]:
    """Save the preset (random weights) and its pruned variants (in sixths) under root.

    Variants use the paper's keep-maps, or `spread` for depths the paper has no map for.
    """
    from asymprune import prune_layers
    from asymprune.errors import UsageError
    from asymprune.models import build_preset, save_model

    paths = {}
    for enc, dec in variants:
        model, tokenizer = build_preset(preset, seed=seed)
        if (enc, dec) != (6, 6):
            try:
                prune_layers(model, encoder=f"{enc}/6", decoder=f"{dec}/6", strategy="paper")
            except UsageError:  # depths without a paper map (tiny presets)
                prune_layers(model, encoder=f"{enc}/6", decoder=f"{dec}/6", strategy="spread")
        path = root / f"{preset}-{enc}-{dec}"
        save_model(model, path, tokenizer)
        paths[f"{enc}/{dec}"] = str(path)
    return paths


FULL = "full"  # a stack at its full depth, or the whole vocabulary


def build_variant(arch: str, root: Path, encoder: int | str = FULL, decoder: int | str = FULL,
                  rows: int | str = FULL, seed: int = 0) -> tuple[str, str]:
    """Save `arch` (a preset, random weights) with `encoder` and `decoder` layers and `rows` vocabulary rows
    (each a count or FULL) under root; return (label "enc/dec", path).

    Layers go by the paper's keep-maps, or `spread` for depths the paper has no map for. The first
    `rows` rows are kept (`asymprune.vocab.shrink_model`, what `asymprune vocab` runs): with random
    weights which layers and rows are kept does not change the timing.
    """
    from asymprune import prune_layers
    from asymprune.errors import UsageError
    from asymprune.models import build_preset, family_for, save_model
    from asymprune.vocab import RebuildableTokenizer, shrink_model

    model, tokenizer = build_preset(arch, seed=seed)
    layers = family_for(model.config).layer_counts(model.config)
    enc = layers["encoder"] if encoder == FULL else int(encoder)
    dec = layers["decoder"] if decoder == FULL else int(decoder)
    cut = {"encoder": enc if enc != layers["encoder"] else None, "decoder": dec if dec != layers["decoder"] else None}
    if any(cut.values()):
        try:
            prune_layers(model, **cut, strategy="paper")
        except UsageError:  # depths without a paper map
            prune_layers(model, **cut, strategy="spread")
    kept = model.config.vocab_size if rows == FULL else int(rows)
    if kept < model.config.vocab_size:
        shrink_model(model, list(range(kept)))
        if kept < len(tokenizer):  # a BPE's first ids are closed under its merges
            tokenizer = RebuildableTokenizer(tokenizer).rebuild(list(range(kept)))
    path = root / f"{arch}-{enc}-{dec}-{kept}"
    save_model(model, path, tokenizer)  # config.json says tie_word_embeddings: false where the lm_head is its own
    return f"{enc}/{dec}", str(path)


def bf16_supported(device: str) -> bool:
    """bfloat16 matmuls are fast only with hardware support (avx512_bf16/AMX on CPU)."""
    if device == "cuda":
        import torch
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def add_timing_args(ap: argparse.ArgumentParser, runs: int = 3, source_length: int = 512,
                    new_tokens: int = 64) -> None:
    """The timing options the CPU benchmark scripts share: batch sizes, lengths, runs, threads, device."""
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--source-length", type=int, default=source_length)
    ap.add_argument("--new-tokens", type=int, default=new_tokens)
    ap.add_argument("--runs", type=int, default=runs)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
