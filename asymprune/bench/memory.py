"""Will it fit? The memory a bench needs, estimated from the configs before anything is loaded.

    check_memory([config_a, config_b], cfg)      # one-line UsageError naming the batch size that cannot fit
    estimate_mb(config, cfg, batch_size=8)       # {"weights": ..., "activations": ..., "cache": ...}

Every model of a bench is loaded at once (one worker process each) and generates one call at a
time, so the need is the sum of the weights and of each process's own overhead, plus the largest
single generation: its key/value caches (self-attention over the generated tokens, cross-attention
over the source, every decoder layer), the encoder's widest layer (attention scores and the
feed-forward activations of the whole batch), the encoder output and the logits. It is compared
with the memory available now on CPU (MemAvailable) or the GPU's total memory on CUDA. The
estimate aims at what cannot fit, not at a tight bound: a batch it lets through can still be
refused by the machine.
"""

from __future__ import annotations

from ..errors import UsageError
from .backends import Setup, backend_for
from .config import BenchConfig

PROCESS_MB = {"cpu": 300.0, "cuda": 500.0}  # a worker's torch + transformers, or its CUDA context


def parameters(config) -> int:
    """Parameter count of `config`'s model: from a local checkpoint's safetensors headers (exact, buffers
    included, no weights read), else built on the meta device (no memory; an lm_head that a preset or
    checkpoint keeps apart from the embeddings is then counted once, as tied)."""
    import math
    from pathlib import Path
    folder = getattr(config, "_name_or_path", "") or ""
    files = sorted(Path(folder).glob("*.safetensors")) if folder and Path(folder).is_dir() else []
    if files:
        from safetensors import safe_open
        total = 0
        for file in files:
            with safe_open(file, framework="pt") as st:
                total += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())
        return total
    import torch

    from ..models import family_for
    with torch.device("meta"):
        model = family_for(config).from_config(config)
    return sum(p.numel() for p in model.parameters())


def estimate_mb(config, cfg: BenchConfig, batch_size: int, params: int | None = None,
                setup: Setup | None = None) -> dict:
    """Weights, the widest encoder layer's activations and the KV caches of one generation (MB), at the
    precision of `setup`'s backend (default: cfg's). `params`: the parameter count, when known (else built
    on the meta device)."""
    from ..models import family_for
    setup = setup or cfg.setup()
    weight_bytes, act = backend_for(setup.backend).value_bytes(setup)
    layers = family_for(config).layer_counts(config)
    hidden, heads = config.hidden_size, config.num_attention_heads
    head_dim = getattr(config, "d_kv", None) or hidden // heads
    ffn = next((getattr(config, k) for k in ("d_ff", "encoder_ffn_dim", "intermediate_size")
                if getattr(config, k, None)), 4 * hidden)
    b, source, new = batch_size, cfg.source_length, cfg.new_tokens
    cache = 2 * layers["decoder"] * b * heads * head_dim * (source + new + 1) * act  # self + cross, keys + values
    encoder = b * source * (4 * hidden + 2 * heads * source + 2 * ffn) * act  # residual stream, scores, FFN
    logits = 2 * b * config.vocab_size * 4  # float32 scores of a step, and their processed copy
    out = {"weights": (parameters(config) if params is None else params) * weight_bytes, "cache": cache,
           "activations": b * source * hidden * act + max(encoder, logits)}
    return {k: v / 2**20 for k, v in out.items()}


def available_mb(device: str) -> float | None:
    """Memory the bench may use: MemAvailable on CPU, the GPU's total memory on CUDA (None: unknown)."""
    if device == "cuda":
        import torch
        return torch.cuda.get_device_properties(0).total_memory / 2**20
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        import os
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (ValueError, OSError, AttributeError):
            return None


def _gib(mb: float) -> str:
    return f"{mb / 1024:,.1f} GiB" if mb < 1024 * 10_000 else f"{mb / 1024:.1e} GiB"


def check_memory(configs: list, cfg: BenchConfig, drafts: list = (), setups: list | None = None,
                 flag: str = "--batch-sizes") -> None:
    """One line and exit 2 for the first batch size whose estimate exceeds the machine's memory.

    `configs`: the models benched (each in its own process), each in its setup of `setups` (default:
    cfg's); `drafts`: the configs of assisted rows' drafts (each loaded beside a copy of the first model,
    at batch 1 only, in cfg's setup).
    """
    have = available_mb(cfg.device)
    if have is None:
        return
    where = "GPU memory" if cfg.device == "cuda" else "available RAM"
    counts = [parameters(c) for c in configs]
    setups = setups or [cfg.setup()] * len(configs)
    need = [lambda bs, c=c, n=n, s=s: estimate_mb(c, cfg, bs, n, s) for c, n, s in zip(configs, counts, setups)]
    weights = [f(1)["weights"] for f in need]
    procs = len(configs) + len(drafts)
    # An assisted row's worker holds a copy of the first model and its draft.
    fixed = procs * PROCESS_MB[cfg.device] + sum(weights) + len(drafts) * weights[0]
    fixed += sum(estimate_mb(d, cfg, 1)["weights"] for d in drafts)
    one = max(e["cache"] + e["activations"] for e in (f(1) for f in need))
    for bs in sorted(cfg.batch_sizes):
        widest = max(e["cache"] + e["activations"] for e in (f(bs) for f in need))
        if fixed + widest <= have:
            continue
        fits = int((have - fixed) // one) if have > fixed + one else 0
        advice = (f"pass {flag} {fits} or less" if fits >= 1 else
                  "not even batch 1 fits: pass a smaller --source-length or --new-tokens, or fewer models")
        raise UsageError(f"{flag} {bs}: the bench needs about {_gib(fixed + widest)} ({_gib(fixed)} for "
                         f"{procs} model process{'es' if procs > 1 else ''} and weights, {_gib(widest)} for one "
                         f"generation at source {cfg.source_length} and {cfg.new_tokens} new tokens) but "
                         f"{cfg.device} has {_gib(have)} {where}; {advice}")
