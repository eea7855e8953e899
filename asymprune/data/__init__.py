"""Datasets as `DatasetDict`s with `source` and `target` columns: text to summarize, or audio files to transcribe.

    from asymprune.data import DataConfig, load_dataset_spec, tokenize
    ds = load_dataset_spec("synthetic", DataConfig(n=2000))      # train/validation/test
    ds = load_dataset_spec("cnn_dailymail")                       # the hub, when it can be reached
    ds = load_dataset_spec("data.csv", DataConfig(source_column="body", target_column="tldr"))
    tokenized, report = tokenize(ds["train"], tokenizer, prefix="summarize: ")

    registry.py  DataConfig, the named datasets (`@register_dataset`) and kinds of local files
                 (`@register_file_kind`), the metric each is scored with and what its source holds
    speech_kinds.py  synthetic-speech, audiofolder and speech rows: audio files and transcripts (WER)
    files.py     one local file, or a folder of files named by split
    columns.py   source/target columns, rows checked, evaluation splits carved out of train
    load.py      a SPEC to its splits (load_dataset_spec), one split's first rows (load_rows)
    encode.py    tokenization with truncation counts

Every problem with the data is a one-line `UsageError` naming the file (or split), the row
and the fix.
"""

from .columns import SOURCE_COLUMNS, TARGET_COLUMNS, normalize, split_off
from .encode import tokenize, truncation_line
from .files import FORMATS, directory_files, load_file
from .load import describe_choices, get_split, load_dataset_spec, load_rows
from .registry import (DATASETS, FILE_KINDS, SYNTHETIC_EVAL_ROWS, DataConfig, DatasetEntry, FileKind, check_inputs,
                       dataset_inputs, dataset_metric, file_kind, hub_dataset, register_dataset, register_file_kind)
from . import speech_kinds  # noqa: F401  (registers synthetic-speech, audiofolder and speech rows)

__all__ = [
    "SOURCE_COLUMNS", "TARGET_COLUMNS", "normalize", "split_off", "tokenize", "truncation_line",
    "FORMATS", "directory_files", "load_file", "describe_choices", "get_split", "load_dataset_spec", "load_rows",
    "DATASETS", "FILE_KINDS", "SYNTHETIC_EVAL_ROWS", "DataConfig", "DatasetEntry", "FileKind", "check_inputs",
    "dataset_inputs", "dataset_metric", "file_kind", "hub_dataset", "register_dataset", "register_file_kind",
]
