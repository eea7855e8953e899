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


def a_link(p, target: str, name="alias") -> str:
    """A symbolic link in the test folder: the same path as `target` once resolved."""
    (p.tmp / name).symlink_to(target)
    return str(p.tmp / name)


def news(p, folder: str | None = None, name="news.jsonl") -> str:
    """A small valid dataset file, in `folder` (created) or the test folder."""
    where = Path(folder) if folder else p.tmp
    where.mkdir(exist_ok=True)
    row = '{"document": "Storms closed 3 roads in the north.", "summary": "3 roads closed."}\n'
    (where / name).write_text(row * 40)
    return str(where / name)


def not_utf8(p) -> str:
    path = p.tmp / "latin1.jsonl"
    path.write_bytes(b'{"document": "caf\xe9 prices", "summary": "caf\xe9"}\n' * 20)
    return str(path)


def damaged(p, name: str) -> str:
    """A copy of the tiny T5 whose `name` holds invalid JSON."""
    path = p.tmp / "damaged"
    shutil.copytree(p.t5, path, ignore=shutil.ignore_patterns(".ct2"))
    (path / name).write_text('{"kept": [0, 1')
    return str(path)


SIX_THREE = {"encoder": 6, "decoder": 3}  # on t5-tiny (6/6 layers), the same variant as "6/3"


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
    # A vocabulary size the tokenizer cannot give, named by the flag the user typed (issue 20).
    "vocab-size-above-the-tokenizer": (lambda p: ["vocab", p.t5, p.out, "--dataset", "synthetic", "--size", "100000"],
                                       ["--size 100000 is more than the", "tokens this tokenizer has; pass --size"]),
    "vocab-size-below-the-specials": (lambda p: ["vocab", p.t5, p.out, "--dataset", "synthetic", "--size", "2"],
                                      ["--size 2 is smaller than the 3 special tokens", "pass --size 3 or more"]),
    "vocab-size-below-the-bytes": (lambda p: ["vocab", p.bart, p.out, "--dataset", "synthetic", "--size", "100"],
                                   ["--size 100 is smaller than the 261 tokens", "256 byte tokens"]),
    "vocab-size-0": (lambda p: ["vocab", p.t5, p.out, "--dataset", "synthetic", "--size", "0"],
                     ["--size 0 must be a positive number"]),
    "export-vmap-size-0": (lambda p: ["export", p.t5, p.out, "--vmap", "synthetic", "--vmap-size", "0"],
                           ["error: --vmap-size 0 must be a positive number"]),
    "vocab-damaged-asymprune-json": (lambda p: ["vocab", damaged(p, "asymprune.json"), p.out, "--dataset", "synthetic"],
                                     ["asymprune.json is damaged", "restore it"]),
    "vocab-damaged-generation-config": (lambda p: ["vocab", damaged(p, "generation_config.json"), p.out, "--dataset",
                                                   "synthetic"], ["generation_config.json"]),
    "export-quantize-unknown": (lambda p: ["export", p.t5, p.out, "--quantize", "int4"],
                                ["--quantize int4 is not a CTranslate2 weight type; choose one of: int8"]),
    "export-vmap-size-above-the-tokenizer": (lambda p: ["export", p.t5, p.out, "--vmap", "synthetic",
                                                        "--vmap-size", "100000"],
                                             ["error: --vmap-size 100000 is more than", "pass --vmap-size"]),
    # Spec mistakes, found before any work and before output_dir exists, with --dry-run and without.
    **{f"sweep-{case}{suffix}": (lambda p, o=overrides, s=suffix: ["sweep", spec(p, **o(p)), *s.split()], words)
       for suffix in ("", " --dry-run")
       for case, (overrides, words) in {
           "duplicate-model-paths": (lambda p: {"models": [p.t5, a_link(p, p.t5)]}, ["models:", "the same path"]),
           "duplicate-model-spellings": (lambda p: {"models": [p.t5, p.t5 + "/"]}, ["models:", "the same path"]),
           "duplicate-datasets": (lambda p: {"datasets": ["synthetic", "synthetic"]},
                                  ["datasets: 'synthetic' is listed twice"]),
           "duplicate-dataset-files": (lambda p: {"datasets": [news(p), a_link(p, news(p))]},
                                       ["datasets:", "are the same path"]),
           "duplicate-variant-notations": (lambda p: {"grid": ["6/3", SIX_THREE]},
                                           ["grid: '6/3' and {", "keep the same layers of t5-tiny (6 encoder, 3 decoder)"]),
           "duplicate-variants": (lambda p: {"grid": ["6/3", [6, 3]]}, ["grid: 6/3 is listed twice"]),
           "missing-dataset-file": (lambda p: {"datasets": [str(p.tmp / "missing.jsonl")]},
                                    ["datasets: dataset file", "missing.jsonl' not found"]),
           "unreadable-dataset-file": (lambda p: {"datasets": [not_utf8(p)]}, ["latin1.jsonl line 1 is not valid UTF-8"]),
           "missing-model-folder": (lambda p: {"models": [str(p.tmp / "runs" / "m")]}, ["runs/m' not found"]),
           "unreadable-model-folder": (lambda p: {"models": [p.bad]}, [CORRUPTED]),
           "output-dir-is-the-model": (lambda p: {"models": [p.t5], "output_dir": p.t5},
                                       ["output_dir", "is inside the model folder"]),
           "output-dir-inside-the-model": (lambda p: {"models": [p.t5], "output_dir": p.t5 + "/sweep"},
                                           ["output_dir", "is inside the model folder"]),
       }.items()},
    # An output that is an input, or holds one: refused with or without --overwrite (issue 20).
    "prune-out-is-the-source": (lambda p: ["prune", p.t5, p.t5, "--decoder-layers", "2"],
                                ["is the input", "never replaced"]),
    "prune-out-is-the-source-overwrite": (lambda p: ["prune", p.t5, p.t5, "--decoder-layers", "2", "--overwrite"],
                                          ["is the input"]),
    "prune-out-holds-the-source": (lambda p: ["prune", p.t5, str(Path(p.t5).parent), "--decoder-layers", "2",
                                              "--overwrite"], ["contains the input", "would delete the input"]),
    "prune-out-holds-the-calibration": (lambda p: ["prune", p.t5, str(p.tmp / "d"), "--decoder-layers", "2",
                                                   "--strategy", "angular", "--calibration", news(p, p.tmp / "d"),
                                                   "--overwrite"], ["contains the input", "news.jsonl"]),
    "vocab-out-is-the-source-by-a-link": (lambda p: ["vocab", p.t5, a_link(p, p.t5), "--dataset", "synthetic",
                                                     "--overwrite"], ["is the input", "(the same path)"]),
    "vocab-out-is-the-source": (lambda p: ["vocab", p.t5, p.t5, "--dataset", "synthetic"], ["is the input"]),
    "train-out-is-the-source": (lambda p: ["train", p.t5, p.t5, "--dataset", "synthetic", "--overwrite"],
                                ["is the input"]),
    "train-out-holds-the-dataset": (lambda p: ["train", p.t5, str(p.tmp / "d"), "--dataset", news(p, p.tmp / "d"),
                                               "--overwrite"], ["contains the input", "news.jsonl"]),
    "train-checkpoints-are-the-source": (lambda p: ["train", p.t5, p.out, "--dataset", "synthetic",
                                                    "--checkpoint-dir", p.t5], ["is the input"]),
    "export-out-is-the-source": (lambda p: ["export", p.t5, p.t5, "--overwrite"], ["is the input"]),
    "evaluate-out-is-the-model": (lambda p: ["evaluate", p.t5, "--dataset", "synthetic", "--out", p.t5,
                                             "--overwrite"], ["is the input"]),
    "plan-out-is-the-model": (lambda p: ["plan", p.t5, "--grid", "6/3", "--out", p.t5, "--overwrite"],
                              ["is the input"]),
    "report-out-holds-the-database": (lambda p: ["report", p.db, "--out", str(Path(p.db).parent), "--overwrite"],
                                      ["contains the input", "results.db"]),
    "results-csv-is-the-database": (lambda p: ["results", p.db, "--csv", p.db, "--overwrite"],
                                    ["--csv", "is the input"]),
    "bench-json-is-the-dataset": (lambda p: ["bench", "t5-tiny", "--dataset", news(p), "--json", news(p),
                                             "--overwrite"], ["--json", "is the input"]),
    "layers-json-is-the-calibration": (lambda p: ["layers", p.t5, "--calibration", news(p), "--json", news(p),
                                                  "--overwrite"], ["--json", "is the input"]),
}


@pytest.fixture(scope="module")
def byte_level(tmp_path_factory) -> Path:
    """A BART-like model whose tokenizer is byte-level BPE (256 byte tokens, no <unk>)."""
    from tests.vocab_models import bart_like
    return bart_like(tmp_path_factory.mktemp("byte-level") / "model")


def _snapshot(root: Path) -> set:
    """Every path under `root`, with each file's size and modification time: a source rewritten in
    place (same names, new contents) differs too."""
    return {(str(p.relative_to(root)), *((p.lstat().st_size, p.lstat().st_mtime_ns) if p.is_file() else ()))
            for p in root.rglob("*")}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, t5_dir, corrupted, no_tokenizer, results_db,
                                                         byte_level, tmp_path, capsys):
    argv, words = CASES[case]
    p = SimpleNamespace(t5=str(t5_dir), bad=str(corrupted), no_tokenizer=str(no_tokenizer), db=str(results_db),
                        bart=str(byte_level), tmp=tmp_path, out=str(tmp_path / "out"))
    args = argv(p)
    before = _snapshot(tmp_path)
    models_before = _snapshot(t5_dir.parent)
    sources_before = [_snapshot(Path(x).parent) for x in (p.db, p.bad, p.bart)]
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
    assert [_snapshot(Path(x).parent) for x in (p.db, p.bad, p.bart)] == sources_before  # the sources untouched


def test_plan_of_the_current_folder_is_named_after_it(t5_dir, monkeypatch):
    """`plan .` inside a model folder: plan-<the folder's name>, not `plan-`."""
    from asymprune.plan import default_out
    monkeypatch.chdir(t5_dir)
    assert default_out(".") == default_out("./") == default_out(str(t5_dir) + "/") == Path("plan-t5-tiny")
    assert default_out("google/flan-t5-small") == Path("plan-flan-t5-small")


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
