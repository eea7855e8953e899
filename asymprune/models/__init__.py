"""Model families (all asymprune knows of each architecture) and presets (architectures with random weights)."""

from .families import FAMILIES, STACKS, Family, family_for, family_of_type, param_counts, register_family
from .loading import (check_has_tokenizer, family_of, load_config, load_generation_config, load_model, load_processor,
                      load_tokenizer, require_processor, require_tokenizer)
from .presets import PRESETS, Preset, build_preset, get_preset, register_preset, write_preset
from .saving import has_own_lm_head, save_model

__all__ = [
    "FAMILIES", "STACKS", "Family", "family_for", "family_of_type", "param_counts", "register_family",
    "check_has_tokenizer", "family_of", "load_config", "load_generation_config", "load_model", "load_processor",
    "load_tokenizer",
    "require_processor", "require_tokenizer",
    "PRESETS", "Preset", "build_preset", "get_preset", "register_preset", "write_preset",
    "has_own_lm_head", "save_model",
]
