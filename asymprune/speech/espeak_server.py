"""The espeak-ng process behind `asymprune.speech.synth`: run as a script, never imported.

    python espeak_server.py      # stdin: one JSON request a line; stdout: a JSON header line + raw audio

espeak-ng keeps its wave generator's state in library globals (pitch-flutter phase, echo
buffer, resonators) that carry over from one utterance to the next, so the same text comes out
a few samples different each time it is spoken in one process. This server loads the library
from `espeakng-loader` and initialises it, and then never speaks itself: each request is spoken
by a child forked from that pristine state. Every utterance is therefore bit-identical whatever
was spoken before it, in any order, in any process.

Protocol (all lines UTF-8 JSON):
- on start: {"version", "sample_rate", "voices": [[name, language, description], ...], "variants": [...]}
  or {"error": "..."};
- request: {"text", "voice", "rate"}; reply: {"samples": n} then n little-endian int16 samples,
  or {"error": "..."}.
It imports nothing from asymprune, so it starts in a fraction of a second.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: samples come back through the callback, no device
ESPEAK_RATE = 1               # espeak_PARAMETER espeakRATE: words per minute
CHARS_UTF8 = 1                # espeak_Synth flags: the text is UTF-8 (SSML and phoneme input stay off)
SEED = 0                      # espeak's noise generator (breath, frication) starts from this in every child

CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class Voice(ctypes.Structure):  # espeak_VOICE in speak_lib.h
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


def load():
    """(library, sample rate, data path): libespeak-ng from espeakng-loader, initialised for synchronous output."""
    import espeakng_loader
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    data = espeakng_loader.get_data_path()
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(Voice))
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [CALLBACK]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0)
    if rate <= 0:
        raise RuntimeError(f"espeak_Initialize failed with {data}")
    return lib, rate, data


def voices(lib) -> list[list[str]]:
    """[name, language, description] per voice; the name (its file name) is what espeak_SetVoiceByName takes."""
    found, listed, i = [], lib.espeak_ListVoices(None), 0
    while listed[i]:
        v = listed[i].contents
        language = v.languages[1:].split(b"\0")[0].decode()  # first byte: the language's priority
        found.append([v.identifier.decode().rsplit("/", 1)[-1].lower(), language, v.name.decode()])
        i += 1
    return found


def speak(lib, text: str, voice: str, rate: int) -> bytes:
    """int16 samples of `text`: call only in a child forked from the pristine server."""
    chunks = []

    def collect(wav, n, _events):
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        return 0  # 0: go on

    callback = CALLBACK(collect)  # kept alive until the synthesis returns
    lib.espeak_SetSynthCallback(callback)
    lib.espeak_ng_SetRandSeed(SEED)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"espeak-ng has no voice '{voice}'")
    lib.espeak_SetParameter(ESPEAK_RATE, int(rate), 0)
    data = text.encode()
    if (status := lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, CHARS_UTF8, None, None)) != 0:
        raise RuntimeError(f"espeak_Synth returned status {status}")
    lib.espeak_Synchronize()
    return b"".join(chunks)


def serve_one(lib, request: dict) -> tuple[dict, bytes]:
    """Speak one request in a forked child; the server's own library state is never touched."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child: speak, send header + samples, exit without running any Python cleanup
        os.close(read_end)
        try:
            audio = speak(lib, request["text"], request["voice"], request["rate"])
            header = {"samples": len(audio) // 2}
        except Exception as e:  # sent back as an error reply: the client turns it into a message
            header, audio = {"error": str(e) or type(e).__name__}, b""
        with os.fdopen(write_end, "wb") as f:
            f.write(json.dumps(header).encode() + b"\n" + audio)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        line, audio = f.readline(), f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not line:
        return {"error": f"espeak-ng's child process failed (wait status {status})"}, b""
    header = json.loads(line)
    if "samples" in header and len(audio) != 2 * header["samples"]:
        return {"error": f"espeak-ng sent {len(audio)} bytes for {header['samples']} samples"}, b""
    return header, audio


def main() -> int:
    out = sys.stdout.buffer
    try:
        lib, rate, data = load()
        hello = {"version": lib.espeak_Info(None).decode(), "sample_rate": rate, "voices": voices(lib),
                 "variants": sorted(os.listdir(os.path.join(data, "voices", "!v")))}
    except Exception as e:  # a missing package or library: the client reports it in one line
        hello = {"error": f"{type(e).__name__}: {e}"}
    out.write(json.dumps(hello).encode() + b"\n")
    out.flush()
    if "error" in hello:
        return 1
    for line in sys.stdin.buffer:
        header, audio = serve_one(lib, json.loads(line))
        out.write(json.dumps(header).encode() + b"\n" + audio)
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
