"""Audio files as Whisper reads them: 16 kHz mono float32, checked up front, errors naming the row.

    row = SpeechRow(id="a1", text="hello there", audio=Path("clips/a1.wav"), where="data/metadata.csv row 1")
    row.check()           # duration in seconds, or one line: missing, unreadable, empty, too long, bad rate
    x = row.read()        # np.float32, 16 kHz, mono (channels mixed down, other rates resampled)

Files are decoded with soundfile (libsndfile: WAV, FLAC, OGG, MP3, ...), so no ffmpeg is needed.
A rate other than 16 kHz is resampled with soxr (quality "HQ", as librosa's default); a rate
below 8 kHz is refused, since such audio no longer holds the speech band Whisper was trained on.
Several channels are mixed down to their mean, as `datasets.Audio(mono=True)` does. A clip longer
than 30 seconds is refused: Whisper reads one 30-second window, and silently cutting the audio
would score a transcript against words the model never heard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError, first_line

SAMPLE_RATE = 16_000     # Hz: Whisper's feature extractor assumes it
MIN_SAMPLE_RATE = 8_000  # Hz: telephone speech; below it the speech band is gone
MAX_SECONDS = 30.0       # Whisper's window; longer clips would be truncated
RESAMPLER = "soxr-HQ"    # how other rates become 16 kHz; part of the synthetic cache's key


@dataclass(frozen=True)
class SpeechRow:
    id: str                       # unique within the dataset
    text: str                     # the reference transcript
    audio: Path                   # the audio file
    where: str                    # the row as the user finds it: "data/metadata.csv row 3"
    duration: float | None = None  # seconds, once known
    info: dict = field(default_factory=dict, compare=False)  # extra columns (voice, rate, ...)

    def check(self) -> float:
        """The clip's duration in seconds, or a one-line UsageError naming the row."""
        return check_audio(self.audio, self.where)

    def read(self):
        """The clip as float32 samples at 16 kHz, mono."""
        return read_audio(self.audio, self.where)


def _bad(where: str, path: Path, what: str) -> UsageError:
    return UsageError(f"{where} ({path}): {what}")


def _info(path: Path, where: str):
    import soundfile as sf
    if not path.exists():
        raise _bad(where, path, "audio file not found; check the path (relative paths start at the file "
                                "that lists them)")
    if not path.is_file():
        raise _bad(where, path, "is not a file; give the path of an audio file")
    if path.stat().st_size == 0:
        raise _bad(where, path, "the audio file is empty (0 bytes); remove the row or replace the file")
    try:
        return sf.info(str(path))
    except Exception as e:  # libsndfile says "Format not recognised", "unknown format", ...
        raise _bad(where, path, f"cannot read the audio ({_reason(e)}); use WAV, FLAC, OGG or MP3, "
                                "e.g. convert with: ffmpeg -i IN -ar 16000 -ac 1 OUT.wav") from None


def _reason(e: Exception) -> str:
    text = first_line(e)
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


def check_audio(path: Path, where: str) -> float:
    """Duration (s) of a readable, non-empty clip of at most 30 s at 8 kHz or more; else one line naming the row."""
    info = _info(Path(path), where)
    if info.frames <= 0 or info.samplerate <= 0:
        raise _bad(where, path, "the audio is empty (0 samples); remove the row or replace the file")
    if info.samplerate < MIN_SAMPLE_RATE:
        raise _bad(where, path, f"sample rate {info.samplerate} Hz is below {MIN_SAMPLE_RATE} Hz and cannot be "
                                "resampled to Whisper's 16 kHz without losing the speech; record at 16 kHz")
    seconds = info.frames / info.samplerate
    if seconds > MAX_SECONDS:
        raise _bad(where, path, f"the clip is {seconds:.1f} s long; Whisper reads {MAX_SECONDS:.0f}-second "
                                "windows: split it into clips of at most 30 s")
    return seconds


def read_audio(path: Path, where: str):
    """float32 samples at 16 kHz, mono, of a clip that passes `check_audio`."""
    import numpy as np
    import soundfile as sf
    check_audio(path, where)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # a header that reads but a body that does not (truncated, corrupt frames)
        raise _bad(where, path, f"cannot decode the audio ({_reason(e)}); the file is damaged: "
                                "replace it") from None
    if data.shape[0] == 0:
        raise _bad(where, path, "the audio is empty (0 samples); remove the row or replace the file")
    audio = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return to_16k(audio, rate)


def to_16k(audio, rate: int):
    """float32 mono samples at `rate` as float32 at 16 kHz (soxr, quality HQ)."""
    import numpy as np
    if rate != SAMPLE_RATE:
        import soxr
        audio = soxr.resample(audio, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)
