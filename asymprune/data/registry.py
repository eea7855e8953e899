"""The datasets `--dataset NAME` knows, and the settings every dataset SPEC is read with.

    @register_dataset("my_news", source="body", target="headline", description="...")
    def my_news(config: DataConfig) -> DatasetDict:
        return hub_dataset("me/my_news")

Adding a named dataset is that one entry; `metric=` names the metric its splits are scored with
(asymprune.metrics; default "rouge", as for every summarization dataset). The built-in ones: `synthetic` (seeded, offline),
`cnn_dailymail` and `xsum` (the hub, when it can be reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UsageError, first_line

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
    metric: str = "rouge"                          # the metric its split is scored with (asymprune.metrics)


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(name: str, *, source: str, target: str, description: str = "", metric: str = "rouge"):
    """Decorator: make `fn(config) -> DatasetDict` available as `--dataset NAME`, scored with `metric`."""
    def wrap(fn):
        DATASETS[name] = DatasetEntry(name, fn, source, target, description, metric)
        return fn
    return wrap


def dataset_metric(spec) -> str:
    """The name of the metric a dataset SPEC is scored with: a registered dataset's own, else rouge
    (a hub dataset, a file or a folder of source/target text is summarization)."""
    entry = DATASETS.get(spec) if isinstance(spec, str) else None
    if entry is not None and not Path(spec).expanduser().exists():  # a path wins over a name, as when loading
        return entry.metric
    return "rouge"


def hub_dataset(name: str, config: str | None = None):
    """A dataset from the Hugging Face hub, as a one-line error when it cannot be had."""
    import datasets
    try:
        return datasets.load_dataset(name, config)
    except Exception as e:  # offline, unknown name, missing config, ... all raise different types
        raise UsageError(f"could not load '{name}'{f' ({config})' if config else ''} from the Hugging Face hub "
                         f"({first_line(e, innermost=True)}); check the name and your connection, or pass a local "
                         "file") from None


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

    from ..synthetic import make_examples
    # Separate random streams per split, so the validation and test rows do not depend on --n.
    seed = config.split_seed
    return DatasetDict(
        train=Dataset.from_list(make_examples(10_000 if config.n is None else config.n, seed=seed)),
        validation=Dataset.from_list(make_examples(SYNTHETIC_EVAL_ROWS, seed=f"{seed}:validation")),
        test=Dataset.from_list(make_examples(SYNTHETIC_EVAL_ROWS, seed=f"{seed}:test")),
    )

