"""Local dataset files: one .jsonl/.json/.csv/.parquet file, or a folder of them named by split.

    ds = load_file(Path("data.csv"))                  # a Dataset, or a one-line error naming file and fix
    directory_files(Path("data_dir/"))                 # {'train': .../train.jsonl, 'test': .../test.csv}

Problems are found before `datasets` reads the file where its own errors would say little:
empty files, invalid UTF-8 or JSON (by line), a CSV with a header only.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError, first_line

FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}  # suffix -> datasets builder
SPLIT_FILE_NAMES = {"train": ("train",), "validation": ("validation", "valid", "val", "dev"), "test": ("test",)}


def _is_blank(path: Path) -> bool:
    with open(path, "rb") as f:
        return not any(line.strip() for line in f)


def _bad_utf8_line(path: Path) -> tuple[int, str] | None:
    """(line number, reason) of the first line that is not UTF-8, or None."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return number, f"byte 0x{line[e.start]:02x} at column {e.start + 1}"
    return None


def _only_header(path: Path) -> bool:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip()) <= 1


def _bad_json_line(path: Path) -> tuple[int, str] | None:
    """(line number, reason) of the first non-blank line of a JSON Lines file that is not a JSON object."""
    import json
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                if not isinstance(json.loads(line.rstrip("\r\n")), dict):
                    return number, "not an object"
            except json.JSONDecodeError as e:
                return number, f"{e.msg} at column {e.colno}"
    return None


def jsonl_line(path: Path, row: int) -> int:
    """The line number (from 1) of row `row` (from 0) of a JSON Lines file: blank lines hold no row."""
    with open(path, "rb") as f:
        seen = -1
        for number, line in enumerate(f, 1):
            if line.strip():
                seen += 1
                if seen == row:
                    return number
    return row + 1


def _parquet_rows(path: Path) -> int | None:
    import pyarrow.parquet as pq
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # not a parquet file: datasets reports it below
        return None


def load_file(path: Path):
    """One local file as a `Dataset`, or a one-line error saying what is wrong with it."""
    import datasets

    builder = FORMATS.get(path.suffix.lower())
    if builder is None:
        raise UsageError(f"{path}: unsupported file type '{path.suffix}'; use .jsonl, .json, .csv or .parquet")
    if path.stat().st_size == 0 or builder != "parquet" and _is_blank(path):
        raise UsageError(f"{path} is empty; add rows with a source and a target column")
    if builder == "parquet" and _parquet_rows(path) == 0:  # datasets fails on these with a cryptic message
        raise UsageError(f"{path} has no rows; add rows with a source and a target column")
    # Checked up front: the JSON reader lets invalid bytes through into the dataset.
    if builder != "parquet" and (bad := _bad_utf8_line(path)):
        raise UsageError(f"{path} line {bad[0]} is not valid UTF-8 ({bad[1]}); re-save the file as UTF-8, "
                         "e.g. iconv -f latin1 -t utf-8")
    # Keep "NA", "null", ... as text in CSV files: only an empty cell is missing.
    options = {"keep_default_na": False} if builder == "csv" else {}
    try:
        ds = datasets.load_dataset(builder, data_files=str(path), split="train", **options)
    except Exception as e:  # datasets raises many types here; explain the common causes
        if builder == "csv" and _only_header(path):
            raise UsageError(f"{path} has a header but no rows; add rows below the header") from None
        if path.suffix.lower() == ".jsonl" and (bad := _bad_json_line(path)):
            raise UsageError(f"{path} line {bad[0]} is not valid JSON ({bad[1]}); fix or remove that line") from None
        raise UsageError(f"could not read {path} as {path.suffix[1:]} ({first_line(e, innermost=True)}); check the "
                         "file's format") from None
    if len(ds) == 0:
        raise UsageError(f"{path} has no rows; add rows with a source and a target column")
    return ds


def _split_file(path: Path) -> str | None:
    """The split a file in a dataset directory holds, from its name (train.jsonl, dev.csv, ...)."""
    stem = path.name[: -len(path.suffix)].lower()
    for split, names in SPLIT_FILE_NAMES.items():
        if stem in names:
            return split
    return None


def directory_files(path: Path) -> dict[str, Path]:
    """split -> file in a dataset directory."""
    found: dict[str, Path] = {}
    for f in sorted(path.iterdir()):
        split = _split_file(f) if f.suffix.lower() in FORMATS and f.is_file() else None
        if split is None:
            continue
        if split in found:
            raise UsageError(f"{path} has two {split} files ({found[split].name}, {f.name}); keep one of them")
        found[split] = f
    if not found:
        raise UsageError(f"{path} holds no split files; add train.jsonl, validation.jsonl and test.jsonl "
                         "(or .json, .csv, .parquet files with those names)")
    return found
