"""Speech datasets through `--dataset`: registry entries that name their metric (wer) and inputs (audio).

- an audiofolder and JSONL/CSV rows of audio files load as splits of source (audio path), target, id;
- text JSONL stays text; a file that could be either is refused in one line unless --source-column says;
- a bad clip is one line naming the row, exit 2, from a command;
- a model is never fed the other kind of input: one line each way;
- synthetic-speech is the built-in corpus, cached under $ASYMPRUNE_CACHE, sized by --n.
"""

from __future__ import annotations

import json

import pytest

from asymprune.data import (DataConfig, check_inputs, dataset_inputs, dataset_metric, file_kind, load_dataset_spec,
                            load_rows)
from asymprune.errors import UsageError
from tests.helpers import run_cli
from tests.test_speech_readers import metadata, tone


def _folder(tmp_path, n=10):
    rows = [(f"{i}.wav", f"utterance number {i}") for i in range(n)]
    for f, _ in rows:
        tone(tmp_path / "af" / f)
    metadata(tmp_path / "af", rows)
    return tmp_path / "af"


def test_an_audiofolder_is_speech_scored_with_wer(tmp_path):
    folder = _folder(tmp_path)
    assert file_kind(folder).name == "audiofolder"
    assert (dataset_metric(str(folder)), dataset_inputs(str(folder))) == ("wer", "audio")
    ds = load_dataset_spec(str(folder))
    assert {s: len(ds[s]) for s in ds} == {"train": 8, "validation": 1, "test": 1}
    assert ds["test"].column_names == ["source", "target", "id"]
    row = ds["test"][0]
    assert row["source"] == str((folder / row["id"]).resolve()) and row["target"] == f"utterance number {row['id'][0]}"
    assert len(load_dataset_spec(str(folder), DataConfig(n=3))["train"]) == 3  # --n keeps the first train rows


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_rows_of_audio_files_are_speech_and_text_rows_stay_text(tmp_path, suffix):
    for i in range(6):
        tone(tmp_path / "clips" / f"{i}.wav")
    rows = [{"audio": f"clips/{i}.wav", "text": f"clip {i}"} for i in range(6)]
    speech = tmp_path / f"speech{suffix}"
    if suffix == ".csv":
        speech.write_text("audio,text\n" + "".join(f"{r['audio']},{r['text']}\n" for r in rows))
    else:
        speech.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert file_kind(speech).name == "speech-rows" and dataset_metric(str(speech)) == "wer"
    whole = load_rows(str(speech), "train", 100, whole_file=True)  # calibration reads a single file whole
    assert len(whole) == 6 and whole[5]["target"] == "clip 5"
    assert {s: len(d) for s, d in load_dataset_spec(str(speech)).items()} == {"train": 4, "validation": 1, "test": 1}

    text = tmp_path / "text.jsonl"
    text.write_text("".join(json.dumps({"document": f"doc {i}", "summary": f"s {i}"}) + "\n" for i in range(6)))
    assert file_kind(text).name == "text"
    assert (dataset_metric(str(text)), dataset_inputs(str(text))) == ("rouge", "text")


def test_a_file_that_could_be_speech_or_text_is_refused_in_one_line(tmp_path, t5_dir, capsys):
    both = tmp_path / "both.jsonl"
    both.write_text("".join(json.dumps({"path": f"{i}.wav", "document": "d", "summary": "s"}) + "\n" for i in range(6)))
    assert run_cli(["evaluate", str(t5_dir), "--dataset", str(both), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has an audio column ('path') and a summary column ('summary')" in err
    assert "pass --source-column" in err and not (tmp_path / "o").exists()
    assert file_kind(both, DataConfig(source_column="document")).name == "text"  # the user said which


def test_a_bad_clip_is_one_line_naming_the_row(tmp_path, tiny_en, capsys):
    folder = _folder(tmp_path, 4)
    (folder / "2.wav").write_bytes(b"RIFF not really a wave file")
    assert run_cli(["evaluate", str(tiny_en), "--dataset", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{folder / 'metadata.csv'} row 3" in err and "cannot read the audio" in err
    assert not (tmp_path / "o").exists()


def test_models_are_fed_only_what_they_read(tmp_path, tiny_en, t5_dir, capsys):
    folder = _folder(tmp_path, 4)
    assert run_cli(["evaluate", str(t5_dir), "--dataset", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"reads text, but dataset '{folder}' holds audio" in err
    assert run_cli(["evaluate", str(tiny_en), "--dataset", "synthetic", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "reads audio, but dataset 'synthetic' holds text" in err
    assert "an audiofolder, rows of audio files or synthetic-speech" in err


def test_synthetic_speech_is_the_cached_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("ASYMPRUNE_CACHE", str(tmp_path / "cache"))
    assert (dataset_metric("synthetic-speech"), dataset_inputs("synthetic-speech")) == ("wer", "audio")
    ds = load_dataset_spec("synthetic-speech", DataConfig(n=2))
    assert {s: len(ds[s]) for s in ds} == {"train": 2, "validation": 40, "test": 40}
    row = ds["test"][0]
    assert row["id"] == "test-00000" and row["source"].startswith(str(tmp_path / "cache" / "speech" / "utterances"))
    assert row["source"].endswith(".flac") and len(row["target"].split()) >= 6
    again = load_dataset_spec("synthetic-speech", DataConfig(n=2))  # read back from the cache
    assert again["test"]["source"] == ds["test"]["source"]
    with pytest.raises(UsageError, match="t5-tiny reads text, but dataset 'synthetic-speech' holds audio"):
        check_inputs("synthetic-speech", "text", "t5-tiny")
