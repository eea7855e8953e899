"""Speech datasets as registry entries: `synthetic-speech`, audiofolders and JSONL/CSV rows of audio files.

    load_dataset_spec("synthetic-speech", DataConfig(n=400))    # espeak-ng speech, made once and cached
    load_dataset_spec("clips/")          # an audiofolder: audio files + metadata.csv (file_name, text)
    load_dataset_spec("rows.jsonl")      # rows with an audio path column and a text column

Each split is a `Dataset` with `source` (the audio file's absolute path), `target` (the
transcript) and `id`; every clip was checked when it was read (asymprune.speech: one line naming
the row for a missing, unreadable, empty, too long or too low-rate file). The kinds score with
`wer` and hold audio, which a speech model's family reads (`Family.inputs`).

A JSONL/CSV file (or a folder of split files) is speech when its audio column (--source-column, or
the first of file_name, audio, audio_filepath, audio_path, path) is named so or holds audio file
names; a file that also has a summary column (summary, highlights, target, tldr, output) could be
either, and is refused in one line unless --source-column says which.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import UsageError
from .columns import TARGET_COLUMNS
from .registry import DataConfig, register_dataset, register_file_kind

# Sizes of `synthetic-speech` through --dataset: small enough for tests and quick looks (train: --n). A study
# builds a bigger corpus with asymprune.speech.SpeechCorpusConfig: 40 test utterances (about 500 words) give WER
# intervals of several points.
SYNTHETIC_SPEECH_TRAIN = 400
SYNTHETIC_SPEECH_EVAL = 40
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".opus", ".aiff", ".aif")


def _speech_config(config: DataConfig):
    from ..speech import SpeechDataConfig
    return SpeechDataConfig(text_column=config.target_column, audio_column=config.source_column,
                            split_seed=config.split_seed, split_fraction=config.split_fraction)


def as_datasets(splits: dict) -> dict:
    """{split: [SpeechRow]} as {split: Dataset} with source (audio path), target (transcript) and id columns."""
    from datasets import Dataset
    return {split: Dataset.from_dict({"source": [str(r.audio) for r in rows], "target": [r.text for r in rows],
                                      "id": [r.id for r in rows]})
            for split, rows in splits.items()}


@register_dataset("synthetic-speech", source="source", target="target", metric="wer", inputs="audio", checked=True,
                  description=f"built-in English speech by espeak-ng, cached (offline): --n train (default "
                              f"{SYNTHETIC_SPEECH_TRAIN}), {SYNTHETIC_SPEECH_EVAL} validation and test utterances")
def synthetic_speech(config: DataConfig):
    from ..speech import SpeechCorpusConfig
    from ..speech import synthetic_speech as corpus
    size = SYNTHETIC_SPEECH_TRAIN if config.n is None else config.n
    return as_datasets(corpus(SpeechCorpusConfig(train=size, validation=SYNTHETIC_SPEECH_EVAL,
                                                 test=SYNTHETIC_SPEECH_EVAL, seed=config.split_seed)))


def _is_audiofolder(path: Path, config: DataConfig) -> bool:
    from ..speech.readers import is_audiofolder
    return is_audiofolder(path)


@register_file_kind("audiofolder", claims=_is_audiofolder, metric="wer", inputs="audio",
                    description="audio files + metadata.csv (or .jsonl) with file_name and text, as datasets reads it")
def audiofolder(path: Path, config: DataConfig, whole: bool = False):
    from ..speech.readers import load_audiofolder
    return as_datasets(load_audiofolder(path, _speech_config(config)))


def _first_row(path: Path) -> dict | None:
    """The header (with the first row's values) of a CSV file, or the first object of a JSON Lines file; None
    when it cannot be read (the text kind's checks then say what is wrong)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            if path.suffix.lower() == ".csv":
                reader = csv.reader(f)
                header, values = next(reader, []), next(reader, [])
                return dict(zip(header, values + [""] * (len(header) - len(values))))
            line = next((line for line in f if line.strip()), "")
        row = json.loads(line)
        return row if isinstance(row, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error):
        return None


def _is_speech_file(path: Path, config: DataConfig) -> bool:
    from ..speech.readers import AUDIO_COLUMNS, ROW_SUFFIXES
    row = _first_row(path) if path.suffix.lower() in ROW_SUFFIXES else None
    if not row:
        return False
    audio = config.source_column or next((c for c in AUDIO_COLUMNS if c in row), None)
    value = row.get(audio) if audio else None
    value = value.get("path") if isinstance(value, dict) else value  # a datasets-style {"path": ...} cell
    if audio not in row or not (audio in AUDIO_COLUMNS or str(value or "").lower().endswith(AUDIO_SUFFIXES)):
        return False
    summary = next((c for c in TARGET_COLUMNS if c in row), None)
    if config.source_column is None and summary is not None:
        raise UsageError(f"{path} has an audio column ('{audio}') and a summary column ('{summary}'), so it could be "
                         "speech rows or text; pass --source-column with the audio column for speech, or with the "
                         "text column for text")
    return True


def _is_speech_rows(path: Path, config: DataConfig) -> bool:
    if path.is_file():
        return _is_speech_file(path, config)
    from ..speech.readers import split_files
    return path.is_dir() and any(_is_speech_file(f, config) for f in split_files(path).values())


@register_file_kind("speech-rows", claims=_is_speech_rows, metric="wer", inputs="audio",
                    description="a .jsonl/.csv of audio paths and transcripts, or a folder of train/validation/test "
                                "files")
def speech_rows(path: Path, config: DataConfig, whole: bool = False):
    from ..speech import load_speech_dataset
    from ..speech.readers import read_rows
    speech = _speech_config(config)
    if whole and path.is_file():
        return as_datasets({"train": read_rows(path, speech)})
    return as_datasets(load_speech_dataset(path, speech))
