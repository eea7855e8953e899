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
    for title in ("Priority: the full model and 6/1 at batch 1", "Table 2 layout", "Tables 8 and 9 layout",
                  "Table 10 layout", "Prefill, per-token decode and the bandwidth limit", "Lossless mode at batch 1"):
        assert title in md
    assert "| hf-float32 | 6 | 1 | decoder |" in md and "| ct2-int8 | t5-tiny |" in md
    assert "| hf-float32 | t5-tiny | 6/1 | 2 |" in md and "% of ceiling" in md
    report = json.loads(next(tmp_path.glob("gpu-smoke-cpu-*.json")).read_text())
    # The variants are the priority pair alone, so the priority blocks (all smoke batch sizes) are the grid too.
    assert list(report["reports"]) == ["hf-float32/t5-tiny/bs1,2 (6/6, 6/1)", "ct2-int8/t5-tiny/bs1,2 (6/6, 6/1)",
                                       "lossless/t5-tiny/bs1"]
    assert [b["runs_timed"] for b in report["blocks"]] == [1, 1, 1]
    rows = [r for rep in report["reports"].values() for r in rep["results"] if "assistant" not in r]
    # The limit, every row. Its sign is not asserted: with one timed round of a tiny model the 1-token prefill call
    # can take longer than the whole call on a busy machine, and the decode time (their difference) go negative.
    assert all(isinstance(r["fraction_of_ceiling"], float) and r["bandwidth_gb_s"] > 0 for r in rows)
    lossless = report["reports"]["lossless/t5-tiny/bs1"]["results"]
    assert [r["variant"] for r in lossless] == ["6/6", "6/6+6/1"] and lossless[1]["draft"]["rounds"] > 0
    assert printed.splitlines()[-1].startswith("wrote ") and "summary (batch 1" in printed


@pytest.mark.slow  # compiles t5-tiny's decoding step in two workers: a minute or two on 2 cores
def test_gpu_protocol_smoke_compiled(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--smoke", "--out", str(tmp_path),
                           "--backends", "hf-float32,hf-compiled", "--batch-sizes", "1"],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=ROOT,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    md = next(tmp_path.glob("gpu-smoke-cpu-*.md")).read_text()
    assert "| hf-compiled | t5-tiny |" in md and md.count("| yes |") >= 1
    report = json.loads(next(tmp_path.glob("gpu-smoke-cpu-*.json")).read_text())
    assert list(report["reports"]) == ["hf-float32/t5-tiny/bs1 (6/6, 6/1)", "hf-compiled/t5-tiny/bs1 (6/6, 6/1)"]
    compiled = report["reports"]["hf-compiled/t5-tiny/bs1 (6/6, 6/1)"]["results"]
    assert [r["tokens_equal_eager"] for r in compiled] == [True, True]


def test_ct2_cuda_setup_writes_why_it_cannot_run(tmp_path, monkeypatch):
    """On this CPU machine: a cuBLAS 13 found (a stand-in file) is aliased as libcublas.so.12, the probe process
    fails to run CTranslate2 on CUDA, and the reason names each attempt."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_setup import alias_folder, install_wheels, library_dirs, prepare_ct2

    monkeypatch.setenv("LD_LIBRARY_PATH", "")
    lib13 = tmp_path / "work" / "site" / "nvidia" / "cu13" / "lib"
    lib13.mkdir(parents=True)
    (lib13 / "libcublas.so.13").write_bytes(b"")
    assert library_dirs("libcublas.so.13", [tmp_path / "work" / "site"])[0] == lib13.resolve()
    link = alias_folder(lib13, tmp_path / "alias") / "libcublas.so.12"
    assert link.resolve() == (lib13 / "libcublas.so.13").resolve()
    assert install_wheels(tmp_path / "none", tmp_path / "t") == []
    reason, tried = prepare_ct2(tmp_path / "no-wheels", tmp_path / "work")
    assert reason == "CTranslate2 could not run a model on CUDA with any cuBLAS found"
    assert any("libcublas.so.12 linked to cuBLAS 13 in" in t and "the probe failed" in t for t in tried)
    assert os.environ["LD_LIBRARY_PATH"] == ""  # a failed candidate is not left exposed to the bench's workers


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
    plan = default_plan(sizes, ["hf-bf16", "lossless", "ct2-float16", "hf-compiled"], None, [1, 8, 16])
    assert [(b.backend, b.size, b.batch_sizes, b.runs, b.variants) for b in plan[:4]] == [
        # First: flan-t5-large's full and 6/1 at batch 1, eager, CTranslate2, compiled (the costliest last).
        ("hf-bf16", "flan-t5-large", [1], 3, ["6/6", "6/1"]), ("ct2-float16", "flan-t5-large", [1], 3, ["6/6", "6/1"]),
        ("hf-compiled", "flan-t5-large", [1], 3, ["6/6", "6/1"]), ("hf-bf16", "flan-t5-small", [1], 7, None)]
    assert [(b.backend, b.size, b.batch_sizes, b.runs) for b in plan[3:]] == [
        ("hf-bf16", "flan-t5-small", [1], 7), ("hf-bf16", "flan-t5-large", [1], 3),
        ("hf-bf16", "flan-t5-large", [8, 16], 3), ("ct2-float16", "flan-t5-small", [1], 7),
        ("ct2-float16", "flan-t5-large", [1], 3), ("lossless", "flan-t5-small", [1], 3),
        ("lossless", "flan-t5-large", [1], 3), ("hf-bf16", "flan-t5-small", [8, 16], 7),
        ("ct2-float16", "flan-t5-large", [8, 16], 3), ("ct2-float16", "flan-t5-small", [8, 16], 7),
        ("hf-compiled", "flan-t5-small", [1], 7), ("hf-compiled", "flan-t5-large", [1], 3),
        ("hf-compiled", "flan-t5-large", [8, 16], 3), ("hf-compiled", "flan-t5-small", [8, 16], 7)]
    # With the priority pair as the only variants, the grid does not time the priority blocks' rows again.
    pair = default_plan(sizes, ["hf-bf16"], None, [1, 8], variants=["6/6", "6/1"])
    assert [(b.size, b.batch_sizes) for b in pair] == [("flan-t5-large", [1]), ("flan-t5-small", [1]),
                                                       ("flan-t5-large", [8]), ("flan-t5-small", [8])]
    layers = {"flan-t5-small": {"6/6": 8, "6/1": 1}, "flan-t5-large": {"6/6": 24, "6/1": 4}}
    first, second = plan[3], plan[4]
    top = plan[0]  # two of the variants only: cheaper than the same block over every variant
    assert estimate(top, 3, {"6/6": 24, "6/3": 12, "6/1": 4}, 257, 1, 1.0) < estimate(
        second, 3, {"6/6": 24, "6/3": 12, "6/1": 4}, 257, 1, 1.0)

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


@pytest.mark.slow  # compiles t5-tiny's decoding step: about a minute on 2 cores
def test_compiled_benchmark_smoke(tmp_path):
    _run("compiled.py", tmp_path)
    md = (tmp_path / "compiled-smoke.md").read_text()
    assert "| eager % of ceiling | compiled % of ceiling | tokens equal |" in md and "| yes |" in md
    rows = json.loads((tmp_path / "compiled-smoke.json").read_text())["results"]
    assert [r["model"] for r in rows] == ["t5-tiny", "t5-tiny (hf float32 compiled)"]
    assert rows[1]["tokens_equal_eager"] is True and "tokens_equal_eager" not in rows[0]
    assert all(r["fraction_of_ceiling"] > 0 and r["ceiling_ms_per_token"] > 0 for r in rows)


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


def test_deploy_lineup_and_split():
    """The models of one deploy run (the baseline first, every lever in both backends), and how a row's call splits."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from deploy import Variant, lineup
    from deploy_render import split

    models = lineup({"encoder": 8, "decoder": 8}, 32128, decoder=1, encoder_cuts=[8, 4, 2], rows=4000)
    assert models[0] == Variant("hf-fp32", 8, 8, 32128)
    assert [(m.encoder, m.decoder) for m in models if m.backend == "hf-fp32"] == [(8, 8), (8, 1), (4, 1), (2, 1)]
    assert [(m.encoder, m.decoder, m.rows) for m in models if m.backend == "ct2-int8"] == [
        (8, 8, 32128), (8, 1, 32128), (8, 1, 4000), (4, 1, 32128), (4, 1, 4000), (2, 1, 32128), (2, 1, 4000)]
    row = {"mean_ms": 200.0, "prefill_ms": 50.0, "decoder_steps_mean": 64, "decode_ms_per_token": 150 / 63,
           "ceiling_ms_per_token": 1.0, "bytes_per_step": 4e6, "speedup": 5.0,
           "ceiling": {"bytes_by_part": {"lm_head": 1e6}}}
    parts = split(row)
    assert parts["prefill"] == 0.25 and parts["limit"] == 63 / 200 and parts["lm_head"] == 0.25
    assert abs(parts["prefill"] + parts["limit"] + parts["overhead"] - 1) < 1e-12
    assert abs(parts["no_prefill"] - 5.0 * 200 / 150) < 1e-9 and abs(parts["at_ceiling"] - 5.0 * 200 / 113) < 1e-9


@pytest.mark.slow  # eight workers and five CTranslate2 conversions: about 1-2 min on 2 cores
def test_deploy_benchmark_smoke(tmp_path):
    import statistics
    printed = _run("deploy.py", tmp_path)
    assert printed.startswith("estimated runtime: ") and printed.splitlines()[-1].startswith("wrote ")
    md = (tmp_path / "deploy-smoke.md").read_text()
    result = json.loads((tmp_path / "deploy-smoke.json").read_text())
    assert len(result["runs"]) == 1 and result["command"].startswith("python benchmarks/deploy.py --smoke")
    rows = result["runs"][0]["report"]["results"]
    timed = [(r["setup"], r["variant"], r["vocab_rows"]) for r in rows if r["batch_size"] == 1]
    assert timed == [("hf-fp32", "6/6", 946), ("hf-fp32", "6/1", 946), ("hf-fp32", "3/1", 946),
                     ("ct2-int8", "6/6", 946), ("ct2-int8", "6/1", 946), ("ct2-int8", "6/1", 300),
                     ("ct2-int8", "3/1", 946), ("ct2-int8", "3/1", 300)]
    for bs in (1, 2):
        base, *others = [r for r in rows if r["batch_size"] == bs]
        assert base["speedup"] == 1.0 and base["backend"] == "hf"
        for r in others:  # every ratio against HF float32 of the full model, in the same run
            assert r["speedup"] == statistics.median(base["runs_ms"]) / statistics.median(r["runs_ms"])
            assert r["speedup_low"] is not None and isinstance(r["fraction_of_ceiling"], float)
        table = md.split(f"\n## t5-tiny, source 16, 4 new tokens, batch {bs}\n\n")[1].split("\n\n")[0].splitlines()
        assert "% of ceiling |" in table[0] and len(table) == 2 + 8
        assert table[2].startswith("| 6/6 | 946 | HF float32 |") and "1.00× (baseline)" in table[2]
        assert table[-1].startswith("| 3/1 | 300 | CTranslate2 int8 |") and table[-1].endswith("% |")
    assert md.count("\nFastest: ") == 2 and "## What holds the rest" in md and "Command: `python benchmarks/deploy.py" in md
