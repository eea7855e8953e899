"""Model families (where the layers are) and presets (architectures with random weights)."""

from .families import FAMILIES, STACKS, Family, family_for, param_counts, register_family
from .loading import load_config, load_model, load_tokenizer, require_tokenizer, check_has_tokenizer
from .presets import PRESETS, Preset, build_preset, get_preset, register_preset, write_preset
from .saving import has_own_lm_head, save_model

__all__ = [
    "FAMILIES", "STACKS", "Family", "family_for", "param_counts", "register_family",
    "load_config", "load_model", "load_tokenizer", "require_tokenizer", "check_has_tokenizer",
    "PRESETS", "Preset", "build_preset", "get_preset", "register_preset", "write_preset",
    "has_own_lm_head", "save_model",
]
