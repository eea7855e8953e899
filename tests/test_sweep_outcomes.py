"""A sweep's outcome is honest: a summary line, a non-zero exit when runs failed, a hint after Ctrl-C,
and a report that handles what real sweeps produce (a ROUGE-2 of 0, missing impacts, failed and skipped runs)."""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from asymprune.report import load_runs
from asymprune.store import Store
from tests.helpers import interruptible, run_cli

# A model that learns nothing: 2 training steps, and 1 generated token, so ROUGE-2 is exactly 0.
LEARNS_NOTHING = {
    "models": ["t5-tiny-2-2"], "grid": ["6/3"], "data": {"n": 32},
    "train": {"max_steps": 2, "batch_size": 8, "eval_steps": 2, "eval_samples": 8, "max_source_length": 64,
              "max_target_length": 16},
    "evaluate": {"max_samples": 4, "max_new_tokens": 1, "batch_size": 4, "max_source_length": 64},
    "bench": {"batch_sizes": [1], "source_length": 8, "new_tokens": 2, "runs": 1, "warmup": 0},
}


def broken_dataset(tmp_path) -> str:
    """A dataset that only the base's train stage finds it cannot load: a hub dataset (the spec check
    loads local files up front, and refuses a broken one; tests run with the hub offline, and the
    name does not exist on it)."""
    return "hf:asymprune-tests/no-such-dataset"


def write_spec(tmp_path, **overrides) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "datasets": ["synthetic"],
                                    **LEARNS_NOTHING, **overrides}))
    return str(path)


def test_a_sweep_where_every_run_failed_exits_non_zero_with_a_summary(tmp_path, capsys):
    spec = write_spec(tmp_path, datasets=[broken_dataset(tmp_path)])
    assert run_cli(["sweep", spec]) == 1
    printed = capsys.readouterr()
    with sqlite3.connect(tmp_path / "out" / "results.db") as db:
        statuses = dict(db.execute("SELECT variant, status FROM runs").fetchall())
    # The base failed; everything built on it (the variant, and the re-tuned control if any) was skipped.
    assert statuses["6/6"] == "failed" and statuses["6/3"] == "skipped"
    assert set(statuses.values()) == {"failed", "skipped"}
    skipped = len(statuses) - 1
    assert f"0 runs done, 1 failed, {skipped} skipped" in printed.out
    assert printed.err.startswith(f"error: 1 of {len(statuses)} runs did not finish")
    assert printed.err.count("\n") == 1


def _zero_rouge_db(path):
    """What a sweep of a model that learned nothing records: every ROUGE-2 is 0, so impacts are NULL;
    plus a failed run, a skipped one, and a finished run whose evaluation was lost."""
    store = Store(path)
    for variant, kind, dec, ms in (("6/6", "full", 2, 100.0), ("6/3", "decoder", 1, 60.0), ("6/1", "decoder", 1, 50.0)):
        run = store.upsert_run("s", "t5-tiny-2-2", "synthetic", variant, kind=kind, encoder_layers=2,
                               decoder_layers=dec, encoder_total=2, decoder_total=2, params=1000, status="done")
        if variant != "6/1":
            store.record_metrics(run, "test", {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "rougeLsum": 0.0,
                                               "gen_len": 1.0, "n_samples": 4})
        store.record_latency(run, [dict(backend="hf", dtype="float32", device="cpu", batch_size=1, mean_ms=ms,
                                        std_ms=1.0, bench_id="b1")])
    store.upsert_run("s", "t5-tiny-2-2", "synthetic", "3/3", kind="both", status="failed", error="train: boom")
    store.upsert_run("s", "t5-tiny-2-2", "synthetic", "1/1", kind="both", status="skipped", error="min_speedup")
    store.close()
    return path


def _check_report(db, out, capsys):
    assert run_cli(["results", str(db)]) == 0
    assert run_cli(["report", str(db), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "recommendation: " in printed and "nothing to recommend" not in printed
    assert "nan" not in printed and "inf" not in printed
    text = (out / "report.md").read_text()
    for bad in ("nan", "inf", "None"):
        assert bad not in text.replace("Runs not finished", ""), bad
    with open(out / "runs.csv", newline="") as f:
        rows = {(r["dataset"], r["variant"]): r for r in csv.DictReader(f)}
    assert rows[("synthetic", "6/6")]["rouge2"] == "0.0" and rows[("synthetic", "6/6")]["rouge2_impact_pct"] == ""
    return rows


def test_report_on_a_zero_rouge_database_with_failed_and_skipped_runs(tmp_path, capsys):
    db = _zero_rouge_db(tmp_path / "results.db")
    frame = load_runs(db)
    assert frame.rouge2_impact_pct.isna().all() and frame.rouge2_impact_pct.dtype.kind == "f"
    rows = _check_report(db, tmp_path / "report", capsys)
    assert {v: r["status"] for (_, v), r in rows.items()} == {"6/6": "done", "6/3": "done", "6/1": "done",
                                                         "3/3": "failed", "1/1": "skipped"}


@pytest.mark.slow  # a real sweep: two trainings, two evaluations, two benches (about 2 minutes on 2 cores)
def test_report_on_a_real_sweep_whose_model_learned_nothing(tmp_path, capsys):
    spec = write_spec(tmp_path, datasets=["synthetic", broken_dataset(tmp_path)])
    assert run_cli(["sweep", spec]) == 1  # the broken dataset's base failed; the others finished
    db = tmp_path / "out" / "results.db"
    frame = load_runs(db)
    counts = frame.status.value_counts().to_dict()
    assert counts.get("failed") == 1 and set(counts) == {"done", "failed", "skipped"}
    assert (f"{counts['done']} runs done, 1 failed, {counts['skipped']} skipped"
            in capsys.readouterr().out)
    done = frame[frame.status == "done"]
    assert set(done.dataset) == {"synthetic"} and (done.rouge2 == 0).all() and done.rouge2_impact_pct.isna().all()
    rows = _check_report(db, tmp_path / "report", capsys)
    assert {r["status"] for (dataset, _), r in rows.items() if dataset != "synthetic"} == {"failed", "skipped"}


def test_ctrl_c_of_a_sweep_says_how_to_continue(tmp_path):
    spec = write_spec(tmp_path, train={**LEARNS_NOTHING["train"], "max_steps": 100_000, "eval_steps": 100_000})
    proc = subprocess.Popen([sys.executable, "-m", "asymprune", "sweep", spec], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    line = proc.stdout.readline()  # "[1/2] ... running train, ...": the first stage has started
    assert "running train" in line, line + proc.stderr.read()
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()  # a child that missed the Ctrl-C must not train on, loading the rest of the suite
    # 130 from sys.exit(130); or killed by SIGINT, which a shell also reads as 130: CPython 3.11 exits
    # that way, after our handler has run, when the interrupt landed inside an exec() of a string (as
    # dataclasses does while transformers imports), even though the KeyboardInterrupt was handled.
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"interrupted: finished stages are kept in {tmp_path / 'out'}; run "
                                            f"`asymprune sweep {spec}` again to continue")
