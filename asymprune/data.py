"""Summarization datasets as `DatasetDict`s with `source` and `target` columns.

    from asymprune.data import DataConfig, load_dataset_spec, tokenize
    ds = load_dataset_spec("synthetic", DataConfig(n=2000))      # train/validation/test
    ds = load_dataset_spec("cnn_dailymail")                       # the hub, when it can be reached
    ds = load_dataset_spec("hf:EdinburghNLP/xsum")                # any hub dataset (columns inferred)
    ds = load_dataset_spec("data.csv", DataConfig(source_column="body", target_column="tldr"))
    ds = load_dataset_spec("data_dir/")                           # train.jsonl, validation.jsonl, test.jsonl
    tokenized, report = tokenize(ds["train"], tokenizer, prefix="summarize: ")

A spec is a registered name, `hf:NAME[:CONFIG]`, a .jsonl/.json/.csv/.parquet file (split
into train/validation/test by `split_seed`), or a directory of such files named by split
(missing validation/test splits are carved out of train the same way).

Adding a named dataset is one entry:

    @register_dataset("my_news", source="body", target="headline", description="...")
    def my_news(config: DataConfig) -> DatasetDict:
        return hub_dataset("me/my_news")

Every problem with the data is a one-line `UsageError` naming the file (or split), the row
and the fix. Rows are numbered from 1, not counting a CSV header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import UsageError

FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}  # suffix -> datasets builder
SPLIT_FILE_NAMES = {"train": ("train",), "validation": ("validation", "valid", "val", "dev"), "test": ("test",)}
# Tried in order when a file or hub dataset is given without --source-column / --target-column.
SOURCE_COLUMNS = ("document", "article", "source", "text", "dialogue", "input")
TARGET_COLUMNS = ("summary", "highlights", "target", "tldr", "output")
T5_MODEL_TYPES = ("t5", "mt5")  # trained with a task prefix ("summarize: ")
T5_PREFIX = "summarize: "
SYNTHETIC_EVAL_ROWS = 200  # validation and test size of the synthetic corpus


@dataclass
class DataConfig:
    source_column: str | None = None  # None: the entry's column, or the first of SOURCE_COLUMNS present
    target_column: str | None = None  # None: the entry's column, or the first of TARGET_COLUMNS present
    n: int | None = None              # synthetic: train size (default 10,000); others: keep the first n train rows
    split_seed: int = 0               # seed of the synthetic corpus and of train/validation/test splits of a file
    split_fraction: float = 0.1       # share of rows for validation and for test when a file is split
    drop_empty_rows: bool = False     # skip rows with an empty or null source/target instead of failing


@dataclass(frozen=True)
class DatasetEntry:
    name: str                                      # what users pass to --dataset
    load: Callable[[DataConfig], "DatasetDict"]    # raw splits, original column names
    source_column: str                             # column holding the text to summarize
    target_column: str                             # column holding the reference summary
    description: str = ""


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(name: str, *, source: str, target: str, description: str = ""):
    """Decorator: make `fn(config) -> DatasetDict` available as `--dataset NAME`."""
    def wrap(fn):
        DATASETS[name] = DatasetEntry(name, fn, source, target, description)
        return fn
    return wrap


def _first_line(e: BaseException) -> str:
    """The first line of the innermost explicit cause's message: the one that says what went wrong."""
    while e.__cause__ is not None:
        e = e.__cause__
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def hub_dataset(name: str, config: str | None = None):
    """A dataset from the Hugging Face hub, as a one-line error when it cannot be had."""
    import datasets
    try:
        return datasets.load_dataset(name, config)
    except Exception as e:  # offline, unknown name, missing config, ... all raise different types
        raise UsageError(f"could not load '{name}'{f' ({config})' if config else ''} from the Hugging Face hub "
                         f"({_first_line(e)}); check the name and your connection, or pass a local file") from None


@register_dataset("cnn_dailymail", source="article", target="highlights",
                  description="CNN/DailyMail 3.0.0 news articles and their bullet highlights (hub)")
def cnn_dailymail(config: DataConfig):
    return hub_dataset("abisee/cnn_dailymail", "3.0.0")


@register_dataset("xsum", source="document", target="summary",
                  description="XSum BBC articles and their one-sentence summaries (hub)")
def xsum(config: DataConfig):
    return hub_dataset("EdinburghNLP/xsum")


@register_dataset("synthetic", source="document", target="summary",
                  description="built-in seeded corpus: key facts among hedged distractors (offline)")
def synthetic(config: DataConfig):
    from datasets import Dataset, DatasetDict

    from .synthetic import make_examples
    # Separate random streams per split, so the validation and test rows do not depend on --n.
    seed = config.split_seed
    return DatasetDict(
        train=Dataset.from_list(make_examples(10_000 if config.n is None else config.n, seed=seed)),
        validation=Dataset.from_list(make_examples(SYNTHETIC_EVAL_ROWS, seed=f"{seed}:validation")),
        test=Dataset.from_list(make_examples(SYNTHETIC_EVAL_ROWS, seed=f"{seed}:test")),
    )


def source_prefix(model_type: str) -> str:
    """The task prefix a model of this type is trained with: "summarize: " for T5, else none."""
    return T5_PREFIX if model_type in T5_MODEL_TYPES else ""


# ---------------------------------------------------------------------------------------------
# Local files


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


def _jsonl_line(path: Path, row: int) -> int:
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
        raise UsageError(f"could not read {path} as {path.suffix[1:]} ({_first_line(e)}); check the file's format") \
            from None
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


# ---------------------------------------------------------------------------------------------
# Columns and rows


def _pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], kind: str, where: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise UsageError(f"{where} has no column '{wanted}' (columns: {', '.join(columns)}); "
                             f"pass --{kind}-column with one of them")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise UsageError(f"{where} has no {kind} column (looked for {', '.join(candidates)}; columns: "
                     f"{', '.join(columns)}); pass --{kind}-column NAME")


def _as_text(ds, column: str, where: str):
    from datasets import Value
    feature = ds.features[column]
    if not isinstance(feature, Value):
        raise UsageError(f"{where}: column '{column}' holds {type(feature).__name__} values, not text; "
                         f"pass a text column with --source-column / --target-column")
    if feature.dtype not in ("string", "large_string"):
        ds = ds.cast_column(column, Value("string"))  # CSV numbers ("42") are text to a summarizer
    return ds


def _check_rows(ds, where: str, columns: dict[str, str], drop_empty: bool):
    """Fail on (or drop) rows whose source or target is null or only whitespace.

    `columns` maps "source"/"target" to the names the user knows them by.
    """
    import pyarrow.compute as pc

    table = ds.with_format("arrow")[:]  # respects any row selection made before
    empty = {c: pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table[c])), 0), True)
             for c in ("source", "target")}
    bad = pc.or_(empty["source"], empty["target"])
    if not pc.any(bad).as_py():
        return ds
    if not drop_empty:
        row = pc.index(bad, True).as_py()
        column = "source" if empty["source"][row].as_py() else "target"
        what = "null" if table[column][row].as_py() is None else "empty"
        # A JSON Lines file is numbered by line, as an editor shows it (blank lines hold no row).
        at = f"line {_jsonl_line(Path(where), row)}" if where.lower().endswith(".jsonl") and Path(where).is_file() \
            else f"row {row + 1}"
        raise UsageError(f"{where} {at}: the {column} '{columns[column]}' is {what}; fill it in or "
                         "remove the row, or pass --drop-empty-rows to skip such rows")
    ds = ds.select([i for i, b in enumerate(bad.to_pylist()) if not b])
    if len(ds) == 0:
        raise UsageError(f"{where} has no row with both a source and a target; check the column names")
    return ds


def normalize(ds, where: str, source: str, target: str, config: DataConfig):
    """One split with only `source` and `target` text columns, every row checked."""
    if len(ds) == 0:
        raise UsageError(f"{where} has no rows; choose another split or add rows")
    columns = list(ds.column_names)
    src = _pick_column(columns, config.source_column or source, SOURCE_COLUMNS, "source", where)
    tgt = _pick_column(columns, config.target_column or target, TARGET_COLUMNS, "target", where)
    if src == tgt:
        raise UsageError(f"{where}: source and target are both column '{src}'; pass --source-column and "
                         "--target-column with two different columns")
    ds = _as_text(_as_text(ds, src, where), tgt, where)
    ds = ds.select_columns([src, tgt])
    ds = ds.rename_columns({src: "source", tgt: "target"})
    return _check_rows(ds, where, {"source": src, "target": tgt}, config.drop_empty_rows)


def split_off(train, config: DataConfig, missing: tuple[str, ...], where: str) -> dict:
    """Carve the `missing` evaluation splits out of `train`, reproducibly by `split_seed`."""
    n = len(train)
    size = max(1, round(config.split_fraction * n))
    if n < len(missing) * size + 1:
        raise UsageError(f"{where} has only {n} row{'s' * (n != 1)}, too few to split off {' and '.join(missing)}; "
                         "add rows or give those splits as files")
    out = {}
    for split in missing:
        parts = train.train_test_split(test_size=size, seed=config.split_seed, shuffle=True)
        train, out[split] = parts["train"], parts["test"]
    return {"train": train, **out}


# ---------------------------------------------------------------------------------------------
# Specs


def describe_choices() -> str:
    return (f"choose one of: {', '.join(DATASETS)}, or pass hf:NAME[:CONFIG], a .jsonl/.json/.csv/.parquet file, "
            "or a directory of train/validation/test files")


def load_dataset_spec(spec: str, config: DataConfig | None = None):
    """A `DatasetDict` with train/validation/test splits of `source` and `target` text."""
    from datasets import DatasetDict

    config = config or DataConfig()
    if config.n is not None and config.n < 1:
        raise UsageError(f"--n {config.n}: the training set needs at least 1 row")
    if not 0 < config.split_fraction < 0.5:
        raise UsageError(f"split fraction {config.split_fraction} must be between 0 and 0.5, e.g. 0.1")
    entry = DATASETS.get(spec)
    path = Path(spec).expanduser()
    if entry is not None and not path.exists():
        raw, where = entry.load(config), spec
        splits = {s: normalize(raw[s], f"{spec} split '{s}'", entry.source_column, entry.target_column, config)
                  for s in raw}
    elif spec.startswith("hf:"):
        name, _, hub_config = spec[3:].partition(":")
        if not name:
            raise UsageError(f"'{spec}' names no dataset; pass hf:NAME or hf:NAME:CONFIG, e.g. hf:EdinburghNLP/xsum")
        raw, where = hub_dataset(name, hub_config or None), spec
        splits = {s: normalize(raw[s], f"{spec} split '{s}'", None, None, config) for s in raw}
    elif path.is_file():
        where = str(path)
        splits = {"train": normalize(load_file(path), where, None, None, config)}
    elif path.is_dir():
        where = str(path)
        splits = {s: normalize(load_file(f), str(f), None, None, config) for s, f in directory_files(path).items()}
    elif re.search(r"[/\\.]", spec):
        raise UsageError(f"dataset file '{spec}' not found; check the path, or {describe_choices()}")
    else:
        raise UsageError(f"unknown dataset '{spec}'; {describe_choices()}")

    if "train" in splits:
        missing = tuple(s for s in ("validation", "test") if s not in splits)
        if missing:
            splits.update(split_off(splits["train"], config, missing, where))
        if config.n is not None:
            splits["train"] = splits["train"].select(range(min(config.n, len(splits["train"]))))
    return DatasetDict(splits)


def get_split(ds, split: str, where: str):
    if split not in ds:
        raise UsageError(f"{where} has no split '{split}'; choose one of: {', '.join(ds)}")
    return ds[split]


def load_rows(spec: str, split: str, n: int, config: DataConfig | None = None, whole_file: bool = False):
    """The first `n` rows (fewer if the split is shorter) of one split: for timing and calibration.

    With `whole_file`, a single-file SPEC is read whole instead of being split three ways.
    """
    if n <= 0:
        raise UsageError(f"asked for {n} rows of {spec}; pass a positive number of samples")
    path = Path(spec).expanduser()
    if whole_file and path.is_file():
        config = config or DataConfig()
        rows = normalize(load_file(path), str(path), None, None, config)
    else:
        rows = get_split(load_dataset_spec(spec, config), split, spec)
    if len(rows) == 0:
        raise UsageError(f"{spec} split '{split}' has no usable rows; pass a split or file with data")
    return rows.select(range(min(n, len(rows))))


# ---------------------------------------------------------------------------------------------
# Tokenization


def tokenize(ds, tokenizer, *, prefix: str = "", max_source_length: int = 1024,
             max_target_length: int | None = 256):
    """Token ids of `source` (and, with a target length, `labels`), truncated, plus a report.

    The report counts rows longer than the limits: {"rows", "sources_truncated", "targets_truncated"}.
    """
    def encode(texts, max_length, target=False):
        # Targets go through text_target=, so tokenizers with a separate target side (Marian's
        # target vocabulary, mBART's target language code) encode labels the way the model expects.
        def call(**kwargs):
            return tokenizer(text_target=texts, **kwargs) if target else tokenizer(texts, **kwargs)
        # Overflowing tokens come back as extra rows of the same sample: the first row is the
        # truncated text, and a sample with more than one row was truncated.
        enc = call(max_length=max_length, truncation=True, return_overflowing_tokens=True)
        owners = enc.get("overflow_to_sample_mapping")
        if owners is None:  # tokenizers without overflow support: measure the full length instead
            full = call()["input_ids"]
            return call(max_length=max_length, truncation=True), [len(f) > max_length for f in full]
        first = [i for i, o in enumerate(owners) if i == 0 or owners[i - 1] != o]
        counts = [0] * len(texts)
        for o in owners:
            counts[o] += 1
        return {k: [enc[k][i] for i in first] for k in ("input_ids", "attention_mask")}, [c > 1 for c in counts]

    def batch(rows):
        out, truncated = encode([prefix + s for s in rows["source"]], max_source_length)
        out = {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"],
               "source_truncated": truncated}
        if max_target_length is not None:
            labels, truncated = encode(rows["target"], max_target_length, target=True)
            out.update(labels=labels["input_ids"], target_truncated=truncated)
        return out

    tokenized = ds.map(batch, batched=True, remove_columns=ds.column_names)
    report = {"rows": len(ds), "sources_truncated": sum(tokenized["source_truncated"])}
    if max_target_length is not None:
        report["targets_truncated"] = sum(tokenized["target_truncated"])
    tokenized = tokenized.remove_columns([c for c in ("source_truncated", "target_truncated")
                                          if c in tokenized.column_names])
    return tokenized, report


def truncation_line(name: str, report: dict, max_source_length: int, max_target_length: int | None = None) -> str:
    """'train: truncated 3/100 sources (> 1024 tokens), 0/100 targets (> 256 tokens)'."""
    parts = [f"{report['sources_truncated']:,}/{report['rows']:,} sources (> {max_source_length} tokens)"]
    if "targets_truncated" in report:
        parts.append(f"{report['targets_truncated']:,}/{report['rows']:,} targets (> {max_target_length} tokens)")
    return f"{name}: truncated {', '.join(parts)}"
