"""Speech from text with espeak-ng (pip: espeakng-loader), as 16 kHz mono float32: what Whisper reads.

    audio = synthesize("The train leaves at 7.", voice="en-gb-scotland", rate=160)  # np.float32, 16 kHz
    espeak_info().version, english_voices()                                      # '1.52.0', ['en', 'en-029', ...]
    with Synthesizer() as s:                                                     # one private espeak process
        a = s.synthesize("Hello there.", "en-us+f3", 175)

The library runs in a small server process (`espeak_server.py`) that speaks every utterance in
a child forked from its pristine state: espeak-ng keeps wave-generator state in globals, so
speaking in-process would make the same text come out differently depending on what was spoken
before. Here the same (text, voice, rate) gives the same samples every time. A `Synthesizer`
serves one request at a time (a lock), so it is thread-safe; run several for parallel work. A
process forked from one that holds a Synthesizer starts its own server on first use.

espeak-ng speaks at 22,050 Hz; the samples are resampled to 16 kHz with soxr (quality "HQ").
A voice is an espeak-ng voice file name (`en-us`, `en-gb-x-rp`, ...), optionally with a variant
(`en-us+f3`: a female voice); the rate is in words per minute (80 to 450).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .audio import to_16k

MIN_RATE, MAX_RATE = 80, 450   # words per minute espeak-ng accepts
SERVER = Path(__file__).with_name("espeak_server.py")


@dataclass(frozen=True)
class EspeakInfo:
    version: str                              # espeak-ng library version, e.g. "1.52.0"
    sample_rate: int                          # its native output rate (22,050 Hz)
    voices: tuple[tuple[str, str, str], ...]  # (name, language, description) of every voice
    variants: tuple[str, ...]                 # voice variants ("f3", "m1", "klatt", ...) for "voice+variant"


class Synthesizer:
    """One espeak-ng server process. Thread-safe (one request at a time); close() or use `with`."""

    def __init__(self):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._pid = None  # the process that started the server: a forked copy must start its own
        self._info: EspeakInfo | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ensure_started(self) -> None:
        if self._proc is not None and self._pid == os.getpid() and self._proc.poll() is None:
            return
        self._proc = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._pid = os.getpid()
        hello = json.loads(self._proc.stdout.readline() or b'{"error": "the espeak-ng server exited at start"}')
        if "error" in hello:
            self.close()
            raise UsageError(f"espeak-ng is not usable ({hello['error']}); install it with "
                             "`pip install espeakng-loader` (it bundles libespeak-ng and its voices)")
        self._info = EspeakInfo(hello["version"], hello["sample_rate"],
                                tuple(tuple(v) for v in hello["voices"]), tuple(hello["variants"]))

    def info(self) -> EspeakInfo:
        with self._lock:
            self._ensure_started()
            return self._info

    def check_voice(self, voice: str) -> None:
        """Fail in one line unless `voice` (NAME or NAME+VARIANT) is one espeak-ng has."""
        info = self.info()
        name, _, variant = voice.partition("+")
        names = {v[0] for v in info.voices}
        if name.lower() not in names:
            english = ", ".join(sorted(n for n, lang, _ in info.voices if lang.startswith("en")))
            raise UsageError(f"espeak-ng has no voice '{name}'; English voices: {english}")
        if "+" in voice and variant not in info.variants:
            raise UsageError(f"espeak-ng has no voice variant '{variant}' (in '{voice}'); choose one of: "
                             f"{', '.join(info.variants)}")

    def speak_native(self, text: str, voice: str = "en-us", rate: int = 175):
        """int16 samples at espeak-ng's own rate (22,050 Hz)."""
        import numpy as np
        if not MIN_RATE <= int(rate) <= MAX_RATE:
            raise UsageError(f"speaking rate {rate} is out of range; espeak-ng takes {MIN_RATE} to {MAX_RATE} "
                             "words per minute")
        if not text.strip():
            raise UsageError("nothing to speak: the text is empty; give text with words in it")
        self.check_voice(voice)
        request = json.dumps({"text": text.replace("\0", " "), "voice": voice, "rate": int(rate)}).encode()
        with self._lock:
            self._ensure_started()
            self._proc.stdin.write(request + b"\n")
            self._proc.stdin.flush()
            header = json.loads(self._proc.stdout.readline() or b'{"error": "the espeak-ng server exited"}')
            if "error" in header:
                raise RuntimeError(f"espeak-ng failed on {text[:60]!r} ({voice}, {rate}): {header['error']}")
            data = self._proc.stdout.read(2 * header["samples"])
        if len(data) != 2 * header["samples"]:
            raise RuntimeError("the espeak-ng server stopped in the middle of a reply")
        if not data:
            raise UsageError(f"espeak-ng produced no audio for {text[:60]!r}; give text with words in it")
        return np.frombuffer(data, dtype="<i2").copy()

    def synthesize(self, text: str, voice: str = "en-us", rate: int = 175):
        """`text` spoken by `voice` at `rate` words per minute: float32 in [-1, 1] at 16 kHz, mono."""
        import numpy as np
        native = self.speak_native(text, voice, rate)
        return np.clip(to_16k(native.astype(np.float32) / 32768.0, self.info().sample_rate), -1.0, 1.0)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and self._pid == os.getpid():
            proc.stdin.close()  # end of input: the server's loop ends
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()


_shared: Synthesizer | None = None
_shared_lock = threading.Lock()


def shared_synthesizer() -> Synthesizer:
    """The process's default Synthesizer, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Synthesizer()
        return _shared


def synthesize(text: str, voice: str = "en-us", rate: int = 175):
    """`text` spoken by espeak-ng: float32 at 16 kHz, mono; the same samples every time."""
    return shared_synthesizer().synthesize(text, voice, rate)


def espeak_info() -> EspeakInfo:
    return shared_synthesizer().info()


def english_voices() -> list[str]:
    """Names of espeak-ng's English voices, e.g. ['en', 'en-029', 'en-gb-scotland', ..., 'en-us-nyc']."""
    return sorted(name for name, language, _ in espeak_info().voices if language.startswith("en"))
