"""The datasets `--dataset NAME` knows, the kinds of local files a SPEC may be, the settings a SPEC is read with.

    @register_dataset("my_news", source="body", target="headline", description="...")
    def my_news(config: DataConfig) -> DatasetDict:
        return hub_dataset("me/my_news")

    @register_file_kind("my-layout", claims=lambda path, config: (path / "index.toml").is_file(), metric="wer",
                        inputs="audio", description="...")
    def my_layout(path: Path, config: DataConfig, whole: bool = False) -> dict[str, Dataset]:  # checked splits
        ...

Adding a named dataset, or a layout of local files, is that one entry. Each names the metric its
splits are scored with (`metric=`, asymprune.metrics; default "rouge", as for every summarization
dataset) and what its `source` column holds (`inputs=`: text, or audio files). The built-in
names: `synthetic` (seeded, offline), `cnn_dailymail` and `xsum` (the hub, when it can be
reached), `synthetic-speech` (data/speech_kinds.py); the built-in file kinds: `audiofolder` and
`speech-rows` (speech_kinds.py), and `text` (load.py: any .jsonl/.json/.csv/.parquet file or
folder of them that no other kind claims).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UsageError, first_line
from ..plugins import load_plugins

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
    source_column: str                             # column holding the text to summarize (or the audio file)
    target_column: str                             # column holding the reference summary (or transcript)
    description: str = ""
    metric: str = "rouge"                          # the metric its splits are scored with (asymprune.metrics)
    inputs: str = "text"                           # what `source` holds: "text", or "audio" (paths of audio files)
    checked: bool = False                          # load gives checked source/target(/id) splits: no normalize()


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(name: str, *, source: str, target: str, description: str = "", metric: str = "rouge",
                     inputs: str = "text", checked: bool = False):
    """Decorator: make `fn(config) -> DatasetDict` available as `--dataset NAME`, scored with `metric`."""
    def wrap(fn):
        DATASETS[name] = DatasetEntry(name, fn, source, target, description, metric, inputs, checked)
        return fn
    return wrap


@dataclass(frozen=True)
class FileKind:
    name: str                                          # how messages and the README call the layout
    claims: Callable[[Path, DataConfig], bool]         # whether a local file or folder is of this kind (cheap)
    # (path, config, whole) -> its splits, with checked `source`, `target` (and `id`) columns; `whole`: all of a
    # file's rows in train (a calibration set read whole)
    load: Callable[..., dict]
    metric: str = "rouge"                              # the metric its splits are scored with
    inputs: str = "text"                               # what `source` holds: "text", or "audio" (paths)
    description: str = ""


FILE_KINDS: dict[str, FileKind] = {}
FALLBACK_KIND = "text"  # the kind of a local path that no other kind claims (load.py registers it)


def register_file_kind(name: str, *, claims: Callable[[Path, DataConfig], bool], metric: str = "rouge",
                       inputs: str = "text", description: str = ""):
    """Decorator: make `fn(path, config, whole) -> {split: Dataset}` read every local path that `claims` accepts.

    Kinds are asked in the order they were registered; the text kind answers for what none claims."""
    def wrap(fn):
        FILE_KINDS[name] = FileKind(name, claims, fn, metric, inputs, description)
        return fn
    return wrap


def file_kind(path: Path, config: DataConfig | None = None) -> FileKind:
    """The kind of an existing local file or folder: the first registered kind that claims it, else the text kind."""
    load_plugins()
    config = config or DataConfig()
    found = next((k for name, k in FILE_KINDS.items() if name != FALLBACK_KIND and k.claims(path, config)), None)
    return found or FILE_KINDS[FALLBACK_KIND]


def _kind_of_spec(spec, config: DataConfig | None = None):
    """The registered entry or file kind a SPEC is read by (a local path wins over a name); None: the hub."""
    if not isinstance(spec, str):
        return None
    load_plugins()
    path = Path(spec).expanduser()
    if path.exists():
        return file_kind(path, config)
    return DATASETS.get(spec)


def dataset_metric(spec, config: DataConfig | None = None) -> str:
    """The name of the metric a dataset SPEC is scored with: its entry's or file kind's, else rouge (a hub dataset
    of source/target text is summarization)."""
    kind = _kind_of_spec(spec, config)
    return kind.metric if kind is not None else "rouge"


def dataset_inputs(spec, config: DataConfig | None = None) -> str:
    """What a dataset SPEC's `source` column holds: "text", or "audio" (audio files)."""
    kind = _kind_of_spec(spec, config)
    return kind.inputs if kind is not None else "text"


def check_inputs(spec, reads: str, model: str, config: DataConfig | None = None) -> None:
    """A one-line error when dataset SPEC holds other inputs than a model `reads` (its family's `inputs`)."""
    if not isinstance(spec, str):
        return  # an in-memory DatasetDict: the caller built it for the model
    holds = dataset_inputs(spec, config)
    if holds != reads:
        fix = {"audio": "an audiofolder, rows of audio files or synthetic-speech",
               "text": "text to summarize (synthetic, a .jsonl/.csv file, hf:NAME, ...)"}.get(reads, f"{reads} data")
        raise UsageError(f"{model} reads {reads}, but dataset '{spec}' holds {holds}; pass {fix}")


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

