"""Safe loading of a model given as a hub id, a local directory, or (where allowed) a preset name.

    config = load_config("google/flan-t5-small")   # cheap: validate before loading weights
    model = load_model("runs/base")                 # safetensors only, no remote code
    model = load_model("flan-t5-small", presets=True)  # random weights, built on the fly

Remote code is off unless asked for, and pickle checkpoints (pytorch_model.bin) need
an explicit `allow_pickle=True`: unpickling runs code.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

from ..errors import UsageError
from .families import family_for
from .presets import PRESETS, build_preset, preset_config


def _looks_local(src: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else path-like is a local path.
    return (Path(src).exists() or src.startswith((".", "/", "~")) or src.count("/") > 1
            or os.sep != "/" and os.sep in src)


def _check_local(src: str) -> None:
    path = Path(src).expanduser()
    if not path.exists():
        raise UsageError(f"model '{src}' not found; pass an existing model directory or a hub id like google/flan-t5-small")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise UsageError(f"'{src}' is not a model directory (no config.json); pass a directory written by "
                         "save_pretrained, asymprune init or asymprune prune")


def is_preset(src: str, presets: bool) -> bool:
    return presets and src in PRESETS and not Path(src).exists()


def load_config(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """The model's config, checked to be an encoder-decoder of a supported family."""
    if is_preset(src, presets):
        return preset_config(src)[0]
    if _looks_local(src):
        _check_local(src)
    try:
        config = AutoConfig.from_pretrained(src, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"could not load a model config from '{src}' ({first}); check the path or hub id") from None
    family_for(config)
    return config


def load_model(src: str, *, trust_remote_code: bool = False, allow_pickle: bool = False,
               presets: bool = False, dtype=None, seed: int = 0):
    """An AutoModelForSeq2SeqLM from a hub id or directory (or a preset when `presets`)."""
    if is_preset(src, presets):
        model = build_preset(src, seed=seed)[0]
        return model.to(dtype) if dtype is not None else model
    load_config(src, trust_remote_code=trust_remote_code)
    local = Path(src).expanduser()
    if local.is_dir() and not allow_pickle and not any(local.glob("*.safetensors")):
        raise UsageError(f"'{src}' has no .safetensors weights, only a pickle checkpoint; re-save it with "
                         "safetensors or pass --allow-pickle if you trust its origin")
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(
            src, trust_remote_code=trust_remote_code, use_safetensors=None if allow_pickle else True,
            dtype=dtype,
        )
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0]
        raise UsageError(f"could not load model weights from '{src}' ({first}); pass --allow-pickle for "
                         "pickle-only checkpoints, or check the path") from None
    model.eval()
    return model


def load_tokenizer(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """The model's tokenizer, or None when the source has none."""
    if is_preset(src, presets):
        return build_preset(src)[1]
    try:
        return AutoTokenizer.from_pretrained(src, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError):
        return None
