"""`asymprune export`: a model folder as a deployable CTranslate2 model, checked against transformers.

    done = export_model("runs/pruned", Path("serve/ct2"), vmap="synthetic")   # {"vmap_tokens": ..., "check": ...}
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..fsutil import check_writable_out
from ..models import load_config
from .convert import check_quantization, export_ct2
from .runtimes import runtime_for


def export_model(model_src: str, out: Path, format: str = "ct2", quantize: str | None = None,
                 vmap: str | None = None, vmap_size: int | None = None, overwrite: bool = False) -> dict:
    """Export a local model folder for deployment: `export_ct2`, with a vocabulary map of the
    tokens dataset `vmap`'s train split uses when given, and, unquantized, the check against
    transformers. Returns {"vmap_tokens": count or None, "check": compare_with_hf's result or None}.
    """
    import tempfile

    if format != "ct2":
        raise UsageError(f"unknown export format '{format}'; the supported format is: ct2")
    if vmap_size is not None and vmap is None:
        raise UsageError("--vmap-size needs --vmap SPEC, the dataset whose tokens the map keeps")
    if vmap is not None:
        from ..vocab import VocabConfig
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
            from ..vocab import VocabConfig, domain_tokens, write_vmap
            tokens = domain_tokens(model_src, vmap, VocabConfig(size=vmap_size), size_flag="--vmap-size")
            vmap_file = Path(tmp) / "vmap.txt"
            write_vmap(tokens, vmap_file)
        export_ct2(model_src, out, quantize=quantize, overwrite=overwrite, vmap=vmap_file)
    check = None if quantize else runtime_for(load_config(model_src)).check(model_src, out)
    return {"vmap_tokens": None if tokens is None else len(tokens), "check": check}
