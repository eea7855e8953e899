"""The on-disk cache of synthesized utterances: one FLAC file per (text, voice, rate, library versions).

    root = cache_root()                       # $ASYMPRUNE_CACHE, $XDG_CACHE_HOME/asymprune or ~/.cache/asymprune
    key = utterance_key("Hello.", "en-us", 175, "1.52.0")
    path = utterance_path(root, key)          # root/speech/utterances/3f/3f9c....flac
    write_utterance(path, audio)              # atomic; returns the file's sha256
    frames = verify_utterance(path)           # or one line: the file is damaged, delete it

A cached file is 16-bit mono FLAC at 16 kHz that carries the sha256 of its own samples in its
comment tag, so a file that was cut short, overwritten or edited is found out when it is
read, never used as if it were good. Files are written to a temporary name and renamed, so two
processes making the same utterance at once both leave one whole, identical file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import UsageError, first_line
from ..fsutil import atomic_file
from .audio import RESAMPLER, SAMPLE_RATE

CACHE_FORMAT = 1      # bump when what a cached file holds changes: old entries are then never read
TAG = "asymprune-pcm-sha256:"


def cache_root() -> Path:
    """$ASYMPRUNE_CACHE, else $XDG_CACHE_HOME/asymprune, else ~/.cache/asymprune."""
    if os.environ.get("ASYMPRUNE_CACHE"):
        return Path(os.environ["ASYMPRUNE_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "asymprune"


def digest(data: dict) -> str:
    """sha256 of a JSON-able dict, keys sorted."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def utterance_key(text: str, voice: str, rate: int, espeak_version: str) -> str:
    """What one cached utterance depends on: text, voice, rate, espeak-ng's version and the resampling."""
    import soxr
    return digest({"format": CACHE_FORMAT, "text": text, "voice": voice, "rate": int(rate),
                   "espeak": espeak_version, "resampler": f"{RESAMPLER}-{soxr.__version__}",
                   "sample_rate": SAMPLE_RATE})


def utterance_path(root: Path, key: str) -> Path:
    return Path(root) / "speech" / "utterances" / key[:2] / f"{key}.flac"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_utterance(path: Path, audio) -> str:
    """Write float32 16 kHz samples as 16-bit FLAC tagged with their sha256, atomically; the file's sha256."""
    import numpy as np
    import soundfile as sf
    pcm = np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32767), -32768, 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f:
        with sf.SoundFile(f, "w", SAMPLE_RATE, 1, subtype="PCM_16", format="FLAC") as out:
            out.comment = TAG + hashlib.sha256(pcm.tobytes()).hexdigest()
            out.write(pcm)
    return file_sha256(path)


def damaged(path: Path, why: str) -> UsageError:
    return UsageError(f"cached audio {path} is damaged ({why}); delete it and run again to re-make it")


def verify_utterance(path: Path) -> int:
    """Number of samples in a cached utterance whose samples match the hash it carries; else UsageError."""
    import numpy as np
    import soundfile as sf
    try:
        with sf.SoundFile(str(path)) as f:
            tag, rate, channels = f.comment or "", f.samplerate, f.channels
            pcm = f.read(dtype="int16")
    except Exception as e:  # libsndfile: truncated stream, lost sync, not a FLAC file at all
        raise damaged(path, first_line(e)) from None
    if not tag.startswith(TAG) or rate != SAMPLE_RATE or channels != 1:
        raise damaged(path, "not an asymprune cache file")
    if hashlib.sha256(np.ascontiguousarray(pcm, dtype="<i2").tobytes()).hexdigest() != tag[len(TAG):]:
        raise damaged(path, "its samples do not match their checksum")
    return int(pcm.shape[0])
