"""Backends: one registered entry per runtime a bench times (hf: transformers; ct2: CTranslate2).

    base.py  Backend, Runner, Setup (a model's backend and precision), Precision, the registry
    hf.py    transformers generate(), at a dtype, compiled or assisted
    ct2.py   a CTranslate2 conversion, in the runtime the model's family names
"""

from . import hf  # noqa: F401  (registers the built-in backends, in this order)
from . import ct2  # noqa: F401
from .base import (BACKENDS, Backend, Precision, Runner, Setup, backend_for, default_threads, device_used_mb,
                   register_backend, rss_mb, sample_peak)
from .hf import explicit_generation_config

__all__ = ["BACKENDS", "Backend", "Precision", "Runner", "Setup", "backend_for", "default_threads", "device_used_mb",
           "register_backend", "rss_mb", "sample_peak", "explicit_generation_config"]
