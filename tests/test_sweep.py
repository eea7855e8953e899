"""`asymprune sweep`: spec validation, hash-keyed resumable stages, failures, Ray, and the database."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from asymprune.bench import default_threads
from asymprune.data import DataConfig, load_dataset_spec
from asymprune.fsutil import human_size
from asymprune.store import Store
from asymprune.sweep import PAPER_GRID, Stage, bench_groups, build_plan, execute, load_spec, run_sweep
from asymprune.sweep import stages as sweep_module
from asymprune.train import TrainConfig, train
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


def _planned_benches(spec: str, chains) -> list[str]:
    """The keys of the group benches a sweep runs when every chain finishes."""
    return [g.stage(g.members(planned=True)).key for g in bench_groups(load_spec(spec), chains)]


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


def test_distill_from_base_names_the_full_model_of_each_chain(tmp_path, capsys):
    spec = load_spec(write_spec(tmp_path, grid=["6/6", "6/1"], retrain={"distill_from": "base"}))
    chains = build_plan(spec)
    teacher = f"stage:{chains[0].stages[0].out.name}"  # the fine-tuned base, not the preset it started from
    assert chains[1].stages[0].inputs["train"]["distill_from"] == teacher  # the control distils from it too
    assert chains[2].stages[1].inputs["train"]["distill_from"] == teacher
    assert "distill_from" not in chains[0].stages[0].inputs["train"]
    assert run_cli(["sweep", write_spec(tmp_path, name="bad", train={**FAST["train"], "distill_from": "base"}),
                    "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "put it under retrain" in err, err


def test_keys_follow_local_files_and_versions(t5_dir, tmp_path, monkeypatch):
    model, data = tmp_path / "model", tmp_path / "data.jsonl"
    shutil.copytree(t5_dir, model)
    data.write_text("".join(json.dumps({"document": f"doc {i}", "summary": f"sum {i}"}) + "\n" for i in range(30)))
    spec = write_spec(tmp_path, models=[str(model)], datasets=[str(data)], grid=["6/6", "6/3"])

    def keys():
        return [s.key for c in build_plan(load_spec(spec)) for s in c.stages]

    first = keys()
    assert keys() == first and len(set(first)) == 7  # nothing changed, nothing to redo
    data.write_text(data.read_text().replace("doc 7", "doc 8"))  # same size, new content
    edited_data = keys()
    assert all(a != b for a, b in zip(edited_data, first))  # every stage reads the data, or a stage that did
    (model / "config.json").write_text((model / "config.json").read_text() + "\n")
    edited_model = keys()
    assert all(a != b for a, b in zip(edited_model, edited_data))
    (model / ".editor-backup").write_text("x")  # hidden files are not the model
    assert keys() == edited_model
    monkeypatch.setattr(sweep_module, "_versions", lambda: {"asymprune": "0.1.0", "torch": "0", "transformers": "0"})
    assert all(a != b for a, b in zip(keys(), edited_model))  # another torch: the stages run again


def test_a_stage_two_processes_reach_at_once_runs_once(t5_dir, tmp_path):
    # Two threads stand in for two Ray workers: the stage lock is a file lock, per open file.
    root, log = tmp_path / "stages", tmp_path / "executions.jsonl"
    stage = Stage("prune", {"model": f"src:{t5_dir}", "keep": {"encoder": [0, 5], "decoder": [0, 3, 5]}}, root)
    start, results = threading.Barrier(2), []

    def run():
        start.wait()
        results.append(execute(stage, log))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log.read_text().splitlines()) == 1
    assert len(results) == 2 and results[0] == results[1] and results[0]["kept"]["decoder"] == [0, 3, 5]


def test_a_train_stage_resumes_only_from_a_complete_checkpoint(tmp_path):
    spec = load_spec(write_spec(tmp_path, models=["t5-tiny-2-2"], grid=["6/6"],
                                train={**FAST["train"], "max_steps": 2, "eval_steps": 1}))
    stage = build_plan(spec)[0].stages[0]
    ckpt, log = stage.out.with_name(stage.out.name + ".checkpoints"), tmp_path / "executions.jsonl"
    # Killed before its first checkpoint: the Trainer had made the folder, nothing in it but a
    # checkpoint cut off mid-save. The stage starts over (a plain --resume would refuse).
    (ckpt / "checkpoint-1").mkdir(parents=True)
    (ckpt / "checkpoint-1" / "trainer_state.json").write_text('{"global_st')
    record = execute(stage, log)
    assert record["resumed_from_step"] is None and record["steps"] == 2
    assert not ckpt.exists()  # a finished train stage keeps its weights, not its checkpoints
    # Killed after a complete checkpoint: the stage continues from it.
    shutil.rmtree(stage.out)
    config = TrainConfig(**{**stage.inputs["train"], "max_steps": 1, "checkpoint_dir": str(ckpt)})
    train("t5-tiny-2-2", tmp_path / "first-half", "synthetic", config, data=DataConfig(n=64))
    record = execute(stage, log)
    assert (record["resumed_from_step"], record["steps_this_run"]) == (1, 1) and not ckpt.exists()
    assert len(log.read_text().splitlines()) == 2


BAD_SPECS = {
    "unknown-key": ({"gird": ["6/3"]}, "unknown key 'gird'; known keys: output_dir, models"),
    "unknown-nested-key": ({"train": {"max_step": 3}}, "train: unknown key 'max_step'; known keys: learning_rate"),
    "wrong-type": ({"models": "t5-tiny"}, "models must be list[str], got 't5-tiny'"),
    "wrong-nested-type": ({"train": {"max_steps": "ten"}}, "train.max_steps must be int | None, got 'ten'"),
    "bad-variant": ({"grid": ["7/3"]}, "grid entry '7/3' is not a variant; use sixths like '6/3'"),
    "impossible-variant": ({"grid": [{"encoder": 9, "decoder": 2}]},
                           "variant 9L/2L is impossible for t5-tiny: --encoder-layers 9: the encoder has only 6 layers"),
    "bad-bench": ({"bench": {"batch_sizes": [0]}}, "spec.yaml: bench.batch_sizes must be positive integers"),
    "bad-strategy": ({"strategy": "middle"}, "unknown strategy 'middle'; choose one of: paper, spread"),
    "bad-lossless": ({"lossless": "3/6"}, "lossless: '3/6' must be a decoder-pruned variant of the grid"),
    "bad-calibration": ({"strategy": "angular", "calibration": {"samples": 0}},
                        "calibration.samples must be at least 1 (got 0)"),
    "bad-train": ({"train": {"max_steps": 0}}, "train.max_steps 0: train for at least 1 step"),
    "bad-retrain": ({"retrain": {"learning_rate": -1.0}}, "retrain.learning_rate -1.0: must be more than 0"),
    "bad-evaluate": ({"evaluate": {"num_beams": 0}}, "evaluate.num_beams must be at least 1"),
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
    assert "is not a directory; choose a directory you can write to" in capsys.readouterr().err
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
    metrics = db.execute("SELECT r.variant, m.split, m.value FROM metrics m JOIN runs r ON r.id = m.run_id "
                         "WHERE m.metric = 'n_samples' ORDER BY r.variant").fetchall()
    latency = db.execute("SELECT r.variant, l.backend, l.batch_size, l.new_tokens FROM latency l "
                         "JOIN runs r ON r.id = l.run_id ORDER BY r.variant").fetchall()
    stages = db.execute("SELECT r.variant, s.stage, s.status FROM stages s JOIN runs r ON r.id = s.run_id "
                        "ORDER BY r.variant, s.stage").fetchall()
    db.close()
    return runs, metrics, latency, stages


def test_sweep_runs_records_and_skips_finished_stages(tmp_path):
    spec = write_spec(tmp_path, train={**FAST["train"], "report_to": "tensorboard"})
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
        assert db.execute("SELECT count(*) FROM documents WHERE split='test' AND stat='rouge2'").fetchone() == (4 * 4,)
        assert db.execute("SELECT count(DISTINCT stat) FROM documents").fetchone() == (5,)  # ROUGE-1/2/L/Lsum, GenL
        speedups = db.execute("SELECT variant, speedup FROM summary WHERE metric = 'rouge2' "
                              "ORDER BY variant").fetchall()
    assert all(x is not None and x > 0 for _, x in speedups) and dict(speedups)["6/6"] == 1.0
    stages = tmp_path / "out" / "stages"
    assert not list(stages.glob("*.checkpoints"))  # finished train stages delete their checkpoints
    # Each model the sweep made has a card with its recipe, its scores and its latency; TensorBoard has each run
    # under the sweep's own folder, named after the variant.
    cards = {json.loads((p.parent / "train.json").read_text())["recipe"]["run_name"]: p.read_text()
             for p in stages.glob("train-*/README.md")}
    assert sorted(cards) == ["t5-tiny/3/6", "t5-tiny/6/3", "t5-tiny/6/6", "t5-tiny/control"]
    assert all("## Training" in c and "## Evaluation" in c and "## Latency" in c for c in cards.values())
    assert "| the full model (6/6) | random ids, source 16, 4 new tokens | hf float32, cpu" in cards["t5-tiny/6/3"]
    assert "- pruned" in cards["t5-tiny/6/3"] and "- pruned" not in cards["t5-tiny/control"]
    assert "\n# t5-tiny/6/3\n" in cards["t5-tiny/6/3"]  # titled by the run, not the stage's folder
    assert sorted(str(p.parent.relative_to(tmp_path / "out" / "tensorboard"))
                  for p in (tmp_path / "out" / "tensorboard").rglob("events.out.tfevents.*")) == [
        "t5-tiny/3/6", "t5-tiny/6/3", "t5-tiny/6/6", "t5-tiny/control"]
    # A second run finds every stage folder and executes nothing; each run reports its status.
    chains = run_sweep(load_spec(spec))
    assert [(c.variant, c.status, c.error) for c in chains] == [
        ("6/6", "done", None), ("control", "done", None), ("6/3", "done", None), ("3/6", "done", None)]
    assert executions(tmp_path) == first


def test_results_shows_the_sweeps_disk_use(tmp_path, capsys):
    out = tmp_path / "out"
    stages = out / "stages" / "train-0123456789ab"
    stages.mkdir(parents=True)
    (stages / "model.safetensors").write_bytes(b"x" * 2_500_000)
    store = Store(out / "results.db")
    store.upsert_run("spec", "t5-tiny", "synthetic", "6/6", kind="full", status="failed", error="train: killed")
    store.close()
    (out / "executions.jsonl").write_bytes(b"y" * 600_000)
    total = 3_100_000 + (out / "results.db").stat().st_size
    assert run_cli(["results", str(out / "results.db")]) == 0
    lines = capsys.readouterr().out.splitlines()
    disk = [line for line in lines if line.startswith("disk:")]
    assert disk == [f"disk: {human_size(total)} in {out} (stages 2.5 MB)"], lines
    assert human_size(total).endswith(" MB") and 3.0 <= float(human_size(total).split()[0]) <= 3.3


def _start_sweep(spec: str) -> subprocess.Popen:
    """`asymprune sweep SPEC` in its own process group, so that a kill reaches its bench workers too."""
    return subprocess.Popen([sys.executable, "-m", "asymprune", "sweep", spec], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, what: str) -> None:
    """SIGKILL the sweep and its children (no cleanup at all) as soon as `ready()` holds."""
    deadline = time.monotonic() + 600
    while not ready():
        assert proc.poll() is None, f"the sweep ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after 10 minutes"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _bench_worker_running(proc: subprocess.Popen) -> bool:
    """Whether a bench worker (a spawned multiprocessing child) runs in the sweep's process group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pgid = int(stat.read_text().rsplit(")", 1)[1].split()[2])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if pgid == proc.pid and int(stat.parent.name) != proc.pid and b"spawn_main" in cmdline:
            return True
    return False


def test_bench_over_the_sweeps_test_documents_reports_gen_len(tmp_path):
    bench = {**FAST["bench"], "dataset": True, "batch_sizes": [2], "docs": 3}
    spec = write_spec(tmp_path, grid=["6/6", "6/3"], control=False, bench=bench)
    assert run_cli(["sweep", spec]) == 0
    with sqlite3.connect(tmp_path / "out" / "results.db") as db:
        rows = db.execute("SELECT r.variant, l.dataset, l.new_tokens, l.batch_size, l.gen_len, l.bench_id, "
                          "l.bench_docs, l.documents FROM latency l JOIN runs r ON r.id = l.run_id "
                          "ORDER BY r.variant").fetchall()
    assert [r[:4] for r in rows] == [("6/3", "synthetic", None, 2), ("6/6", "synthetic", None, 2)]
    assert all(1 <= r[4] <= 4 for r in rows) and rows[0][5] == rows[1][5]  # GenL, natural stopping; one run
    assert [(r[6], json.loads(r[7])) for r in rows] == [(3, [0, 1, 2, 3, 4, 5])] * 2  # K calls of 2 documents


def test_vocab_key_shrinks_variants_and_lossless_point_joins_the_group_bench(tmp_path):
    from transformers import AutoModelForSeq2SeqLM
    bench = {**FAST["bench"], "batch_sizes": [1, 2]}
    spec = write_spec(tmp_path, grid=["6/6", "6/1"], control=False, vocab={}, lossless="6/1", bench=bench)
    chains = build_plan(load_spec(spec))
    assert [(c.variant, [s.name for s in c.stages]) for c in chains] == [
        ("6/6", ["train", "evaluate"]), ("6/1", ["prune", "train", "vocab", "evaluate"]),
        ("lossless 6/1", ["evaluate"])]
    # The draft is the re-tuned 6/1 before its vocabulary is cut: it must share the full model's tokens.
    assert chains[2].stages[0].inputs["assistant"] == f"stage:{chains[1].stages[1].out.name}"
    assert run_cli(["sweep", spec]) == 0
    shrunk = AutoModelForSeq2SeqLM.from_pretrained(chains[1].stages[2].out)
    full = AutoModelForSeq2SeqLM.from_pretrained(chains[0].stages[0].out)
    assert shrunk.config.vocab_size < full.config.vocab_size
    with sqlite3.connect(tmp_path / "out" / "results.db") as db:
        metrics = dict(db.execute("SELECT r.variant, m.value FROM metrics m JOIN runs r ON r.id = m.run_id "
                                  "WHERE m.metric = 'rouge2'"))
        latency = db.execute("SELECT r.variant, l.batch_size, l.bench_id FROM latency l JOIN runs r "
                             "ON r.id = l.run_id ORDER BY r.variant, l.batch_size").fetchall()
        speedup = db.execute("SELECT speedup FROM summary WHERE variant = 'lossless 6/1'").fetchone()[0]
    assert metrics["lossless 6/1"] == metrics["6/6"]  # the full model's own greedy output, token for token
    assert [r[:2] for r in latency] == [("6/1", 1), ("6/1", 2), ("6/6", 1), ("6/6", 2), ("lossless 6/1", 1)]
    assert len({r[2] for r in latency}) == 1 and speedup > 0  # measured side by side with the full model


@pytest.mark.slow  # minutes of CPU: run by `make test-slow` and CI
def test_a_sweep_killed_at_any_moment_finishes_running_each_stage_once(tmp_path):
    # The base trains 4 steps with one checkpoint at the end; the variant's re-tune checkpoints at 2 and 4.
    spec = write_spec(tmp_path, grid=["6/6", "6/3"], retrain={"eval_steps": 2})
    chains = build_plan(load_spec(spec))
    planned = [s.key for c in chains for s in c.stages] + _planned_benches(spec, chains)
    base_train, variant_train = chains[0].stages[0], chains[2].stages[1]
    base_ckpt = base_train.out.with_name(base_train.out.name + ".checkpoints")
    variant_ckpt = variant_train.out.with_name(variant_train.out.name + ".checkpoints")

    # 1. During the first train stage, before any checkpoint: the Trainer has made its folder.
    _kill_when(_start_sweep(spec), base_ckpt.is_dir, "checkpoint folder")
    assert executions(tmp_path) == [] and not list(base_ckpt.glob("checkpoint-*"))

    # 2. During a checkpoint write: the folder of the variant's first checkpoint has just appeared.
    # Whether the Trainer got to its last file before the kill is up to the scheduler, so read it.
    _kill_when(_start_sweep(spec), (variant_ckpt / "checkpoint-2").is_dir, "checkpoint-2")
    try:
        complete = "global_step" in json.loads((variant_ckpt / "checkpoint-2" / "trainer_state.json").read_text())
    except (OSError, ValueError):
        complete = False
    assert variant_train.key not in [e["key"] for e in executions(tmp_path)]

    # 3. During a bench: its worker process is running.
    run = _start_sweep(spec)
    _kill_when(run, lambda: _bench_worker_running(run), "bench worker")
    before = executions(tmp_path)
    missing = set(planned) - {e["key"] for e in before}
    assert missing == set(_planned_benches(spec, chains))  # every chain finished; the group bench was in flight

    # The next run finishes, and every stage has been executed exactly once over all four runs.
    final = run_sweep(load_spec(spec))
    assert [(c.variant, c.status) for c in final] == [("6/6", "done"), ("control", "done"), ("6/3", "done")]
    after = executions(tmp_path)
    assert after[: len(before)] == before
    assert sorted(e["key"] for e in after) == sorted(planned)
    record = json.loads((variant_train.out / "train.json").read_text())
    assert record["resumed_from_step"] == (2 if complete else None) and record["steps"] == 4
    stages = tmp_path / "out" / "stages"
    assert sorted(p.name for p in stages.iterdir() if p.name.startswith(".") or p.name.endswith(".checkpoints")) \
        == [".locks"]  # no checkpoints and no half-written output left
    assert {r[2] for r in _rows(tmp_path)[0]} == {"done"}


@pytest.mark.slow  # minutes of CPU: run by `make test-slow` and CI
def test_a_failing_variant_is_recorded_and_the_rest_go_on(tmp_path):
    spec = write_spec(tmp_path)
    chains = build_plan(load_spec(spec))
    broken = next(c for c in chains if c.variant == "6/3").stages[0].out  # its prune stage: a corrupt model folder
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    assert run_cli(["sweep", spec]) == 1  # the others finish, and the failure shows in the exit code
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


@pytest.mark.slow  # minutes of CPU: run by `make test-slow` and CI
def test_ray_sweep_survives_a_killed_worker_and_runs_a_shared_stage_once(tmp_path):
    ray = pytest.importorskip("ray")
    # Without base fine-tuning, both datasets' 6/3 chains prune the same model the same way: one
    # prune stage, which the two chains reach at the same moment (they start together).
    data = tmp_path / "data.jsonl"
    rows = load_dataset_spec("synthetic", DataConfig(n=80))["train"]
    data.write_text("".join(json.dumps({"source": r["source"], "target": r["target"]}) + "\n" for r in rows))
    spec = write_spec(tmp_path, grid=["6/6", "6/3"], datasets=["synthetic", str(data)], finetune_base=False)
    chains = build_plan(load_spec(spec))
    pruned = [c.stages[0] for c in chains if c.variant == "6/3"]
    assert len(pruned) == 2 and pruned[0].name == "prune" and pruned[0].key == pruned[1].key
    prune = pruned[0]
    planned = {s.key for c in chains for s in c.stages}
    benches = _planned_benches(spec, chains)  # one interleaved bench per dataset, with every chain in it

    killed = {}

    def kill_the_pruning_worker():
        # The worker that ran the shared prune goes on to its chain's train stage; kill it there.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not killed:
            for e in executions(tmp_path):
                if e["key"] == prune.key:
                    os.kill(e["pid"], signal.SIGKILL)
                    killed["pid"] = e["pid"]
            time.sleep(0.02)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        killer = threading.Thread(target=kill_the_pruning_worker, daemon=True)
        killer.start()
        first = run_sweep(load_spec(spec), executor="ray")
        killer.join()
        assert killed, "the prune stage never ran"
        status = {(c.dataset, c.variant): (c.status, c.error) for c in first}
        failed = [k for k, (st, _) in status.items() if st == "failed"]
        assert len(failed) == 1 and failed[0][1] == "6/3", status
        assert status[failed[0]][1].startswith("train: the Ray worker running it died (")
        assert all(st == "done" for k, (st, _) in status.items() if k != failed[0]), status
        once = executions(tmp_path)
        assert [e["key"] for e in once].count(prune.key) == 1  # the other chain waited for it, then used it

        # The next run resumes the failed chain; over both runs every stage ran exactly once.
        again = run_sweep(load_spec(spec), executor="ray")
    finally:
        ray.shutdown()
    assert {c.status for c in again} == {"done"}
    keys = [e["key"] for e in executions(tmp_path) if e["stage"] != "bench"]
    assert sorted(keys) == sorted(planned)
    # The failed chain's group was benched without it, then again, whole, once it had finished.
    bench_keys = [e["key"] for e in executions(tmp_path) if e["stage"] == "bench"]
    assert len(bench_keys) == 3 and set(benches) <= set(bench_keys) and len(set(bench_keys)) == 3
    assert all(e["pid"] != killed["pid"] for e in executions(tmp_path)[len(once):])


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
