"""`asymprune sweep`: spec validation, hash-keyed resumable stages, failures, Ray, and the database."""

import json
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from asymprune.bench import default_threads
from asymprune.sweep import PAPER_GRID, bench_groups, build_plan, load_spec
from tests.helpers import run_cli, run_cli_subprocess

# Tiny, fast settings: the point here is the orchestration, not the quality.
FAST = {
    "data": {"n": 64},
    "train": {"max_steps": 4, "batch_size": 8, "per_device_batch_size": 8, "eval_steps": 4,
              "eval_samples": 8, "learning_rate": 1e-3, "max_source_length": 128, "max_target_length": 32},
    "evaluate": {"max_samples": 4, "max_new_tokens": 6, "batch_size": 4, "max_source_length": 128},
    "bench": {"batch_sizes": [1], "source_length": 16, "new_tokens": 4, "runs": 1, "warmup": 0},
}


def write_spec(tmp_path, name="spec", **overrides) -> str:
    spec = {"output_dir": str(tmp_path / "out"), "models": ["t5-tiny"], "datasets": ["synthetic"],
            "grid": ["6/6", "6/3", "3/6"], **FAST, **overrides}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def executions(tmp_path) -> list[dict]:
    log = tmp_path / "out" / "executions.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_default_grid_is_the_papers_sixteen(tmp_path):
    spec = load_spec(write_spec(tmp_path, grid=PAPER_GRID))
    chains = build_plan(spec)
    assert len(PAPER_GRID) == 16
    # 6/6 is the base run itself; the control is the base re-tuned with the variants' recipe.
    assert [c.variant for c in chains] == ["6/6", "control", *PAPER_GRID[1:]]
    assert [s.name for s in chains[0].stages] == ["train", "evaluate"]
    assert [s.name for s in chains[1].stages] == ["train", "evaluate"] and chains[1].run_fields["kind"] == "control"
    assert chains[1].stages[0].inputs["model"] == f"stage:{chains[0].stages[0].out.name}"
    assert chains[1].stages[0].inputs["train"] == chains[2].stages[1].inputs["train"]  # the same extra training
    assert [s.name for s in chains[2].stages] == ["prune", "train", "evaluate"]
    (group,) = bench_groups(spec, chains)  # benched together, once all are trained
    assert group.stage(group.members(planned=True)).inputs["variants"] == ["6/6", "control", *PAPER_GRID[1:]]
    kinds = {c.variant: c.run_fields["kind"] for c in chains}
    assert kinds["6/6"] == "full" and kinds["6/1"] == "decoder" and kinds["1/6"] == "encoder" and kinds["2/2"] == "both"
    assert chains[2].run_fields["strategy"] == "spread"  # 6-layer stacks have no paper map


def test_explicit_counts_and_keys_follow_inputs(tmp_path):
    spec = load_spec(write_spec(tmp_path, grid=[{"encoder": 6, "decoder": 2}, [6, 3]]))
    chains = build_plan(spec)
    assert [c.variant for c in chains] == ["6/6", "control", "6L/2L", "6/3"]
    assert chains[2].run_fields["kept"]["decoder"] == [0, 5]
    other = load_spec(write_spec(tmp_path, name="other", grid=[[6, 3]], retrain={"learning_rate": 5e-4}))
    again = build_plan(other)
    assert again[0].stages[0].key == chains[0].stages[0].key  # same base training inputs, same stage
    assert again[2].stages[1].key != chains[3].stages[1].key  # another retrain recipe, another stage
    assert [c.variant for c in build_plan(load_spec(write_spec(tmp_path, name="nc", control=False)))] == \
        ["6/6", "6/3", "3/6"]


BAD_SPECS = {
    "unknown-key": ({"gird": ["6/3"]}, "unknown key 'gird'; known keys: output_dir, models"),
    "unknown-nested-key": ({"train": {"max_step": 3}}, "train: unknown key 'max_step'; known keys: learning_rate"),
    "wrong-type": ({"models": "t5-tiny"}, "models must be list[str], got 't5-tiny'"),
    "wrong-nested-type": ({"train": {"max_steps": "ten"}}, "train.max_steps must be int | None, got 'ten'"),
    "bad-variant": ({"grid": ["7/3"]}, "grid entry '7/3' is not a variant; use sixths like '6/3'"),
    "impossible-variant": ({"grid": [{"encoder": 9, "decoder": 2}]},
                           "variant 9L/2L is impossible for t5-tiny: --encoder-layers 9: the encoder has only 6 layers"),
    "bad-bench": ({"bench": {"batch_sizes": [0]}}, "--batch-sizes must be positive integers"),
    "bad-strategy": ({"strategy": "middle"}, "unknown strategy 'middle'; choose one of: paper, spread"),
    "bad-calibration": ({"strategy": "angular", "calibration": {"samples": 0}},
                        "--calibration-samples must be at least 1 (got 0)"),
}


@pytest.mark.parametrize("case", BAD_SPECS)
def test_bad_specs_fail_before_any_work(case, tmp_path, capsys):
    overrides, message = BAD_SPECS[case]
    assert run_cli(["sweep", write_spec(tmp_path, **overrides)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_unwritable_output_and_newer_database(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert run_cli(["sweep", write_spec(tmp_path, output_dir=str(tmp_path / "file" / "out"))]) == 2
    assert "is not writable; choose a directory you can write to" in capsys.readouterr().err
    out = tmp_path / "out"
    out.mkdir()
    db = sqlite3.connect(out / "results.db")
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema_version', '99');")
    db.commit()
    db.close()
    assert run_cli(["sweep", write_spec(tmp_path)]) == 2
    assert "was written by a newer asymprune (schema 99" in capsys.readouterr().err
    assert not (out / "stages").exists()


def test_ray_unreachable_is_one_line(tmp_path):
    pytest.importorskip("ray")
    # A fresh process: a failed ray.init leaves state behind in the process that tried it.
    proc = run_cli_subprocess(["sweep", write_spec(tmp_path), "--executor", "ray", "--address", "127.0.0.1:1"],
                              timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "could not reach Ray at 127.0.0.1:1" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_dry_run_lists_and_runs_nothing(tmp_path, capsys):
    assert run_cli(["sweep", write_spec(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "prune, train, evaluate" in out and "bench (4 models, interleaved)" in out
    assert "11 stages to run, 0 done" in out
    assert not (tmp_path / "out" / "stages").exists()


def _rows(tmp_path, out="out"):
    db = sqlite3.connect(tmp_path / out / "results.db")
    runs = db.execute("SELECT variant, kind, status, encoder_layers, decoder_layers, strategy, kept, params, error "
                      "FROM runs ORDER BY variant").fetchall()
    metrics = db.execute("SELECT r.variant, m.split, m.n_samples FROM metrics m JOIN runs r ON r.id = m.run_id "
                         "ORDER BY r.variant").fetchall()
    latency = db.execute("SELECT r.variant, l.backend, l.batch_size, l.new_tokens FROM latency l "
                         "JOIN runs r ON r.id = l.run_id ORDER BY r.variant").fetchall()
    stages = db.execute("SELECT r.variant, s.stage, s.status FROM stages s JOIN runs r ON r.id = s.run_id "
                        "ORDER BY r.variant, s.stage").fetchall()
    db.close()
    return runs, metrics, latency, stages


def test_sweep_runs_records_and_skips_finished_stages(tmp_path):
    spec = write_spec(tmp_path)
    assert run_cli(["sweep", spec]) == 0
    first = executions(tmp_path)
    assert len(first) == 11 and len({e["key"] for e in first}) == 11
    runs, metrics, latency, stages = _rows(tmp_path)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in runs] == [
        ("3/6", "encoder", "done", 3, 6), ("6/3", "decoder", "done", 6, 3), ("6/6", "full", "done", 6, 6),
        ("control", "control", "done", 6, 6)]
    assert metrics == [("3/6", "test", 4), ("6/3", "test", 4), ("6/6", "test", 4), ("control", "test", 4)]
    assert latency == [("3/6", "hf", 1, 4), ("6/3", "hf", 1, 4), ("6/6", "hf", 1, 4), ("control", "hf", 1, 4)]
    assert len(stages) == 4 * 2 + 2 * 1 + 4 and all(s[2] == "done" for s in stages)  # bench: one row per run
    with sqlite3.connect(tmp_path / "out" / "results.db") as db:
        # One interleaved measurement: every run's latency carries the same bench_id and where it was taken.
        assert db.execute("SELECT count(DISTINCT bench_id), min(threads), max(threads), count(hardware), "
                          "count(torch) FROM latency").fetchone() == (1, default_threads(), default_threads(), 4, 4)
        assert db.execute("SELECT count(*) FROM documents WHERE split='test'").fetchone() == (4 * 4,)
        speedups = db.execute("SELECT variant, speedup FROM summary ORDER BY variant").fetchall()
    assert all(x is not None and x > 0 for _, x in speedups) and dict(speedups)["6/6"] == 1.0
    # A second run finds every stage folder and executes nothing.
    assert run_cli(["sweep", spec]) == 0
    assert executions(tmp_path) == first


@pytest.mark.slow  # minutes of CPU: run by `make test-slow` and CI
def test_killed_sweep_resumes_without_redoing_stages(tmp_path):
    spec = write_spec(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "asymprune", "sweep", spec], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(executions(tmp_path)) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.kill()  # harsher than Ctrl-C: no cleanup at all
    proc.wait()
    before = executions(tmp_path)
    assert 5 <= len(before) < 11
    assert run_cli(["sweep", spec]) == 0
    after = executions(tmp_path)
    assert after[: len(before)] == before
    assert len(after) == 11 and len({e["key"] for e in after}) == 11  # every stage ran exactly once
    assert {r[2] for r in _rows(tmp_path)[0]} == {"done"}


@pytest.mark.slow  # minutes of CPU: run by `make test-slow` and CI
def test_a_failing_variant_is_recorded_and_the_rest_go_on(tmp_path):
    spec = write_spec(tmp_path)
    chains = build_plan(load_spec(spec))
    broken = next(c for c in chains if c.variant == "6/3").stages[0].out  # its prune stage: a corrupt model folder
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    assert run_cli(["sweep", spec]) == 0
    runs = {r[0]: r for r in _rows(tmp_path)[0]}
    assert runs["6/3"][2] == "failed" and runs["6/3"][8].startswith("train: ")
    assert runs["3/6"][2] == "done" and runs["6/6"][2] == "done"


@pytest.mark.slow  # minutes of CPU: run by `make test-slow` and CI
def test_ray_executor_gives_the_same_rows_as_local(tmp_path):
    ray = pytest.importorskip("ray")
    spec = write_spec(tmp_path, grid=["6/6", "6/3"])
    local = write_spec(tmp_path, name="local", grid=["6/6", "6/3"], output_dir=str(tmp_path / "local"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert run_cli(["sweep", spec, "--executor", "ray"]) == 0
    finally:
        ray.shutdown()
    assert run_cli(["sweep", local]) == 0
    ray_rows, local_rows = _rows(tmp_path, "out"), _rows(tmp_path, "local")
    assert ray_rows[:2] == local_rows[:2]  # runs and metrics; latency rows differ only in their timings
    assert [r[:2] for r in ray_rows[2]] == [r[:2] for r in local_rows[2]] and ray_rows[3] == local_rows[3]
    assert len(executions(tmp_path)) == 8  # base 2, control 2, variant 3, one group bench


def test_data_driven_strategy_scores_the_trained_base_and_records_the_indices(tmp_path):
    spec = write_spec(tmp_path, grid=["6/6", "6/2"], strategy="greedy-loss", calibration={"samples": 4})
    (chain,) = build_plan(load_spec(spec))[2:]
    prune = chain.stages[0]
    assert prune.inputs["counts"] == {"encoder": 6, "decoder": 2} and chain.run_fields["kept"] is None
    assert prune.inputs["calibration"] == {"spec": "synthetic", "samples": 4}
    assert run_cli(["sweep", spec]) == 0
    record = json.loads((prune.out / "asymprune.json").read_text())
    assert len(record["kept"]["decoder"]) == 2 and record["scores"]["calibration"]["samples"] == 4
    with sqlite3.connect(tmp_path / "out" / "results.db") as db:
        kept, status = db.execute("select kept, status from runs where variant='6/2'").fetchone()
    assert json.loads(kept) == record["kept"] and status == "done"
