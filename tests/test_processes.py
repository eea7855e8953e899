"""Processes asymprune starts or is started by: bench workers whose parent dies, and torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _children(pid: int) -> dict[int, str]:
    """{child pid: command line} of the processes whose parent is `pid` (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the worker")
def test_bench_worker_exits_quietly_when_its_parent_is_killed(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "asymprune", "bench", "t5-tiny", "--batch-sizes", "1",
                             "--source-length", "16", "--new-tokens", "4", "--runs", "100000", "--warmup", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    deadline = time.time() + 120
    workers = {}
    while not workers and time.time() < deadline and proc.poll() is None:
        workers = {pid: cmd for pid, cmd in _children(proc.pid).items() if "spawn_main" in cmd}
        time.sleep(0.2)
    assert workers, "no bench worker started"
    time.sleep(3)  # let the worker load its model and time a few runs
    proc.send_signal(signal.SIGKILL)  # no cleanup at all in the parent
    proc.wait()
    err = proc.stderr.read()  # returns once every process holding the pipe (the worker too) is gone
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert not any(_alive(pid) for pid in workers)


@pytest.mark.slow  # two processes start torch, transformers and gloo: about a minute on 2 cores
def test_torchrun_two_processes_train_once_on_cpu(tmp_path):
    out = tmp_path / "out"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "-m", "asymprune", "--", "train", "t5-tiny-2-2",
                           str(out), "--dataset", "synthetic", "--n", "64", "--max-steps", "2", "--batch-size", "16",
                           "--eval-steps", "2", "--eval-samples", "8", "--max-source-length", "64",
                           "--max-target-length", "16"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "already exists" not in proc.stderr and "error:" not in proc.stderr
    assert proc.stdout.count(f"saved to {out}") == 1  # only the main process reports
    record = json.loads((out / "train.json").read_text())
    # One distributed run: 2 processes x 8 per device = 16, so no accumulation; not two separate trainings.
    assert record["recipe"]["world_size"] == 2 and record["recipe"]["gradient_accumulation_steps"] == 1
    assert record["steps"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.checkpoints"]


@pytest.mark.slow  # two processes start torch: about 20 s
def test_torchrun_usage_error_is_one_line_from_the_main_process(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "-m", "asymprune", "--", "train", "t5-tiny-2-2",
                           str(tmp_path / "out"), "--dataset", "synthetic", "--n", "64", "--batch-size", "8"],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=tmp_path,
                          timeout=600)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: --batch-size 8 is not a multiple of --per-device-batch-size 8 x 2 process(es); "
                      "pass a per-device batch that divides it"]
    assert not (tmp_path / "out").exists()
