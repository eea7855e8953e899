"""Training: a plain HF model out, the recipe recorded, resuming without repeated steps, early stopping,
distillation, and the shrink-then-fine-tune pipeline on a tiny T5 (slow)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from asymprune.data import DataConfig, load_dataset_spec
from asymprune.evaluate import EvalConfig, evaluate
from asymprune.rouge import lead_baseline
from asymprune.train import TrainConfig, last_checkpoint, train
from tests.helpers import interruptible, run_cli

TINY = ["--n", "64", "--batch-size", "8", "--eval-samples", "8", "--learning-rate", "1e-3",
        "--max-source-length", "128", "--max-target-length", "48", "--logging-steps", "1"]


def _state(checkpoint):
    return json.loads((checkpoint / "trainer_state.json").read_text())


def _logged_steps(log_history, key="loss"):
    return [e["step"] for e in log_history if key in e]


def test_train_writes_a_plain_model_and_train_json(t5_dir, tmp_path, capsys):
    out = tmp_path / "ft"
    assert run_cli(["train", str(t5_dir), str(out), "--dataset", "synthetic", *TINY, "--max-steps", "4",
                    "--eval-steps", "2", "--per-device-batch-size", "4"]) == 0
    printed = capsys.readouterr().out
    assert "validation loss" in printed and "sources (> 128 tokens)" in printed and "saved to" in printed
    assert {p.name for p in out.iterdir()} == {"config.json", "generation_config.json", "model.safetensors",
                                               "tokenizer.json", "tokenizer_config.json", "train.json", "README.md"}
    record = json.loads((out / "train.json").read_text())
    recipe = record["recipe"]
    assert (recipe["batch_size"], recipe["per_device_batch_size"], recipe["gradient_accumulation_steps"]) == (8, 4, 2)
    assert recipe["learning_rate"] == 1e-3 and recipe["lr_scheduler"] == "constant" and recipe["weight_decay"] == 0.01
    assert recipe["prefix"] == "summarize: " and record["dataset"] == "synthetic" and record["data"]["n"] == 64
    assert record["steps"] == 4 and record["steps_this_run"] == 4 and not record["stopped_early"]
    assert record["rows"] == {"train": 64, "validation": 8}
    assert record["truncated"]["train"]["rows"] == 64 and record["truncated"]["train"]["sources_truncated"] > 0
    evals = [e["eval_loss"] for e in _state(tmp_path / "ft.checkpoints" / "checkpoint-4")["log_history"]
             if "eval_loss" in e]
    assert len(evals) == 2
    assert record["best_eval_loss"] == min(evals) and record["final_eval_loss"] == evals[-1]
    assert record["seconds"] > 0
    # With 2 accumulation steps the train loss is still a mean per token, comparable to validation's.
    assert 0.7 < record["final_train_loss"] / record["final_eval_loss"] < 1.4
    # Loads with plain transformers; the saved weights are the best checkpoint's.
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    best = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "ft.checkpoints" / f"checkpoint-{record['best_step']}")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), best.state_dict().values()))
    source = AutoModelForSeq2SeqLM.from_pretrained(t5_dir)
    assert not torch.equal(model.lm_head.weight, source.lm_head.weight)  # it trained
    assert AutoTokenizer.from_pretrained(out).eos_token_id == 1


def test_resume_continues_without_repeating_steps(t5_dir, tmp_path, capsys):
    out, ckpt = tmp_path / "ft", tmp_path / "ft.checkpoints"
    args = ["train", str(t5_dir), str(out), "--dataset", "synthetic", *TINY, "--eval-steps", "2", "--patience", "0"]
    assert run_cli([*args, "--max-steps", "4"]) == 0
    first = _state(ckpt / "checkpoint-4")["log_history"]

    assert run_cli([*args, "--max-steps", "6"]) == 2  # a finished OUT is never replaced silently
    assert "ft already exists; pass --overwrite" in capsys.readouterr().err
    shutil.rmtree(out)
    assert run_cli([*args, "--max-steps", "6"]) == 2  # nor are a run's checkpoints
    assert "holds checkpoints of an earlier run; pass --resume to continue it, or --overwrite" in capsys.readouterr().err
    assert run_cli([*args, "--max-steps", "6", "--resume", "--overwrite"]) == 0
    assert "resuming from" in capsys.readouterr().out
    record = json.loads((out / "train.json").read_text())
    assert (record["steps"], record["resumed_from_step"], record["steps_this_run"]) == (6, 4, 2)
    history = _state(ckpt / "checkpoint-6")["log_history"]
    assert _logged_steps(history) == [1, 2, 3, 4, 5, 6]  # each step trained once
    assert _logged_steps(history, "eval_loss") == [2, 4, 6]
    assert history[: len(first)] == first

    assert run_cli([*args, "--max-steps", "2", "--overwrite"]) == 0  # --overwrite without --resume starts over
    assert json.loads((out / "train.json").read_text())["steps_this_run"] == 2
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint-2"]


def _complete(checkpoint) -> bool:
    """trainer_state.json is the Trainer's last write: without a readable one a checkpoint was cut off."""
    try:
        return "global_step" in _state(checkpoint)
    except (OSError, ValueError):
        return False


def test_interrupted_run_resumes_from_its_last_checkpoint(t5_dir, tmp_path):
    # A real interruption: Ctrl-C in a separate process once checkpoint-2 is complete. Where the
    # signal lands after that (mid-step, mid-evaluation, mid-save of a later checkpoint) is left to
    # the scheduler, so the test reads what it left on disk once the process has exited, and
    # expects the run to resume from the newest complete checkpoint, whichever that is.
    out, ckpt = tmp_path / "ft", tmp_path / "ft.checkpoints"
    args = [sys.executable, "-m", "asymprune", "train", str(t5_dir), str(out), "--dataset", "synthetic", *TINY,
            "--eval-steps", "2", "--patience", "0", "--per-device-batch-size", "4"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log = tmp_path / "stdout.txt"
    proc = subprocess.Popen([*args, "--max-steps", "1000"], env=env, stdout=log.open("w"), stderr=subprocess.PIPE,
                            text=True, preexec_fn=interruptible)
    deadline = time.monotonic() + 300
    while not _complete(ckpt / "checkpoint-2"):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "timeout"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    # 130, or killed by SIGINT (a shell reads both as 130): CPython 3.11 ends that way after our handler
    # ran when the interrupt lands in an exec() of a string, as a lazy import of a dataclass does.
    try:
        code = proc.wait(timeout=120)
    finally:
        proc.kill()  # a child that missed the Ctrl-C must not train on, loading the rest of the suite
    assert code in (130, -signal.SIGINT)
    assert "run the same command with --resume to continue" in log.read_text()
    assert not out.exists()  # OUT is written only by a finished run
    done = max(int(p.name.split("-")[1]) for p in ckpt.glob("checkpoint-*") if _complete(p))

    assert run_cli(["train", *args[4:], "--max-steps", str(done + 2), "--resume"]) == 0
    record = json.loads((out / "train.json").read_text())
    assert (record["resumed_from_step"], record["steps"], record["steps_this_run"]) == (done, done + 2, 2)
    assert _logged_steps(_state(ckpt / f"checkpoint-{done + 2}")["log_history"]) == list(range(1, done + 3))
    # A checkpoint the signal cut off mid-save is removed, not resumed from.
    assert all(_complete(p) for p in ckpt.glob("checkpoint-*"))


def test_half_written_checkpoints_are_removed_and_never_resumed(t5_dir, tmp_path, capsys):
    # The disk state a kill leaves at each moment of a checkpoint's save: the folder just made,
    # weights written but trainer_state.json not yet, trainer_state.json cut off mid-write.
    out, ckpt = tmp_path / "ft", tmp_path / "ft.checkpoints"
    args = ["train", str(t5_dir), str(out), "--dataset", "synthetic", *TINY, "--eval-steps", "2", "--patience", "0"]
    assert run_cli([*args, "--max-steps", "2"]) == 0
    shutil.rmtree(out)
    complete = ckpt / "checkpoint-2"
    (ckpt / "checkpoint-6").mkdir()
    shutil.copytree(complete, ckpt / "checkpoint-4")
    (ckpt / "checkpoint-4" / "trainer_state.json").unlink()
    shutil.copytree(complete, ckpt / "checkpoint-8")
    text = (complete / "trainer_state.json").read_text()
    (ckpt / "checkpoint-8" / "trainer_state.json").write_text(text[: len(text) // 2])
    assert last_checkpoint(ckpt) == complete
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint-2"]

    # Only half-written ones: --resume has nothing to resume from, and a plain run starts over.
    shutil.copytree(complete, ckpt / "checkpoint-4")
    (ckpt / "checkpoint-4" / "trainer_state.json").write_text(text[:10])
    shutil.rmtree(complete)
    assert run_cli([*args, "--max-steps", "2", "--resume"]) == 2
    assert "--resume: no checkpoint in" in capsys.readouterr().err
    assert not (ckpt / "checkpoint-4").exists()
    assert run_cli([*args, "--max-steps", "2"]) == 0
    assert json.loads((out / "train.json").read_text())["resumed_from_step"] is None


def test_early_stopping_keeps_the_best_checkpoint(t5_dir, tmp_path):
    # A learning rate far too high makes validation loss worse after the first evaluation.
    record = train(str(t5_dir), tmp_path / "ft", "synthetic",
                   TrainConfig(learning_rate=0.5, batch_size=8, max_steps=50, eval_steps=1, patience=2,
                               eval_samples=8, max_source_length=64, max_target_length=32),
                   data=DataConfig(n=64))
    assert record["stopped_early"] and record["steps"] < 50
    evals = [e for e in _state(tmp_path / "ft.checkpoints" / f"checkpoint-{record['steps']}")["log_history"]
             if "eval_loss" in e]
    best = min(evals, key=lambda e: e["eval_loss"])
    assert record["best_step"] == best["step"] and record["best_eval_loss"] == best["eval_loss"]
    assert len(evals) - evals.index(best) - 1 == 2  # stopped after `patience` evaluations without improvement


def test_pruned_model_trains_keeps_its_record_and_distills(t5_dir, tmp_path):
    # Encoder shallower than decoder: the cache-sizing trap; the saved config must keep decoder_layers.
    pruned = tmp_path / "p"
    assert run_cli(["prune", str(t5_dir), str(pruned), "--keep-encoder", "0,5", "--keep-decoder", "0,2,5"]) == 0
    out = tmp_path / "ft"
    recipe = dict(learning_rate=1e-3, batch_size=4, max_steps=2, eval_steps=2, eval_samples=4, max_source_length=64,
                  max_target_length=32)
    record = train(str(pruned), out, "synthetic", TrainConfig(**recipe, distill_from=str(t5_dir)),
                   data=DataConfig(n=16))
    plain = train(str(pruned), tmp_path / "plain", "synthetic", TrainConfig(**recipe), data=DataConfig(n=16))
    assert record["recipe"]["distill_from"] == str(t5_dir)
    assert 0 < record["mean_train_loss"] != plain["mean_train_loss"] > 0  # the teacher's term changes the loss
    config = json.loads((out / "config.json").read_text())
    assert (config["num_layers"], config["num_decoder_layers"], config["decoder_layers"]) == (2, 3, 3)
    assert json.loads((out / "asymprune.json").read_text())["kept"] == {"encoder": [0, 5], "decoder": [0, 2, 5]}
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    out_ids = model.generate(input_ids=torch.tensor([[5, 6, 7, 1]]), max_new_tokens=4, min_new_tokens=4)
    assert out_ids.shape == (1, 5)


def test_bad_train_inputs_are_one_line(t5_dir, tmp_path, capsys):
    out = tmp_path / "ft"
    (tmp_path / "empty.jsonl").write_text("")
    cases = [
        (["--batch-size", "64", "--per-device-batch-size", "24"], "--batch-size 64 is not a multiple of "
                                                                   "--per-device-batch-size 24 x 1 process(es)"),
        (["--bf16", "--fp16"], "--bf16 and --fp16 both given"),
        *([(["--fp16"], "--fp16 needs a CUDA GPU")] if not torch.cuda.is_available() else []),
        (["--max-steps", "0"], "--max-steps 0: train for at least 1 step"),
        (["--lr-scheduler", "triangle"], "unknown --lr-scheduler 'triangle'; choose one of: linear, cosine"),
        (["--resume"], "--resume: no checkpoint in"),
        (["--distill-from", str(tmp_path / "none")], "not found; pass an existing model directory"),
    ]
    for extra, message in cases:
        assert run_cli(["train", str(t5_dir), str(out), "--dataset", "synthetic", "--n", "8", *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (extra, err)
    assert run_cli(["train", str(t5_dir), str(out), "--dataset", str(tmp_path / "empty.jsonl")]) == 2
    assert "empty.jsonl is empty" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "ft.checkpoints").exists()


# ---------------------------------------------------------------------------------------------
# Shrink, then fine-tune: the paper's protocol end to end on a tiny T5, from scratch, on CPU.
#
# t5-tiny-2-2 (2+2 layers, d_model 128) trains 450 steps of batch 32 at lr 1e-3 on 20,000 synthetic
# documents, then its decoder is cut to 1 of 2 layers and re-tuned for 150 steps. ROUGE-2 on the
# 200 test documents, greedy decoding, measured for training seeds 0 / 1 / 2:
#   lead-1 0.9, lead-3 11.6 (copying the first 1 / 3 sentences; no seed involved)
#   base                17.5 / 17.2 / 15.6
#   pruned, no re-tune   5.8 /  5.6 /  7.8   (33% / 32% / 50% of base)
#   re-tuned            16.2 / 15.1 / 15.2   (92% / 87% / 97% of base)
# Each run took about 8 minutes here, on one thread of a CPU shared with other jobs.
# The thresholds below leave a margin on every seed: base >= 12 and at least lead-3 + 2; pruning
# keeps at most 65% of base (so there is something to recover); re-tuning gets back at least 80%.
PIPELINE = dict(preset="t5-tiny-2-2", n=20_000, base_steps=450, retune_steps=150, lr=1e-3, batch=32)


def shrink_then_fine_tune(root, seed: int = 0) -> dict:
    """Run the pipeline; ROUGE-2 of each stage and of the lead baselines on the synthetic test split."""
    p = PIPELINE
    ds = load_dataset_spec("synthetic", DataConfig(n=p["n"]))
    recipe = dict(learning_rate=p["lr"], batch_size=p["batch"], per_device_batch_size=p["batch"], eval_steps=150,
                  eval_samples=100, seed=seed)
    scoring = EvalConfig(max_new_tokens=96, batch_size=32)
    r2 = {"lead1": lead_baseline(ds["test"], 1)["rouge2"], "lead3": lead_baseline(ds["test"], 3)["rouge2"]}
    train(p["preset"], root / "base", ds, TrainConfig(**recipe, max_steps=p["base_steps"]))
    r2["base"] = evaluate(str(root / "base"), ds, scoring)["metrics"]["rouge2"]
    assert run_cli(["prune", str(root / "base"), str(root / "pruned"), "--decoder-layers", "1/2"]) == 0
    r2["pruned"] = evaluate(str(root / "pruned"), ds, scoring)["metrics"]["rouge2"]
    train(str(root / "pruned"), root / "retuned", ds, TrainConfig(**recipe, max_steps=p["retune_steps"]))
    r2["retuned"] = evaluate(str(root / "retuned"), ds, scoring)["metrics"]["rouge2"]
    return r2


@pytest.fixture
def two_threads():
    """Torch on exactly 2 threads, whatever the machine or OMP_NUM_THREADS says: the order of float
    sums depends on the thread count, and 600 steps of a tiny model drift apart from it (seed 0
    re-tunes to 15.7 ROUGE-2 on 2 threads, 13.2 on 1). The margins below were sized on 2 threads."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_shrink_then_fine_tune_recovers_rouge2(tmp_path, two_threads):
    r2 = shrink_then_fine_tune(tmp_path, seed=0)
    # Trained from scratch, the model reads the document: far above copying the lead sentence
    # (which never holds a key fact), and above copying the first three.
    assert r2["base"] >= 12 and r2["base"] >= r2["lead3"] + 2, r2
    # Cutting the decoder in half costs a real share of the quality, so recovering is not trivial...
    assert r2["pruned"] <= 0.65 * r2["base"], r2
    # ...and a short re-tune brings most of it back.
    assert r2["retuned"] >= 0.8 * r2["base"] and r2["retuned"] > r2["lead3"], r2
