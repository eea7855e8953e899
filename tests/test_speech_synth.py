"""espeak-ng speech: 16 kHz float32, the same samples every time, one-line errors, safe from threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from asymprune.errors import UsageError
from asymprune.speech.synth import Synthesizer, english_voices, espeak_info, synthesize

TEXT = "Emma Taylor bought 42 tickets at the station on Monday."


def test_speech_is_16khz_mono_float32_of_plausible_length():
    audio = synthesize(TEXT, "en-us", 175)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 2.0 < len(audio) / 16_000 < 6.0   # ten words at 175 words a minute, plus short pauses
    assert 0.05 < np.abs(audio).max() <= 1.0


def test_the_same_request_gives_the_same_samples_whatever_was_spoken_before():
    first = synthesize(TEXT, "en-gb-x-rp", 160)
    synthesize("Something else entirely, spoken faster.", "en-us+f3", 300)  # would shift espeak's global state
    with Synthesizer() as other:  # another server process
        assert np.array_equal(other.synthesize(TEXT, "en-gb-x-rp", 160), first)
    assert np.array_equal(synthesize(TEXT, "en-gb-x-rp", 160), first)


def test_voice_and_rate_change_the_speech():
    base = synthesize(TEXT, "en-us", 175)
    assert not np.array_equal(synthesize(TEXT, "en-gb-scotland", 175), base)
    assert len(synthesize(TEXT, "en-us", 120)) > 1.2 * len(base)   # slower speech is longer


def test_the_bundled_english_voices_are_listed():
    voices = english_voices()
    assert {"en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc", "en-029"} <= set(voices)
    assert espeak_info().sample_rate == 22050 and espeak_info().version.count(".") == 2


@pytest.mark.parametrize("voice, rate, text, message", [
    ("xx-nowhere", 175, TEXT, "espeak-ng has no voice 'xx-nowhere'; English voices: en, "),
    ("en-us+nosuch", 175, TEXT, "espeak-ng has no voice variant 'nosuch'"),
    ("en-us", 1000, TEXT, "speaking rate 1000 is out of range; espeak-ng takes 80 to 450"),
    ("en-us", 175, "   ", "nothing to speak: the text is empty"),
])
def test_bad_requests_are_one_line(voice, rate, text, message):
    with pytest.raises(UsageError) as e:
        synthesize(text, voice, rate)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_one_synthesizer_serves_threads_one_request_at_a_time():
    texts = [f"Please check the {n} parcels near the harbour." for n in (3, 17, 28, 64)]
    with Synthesizer() as synth:
        expected = [synth.synthesize(t, "en", 170) for t in texts]
        results: dict[int, np.ndarray] = {}

        def speak(i):
            results[i] = synth.synthesize(texts[i % 4], "en", 170)

        threads = [threading.Thread(target=speak, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(np.array_equal(results[i], expected[i % 4]) for i in range(8))


def _speak_in_child(queue):
    queue.put(synthesize(TEXT, "en-us", 175).tobytes())


def test_a_forked_process_starts_its_own_server():
    import multiprocessing
    here = synthesize(TEXT, "en-us", 175)   # the parent's server is running now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_speak_in_child, args=(queue,))
    child.start()
    data = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0 and np.array_equal(np.frombuffer(data, np.float32), here)
    assert np.array_equal(synthesize(TEXT, "en-us", 175), here)   # the parent's server still answers
