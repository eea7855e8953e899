"""CTranslate2 conversion: a content-keyed cache for benchmarks, and the deployable export.

    path = cached_conversion("runs/pruned")          # runs/pruned/.ct2/<content-key>/
    export_ct2("runs/pruned", Path("serve/ct2"), quantize="int8")

The converter is CTranslate2's own, with the loaders a model's family replaces (`Family.ct2_loaders`:
T5's output scaling, BART's normalize_before); the conversion is checked against transformers by the
runtime the family names (runtimes.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import ctranslate2
from ctranslate2.converters import transformers as ct2_transformers

from ..errors import UsageError, first_line
from ..fsutil import atomic_dir
from ..models import FAMILIES, family_of
from ..models.files import TOKENIZER_FILES

def register_loaders(family) -> None:
    """Use `family`'s converter loaders instead of CTranslate2's stock ones for its config classes."""
    for config_class, loader in family.ct2_loaders().items():
        ct2_transformers.register_loader(config_class)(loader)


for _family in FAMILIES.values():  # the built-in families' fixes hold for any converter call in this process
    register_loaders(_family)


def supported_compute_types(device: str) -> set[str]:
    return set(ctranslate2.get_supported_compute_types(device))


def check_compute_type(compute_type: str, device: str, flag: str = "--ct2-compute-type") -> None:
    """`flag`: the option the user gave it with (bench's --ct2-compute-type, export's --quantize)."""
    if compute_type in ("default", "auto"):
        return
    supported = supported_compute_types(device)
    if compute_type not in supported:
        raise UsageError(f"{flag} {compute_type}: CTranslate2 cannot run compute type '{compute_type}' on this "
                         f"{device}; use one of: {', '.join(sorted(supported))}")


def check_quantization(quantize: str) -> None:
    """export's --quantize: a type CTranslate2's converter knows, and (int8) one this CPU runs."""
    from ctranslate2.specs.model_spec import ACCEPTED_MODEL_TYPES
    if quantize not in ACCEPTED_MODEL_TYPES:
        raise UsageError(f"--quantize {quantize} is not a CTranslate2 weight type; choose one of: "
                         f"{', '.join(ACCEPTED_MODEL_TYPES)}")
    if quantize.startswith("int8"):
        check_compute_type(quantize, "cpu", "--quantize")


def content_key(model_dir: Path) -> str:
    """Hash of everything the conversion reads, plus the converter's version."""
    h = hashlib.sha256(f"ctranslate2={ctranslate2.__version__};fix=scale_decoder_outputs".encode())
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and (p.suffix in (".json", ".safetensors")
                                                                       or p.name in TOKENIZER_FILES))
    for path in files:
        h.update(path.name.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _cache_root(model_dir: Path) -> Path:
    # Next to the model when we may write there; else the user cache.
    if os.access(model_dir, os.W_OK):
        return model_dir / ".ct2"
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "asymprune" / "ct2"


def _convert(model_dir: Path, out: Path, quantize: str | None, overwrite: bool, vmap: Path | None = None) -> None:
    copy = [name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    if not any(TOKENIZER_FILES[name] for name in copy):
        raise UsageError(f"'{model_dir}' has no tokenizer files; CTranslate2 needs the tokenizer to build its "
                         "vocabulary; save the tokenizer into the model directory")
    register_loaders(family_of(str(model_dir)))  # a family registered after this module was imported
    with atomic_dir(out, overwrite=overwrite) as tmp:
        converter = ct2_transformers.TransformersConverter(str(model_dir), copy_files=copy)
        try:
            converter.convert(str(tmp), vmap=None if vmap is None else str(vmap), quantization=quantize, force=True)
        except Exception as e:  # any converter failure: report it in one line, keep no partial output
            reason = first_line(e)
            raise UsageError(f"CTranslate2 could not convert '{model_dir}': {reason}") from None


def cached_conversion(model_dir: str | Path) -> Path:
    """A float32 CTranslate2 copy of `model_dir`, converted once per content."""
    model_dir = Path(model_dir)
    out = _cache_root(model_dir) / content_key(model_dir)
    if not (out / "model.bin").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        _convert(model_dir, out, quantize=None, overwrite=True)
    return out


def export_ct2(model_dir: str | Path, out: Path, quantize: str | None = None, overwrite: bool = False,
               vmap: Path | None = None) -> None:
    """The artifact a user deploys: converted weights (optionally quantized) plus tokenizer files.

    `vmap`: a vocabulary map file, stored as vmap.txt, for translate_batch(use_vmap=True).
    """
    model_dir = Path(model_dir)
    if quantize:
        check_quantization(quantize)
    _convert(model_dir, Path(out), quantize=quantize, overwrite=overwrite, vmap=vmap)


def remove_cache(model_dir: Path) -> None:
    shutil.rmtree(Path(model_dir) / ".ct2", ignore_errors=True)
