"""Every bad input a hostile but realistic user tried (issue 11): one stderr line, exit 2, nothing left behind.

Each case prepares its files, runs the CLI, and checks that
- the exit code is 2 and stderr is exactly one line, `error: ...`, with the expected words and no traceback;
- nothing was printed before it (no table, no progress: the check came before the work);
- the test folder holds exactly what it held before (no output folder, no temporary file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests.helpers import run_cli
from tests.results_db import make_results_db


@pytest.fixture(scope="module")
def corrupted(t5_dir, tmp_path_factory) -> Path:
    """A copy of the tiny T5 whose model.safetensors was cut short, as by an interrupted download."""
    path = tmp_path_factory.mktemp("corrupted") / "model"
    shutil.copytree(t5_dir, path, ignore=shutil.ignore_patterns(".ct2"))
    weights = path / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    return path


@pytest.fixture(scope="module")
def no_tokenizer(t5_dir, tmp_path_factory) -> Path:
    """The tiny T5's weights and config without any tokenizer file."""
    path = tmp_path_factory.mktemp("no-tokenizer") / "model"
    shutil.copytree(t5_dir, path, ignore=shutil.ignore_patterns(".ct2", "tokenizer*"))
    return path


@pytest.fixture(scope="module")
def results_db(tmp_path_factory) -> Path:
    return make_results_db(tmp_path_factory.mktemp("db") / "results.db")


def spec(p, **overrides) -> str:
    """A valid tiny sweep spec in the test folder, with `overrides`."""
    path = p.tmp / "spec.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(p.tmp / "sweep"), "models": ["t5-tiny"],
                                    "datasets": ["synthetic"], "grid": ["6/3"], **overrides}))
    return str(path)


def jsonl_with_bad_line_6(p) -> str:
    """Line 2 is blank, so the empty target on line 6 is the file's 5th row."""
    path = p.tmp / "news.jsonl"
    good = '{"document": "Storms closed 3 roads.", "summary": "3 roads closed."}\n'
    path.write_text(good + "\n" + good * 3 + '{"document": "A fire.", "summary": ""}\n' + good * 20)
    return str(path)


def a_directory(p, name="dir") -> str:
    (p.tmp / name).mkdir()
    return str(p.tmp / name)


CORRUPTED = "model.safetensors is truncated or corrupted"
RE_DOWNLOAD = "re-download or re-save the model"

# name: (argv from the paths in p, words the error line must hold)
CASES = {
    # A corrupted or truncated weights file, in every command that loads weights.
    "corrupted-prune": (lambda p: ["prune", p.bad, p.out, "--decoder-layers", "2"], [CORRUPTED, RE_DOWNLOAD]),
    "corrupted-generate": (lambda p: ["generate", p.bad], [CORRUPTED, RE_DOWNLOAD]),
    "corrupted-evaluate": (lambda p: ["evaluate", p.bad, "--dataset", "synthetic", "--out", p.out],
                           [CORRUPTED, RE_DOWNLOAD]),
    "corrupted-train": (lambda p: ["train", p.bad, p.out, "--dataset", "synthetic"], [CORRUPTED, RE_DOWNLOAD]),
    "corrupted-bench": (lambda p: ["bench", p.bad, "--json", f"{p.out}.json"], [CORRUPTED, RE_DOWNLOAD]),
    "corrupted-export": (lambda p: ["export", p.bad, p.out], [CORRUPTED, RE_DOWNLOAD]),
    # Outputs that cannot be created: found before any work, by every command the same way.
    "unwritable-init": (lambda p: ["init", "t5-tiny", "/proc/x"], ["cannot write /proc/x: /proc does not accept"]),
    "unwritable-init-sys": (lambda p: ["init", "t5-tiny", "/sys/x"], ["cannot write /sys/x: /sys does not accept"]),
    "unwritable-prune": (lambda p: ["prune", p.t5, "/proc/x", "--decoder-layers", "2"], ["cannot write /proc/x"]),
    "unwritable-evaluate": (lambda p: ["evaluate", p.t5, "--dataset", "synthetic", "--out", "/proc/ev"],
                            ["cannot write /proc/ev"]),
    "unwritable-train": (lambda p: ["train", p.t5, "/proc/x", "--dataset", "synthetic"], ["cannot write /proc/x"]),
    "unwritable-train-checkpoints": (lambda p: ["train", p.t5, p.out, "--dataset", "synthetic",
                                                "--checkpoint-dir", "/proc/ck"], ["cannot write /proc/ck"]),
    "unwritable-bench": (lambda p: ["bench", "t5-tiny", "--json", "/proc/x/r.json"],
                         ["cannot write --json /proc/x/r.json"]),
    "unwritable-layers": (lambda p: ["layers", p.t5, "--calibration", "synthetic", "--json", "/proc/x.json"],
                          ["cannot write --json /proc/x.json"]),
    "unwritable-plan": (lambda p: ["plan", "t5-tiny", "--grid", "6/3", "--out", "/proc/x"], ["cannot write /proc/x"]),
    "unwritable-export": (lambda p: ["export", p.t5, "/proc/x"], ["cannot write /proc/x"]),
    "unwritable-results-csv": (lambda p: ["results", p.db, "--csv", "/proc/x.csv"], ["cannot write --csv /proc/x.csv"]),
    "unwritable-report": (lambda p: ["report", p.db, "--out", "/proc/x"], ["cannot write /proc/x"]),
    "unwritable-sweep": (lambda p: ["sweep", spec(p, output_dir="/proc/x")],
                         ["output_dir /proc/x cannot be written: /proc does not accept"]),
    "unwritable-sweep-dry-run": (lambda p: ["sweep", spec(p, output_dir="/sys/x"), "--dry-run"],
                                 ["output_dir /sys/x cannot be written"]),
    "unwritable-demo": (lambda p: ["demo", "--out", "/proc/x", "--from-scratch"], ["output_dir /proc/x cannot be written"]),
    "bench-json-is-a-directory": (lambda p: ["bench", "t5-tiny", "--json", a_directory(p), "--overwrite"],
                                  ["--json", "is a directory; pass a file path"]),
    "csv-is-a-directory": (lambda p: ["results", p.db, "--csv", a_directory(p), "--overwrite"],
                           ["--csv", "is a directory; pass a file path"]),
    # Values that used to crash or to do nothing without a word.
    "generate-num-beams-0": (lambda p: ["generate", p.t5, "--num-beams", "0"],
                             ["--num-beams 0: the beam size must be at least 1"]),
    "prune-no-counts": (lambda p: ["prune", p.t5, p.out], ["nothing to remove: this keeps all 6 encoder and 6"]),
    "prune-full-counts": (lambda p: ["prune", p.t5, p.out, "--encoder-layers", "6", "--decoder-layers", "6/6"],
                          ["nothing to remove"]),
    "prune-all-indices": (lambda p: ["prune", p.t5, p.out, "--keep-decoder", "0,1,2,3,4,5"], ["nothing to remove"]),
    # Messages that named the wrong file, row, key or fix.
    "spec-not-found": (lambda p: ["sweep", str(p.tmp / "demo.yaml")],
                       ["not found", "configs/paper-flan-t5.yaml", "asymprune demo"]),
    "results-on-a-directory": (lambda p: ["results", a_directory(p, "m")],
                               ["is a directory; pass the results.db file a sweep wrote"]),
    "jsonl-line-6": (lambda p: ["evaluate", p.t5, "--dataset", jsonl_with_bad_line_6(p), "--out", p.out],
                     ["news.jsonl line 6: the target 'summary' is empty"]),
    "spec-bench-batch-sizes": (lambda p: ["sweep", spec(p, bench={"batch_sizes": [0]})],
                               ["spec.yaml: bench.batch_sizes must be positive integers"]),
    "spec-train-max-steps": (lambda p: ["sweep", spec(p, train={"max_steps": 0})], ["spec.yaml: train.max_steps 0"]),
    "mistyped-preset": (lambda p: ["generate", "t5-tinyy"], ["t5-tinyy", "did you mean the preset 't5-tiny'?"]),
    # transformers 5 builds an empty tokenizer from a config alone; a folder without one has none.
    "no-tokenizer-generate": (lambda p: ["generate", p.no_tokenizer], ["has no tokenizer: none of tokenizer.json", "save one into it"]),
    "no-tokenizer-evaluate": (lambda p: ["evaluate", p.no_tokenizer, "--dataset", "synthetic", "--out", p.out],
                              ["has no tokenizer: none of tokenizer.json", "save one into it"]),
}


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, t5_dir, corrupted, no_tokenizer, results_db, tmp_path,
                                                         capsys):
    argv, words = CASES[case]
    p = SimpleNamespace(t5=str(t5_dir), bad=str(corrupted), no_tokenizer=str(no_tokenizer), db=str(results_db),
                        tmp=tmp_path, out=str(tmp_path / "out"))
    args = argv(p)
    before = _snapshot(tmp_path)
    models_before = _snapshot(t5_dir.parent)
    capsys.readouterr()
    code = run_cli(args)
    printed = capsys.readouterr()
    lines = printed.err.splitlines()
    assert code == 2, (args, printed)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in printed.err, printed.err
    assert all(w in lines[0] for w in words), lines[0]
    assert printed.out == "", printed.out  # failed before any work or display
    assert _snapshot(tmp_path) == before  # no output, no temporary or half-written file
    assert _snapshot(t5_dir.parent) == models_before  # nothing written next to the input model either


def test_a_mistyped_preset_fails_fast_without_hub_retries(tmp_path):
    """With the hub allowed but unreachable (this machine) or reachable (CI): one line naming the closest
    preset, and none of huggingface_hub's retry messages."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    proc = subprocess.run([sys.executable, "-m", "asymprune", "generate", "t5-tinyy"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and "Retry" not in proc.stderr + proc.stdout
    assert "did you mean the preset 't5-tiny'?" in proc.stderr and proc.stdout == ""
    assert list(tmp_path.iterdir()) == []
