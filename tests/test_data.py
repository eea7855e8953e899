"""Datasets: the synthetic corpus, local files and directories, tokenization, and one-line errors for bad data."""

import json
import re

import pytest
from transformers import AutoConfig

from asymprune.data import DATASETS, DataConfig, load_dataset_spec, register_dataset, tokenize, truncation_line
from asymprune.errors import UsageError
from asymprune.models import build_preset, family_for
from asymprune.synthetic import make_examples
from tests.helpers import run_cli


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def rows():
    return make_examples(30, seed=7)


def test_synthetic_splits_are_deterministic_and_sized_by_n():
    a = load_dataset_spec("synthetic", DataConfig(n=50))
    b = load_dataset_spec("synthetic", DataConfig(n=80))
    assert {k: len(v) for k, v in a.items()} == {"train": 50, "validation": 200, "test": 200}
    assert a["train"].column_names == ["source", "target"]
    assert a["test"][:] == b["test"][:] and a["validation"][:] == b["validation"][:]  # independent of --n
    assert a["train"][:] == b["train"].select(range(50))[:]
    other = load_dataset_spec("synthetic", DataConfig(n=50, split_seed=1))
    assert other["test"][:] != a["test"][:]
    sources = [set(a[s]["source"]) for s in ("train", "validation", "test")]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])


def test_synthetic_summary_facts_sit_at_varying_positions():
    # The summary restates key facts; where they sit in the document varies, never the first sentence.
    ds = load_dataset_spec("synthetic", DataConfig(n=300))["train"]
    first_fact_positions = set()
    for row in ds:
        sentences = re.split(r"(?<=\.) ", row["source"])
        numbers = re.findall(r"\d+", row["target"].split(". ")[0])
        if not numbers:  # "X leads Y from May." has no number to find it by
            continue
        hits = [i for i, s in enumerate(sentences) if numbers[0] in re.findall(r"\d+", s)
                and not s.startswith(("It was", "Last year", "Critics", "Some analysts", "An early"))]
        first_fact_positions.add(hits[0])
    assert 0 not in first_fact_positions and len(first_fact_positions) >= 8


def test_jsonl_file_is_split_by_seed(tmp_path, rows):
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    ds = load_dataset_spec(str(path))
    assert {k: len(v) for k, v in ds.items()} == {"train": 24, "validation": 3, "test": 3}
    assert sorted(sum((list(ds[s]["source"]) for s in ds), [])) == sorted(r["document"] for r in rows)
    assert load_dataset_spec(str(path))["test"][:] == ds["test"][:]
    assert load_dataset_spec(str(path), DataConfig(split_seed=5))["test"][:] != ds["test"][:]
    assert len(load_dataset_spec(str(path), DataConfig(n=10))["train"]) == 10


def test_csv_with_named_columns_json_and_parquet(tmp_path, rows):
    import pandas as pd
    frame = pd.DataFrame({"body": [r["document"] for r in rows], "tldr": [r["summary"] for r in rows],
                          "id": range(len(rows))})
    frame.to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset_spec(str(tmp_path / "d.csv"), DataConfig(source_column="body", target_column="tldr"))
    assert ds["train"].column_names == ["source", "target"] and sum(len(v) for v in ds.values()) == 30
    frame.rename(columns={"body": "article", "tldr": "highlights"}).to_parquet(tmp_path / "d.parquet")
    assert len(load_dataset_spec(str(tmp_path / "d.parquet"))["test"]) == 3  # CNN/DM's names are known
    (tmp_path / "d.json").write_text(json.dumps(rows))  # a JSON array, not lines
    assert load_dataset_spec(str(tmp_path / "d.json"))["test"][0]["target"] in {r["summary"] for r in rows}


def test_csv_keeps_na_and_numbers_as_text(tmp_path):
    (tmp_path / "d.csv").write_text("document,summary\n" + "".join(f"Doc {i} says NA.,{i}\n" for i in range(10)))
    ds = load_dataset_spec(str(tmp_path / "d.csv"))
    assert ds["train"].features["target"].dtype == "string"
    assert all(s.endswith("NA.") for s in ds["train"]["source"])


def test_directory_of_split_files(tmp_path, rows):
    write_jsonl(tmp_path / "train.jsonl", rows[:20])
    write_jsonl(tmp_path / "dev.jsonl", rows[20:25])
    write_jsonl(tmp_path / "test.jsonl", rows[25:])
    (tmp_path / "notes.txt").write_text("ignored")
    ds = load_dataset_spec(str(tmp_path))
    assert {k: len(v) for k, v in ds.items()} == {"train": 20, "validation": 5, "test": 5}
    assert list(ds["test"]["source"]) == [r["document"] for r in rows[25:]]


def test_tokenize_counts_truncation_and_prefixes_only_t5():
    ds = load_dataset_spec("synthetic", DataConfig(n=20))["train"]
    _, t5 = build_preset("t5-tiny")
    tokenized, report = tokenize(ds, t5, prefix="summarize: ", max_source_length=120, max_target_length=30)
    full_src = [len(x) for x in t5(["summarize: " + s for s in ds["source"]]).input_ids]
    full_tgt = [len(x) for x in t5(list(ds["target"])).input_ids]
    assert report == {"rows": 20, "sources_truncated": sum(n > 120 for n in full_src),
                      "targets_truncated": sum(n > 30 for n in full_tgt)}
    assert 0 < report["sources_truncated"] < 20 and 0 < report["targets_truncated"] < 20  # the test means something
    assert [len(x) for x in tokenized["input_ids"]] == [min(n, 120) for n in full_src]
    assert all(x[-1] == t5.eos_token_id for x in tokenized["labels"])  # truncation keeps </s>
    assert t5.decode(tokenized["input_ids"][0]).startswith("summarize: ")
    assert truncation_line("train", report, 120, 30) == (
        f"train: truncated {report['sources_truncated']}/20 sources (> 120 tokens), "
        f"{report['targets_truncated']}/20 targets (> 30 tokens)")
    prefix = {t: family_for(AutoConfig.for_model(t)).source_prefix() for t in ("t5", "mt5", "bart", "pegasus")}
    assert prefix == {"t5": "summarize: ", "mt5": "summarize: ", "bart": "", "pegasus": ""}  # the family's


def test_adding_a_dataset_is_one_registered_entry():
    @register_dataset("tiny_news", source="body", target="headline", description="test entry")
    def tiny_news(config):
        from datasets import Dataset, DatasetDict
        rows = [{"body": f"Story {i}. More.", "headline": f"Story {i}"} for i in range(10)]
        return DatasetDict(train=Dataset.from_list(rows))
    try:
        ds = load_dataset_spec("tiny_news")
        assert {k: len(v) for k, v in ds.items()} == {"train": 8, "validation": 1, "test": 1}
    finally:
        DATASETS.pop("tiny_news")


def test_hub_datasets_fail_in_one_line_when_offline():
    assert {"cnn_dailymail", "xsum", "synthetic"} <= DATASETS.keys()
    with pytest.raises(UsageError, match=r"could not load 'abisee/cnn_dailymail' \(3.0.0\) from the Hugging Face hub"):
        load_dataset_spec("cnn_dailymail")
    with pytest.raises(UsageError, match="could not load 'someone/news' .*pass a local file"):
        load_dataset_spec("hf:someone/news:v2")


BAD = {  # name: (file name, content as bytes, extra CLI args, expected message with {path})
    "missing-column": ("d.jsonl", b'{"text_body": "a b.", "summary": "a"}\n' * 5, [],
                       "{path} has no source column (looked for document, article, source, text, dialogue, input; "
                       "columns: text_body, summary); pass --source-column NAME"),
    "missing-named-column": ("d.csv", b"body,tldr\nx,y\n", ["--source-column", "body", "--target-column", "summary"],
                             "{path} has no column 'summary' (columns: body, tldr); pass --target-column with one"),
    "empty-file": ("d.jsonl", b"", [], "{path} is empty; add rows with a source and a target column"),
    "blank-file": ("d.csv", b"\n\n", [], "{path} is empty; add rows"),
    "header-only": ("d.csv", b"document,summary\n", [], "{path} has a header but no rows; add rows below the header"),
    "not-utf8": ("d.csv", b"document,summary\nok,fine\ncaf\xe9 noir,x\n", [],
                 "{path} line 3 is not valid UTF-8 (byte 0xe9 at column 4); re-save the file as UTF-8"),
    "not-utf8-jsonl": ("d.jsonl", b'{"document": "ok", "summary": "s"}\n{"document": "caf\xe9", "summary": "s"}\n', [],
                       "{path} line 2 is not valid UTF-8"),
    "null-target": ("d.jsonl", b'{"document": "a", "summary": "s"}\n{"document": "b", "summary": null}\n', [],
                    "{path} line 2: the target 'summary' is null; fill it in or remove the row, "
                    "or pass --drop-empty-rows"),
    # JSON Lines are numbered as an editor shows them: the blank line 2 holds no row, so row 5 is line 6.
    "empty-target-after-blank-line": ("d.jsonl", b'{"document": "a", "summary": "s"}\n\n'
                                      + b'{"document": "a", "summary": "s"}\n' * 3 + b'{"document": "b", "summary": ""}\n',
                                      [], "{path} line 6: the target 'summary' is empty"),
    "empty-source": ("d.csv", b"body,tldr\na,b\n  ,c\n", ["--source-column", "body", "--target-column", "tldr"],
                     "{path} row 2: the source 'body' is empty; fill it in or remove the row"),
    "bad-json": ("d.jsonl", b'{"document": "a", "summary": "s"}\n' * 5 + b'{"document": "a", "summary": \n', [],
                 "{path} line 6 is not valid JSON (Expecting value at column 30); fix or remove that line"),
    "too-few-rows": ("d.jsonl", b'{"document": "a", "summary": "s"}\n', [],
                     "{path} has only 1 row, too few to split off validation and test"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_data_is_one_line_naming_file_row_and_fix(case, t5_dir, tmp_path, capsys):
    name, content, extra, message = BAD[case]
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out"
    code = run_cli(["evaluate", str(t5_dir), "--dataset", str(path), "--out", str(out), *extra])
    printed = capsys.readouterr()
    err = printed.err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and printed.out == "", printed
    assert message.format(path=path) in err
    assert not out.exists()


def test_empty_split_unknown_name_and_drop_empty_rows(t5_dir, tmp_path, capsys):
    import pandas as pd
    (tmp_path / "dir").mkdir()
    write_jsonl(tmp_path / "dir" / "train.jsonl", make_examples(5))
    pd.DataFrame({"document": pd.Series([], dtype=str), "summary": pd.Series([], dtype=str)}).to_parquet(
        tmp_path / "dir" / "test.parquet")
    (tmp_path / "nothing").mkdir()
    cases = [
        (str(tmp_path / "dir"), f"{tmp_path / 'dir' / 'test.parquet'} has no rows"),
        ("cnn_daily", "unknown dataset 'cnn_daily'; choose one of: cnn_dailymail, xsum, synthetic, synthetic-speech, "
                      "or pass hf:NAME[:CONFIG], a .jsonl/.json/.csv/.parquet file, a directory"),
        (str(tmp_path / "nope.jsonl"), f"dataset file '{tmp_path / 'nope.jsonl'}' not found"),
        (str(tmp_path / "nothing"), f"{tmp_path / 'nothing'} holds no split files; add train.jsonl"),
    ]
    for spec, message in cases:
        assert run_cli(["evaluate", str(t5_dir), "--dataset", spec, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err

    rows = make_examples(12) + [{"document": "", "summary": "x"}, {"document": "y", "summary": None}]
    path = write_jsonl(tmp_path / "holes.jsonl", rows)
    with pytest.raises(UsageError, match="line 13: the source 'document' is empty"):
        load_dataset_spec(str(path))
    ds = load_dataset_spec(str(path), DataConfig(drop_empty_rows=True))
    assert sum(len(v) for v in ds.values()) == 12
