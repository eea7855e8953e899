"""The benchmark scripts run end to end (`--smoke`: tiny random models, tiny lengths, CPU).

Only that they run and write their tables is checked: timings are never asserted.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert set(report["reports"]) == {"hf-float32/t5-tiny", "ct2-int8/t5-tiny", "lossless/t5-tiny"}
    lossless = report["reports"]["lossless/t5-tiny"]["results"]
    assert [r["variant"] for r in lossless] == ["6/6", "6/6+6/1"] and lossless[1]["draft"]["rounds"] > 0
    assert printed.splitlines()[-1].startswith("wrote ") and "summary (batch 1" in printed


def test_lossless_benchmark_smoke(tmp_path):
    printed = _run("lossless.py", tmp_path)
    md = (tmp_path / "lossless-smoke.md").read_text()
    assert "| assisted by t5-tiny-6-1 | 6/1 | 1/1 |" in md and "| assisted by t5-tiny-6-2 | 6/2 | 1/1 |" in md
    result = json.loads((tmp_path / "lossless-smoke.json").read_text())
    for row in result["rows"][1:]:
        assert row["identical_outputs"] == 1 and row["cost_ratio"] > 0 and "predicted_speedup" in row
    assert "Leviathan" in printed
