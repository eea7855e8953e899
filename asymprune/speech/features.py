"""Whisper's log-mel input features: always one 30-second window per clip, as Whisper was trained.

    fe = feature_extractor()                              # WhisperFeatureExtractor(): 80 mel bins, 16 kHz, 30 s
    fe = feature_extractor("runs/whisper-tiny.en")        # the one saved with a model (preprocessor_config.json)
    x = input_features([row.read() for row in rows], fe)  # torch.float32 (batch, 80, 3000)
    for batch_rows, x in feature_batches(rows, batch_size=8):
        model.generate(input_features=x, ...)

Every clip is padded with silence to 30 s (3,000 frames of 10 ms), whatever its length: Whisper
always reads a full window, so a 3-second clip costs the encoder as much as a 30-second one. A
clip longer than 30 s is refused rather than cut (see `audio.MAX_SECONDS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from ..errors import UsageError, first_line
from .audio import MAX_SECONDS, SAMPLE_RATE, SpeechRow


def feature_extractor(model_dir: str | Path | None = None):
    """Whisper's feature extractor: the model folder's preprocessor_config.json, or the defaults (80 mel bins)."""
    from transformers import WhisperFeatureExtractor
    if model_dir is None:
        return WhisperFeatureExtractor()
    path = Path(model_dir)
    if not (path / "preprocessor_config.json").is_file():
        raise UsageError(f"{path} has no preprocessor_config.json; save the WhisperProcessor (or its feature "
                         "extractor) into the model folder")
    try:
        return WhisperFeatureExtractor.from_pretrained(str(path))
    except Exception as e:  # a config that exists but does not parse is damaged, not absent
        raise UsageError(f"{path / 'preprocessor_config.json'} cannot be read ({first_line(e)}); "
                         "save the feature extractor again") from None


def input_features(audios: list, extractor=None, where: list[str] | None = None):
    """(batch, n_mels, 3000) float32 log-mel features of 16 kHz mono clips, each padded to 30 s."""
    extractor = extractor or feature_extractor()
    if extractor.sampling_rate != SAMPLE_RATE:
        raise UsageError(f"the feature extractor expects {extractor.sampling_rate} Hz audio; asymprune reads "
                         f"audio at {SAMPLE_RATE} Hz, as every Whisper checkpoint does")
    if not audios:
        raise UsageError("no audio to turn into features; give at least one clip")
    for i, audio in enumerate(audios):
        if len(audio) > MAX_SECONDS * SAMPLE_RATE:
            name = where[i] if where else f"clip {i}"
            raise UsageError(f"{name}: the clip is {len(audio) / SAMPLE_RATE:.1f} s long; Whisper reads "
                             f"{MAX_SECONDS:.0f}-second windows: split it into clips of at most 30 s")
    out = extractor(audios, sampling_rate=SAMPLE_RATE, padding="max_length", return_tensors="pt")
    return out["input_features"]


def feature_batches(rows: Iterable[SpeechRow], batch_size: int = 8, extractor=None
                    ) -> Iterator[tuple[list[SpeechRow], object]]:
    """(rows, input_features) in batches of `batch_size`, in order; audio is read one batch at a time."""
    if batch_size < 1:
        raise UsageError(f"batch size {batch_size}: pass 1 or more")
    extractor = extractor or feature_extractor()
    batch: list[SpeechRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == batch_size:
            yield batch, input_features([r.read() for r in batch], extractor, [r.where for r in batch])
            batch = []
    if batch:
        yield batch, input_features([r.read() for r in batch], extractor, [r.where for r in batch])
