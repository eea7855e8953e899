"""Speech datasets in the ecosystem's layouts, read to splits of `SpeechRow`s (audio file, text, id).

    load_speech_dataset("clips/")           # an audiofolder: audio files + metadata.csv (file_name, text)
    load_speech_dataset("rows.jsonl")        # JSONL or CSV rows: an audio path column and a text column
    load_speech_dataset("rows/")             # train.jsonl, validation.csv, test.jsonl ... named by split
    # -> {'train': [SpeechRow, ...], 'validation': [...], 'test': [...]}

An audiofolder is what `datasets.load_dataset("audiofolder", data_dir=...)` reads: a
`metadata.csv` (or `metadata.jsonl`) with a `file_name` column, relative to the metadata file,
and a text column. Splits come from subfolders (train/, validation/ or dev/, test/), each with its
metadata, or from the first folder of every `file_name`; otherwise the rows are one pool split
into train/validation/test by `split_seed`. Rows files name their audio in an `audio`,
`file_name`, `audio_filepath` (NeMo manifests), `audio_path` or `path` column, relative to the
file. Every row's audio is checked before anything runs (see `audio.check_audio`); a bad row is
one line naming the file and the row: CSV rows are numbered from 1 below the header, JSONL rows
by their line.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .audio import SpeechRow, check_audio

TEXT_COLUMNS = ("text", "transcription", "sentence", "transcript", "normalized_text")
AUDIO_COLUMNS = ("file_name", "audio", "audio_filepath", "audio_path", "path")
METADATA_FILES = ("metadata.csv", "metadata.jsonl")
ROW_SUFFIXES = (".jsonl", ".csv")
SPLIT_NAMES = {"train": ("train", "training"), "validation": ("validation", "valid", "val", "dev"),
               "test": ("test", "testing", "eval")}


@dataclass
class SpeechDataConfig:
    text_column: str | None = None   # None: the first of TEXT_COLUMNS present
    audio_column: str | None = None  # None: the first of AUDIO_COLUMNS present (an audiofolder uses file_name)
    split_seed: int = 0              # seed of the train/validation/test split of one pool of rows
    split_fraction: float = 0.1      # share of rows for validation and for test when a pool is split


def _split_of(name: str) -> str | None:
    return next((split for split, names in SPLIT_NAMES.items() if name.lower() in names), None)


def read_table(path: Path) -> list[tuple[str, dict]]:
    """(where, row) for every row of a CSV or JSON Lines file, or one line saying what is wrong with it."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise UsageError(f"{path} line {line} is not valid UTF-8; re-save the file as UTF-8") from None
    rows = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines(keepends=True))
        for number, row in enumerate(reader, 1):
            if None in row:
                raise UsageError(f"{path} row {number} has more cells than the header; quote cells that "
                                 "hold commas")
            rows.append((f"{path} row {number}", row))
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UsageError(f"{path} line {number} is not valid JSON ({e.msg} at column {e.colno}); "
                                 "fix or remove that line") from None
            if not isinstance(row, dict):
                raise UsageError(f"{path} line {number} is not a JSON object; write one object per line")
            rows.append((f"{path} line {number}", row))
    if not rows:
        raise UsageError(f"{path} has no rows; add one row per clip with its audio file and its text")
    return rows


def _column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], kind: str, path: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise UsageError(f"{path} has no column '{wanted}' (columns: {', '.join(columns)}); "
                             f"pass the {kind} column's name")
        return wanted
    found = next((c for c in candidates if c in columns), None)
    if found is None:
        raise UsageError(f"{path} has no {kind} column (looked for {', '.join(candidates)}; columns: "
                         f"{', '.join(columns)}); name the {kind} column")
    return found


def read_rows(path: Path, config: SpeechDataConfig, audiofolder: bool = False) -> list[SpeechRow]:
    """The rows of one CSV/JSONL file, each audio file checked; paths are relative to the file's folder."""
    table = read_table(path)
    columns = list(dict.fromkeys(k for _, row in table for k in row))
    audio_col = "file_name" if audiofolder else _column(columns, config.audio_column, AUDIO_COLUMNS, "audio", path)
    if audio_col not in columns:
        raise UsageError(f"{path} has no file_name column (columns: {', '.join(columns)}); an audiofolder's "
                         "metadata names each clip in a file_name column")
    text_col = _column(columns, config.text_column, TEXT_COLUMNS, "text", path)
    rows, seen = [], {}
    for where, row in table:
        audio, text = row.get(audio_col), row.get(text_col)
        if isinstance(audio, dict):  # a datasets-style {"path": ...} cell
            audio = audio.get("path")
        if not isinstance(audio, str) or not audio.strip():
            raise UsageError(f"{where}: the audio path ('{audio_col}') is empty; fill it in or remove the row")
        if not isinstance(text, str):
            what = "missing" if text is None else f"{json.dumps(text)[:40]}, not text"
            raise UsageError(f"{where}: the text ('{text_col}') is {what}; fill it in or remove the row")
        if not text.strip():
            raise UsageError(f"{where}: the text ('{text_col}') is empty; fill it in or remove the row")
        row_id = str(row["id"]) if "id" in row and row["id"] not in (None, "") else audio.strip()
        if row_id in seen:
            raise UsageError(f"{where}: id '{row_id}' was already used by {seen[row_id]}; give every clip its "
                             "own id (an id column) or its own audio file")
        seen[row_id] = where
        file = (path.parent / audio.strip()).resolve()  # an absolute path stays itself
        extra = {k: v for k, v in row.items() if k not in (audio_col, text_col, "id")}
        rows.append(SpeechRow(row_id, text.strip(), file, where, check_audio(file, where), extra))
    return rows


def split_pool(rows: list[SpeechRow], config: SpeechDataConfig, where: str,
               missing: tuple[str, ...] = ("validation", "test")) -> dict[str, list[SpeechRow]]:
    """Carve `missing` splits of max(1, round(split_fraction x n)) rows each out of `rows`, by `split_seed`."""
    if not 0 < config.split_fraction < 0.5:
        raise UsageError(f"split fraction {config.split_fraction} must be between 0 and 0.5, e.g. 0.1")
    n = len(rows)
    size = max(1, round(config.split_fraction * n))
    if n < len(missing) * size + 1:
        raise UsageError(f"{where} has only {n} clip{'s' * (n != 1)}, too few to split off {' and '.join(missing)}; "
                         "add clips or give those splits as their own folders or files")
    order = list(range(n))
    random.Random(config.split_seed).shuffle(order)
    out, start = {}, 0
    for split in missing:
        out[split] = [rows[i] for i in sorted(order[start:start + size])]
        start += size
    return {"train": [rows[i] for i in sorted(order[start:])], **out}


def _metadata(folder: Path) -> Path | None:
    found = [folder / name for name in METADATA_FILES if (folder / name).is_file()]
    if len(found) > 1:
        raise UsageError(f"{folder} has both {found[0].name} and {found[1].name}; keep one of them")
    return found[0] if found else None


def _with_pool_split(splits: dict, config: SpeechDataConfig, where: str) -> dict[str, list[SpeechRow]]:
    missing = tuple(s for s in ("validation", "test") if s not in splits)
    if "train" in splits and missing:
        splits.update(split_pool(splits["train"], config, where, missing))
    return splits


def load_audiofolder(folder: Path, config: SpeechDataConfig) -> dict[str, list[SpeechRow]]:
    """Splits of an audiofolder: per split subfolder, by each file_name's first folder, or split by seed."""
    subfolders = {s: d for d in sorted(folder.iterdir()) if d.is_dir() and (s := _split_of(d.name))}
    root = _metadata(folder)
    per_split = {s: m for s, d in subfolders.items() if (m := _metadata(d))}
    if root and per_split:
        raise UsageError(f"{folder} has metadata at the top and in {', '.join(per_split)}/; keep one layout")
    if per_split:
        return _with_pool_split({s: read_rows(m, config, audiofolder=True) for s, m in per_split.items()},
                                config, str(folder))
    if root is None:
        raise UsageError(f"{folder} has no metadata.csv; add one with a file_name and a text column "
                         "(the audiofolder layout), or train/ and test/ folders that each hold one")
    rows = read_rows(root, config, audiofolder=True)
    by_folder = {}
    for row in rows:
        first = Path(row.audio).relative_to(root.parent.resolve()).parts[0] \
            if Path(row.audio).is_relative_to(root.parent.resolve()) else ""
        by_folder.setdefault(_split_of(first), []).append(row)
    if None in by_folder:
        return split_pool(rows, config, str(root))
    return _with_pool_split(by_folder, config, str(root))


def is_audiofolder(path: Path) -> bool:
    """Whether `path` is a folder with a metadata file at the top or in a split subfolder (train/, test/, ...)."""
    path = Path(path)
    return path.is_dir() and bool(_metadata(path) or any(_metadata(d) for d in path.iterdir()
                                                         if d.is_dir() and _split_of(d.name)))


def split_files(path: Path) -> dict[str, Path]:
    """split -> rows file (.jsonl/.csv named train, validation, dev, test, ...) in a folder; a split given twice
    is a UsageError."""
    files = {}
    for f in sorted(Path(path).iterdir()):
        split = _split_of(f.name[: -len(f.suffix)]) if f.suffix.lower() in ROW_SUFFIXES and f.is_file() else None
        if split in files:
            raise UsageError(f"{path} has two {split} files ({files[split].name}, {f.name}); keep one of them")
        if split:
            files[split] = f
    return files


def load_speech_dataset(path: str | Path, config: SpeechDataConfig | None = None) -> dict[str, list[SpeechRow]]:
    """train/validation/test (as given, or carved out of train) of an audiofolder or a rows file/folder."""
    config = config or SpeechDataConfig()
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"speech dataset '{path}' not found; give an audiofolder, a .jsonl/.csv file or a folder "
                         "of them")
    if path.is_file():
        if path.suffix.lower() not in ROW_SUFFIXES:
            raise UsageError(f"{path}: unsupported file type '{path.suffix}'; give a .jsonl or .csv file of "
                             "audio paths and texts, or an audiofolder")
        return split_pool(read_rows(path, config), config, str(path))
    if is_audiofolder(path):
        return load_audiofolder(path, config)
    files = split_files(path)
    if not files:
        raise UsageError(f"{path} holds no metadata.csv and no split files; make it an audiofolder (audio files "
                         "+ metadata.csv with file_name and text) or add train.jsonl/test.jsonl rows files")
    return _with_pool_split({s: read_rows(f, config) for s, f in files.items()}, config, str(path))
