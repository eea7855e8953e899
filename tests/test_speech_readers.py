"""Speech datasets on disk (audiofolder, JSONL/CSV rows): audio read at 16 kHz; bad audio is one line naming the row."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from asymprune.errors import UsageError
from asymprune.speech.audio import SpeechRow
from asymprune.speech.readers import SpeechDataConfig, load_speech_dataset


def tone(path, seconds=0.5, rate=16_000, channels=1, subtype=None):
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 220 * t)
    data = np.stack([mono, 0.5 * mono], axis=1) if channels == 2 else mono
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def metadata(folder, rows, name="metadata.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        (folder / name).write_text("file_name,text\n" + "".join(f"{f},{t}\n" for f, t in rows))
    else:
        (folder / name).write_text("".join(json.dumps({"file_name": f, "text": t}) + "\n" for f, t in rows))


def test_an_audiofolder_is_one_pool_split_by_seed(tmp_path):
    rows = [(f"clips/{i}.wav", f"utterance number {i}") for i in range(10)]
    for f, _ in rows:
        tone(tmp_path / f)
    metadata(tmp_path, rows)
    splits = load_speech_dataset(tmp_path)
    assert {s: len(r) for s, r in splits.items()} == {"train": 8, "validation": 1, "test": 1}
    assert sorted(r.id for rs in splits.values() for r in rs) == sorted(f for f, _ in rows)
    assert splits == load_speech_dataset(tmp_path)   # the same seed, the same split
    other = load_speech_dataset(tmp_path, SpeechDataConfig(split_seed=3))
    assert [r.id for r in other["test"]] != [r.id for r in splits["test"]] or \
        [r.id for r in other["validation"]] != [r.id for r in splits["validation"]]
    row = splits["test"][0]
    assert row.text == f"utterance number {row.id.split('/')[1][0]}" and row.duration == pytest.approx(0.5)
    audio = row.read()
    assert audio.dtype == np.float32 and audio.shape == (8000,)


def test_split_subfolders_each_with_metadata_and_validation_carved_from_train(tmp_path):
    for split, n in (("train", 10), ("test", 3)):
        rows = [(f"{i}.flac", f"{split} clip {i}") for i in range(n)]
        for f, _ in rows:
            tone(tmp_path / split / f)
        metadata(tmp_path / split, rows, "metadata.jsonl" if split == "test" else "metadata.csv")
    splits = load_speech_dataset(tmp_path)
    assert {s: len(r) for s, r in splits.items()} == {"train": 9, "validation": 1, "test": 3}
    assert [r.text for r in splits["test"]] == ["test clip 0", "test clip 1", "test clip 2"]
    assert splits["test"][1].where == f"{tmp_path / 'test' / 'metadata.jsonl'} line 2"


def test_root_metadata_whose_files_sit_in_split_folders(tmp_path):
    rows = [("train/a.wav", "one"), ("train/b.wav", "two"), ("train/c.wav", "three"), ("validation/d.wav", "four"),
            ("test/e.wav", "five")]
    for f, _ in rows:
        tone(tmp_path / f)
    metadata(tmp_path, rows)
    splits = load_speech_dataset(tmp_path)
    assert {s: [r.text for r in rs] for s, rs in splits.items()} == {
        "train": ["one", "two", "three"], "validation": ["four"], "test": ["five"]}


def test_jsonl_and_csv_rows_with_their_own_column_names(tmp_path):
    for i in range(4):
        tone(tmp_path / "audio" / f"{i}.wav")
    (tmp_path / "train.jsonl").write_text("".join(
        json.dumps({"id": f"u{i}", "audio_filepath": f"audio/{i}.wav", "text": f"words {i}", "speaker": "x"}) + "\n"
        for i in range(3)))
    (tmp_path / "test.csv").write_text("path,sentence\naudio/3.wav,\"last, words\"\n")
    splits = load_speech_dataset(tmp_path, SpeechDataConfig(split_fraction=0.3))
    assert [r.id for r in splits["test"]] == ["audio/3.wav"] and splits["test"][0].text == "last, words"
    assert {r.id for r in splits["train"] + splits["validation"]} == {"u0", "u1", "u2"}
    assert splits["validation"][0].info == {"speaker": "x"}
    one_file = load_speech_dataset(tmp_path / "train.jsonl", SpeechDataConfig(split_fraction=0.3))
    assert sum(len(r) for r in one_file.values()) == 3


def test_other_rates_are_resampled_and_stereo_mixed_down(tmp_path):
    row = SpeechRow("a", "x", tone(tmp_path / "a.wav", seconds=1.0, rate=44_100, channels=2), "rows.csv row 1")
    audio = row.read()
    assert audio.shape == (16_000,) and audio.dtype == np.float32
    reference = SpeechRow("b", "x", tone(tmp_path / "b.wav", seconds=1.0), "rows.csv row 2").read()
    assert np.allclose(audio[100:-100], 0.75 * reference[100:-100], atol=2e-3)   # mean of 1.0 and 0.5 gain
    assert SpeechRow("c", "x", tone(tmp_path / "c.wav", rate=8_000), "r").read().shape == (8000,)


def bad_case(tmp_path, case):
    """An audiofolder whose second row is bad in one way; returns the expected message's middle."""
    tone(tmp_path / "good.wav")
    target = tmp_path / "bad.wav"
    if case == "missing":
        expected = "audio file not found"
    elif case == "zero bytes":
        target.write_bytes(b"")
        expected = "the audio file is empty (0 bytes)"
    elif case == "unreadable":
        target.write_bytes(b"RIFF\x00\x00 this is not audio at all")
        expected = "cannot read the audio (Format not recognised"
    elif case == "no samples":
        sf.write(str(target), np.zeros(0, np.float32), 16_000)
        expected = "the audio is empty (0 samples)"
    elif case == "rate too low":
        tone(target, rate=4_000)
        expected = "sample rate 4000 Hz is below 8000 Hz and cannot be resampled"
    elif case == "too long":
        tone(target, seconds=31, rate=8_000)
        expected = "the clip is 31.0 s long; Whisper reads 30-second windows"
    metadata(tmp_path, [("good.wav", "fine"), ("bad.wav", "broken")])
    return f"{tmp_path / 'metadata.csv'} row 2 ({target}): {expected}"


@pytest.mark.parametrize("case", ["missing", "zero bytes", "unreadable", "no samples", "rate too low", "too long"])
def test_bad_audio_is_one_line_naming_the_row_before_any_work(tmp_path, case):
    expected = bad_case(tmp_path, case)
    with pytest.raises(UsageError) as e:
        load_speech_dataset(tmp_path)
    assert str(e.value).startswith(expected) and "\n" not in str(e.value)


def test_a_damaged_body_behind_a_good_header_is_named_when_read(tmp_path):
    path = tone(tmp_path / "cut.flac", seconds=3)
    data = path.read_bytes()
    path.write_bytes(data[:200] + bytes(len(data) - 200))   # header intact, frames zeroed
    row = SpeechRow("cut", "x", path, "rows.jsonl line 7")
    with pytest.raises(UsageError, match=r"^rows.jsonl line 7 \(.*cut.flac\): cannot decode the audio .*damaged"):
        row.read()


@pytest.mark.parametrize("content, message", [
    ("file_name,text\ngood.wav,\n", "metadata.csv row 1: the text ('text') is empty"),
    ("file_name,words\ngood.wav,hi\n", "metadata.csv has no text column (looked for text, transcription"),
    ("file,text\ngood.wav,hi\n", "metadata.csv has no file_name column"),
    ("file_name,text\ngood.wav,hi\ngood.wav,again\n", "metadata.csv row 2: id 'good.wav' was already used by"),
    ("file_name,text\n", "metadata.csv has no rows"),
    ("file_name,text\ngood.wav,hi,extra\n", "metadata.csv row 1 has more cells than the header"),
])
def test_bad_metadata_is_one_line(tmp_path, content, message):
    tone(tmp_path / "good.wav")
    (tmp_path / "metadata.csv").write_text(content)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_speech_dataset(tmp_path)


def test_bad_jsonl_rows_are_named_by_line(tmp_path):
    tone(tmp_path / "good.wav")
    (tmp_path / "rows.jsonl").write_text('{"audio": "good.wav", "text": "hi"}\n\n{"audio": "good.wav", "text": \n')
    with pytest.raises(UsageError, match=r"rows.jsonl line 3 is not valid JSON"):
        load_speech_dataset(tmp_path / "rows.jsonl")
    (tmp_path / "rows.jsonl").write_text('{"audio": "good.wav", "text": "hi"}\n\n{"audio": "gone.wav", "text": "x"}\n')
    with pytest.raises(UsageError, match=r"rows.jsonl line 3 \(.*gone.wav\): audio file not found"):
        load_speech_dataset(tmp_path / "rows.jsonl")
    (tmp_path / "rows.jsonl").write_text('{"audio": "good.wav", "text": 42}\n')
    with pytest.raises(UsageError, match=r"rows.jsonl line 1: the text \('text'\) is 42, not text"):
        load_speech_dataset(tmp_path / "rows.jsonl")


def test_layout_problems_are_one_line(tmp_path):
    with pytest.raises(UsageError, match="speech dataset .* not found"):
        load_speech_dataset(tmp_path / "nowhere")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UsageError, match="unsupported file type '.txt'"):
        load_speech_dataset(tmp_path / "a.txt")
    with pytest.raises(UsageError, match="holds no metadata.csv and no split files"):
        load_speech_dataset(tmp_path)
    metadata(tmp_path, [("a.wav", "x")])
    metadata(tmp_path, [("a.wav", "x")], "metadata.jsonl")
    with pytest.raises(UsageError, match="has both metadata.csv and metadata.jsonl; keep one"):
        load_speech_dataset(tmp_path)
