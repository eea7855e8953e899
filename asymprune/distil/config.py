"""The distil-whisper re-tune as settings, what it freezes, and the checks that fail before any work.

    config = DistilConfig(learning_rate=5e-4, max_steps=300, distill_from="runs/whisper-tiny.en")
    check_config(config)                  # one-line UsageError for an impossible setting
    frozen = freeze(model, config.frozen) # {"encoder": 8.2M, "model.decoder.embed_tokens": 19.9M, ...}

The encoder is always frozen: training reads its cached outputs and never runs it. Of the decoder,
distil-whisper's student keeps the token embedding (tied to the output projection, ~20M of
tiny.en's 29M decoder parameters, and most of a step's gradient work) and the learned positions
from the teacher; only the decoder layers and its final layer norm train. `frozen` names the
modules held fixed, so the record says exactly what moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

FROZEN = ("model.encoder", "model.decoder.embed_tokens", "model.decoder.embed_positions")


@dataclass
class DistilConfig:
    learning_rate: float = 5e-4               # AdamW peak learning rate
    lr_scheduler: str = "linear"              # transformers scheduler name: linear decay after warm-up
    warmup_steps: int = 30                    # linear warm-up steps
    weight_decay: float = 0.0                 # AdamW weight decay
    max_grad_norm: float = 1.0                # gradient clipping
    batch_size: int = 16                      # utterances per optimizer step
    max_steps: int = 300                      # optimizer steps
    eval_steps: int = 100                     # validation loss and a checkpoint every N steps
    eval_samples: int | None = 64             # validation rows used for the loss; None: the whole split
    patience: int = 0                         # evaluations without improvement before stopping; 0: never
    logging_steps: int = 10                   # train loss and seconds per step logged every N steps
    max_target_length: int = 128              # transcript tokens kept per utterance (longer ones are cut)
    max_new_tokens: int = 128                 # cap on the teacher's pseudo-label transcripts (greedy decoding)
    distill_from: str | None = None           # teacher folder: train on its pseudo-labels AND its logits (KD)
    distill_alpha: float = 0.8                # weight of the KL term (1 - alpha on cross-entropy)
    distill_temperature: float = 2.0          # softmax temperature of the KL term (scaled by T^2)
    frozen: tuple[str, ...] = FROZEN          # module paths held fixed (the encoder is always among them)
    cache_dir: str | None = None              # encoder outputs and pseudo-labels; None: the asymprune cache
    cache_dtype: str = "float32"              # encoder outputs on disk: float32 (exact) or float16
    encode_batch_size: int = 8                # utterances per encoder (and pseudo-labelling) batch
    threads: int | None = None                # torch threads; None: torch's own (one per physical core)
    seed: int = 0                             # data order
    report_to: str = "none"                   # experiment trackers, as the Trainer names them (tensorboard, ...)
    run_name: str | None = None               # the run's name in the trackers; None: OUT's folder name
    save_total_limit: int = 1                 # checkpoints kept besides the best
    extra: dict = field(default_factory=dict)  # free-form notes copied into the record


def check_config(config: DistilConfig) -> None:
    """Fail on impossible settings before any work."""
    from transformers.trainer_utils import SchedulerType

    for name in ("batch_size", "max_steps", "eval_steps", "logging_steps", "max_target_length",
                 "encode_batch_size", "save_total_limit", "max_new_tokens"):
        if getattr(config, name) < 1:
            raise UsageError(f"{name} must be at least 1 (got {getattr(config, name)})")
    if config.learning_rate <= 0 or config.warmup_steps < 0 or config.weight_decay < 0 or config.patience < 0:
        raise UsageError("learning_rate must be above 0; warmup_steps, weight_decay and patience 0 or more")
    if config.eval_samples is not None and config.eval_samples < 1:
        raise UsageError(f"eval_samples {config.eval_samples}: use at least 1 row, or None for all")
    if config.lr_scheduler not in [s.value for s in SchedulerType]:
        raise UsageError(f"unknown lr_scheduler '{config.lr_scheduler}'; choose a transformers scheduler name")
    if not 0 <= config.distill_alpha <= 1 or config.distill_temperature <= 0:
        raise UsageError("distill_alpha must be in [0, 1] and distill_temperature above 0")
    if "model.encoder" not in config.frozen:
        raise UsageError("the encoder is always frozen in this re-tune (it trains on cached encoder outputs); "
                         "keep 'model.encoder' in frozen")
    if config.cache_dtype not in ("float32", "float16"):
        raise UsageError(f"cache_dtype '{config.cache_dtype}': choose float32 or float16")
    if config.distill_from is not None and not (Path(config.distill_from) / "config.json").is_file():
        raise UsageError(f"teacher {config.distill_from} is not a model folder (no config.json); pass the "
                         "full model's folder")


def freeze(model, frozen: tuple[str, ...]) -> dict:
    """Stop gradients for the modules named in `frozen`; {"frozen": {path: params}, "trainable": n, "trained": [...]}."""
    modules = dict(model.named_modules())
    counts = {}
    for path in frozen:
        if path not in modules:
            raise UsageError(f"frozen module '{path}' is not in the model; the model has e.g. "
                             f"{', '.join(n for n in list(modules)[1:6])}")
        params = list(modules[path].parameters())
        for p in params:
            p.requires_grad_(False)
        counts[path] = sum(p.numel() for p in params)
    trained = sorted({n.rsplit(".", 1)[0] for n, p in model.named_parameters() if p.requires_grad})
    return {"frozen": counts, "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters()), "trained_modules": _summary(trained)}


def _summary(names: list[str]) -> list[str]:
    """Trained module paths, with per-layer names folded: model.decoder.layers.* instead of one per layer."""
    import re
    return sorted({re.sub(r"\.layers\.\d+\..*", ".layers.*", n) for n in names})
