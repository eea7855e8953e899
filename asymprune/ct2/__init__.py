"""CTranslate2: conversion (a content-keyed cache, the deployable export) and the runtimes that run it.

    convert.py   cached_conversion, export_ct2, the families' converter fixes
    runtimes.py  one registered entry per CTranslate2 class (`Translator`), a conversion's vocabulary, compare_with_hf
    whisper_runtime.py  `Whisper`: ctranslate2.models.Whisper, fed log-mel windows
    export.py    export_model: what `asymprune export` runs
"""

from .convert import (cached_conversion, check_compute_type, check_quantization, content_key, export_ct2,
                      register_loaders, remove_cache, supported_compute_types)
from .export import export_model
from .runtimes import RUNTIMES, Runtime, compare_with_hf, register_runtime, runtime_for, vocabulary
from . import whisper_runtime  # noqa: F401  (registers the Whisper runtime)

__all__ = ["cached_conversion", "check_compute_type", "check_quantization", "content_key", "export_ct2", "export_model",
           "register_loaders", "remove_cache", "supported_compute_types", "vocabulary", "RUNTIMES", "Runtime",
           "compare_with_hf", "register_runtime", "runtime_for"]
