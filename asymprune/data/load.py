"""A dataset SPEC as a `DatasetDict` with train/validation/test splits of `source` and `target` text.

    ds = load_dataset_spec("synthetic", DataConfig(n=2000))      # train/validation/test
    ds = load_dataset_spec("hf:EdinburghNLP/xsum")                # any hub dataset (columns inferred)
    ds = load_dataset_spec("data.csv", DataConfig(source_column="body", target_column="tldr"))
    ds = load_dataset_spec("data_dir/")                           # train.jsonl, validation.jsonl, test.jsonl
    rows = load_rows("synthetic", "validation", 32)               # the first rows of one split

A spec is a registered name, `hf:NAME[:CONFIG]`, or a local file or folder, read by the first
registered file kind that claims it (registry.py): an audiofolder or rows of audio files
(speech_kinds.py), else text, a .jsonl/.json/.csv/.parquet file (split into
train/validation/test by `split_seed`) or a directory of such files named by split (missing
validation/test splits are carved out of train the same way).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UsageError
from ..plugins import load_plugins
from .columns import normalize, split_off
from .files import directory_files, load_file
from .registry import DATASETS, DataConfig, file_kind, hub_dataset, register_file_kind

@register_file_kind("text", claims=lambda path, config: True, metric="rouge", inputs="text",
                    description="a .jsonl/.json/.csv/.parquet file of source and target text, or a folder of "
                                "train/validation/test files")
def text_files(path: Path, config: DataConfig, whole: bool = False):
    """A file's rows (all in train: load_dataset_spec carves validation and test out of it), or a folder's splits."""
    if path.is_file():
        return {"train": normalize(load_file(path), str(path), None, None, config)}
    return {s: normalize(load_file(f), str(f), None, None, config) for s, f in directory_files(path).items()}


def describe_choices() -> str:
    return (f"choose one of: {', '.join(DATASETS)}, or pass hf:NAME[:CONFIG], a .jsonl/.json/.csv/.parquet file, "
            "a directory of train/validation/test files, or an audiofolder")


def load_dataset_spec(spec: str, config: DataConfig | None = None):
    """A `DatasetDict` with train/validation/test splits of `source` and `target` text."""
    from datasets import DatasetDict

    config = config or DataConfig()
    if config.n is not None and config.n < 1:
        raise UsageError(f"--n {config.n}: the training set needs at least 1 row")
    if not 0 < config.split_fraction < 0.5:
        raise UsageError(f"split fraction {config.split_fraction} must be between 0 and 0.5, e.g. 0.1")
    load_plugins()
    entry = DATASETS.get(spec)
    path = Path(spec).expanduser()
    if entry is not None and not path.exists():
        raw, where = entry.load(config), spec
        splits = dict(raw) if entry.checked else {
            s: normalize(raw[s], f"{spec} split '{s}'", entry.source_column, entry.target_column, config) for s in raw}
    elif spec.startswith("hf:"):
        name, _, hub_config = spec[3:].partition(":")
        if not name:
            raise UsageError(f"'{spec}' names no dataset; pass hf:NAME or hf:NAME:CONFIG, e.g. hf:EdinburghNLP/xsum")
        raw, where = hub_dataset(name, hub_config or None), spec
        splits = {s: normalize(raw[s], f"{spec} split '{s}'", None, None, config) for s in raw}
    elif path.exists():
        where = str(path)
        splits = file_kind(path, config).load(path, config)
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
        rows = file_kind(path, config).load(path, config, whole=True)["train"]
    else:
        rows = get_split(load_dataset_spec(spec, config), split, spec)
    if len(rows) == 0:
        raise UsageError(f"{spec} split '{split}' has no usable rows; pass a split or file with data")
    return rows.select(range(min(n, len(rows))))
