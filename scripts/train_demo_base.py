"""Train the converged t5-tiny base that `asymprune demo` starts from, and record how.

    python scripts/train_demo_base.py                    # writes asymprune/assets/t5-tiny-synthetic/
    python scripts/train_demo_base.py --work /tmp/base   # keep the working files elsewhere

The demo's quality comparisons mean something only when the base has converged on its task
(see ../shared/notes/tiny-t5-on-cpu.md: an under-trained base barely uses its encoder). Training
t5-tiny to a plateau takes tens of minutes on 2 CPU cores, too long for `make demo`, so it is done
once here and the result is shipped. The script runs the same `asymprune` commands a user would:
train with early stopping on validation loss, then evaluate on the synthetic test split. Its
output is written to `train.log` in the asset folder, beside the model.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSET = ROOT / "asymprune" / "assets" / "t5-tiny-synthetic"

# The corpus and lengths the demo uses (asymprune/sweep/demo.py DEMO_SPEC), with more training rows:
# the variants re-tune on the first 10,000 of the same stream.
TRAIN = ["--dataset", "synthetic", "--n", "20000", "--split-seed", "0", "--learning-rate", "1e-3",
         "--lr-scheduler", "linear", "--batch-size", "32", "--per-device-batch-size", "32",
         "--max-source-length", "256", "--max-target-length", "64", "--max-steps", "2400",
         "--eval-steps", "200", "--eval-samples", "200", "--patience", "3", "--seed", "0"]
EVALUATE = ["--dataset", "synthetic", "--split", "test", "--max-new-tokens", "64", "--batch-size", "25",
            "--max-source-length", "256", "--num-beams", "1"]


ENV = {**os.environ, "COLUMNS": "120", "HF_HUB_OFFLINE": "1"}


def run(cmd: list[str], log) -> None:
    line = "$ " + " ".join(cmd)
    print(line, flush=True)
    log.write(line + "\n")
    log.flush()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    for out in proc.stdout:
        sys.stdout.write(out)
        log.write(out)
        log.flush()
    if proc.wait() != 0:
        raise SystemExit(f"{cmd[1]} failed with exit code {proc.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "demo-base", help="working folder")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: all cores); 1 trains faster on a machine shared with other jobs")
    args = parser.parse_args()
    if args.threads:
        ENV["OMP_NUM_THREADS"] = str(args.threads)
    exe = [sys.executable, "-m", "asymprune"]
    model, evaluation = args.work / "model", args.work / "eval"
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with open(args.work / "train.log", "w") as log:
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, python {sys.version.split()[0]}, "
                  f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={ENV.get('OMP_NUM_THREADS', 'unset')}\n")
        run([*exe, "train", "t5-tiny", str(model), *TRAIN, "--overwrite"], log)
        run([*exe, "evaluate", str(model), *EVALUATE, "--out", str(evaluation), "--overwrite"], log)
        log.write(f"# total {time.time() - started:.0f} s\n")
    tmp = ASSET.with_name(ASSET.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model, tmp)
    shutil.copy(args.work / "train.log", tmp / "train.log")
    shutil.copy(evaluation / "metrics.json", tmp / "test-metrics.json")
    shutil.rmtree(ASSET, ignore_errors=True)
    os.replace(tmp, ASSET)
    shutil.rmtree(str(model) + ".checkpoints", ignore_errors=True)
    print(f"wrote {ASSET}")


if __name__ == "__main__":
    main()
