"""The synthetic-speech corpus: seeded sentences and splits, made once, cached, damage found out."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from asymprune.errors import UsageError
from asymprune.speech.cache import cache_root, verify_utterance
from asymprune.speech.corpus import SpeechCorpusConfig, plan, synthetic_speech
from asymprune.speech.sentences import MAX_WORDS, MIN_WORDS, sentences

SMALL = dict(train=6, validation=2, test=4, voices=("en-us", "en-gb-x-rp"), rates=(150, 180))


def test_sentences_are_seeded_distinct_and_6_to_20_words():
    a = sentences(300, seed="0:test")
    assert a == sentences(300, seed="0:test") and a != sentences(300, seed="1:test")
    assert len(set(a)) == 300
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS for s in a)
    assert any(ch.isdigit() for s in a for ch in s) and any(s.endswith("?") for s in a)
    assert not set(sentences(300, seed="0:train", exclude=set(a))) & set(a)


def test_the_generator_output_is_pinned():
    # If this fails, the sentences for a seed changed: bump sentences.GENERATOR so cached corpora are re-made.
    assert sentences(2, seed="0:test") == [
        "Grace Baker checked the narrow engine.",
        "Grace returned the expensive jacket by Tuesday.",
    ]


def test_the_plan_keeps_splits_apart_and_balances_voices_and_rates():
    config = SpeechCorpusConfig(train=48, validation=8, test=24, voices=("en-us", "en", "en-029"), rates=(130, 180))
    p = plan(config)
    texts = {s: {r["text"] for r in rows} for s, rows in p.items()}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["validation"]
    assert Counter((r["voice"], r["rate"]) for r in p["test"]) == {(v, r): 4 for v in config.voices
                                                                   for r in config.rates}
    bigger = plan(SpeechCorpusConfig(train=96, validation=8, test=24, voices=config.voices, rates=config.rates))
    assert bigger["test"] == p["test"] and bigger["validation"] == p["validation"]
    assert bigger["train"][:48] == p["train"]


def test_the_corpus_is_made_once_then_read_from_the_cache(tmp_path):
    config = SpeechCorpusConfig(**SMALL, cache_dir=tmp_path)
    calls = []
    splits = synthetic_speech(config, progress=lambda done, total: calls.append((done, total)))
    assert {s: len(r) for s, r in splits.items()} == {"train": 6, "validation": 2, "test": 4}
    assert calls[-1] == (12, 12)
    row = splits["test"][0]
    assert row.id == "test-00000" and row.info == {"voice": "en-us", "rate": 150}
    info = sf.info(str(row.audio))
    assert (info.samplerate, info.channels, info.format) == (16_000, 1, "FLAC")
    assert row.duration == pytest.approx(info.frames / 16_000, abs=1e-3)
    assert row.read().shape == (info.frames,)
    stamps = {r.audio: r.audio.stat().st_mtime_ns for rows in splits.values() for r in rows}

    calls.clear()
    again = synthetic_speech(config, progress=lambda done, total: calls.append(done))
    assert again == splits and calls == []   # nothing was made again
    assert stamps == {r.audio: r.audio.stat().st_mtime_ns for rows in again.values() for r in rows}


def test_a_bigger_corpus_reuses_the_utterances_it_shares(tmp_path):
    small = synthetic_speech(SpeechCorpusConfig(**SMALL, cache_dir=tmp_path))
    stamps = {r.audio: r.audio.stat().st_mtime_ns for r in small["test"] + small["train"]}
    big = synthetic_speech(SpeechCorpusConfig(**{**SMALL, "train": 9}, cache_dir=tmp_path))
    def same(a, b):  # the rows, not where their manifests are
        return [(r.id, r.text, r.audio, r.duration, r.info) for r in a] == \
            [(r.id, r.text, r.audio, r.duration, r.info) for r in b]

    assert same(big["test"], small["test"]) and same(big["train"][:6], small["train"])
    assert stamps == {r.audio: r.audio.stat().st_mtime_ns for r in small["test"] + small["train"]}


def test_a_damaged_audio_file_is_an_error_naming_it(tmp_path):
    config = SpeechCorpusConfig(**SMALL, cache_dir=tmp_path)
    victim = synthetic_speech(config)["train"][2].audio
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match=f"cached audio {victim} is damaged .*delete it and run again"):
        synthetic_speech(config)
    # Another corpus that speaks the same utterance checks the file's own checksum before using it.
    with pytest.raises(UsageError, match=f"cached audio {victim} is damaged"):
        synthetic_speech(SpeechCorpusConfig(**{**SMALL, "train": 7}, cache_dir=tmp_path))
    victim.unlink()  # what the message says to do
    assert synthetic_speech(config)["train"][2].audio.read_bytes() == data


def test_a_damaged_manifest_is_an_error_naming_it(tmp_path):
    config = SpeechCorpusConfig(**SMALL, cache_dir=tmp_path)
    folder = Path(synthetic_speech(config)["test"][0].where.rsplit(" line ", 1)[0]).parent
    (folder / "corpus.json").write_text("{not json")
    with pytest.raises(UsageError, match="synthetic-speech manifest .*corpus.json is damaged"):
        synthetic_speech(config)


def test_an_edited_split_manifest_is_an_error(tmp_path):
    config = SpeechCorpusConfig(**SMALL, cache_dir=tmp_path)
    row = synthetic_speech(config)["test"][0]
    manifest = Path(row.where.rsplit(" line ", 1)[0])
    lines = manifest.read_text().splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), "text": "an edited reference"})
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError, match="test.jsonl is missing or damaged"):
        synthetic_speech(config)


def test_a_missing_audio_file_is_made_again_byte_for_byte(tmp_path):
    config = SpeechCorpusConfig(**SMALL, cache_dir=tmp_path)
    row = synthetic_speech(config)["validation"][1]
    data = row.audio.read_bytes()
    row.audio.unlink()
    assert synthetic_speech(config)["validation"][1].audio.read_bytes() == data
    assert verify_utterance(row.audio) > 0


def test_two_builders_at_once_leave_one_whole_corpus(tmp_path):
    config = SpeechCorpusConfig(**SMALL, cache_dir=tmp_path, workers=1)
    results, errors = [], []

    def build():
        try:
            results.append(synthetic_speech(config))
        except Exception as e:  # collected: a race shows as a failure below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results[0] == results[1]
    assert not list(tmp_path.rglob(".*.flac.*")) and not list(tmp_path.rglob(".*.jsonl.*"))  # no temp files left


def test_the_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ASYMPRUNE_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("ASYMPRUNE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "asymprune"


@pytest.mark.parametrize("change, message", [
    ({"test": -1}, "synthetic-speech: test size -1 is negative"),
    ({"voices": ("en-us", "klingon")}, "espeak-ng has no voice 'klingon'"),
    ({"rates": (50,)}, "synthetic-speech: rate 50 is out of range"),
])
def test_bad_settings_are_one_line(tmp_path, change, message):
    with pytest.raises(UsageError, match=message):
        synthetic_speech(SpeechCorpusConfig(**{**SMALL, **change}, cache_dir=tmp_path))


def test_the_number_of_workers_does_not_change_a_byte(tmp_path):
    one = synthetic_speech(SpeechCorpusConfig(**SMALL, cache_dir=tmp_path / "one", workers=1))
    two = synthetic_speech(SpeechCorpusConfig(**SMALL, cache_dir=tmp_path / "two", workers=2))
    for split in one:
        assert [r.audio.read_bytes() for r in one[split]] == [r.audio.read_bytes() for r in two[split]]
