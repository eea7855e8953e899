"""Speech for tests, made here: espeak-ng (the pip package espeakng-loader) at 16 kHz, no system packages.

    audios = speak_fresh(["The quick brown fox jumps.", "Hello there."])  # the same samples on every run
    audio = speak("The quick brown fox jumps over the lazy dog.")   # float32 mono, 16 kHz, in [-1, 1]

A minimal stand-in, kept in tests/ so that the package's own synthesizer can replace it later.
espeak-ng is driven through ctypes in synchronous mode: its callback hands over 16-bit samples at
the library's rate (22050 Hz), which soxr resamples to the 16 kHz Whisper's features assume.

espeak-ng keeps waveform state from one utterance to the next in the library (Terminate and a
fresh Initialize do not reset it), so `speak` gives slightly different samples for the same text
depending on what was spoken before in the process. `speak_fresh` speaks a list in a new process,
which makes its samples a function of the list alone.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
CLIP_TEXTS = ("The quick brown fox jumps over the lazy dog.", "What time is it?")  # the `clips` fixture's
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: samples go to the callback, espeak_Synth returns when done
_CHARS_UTF8 = 1  # espeak_Synth flag: the text is UTF-8
_POS_CHARACTER = 1  # espeak_POSITION_TYPE, unused with position 0
_RATE = 1  # espeak_PARAMETER: words per minute

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_lock = threading.Lock()
_engine: dict = {}


def _load():
    """The library, its sample rate and the list the callback appends to, initialised once."""
    if not _engine:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({rate})")
        chunks: list[np.ndarray] = []

        def collect(wav, n, _events):
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0  # 0: go on synthesizing

        callback = _CALLBACK(collect)  # kept referenced in _engine, or ctypes frees it under espeak's feet
        lib.espeak_SetSynthCallback(callback)
        _engine.update(lib=lib, rate=rate, chunks=chunks, callback=callback)
    return _engine


def speak(text: str, voice: str = "en-us", words_per_minute: int = 150) -> np.ndarray:
    """`text` spoken by espeak-ng as float32 mono samples at 16 kHz."""
    import soxr

    with _lock:
        engine = _load()
        lib, chunks = engine["lib"], engine["chunks"]
        chunks.clear()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(_RATE, words_per_minute, 0)
        data = text.encode()
        status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed ({status}) on {text!r}")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        chunks.clear()
    audio = samples.astype(np.float32) / 32768.0
    return soxr.resample(audio, engine["rate"], SAMPLE_RATE).astype(np.float32)



def speak_fresh(texts: list[str], voice: str = "en-us", words_per_minute: int = 150) -> list[np.ndarray]:
    """`speak` for each text, in order, in a new process: the same samples on every run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audio.npz"
        subprocess.run([sys.executable, __file__, str(out), voice, str(words_per_minute)],
                       input=json.dumps(list(texts)), text=True, check=True)
        with np.load(out) as audio:
            return [audio[str(i)] for i in range(len(texts))]


def audiofolder(folder: Path, clips: list[Path], texts=CLIP_TEXTS, split: str = "test") -> Path:
    """An audiofolder of `clips` (their files under `split`/) with a metadata.csv of file_name and text."""
    (folder / split).mkdir(parents=True)
    for clip in clips:
        (folder / split / clip.name).write_bytes(clip.read_bytes())
    (folder / "metadata.csv").write_text("file_name,text\n" + "".join(
        f"{split}/{clip.name},{text}\n" for clip, text in zip(clips, texts)))
    return folder


if __name__ == "__main__":  # speak_fresh's child: python speech.py OUT.npz VOICE WPM < texts.json
    out, voice, wpm = sys.argv[1], sys.argv[2], int(sys.argv[3])
    np.savez(out, **{str(i): speak(text, voice, wpm) for i, text in enumerate(json.load(sys.stdin))})

