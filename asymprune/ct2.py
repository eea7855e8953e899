"""CTranslate2 conversion: a content-keyed cache for benchmarks, and the deployable export.

    path = cached_conversion("runs/pruned")          # runs/pruned/.ct2/<content-key>/
    export_ct2("runs/pruned", Path("serve/ct2"), quantize="int8")
    report = compare_with_hf("runs/pruned", path)    # greedy tokens and log-probs, float32
    done = export_model("runs/pruned", Path("serve/ct2"), vmap="synthetic")   # what `asymprune export` runs

The stock converter decides T5's output scaling from `tie_word_embeddings`, which
transformers 5 forces to True for every T5 config; FLAN-T5 (T5 v1.1) must not be scaled.
The loaders registered below decide from `scale_decoder_outputs` instead, so scores and
beams match transformers, not only greedy tokens.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import ctranslate2
from ctranslate2.converters import transformers as ct2_transformers
from ctranslate2.specs import model_spec

from .errors import UsageError, first_line
from .fsutil import atomic_dir

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model",
                   "vocab.json", "merges.txt", "source.spm", "target.spm", "sentencepiece.bpe.model")


def _fix_scaling(loader_cls):
    class Loader(loader_cls):
        def get_model_spec(self, model):
            spec = super().get_model_spec(model)
            scale = getattr(model.config, "scale_decoder_outputs", model.config.tie_word_embeddings)
            spec.decoder.scale_outputs = model.config.d_model ** -0.5 if scale else model_spec.OPTIONAL
            return spec
    Loader.__name__ = loader_cls.__name__
    return Loader


def _with_norm_default(loader_cls, normalize_before: bool):
    # transformers 5 dropped `normalize_before` from BART/mBART configs; the converter still reads
    # it. BART is post-norm, mBART pre-norm.
    class Loader(loader_cls):
        def get_model_spec(self, model):
            if not hasattr(model.config, "normalize_before"):
                model.config.normalize_before = normalize_before
            return super().get_model_spec(model)
    Loader.__name__ = loader_cls.__name__
    return Loader


ct2_transformers.register_loader("T5Config")(_fix_scaling(ct2_transformers.T5Loader))
ct2_transformers.register_loader("MT5Config")(_fix_scaling(ct2_transformers.MT5Loader))
ct2_transformers.register_loader("BartConfig")(_with_norm_default(ct2_transformers.BartLoader, False))
ct2_transformers.register_loader("MBartConfig")(_with_norm_default(ct2_transformers.MBartLoader, True))


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
    if not copy:
        raise UsageError(f"'{model_dir}' has no tokenizer files; CTranslate2 needs the tokenizer to build its "
                         "vocabulary; save the tokenizer into the model directory")
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


def export_model(model_src: str, out: Path, format: str = "ct2", quantize: str | None = None,
                 vmap: str | None = None, vmap_size: int | None = None, overwrite: bool = False) -> dict:
    """Export a local model folder for deployment: `export_ct2`, with a vocabulary map of the
    tokens dataset `vmap`'s train split uses when given, and, unquantized, the check against
    transformers. Returns {"vmap_tokens": count or None, "check": compare_with_hf's result or None}.
    """
    import tempfile

    from .fsutil import check_writable_out
    from .models import load_config

    if format != "ct2":
        raise UsageError(f"unknown export format '{format}'; the supported format is: ct2")
    if vmap_size is not None and vmap is None:
        raise UsageError("--vmap-size needs --vmap SPEC, the dataset whose tokens the map keeps")
    if vmap is not None:
        from .vocab import VocabConfig
        VocabConfig(size=vmap_size).validate("--vmap-size")
    if quantize:
        check_quantization(quantize)
    check_writable_out(out, overwrite, inputs=[model_src, vmap])
    load_config(model_src)
    if not Path(model_src).is_dir():
        raise UsageError(f"export needs a local model directory; download '{model_src}' first "
                         "(e.g. save_pretrained) and pass its path")
    tokens = None
    with tempfile.TemporaryDirectory(prefix="asymprune-vmap-") as tmp:
        vmap_file = None
        if vmap is not None:
            from .vocab import VocabConfig, domain_tokens, write_vmap
            tokens = domain_tokens(model_src, vmap, VocabConfig(size=vmap_size), size_flag="--vmap-size")
            vmap_file = Path(tmp) / "vmap.txt"
            write_vmap(tokens, vmap_file)
        export_ct2(model_src, out, quantize=quantize, overwrite=overwrite, vmap=vmap_file)
    return {"vmap_tokens": None if tokens is None else len(tokens),
            "check": None if quantize else compare_with_hf(model_src, out)}


def vocabulary(ct2_dir: Path) -> list[str]:
    """The token strings of a converted model, indexed by id."""
    import json
    for name in ("shared_vocabulary.json", "target_vocabulary.json"):
        if (ct2_dir / name).is_file():
            return json.loads((ct2_dir / name).read_text())
    for name in ("shared_vocabulary.txt", "target_vocabulary.txt"):
        if (ct2_dir / name).is_file():
            return (ct2_dir / name).read_text(encoding="utf-8").split("\n")[:-1]
    raise UsageError(f"{ct2_dir} has no vocabulary file; delete it and convert again")


def compare_with_hf(model_dir: str | Path, ct2_dir: Path, length: int = 12, seed: int = 0) -> dict:
    """Greedy tokens and per-token log-probs of HF float32 vs CTranslate2 float32 on a short input."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    vocab = vocabulary(ct2_dir)
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(5, min(len(vocab), model.config.vocab_size), (1, 15), generator=gen).tolist()[0]
    src = src + [model.config.eos_token_id]
    with torch.inference_mode():
        # One token more than compared: BART forces EOS at max length, CTranslate2 does not.
        hf = model.generate(torch.tensor([src]), max_new_tokens=length + 1, min_new_tokens=length + 1,
                            do_sample=False, num_beams=1, output_logits=True, return_dict_in_generate=True)
        hf_ids = hf.sequences[0, 1:length + 1].tolist()  # drop the decoder start token
        # Raw logits: the processed scores are renormalised without EOS (min_new_tokens).
        hf_logp = [torch.log_softmax(s[0].float(), -1)[t].item() for s, t in zip(hf.logits, hf_ids)]
    translator = ctranslate2.Translator(str(ct2_dir), device="cpu", compute_type="float32")
    result = translator.translate_batch([[vocab[i] for i in src]], beam_size=1, max_decoding_length=length,
                                        min_decoding_length=length)
    ct2_tokens = result[0].hypotheses[0]
    ct2_ids = [vocab.index(t) for t in ct2_tokens]
    scored = translator.score_batch([[vocab[i] for i in src]], [[vocab[i] for i in hf_ids]])
    ct2_logp = scored[0].log_probs[: len(hf_ids)]
    diff = max(abs(a - b) for a, b in zip(hf_logp, ct2_logp))
    return {"tokens_match": ct2_ids == hf_ids, "hf_tokens": hf_ids, "ct2_tokens": ct2_ids,
            "max_logprob_diff": diff, "scores_match": diff < 1e-3}


def remove_cache(model_dir: Path) -> None:
    shutil.rmtree(Path(model_dir) / ".ct2", ignore_errors=True)
