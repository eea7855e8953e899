"""The benchmark scripts run end to end (`--smoke`: tiny random models, tiny lengths, CPU).

Only that they run and write their tables is checked: timings are never asserted.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, out: Path) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_gpu_protocol_smoke(tmp_path):
    printed = _run("gpu.py", tmp_path)
    md = next(tmp_path.glob("gpu-smoke-cpu-*.md")).read_text()
    for title in ("Table 2 layout", "Tables 8 and 9 layout", "Table 10 layout", "Lossless mode at batch 1"):
        assert title in md
    assert "| hf-float32 | 6 | 1 | decoder |" in md and "| ct2-int8 | t5-tiny |" in md
    report = json.loads(next(tmp_path.glob("gpu-smoke-cpu-*.json")).read_text())
    assert set(report["reports"]) == {"hf-float32/t5-tiny/bs1,2", "ct2-int8/t5-tiny/bs1,2", "lossless/t5-tiny/bs1"}
    assert [b["runs_timed"] for b in report["blocks"]] == [1, 1, 1]
    lossless = report["reports"]["lossless/t5-tiny/bs1"]["results"]
    assert [r["variant"] for r in lossless] == ["6/6", "6/6+6/1"] and lossless[1]["draft"]["rounds"] > 0
    assert printed.splitlines()[-1].startswith("wrote ") and "summary (batch 1" in printed


def test_lossless_benchmark_smoke(tmp_path):
    printed = _run("lossless.py", tmp_path)
    md = (tmp_path / "lossless-smoke.md").read_text()
    assert "| assisted by t5-tiny-6-1 | 6/1 | 1/1 |" in md and "| assisted by t5-tiny-6-2 | 6/2 | 1/1 |" in md
    result = json.loads((tmp_path / "lossless-smoke.json").read_text())
    for row in result["rows"][1:]:
        assert row["identical_outputs"] == 1 and {"cost_ratio", "predicted_speedup", "acceptance_rate", "generated",
                                                  "confidence_adapts"} <= row.keys()
    assert "Leviathan" in printed


def test_gpu_plan_priorities_and_budget_cuts():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_plan import MIN_RUNS, default_plan, estimate, fit_runs

    sizes = ["flan-t5-small", "flan-t5-large"]
    plan = default_plan(sizes, ["hf-bf16", "lossless", "ct2-float16"], None, [1, 8, 16])
    assert [(b.backend, b.size, b.batch_sizes, b.runs) for b in plan] == [
        ("hf-bf16", "flan-t5-small", [1], 7), ("hf-bf16", "flan-t5-large", [1], 3),
        ("hf-bf16", "flan-t5-large", [8, 16], 3), ("ct2-float16", "flan-t5-small", [1], 7),
        ("ct2-float16", "flan-t5-large", [1], 3), ("lossless", "flan-t5-small", [1], 3),
        ("lossless", "flan-t5-large", [1], 3), ("hf-bf16", "flan-t5-small", [8, 16], 7),
        ("ct2-float16", "flan-t5-large", [8, 16], 3), ("ct2-float16", "flan-t5-small", [8, 16], 7)]
    layers = {"flan-t5-small": {"6/6": 8, "6/1": 1}, "flan-t5-large": {"6/6": 24, "6/1": 4}}
    first, second = plan[0], plan[1]

    def cost(block, runs):
        return estimate(block, runs, layers[block.size], 257, 1, 1.0)

    assert cost(first, 7) > cost(first, 3) > 0
    assert fit_runs(first, plan[1:], layers, 257, 1, 1.0, 1e9) == 7            # no limit: the protocol
    assert fit_runs(first, plan[1:], layers, 257, 1, 1.0, cost(first, 3) / 2) == 0  # cannot fit: skipped
    # Room for the first block at 7 runs, or for both blocks at their minimum: both, the first cut.
    left = cost(first, MIN_RUNS) + cost(second, MIN_RUNS) + 1
    assert left < cost(first, 7) + cost(second, MIN_RUNS)
    assert MIN_RUNS <= fit_runs(first, [second], layers, 257, 1, 1.0, left) < 7
    # On a machine twice as slow both no longer fit: the earlier block keeps its runs, the later is dropped.
    slow = fit_runs(first, [second], layers, 257, 1, 2.0, left)
    assert slow >= MIN_RUNS and 2 * cost(first, slow) <= left < 2 * (cost(first, MIN_RUNS) + cost(second, MIN_RUNS))


@pytest.mark.slow
def test_whisper_study_smoke(tmp_path):
    """The speech study on the real tiny.en, shrunk: 8 training utterances, 2 re-tune steps, batch 1 and 2."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "whisper.py"), "--smoke", "--out",
                           str(tmp_path / "study"), "--results", str(tmp_path / "results")],
                          capture_output=True, text=True, cwd=ROOT, timeout=1200,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "ASYMPRUNE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    md = (tmp_path / "results" / "whisper-smoke.md").read_text()
    for title in ("WER against the re-tuned control", "one interleaved run", "Lossless"):
        assert title in md
    assert "| tiny.en (full, 4/4) |" in md and "| control (4/4, re-tuned) |" in md and "| 4L/2L |" in md
    result = json.loads((tmp_path / "results" / "whisper-smoke.json").read_text())
    rows = result["bench"]["results"]
    assert {(r["backend"], r["batch_size"]) for r in rows if "acceptance_rate" not in r} == {
        ("hf", 1), ("hf", 2), ("ct2", 1), ("ct2", 2)}
    assert result["identity"]["identical"] == result["identity"]["n"] == 4  # lossless: the same transcripts
    assert isinstance(result["lossless"]["cost_ratio"], float) and result["lossless"]["acceptance_rate"] is not None
    # the same draft with a domain head (the training transcripts' ids): still the same transcripts, c from the draft
    # timed alone with that head in the same run
    vocab = json.loads(Path(result["draft_vocab"]["path"]).read_text())
    assert result["draft_vocab"]["rows"] == len(vocab) < 51864 and 50256 in vocab
    assert result["identity_domain"]["identical"] == result["identity_domain"]["n"] == 4
    domain = result["lossless_domain"]
    assert isinstance(domain["cost_ratio"], float) and domain["acceptance_rate"] is not None
    assert domain["assisted_ms"] != result["lossless"]["assisted_ms"]  # its own row, not the whole head's
    assert "with a domain head" in md and "| 4L/2L with its domain head | HF float32 | 1 |" in md
