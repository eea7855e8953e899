"""One split with only `source` and `target` text columns, every row checked; evaluation splits carved out of train.

    normalize(ds, "data.csv", None, None, DataConfig(source_column="body"))   # source/target columns, checked
    split_off(train, DataConfig(), ("validation", "test"), "data.csv")      # {'train', 'validation', 'test'}

Rows are numbered from 1, not counting a CSV header; a JSON Lines file by its line, as an
editor shows it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .files import jsonl_line
from .registry import DataConfig

# Tried in order when a file or hub dataset is given without --source-column / --target-column.
SOURCE_COLUMNS = ("document", "article", "source", "text", "dialogue", "input")
TARGET_COLUMNS = ("summary", "highlights", "target", "tldr", "output")


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
        at = f"line {jsonl_line(Path(where), row)}" if where.lower().endswith(".jsonl") and Path(where).is_file() \
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
