"""Experiment trackers (issue 16): `train --report-to` passes through to the Trainer, TensorBoard's files are read
back by TensorBoard, a missing package is one line, and a sweep names its runs after the variant."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from asymprune.sweep import build_plan, load_spec
from tests.helpers import run_cli

TINY = ["--dataset", "synthetic", "--n", "32", "--batch-size", "4", "--eval-steps", "3", "--eval-samples", "4",
        "--max-source-length", "64", "--max-target-length", "16", "--logging-steps", "1"]


def test_report_to_tensorboard_writes_event_files_tensorboard_reads(t5_dir, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(tmp_path)  # transformers' own default would be ./runs here
    out = tmp_path / "t"
    assert run_cli(["train", str(t5_dir), str(out), *TINY, "--max-steps", "3", "--report-to", "tensorboard"]) == 0
    for logs in (out / "runs" / "t", tmp_path / "t.checkpoints" / "runs" / "t"):  # kept in OUT; live beside it
        events = EventAccumulator(str(logs))
        events.Reload()
        assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3], logs
        assert [e.step for e in events.Scalars("eval/loss")] == [3]
    assert not (tmp_path / "runs").exists()
    recipe = json.loads((out / "train.json").read_text())["recipe"]
    assert (recipe["report_to"], recipe["run_name"]) == ("tensorboard", "t")
    assert "| tracker | tensorboard, run `t` |" in (out / "README.md").read_text()


@pytest.mark.parametrize("value,words", [
    ("nonsense", ["--report-to nonsense: unknown tracker; choose from none, all, tensorboard, wandb, mlflow"]),
    ("none,tensorboard", ["'none' and 'all' stand alone"]),
])
def test_bad_trackers_are_one_line_before_any_work(value, words, t5_dir, tmp_path, capsys):
    assert run_cli(["train", str(t5_dir), str(tmp_path / "t"), "--dataset", "synthetic", "--report-to", value]) == 2
    printed = capsys.readouterr()
    assert len(printed.err.splitlines()) == 1 and all(w in printed.err for w in words) and printed.out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_a_tracker_whose_package_is_missing_says_what_to_install(t5_dir, tmp_path, capsys):
    assert run_cli(["train", str(t5_dir), str(tmp_path / "t"), "--dataset", "synthetic", "--report-to", "wandb"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --report-to wandb needs the wandb package, which is not "
                                               "installed; install it with `pip install wandb` (or pass --report-to "
                                               "none)")


def _spec(tmp_path, **train) -> str:
    path = tmp_path / f"spec{len(train)}.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "models": ["t5-tiny"],
                                    "datasets": ["synthetic"], "grid": ["6/3"], "train": {"max_steps": 2, **train},
                                    "retrain": {"max_steps": 1}}))
    return str(path)


def test_a_sweep_names_its_runs_after_the_variant_and_a_tracker_changes_no_key(tmp_path):
    plain = build_plan(load_spec(_spec(tmp_path)))
    tracked = build_plan(load_spec(_spec(tmp_path, report_to="tensorboard")))
    assert [s.run for c in tracked for s in c.stages if s.name == "train"] == [
        "t5-tiny/6/6", "t5-tiny/control", "t5-tiny/6/3"]
    assert [s.key for c in plain for s in c.stages] == [s.key for c in tracked for s in c.stages]
    assert tracked[0].stages[0].inputs["train"]["report_to"] == "tensorboard"
