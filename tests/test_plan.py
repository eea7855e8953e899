"""`asymprune plan`: the fit, the grid, the outputs, the budget, bad input, and the sweep's min_speedup.

Timings are never asserted (nor how good the fit is): only structure and behaviour.
"""

import contextlib
import io
import json
import sqlite3

import pytest
import yaml

from asymprune.errors import UsageError
from asymprune.plan import CostModel, PlanConfig, fit, meeting, measurement_shapes, parse_grid, predict, run_plan
from asymprune.sweep import PAPER_GRID
from tests.helpers import run_cli

TINY = ["--source-length", "16", "--new-tokens", "4", "--runs", "1", "--warmup", "0", "--batch-sizes", "1"]
T5 = {"encoder": 6, "decoder": 6}


def synthetic_rows(truth: dict[int, CostModel], shapes) -> list[dict]:
    """Bench-like rows that follow a known cost model exactly."""
    return [{"batch_size": bs, "layers": {"encoder": e, "decoder": d}, "prefill_ms": cm.prefill_ms(e, d),
             "decode_ms_per_token": cm.token_ms(d)} for bs, cm in truth.items() for e, d in shapes]


def test_fit_recovers_known_coefficients():
    truth = {1: CostModel(1, 12.0, 3.0, 0.5, 2.0, 0.75), 8: CostModel(8, 40.0, 20.0, 4.0, 5.0, 1.25)}
    shapes = measurement_shapes({"encoder": 8, "decoder": 8})
    assert shapes == [(8, 8), (8, 1), (1, 8)]
    fitted = fit(synthetic_rows(truth, shapes))
    assert [m.batch_size for m in fitted] == [1, 8]
    for m in fitted:
        want = truth[m.batch_size]
        for name in ("p0", "p1", "p2", "t0", "t1"):
            assert getattr(m, name) == pytest.approx(getattr(want, name), abs=1e-9), name
    assert fitted[0].total_ms(4, 2, new_tokens=64) == pytest.approx(12 + 3 * 4 + 0.5 * 2 + 63 * (2 + 0.75 * 2))


def test_a_stack_of_depth_one_needs_no_second_point():
    truth = {1: CostModel(1, 12.0, 3.0, 0.5, 2.0, 0.75)}
    shapes = measurement_shapes({"encoder": 4, "decoder": 1})
    assert shapes == [(4, 1), (1, 1)]
    (m,) = fit(synthetic_rows(truth, shapes))
    # The decoder coefficients cannot be told from the constants, so they fold into them; every
    # variant of this model has 1 decoder layer, so predictions stay exact.
    assert m.p1 == pytest.approx(3.0) and m.p2 == 0 and m.t1 == 0
    assert m.total_ms(2, 1, 10) == pytest.approx(truth[1].total_ms(2, 1, 10))


def test_grids_follow_prune_and_sweep_rules():
    assert [s[0] for s in parse_grid("paper", "t5-tiny", T5)] == PAPER_GRID
    flan = {"encoder": 8, "decoder": 8}
    # A sixth keeps floor(8·a/6) layers, as prune does: 5/6 -> 6, 4/6 -> 5, 2/6 -> 2.
    assert parse_grid("6/3, 5/4,2/2", "flan-t5-small", flan) == [("6/3", 8, 4), ("5/4", 6, 5), ("2/2", 2, 2)]
    assert parse_grid("8L/2L,6/3,6/3", "flan-t5-small", flan) == [("8L/2L", 8, 2), ("6/3", 8, 4)]
    everything = parse_grid("all", "t5-tiny", T5)
    assert len(everything) == 36 and len({(e, d) for _, e, d in everything}) == 36
    assert everything[0] == ("6L/6L", 6, 6) and everything[-1] == ("1L/1L", 1, 1)


def test_min_speedup_prefers_the_most_layers_kept():
    fitted = {"layers": T5, "config": {"new_tokens": 4},
              "coefficients": [{"batch_size": 1, "p0": 1.0, "p1": 1.0, "p2": 1.0, "t0": 1.0, "t1": 1.0}]}
    rows = predict(fitted, parse_grid("all", "t5-tiny", T5))
    speed = {(r["encoder_layers"], r["decoder_layers"]): r["speedup"] for r in rows}
    assert speed[(6, 6)] == 1.0
    picked = meeting(rows, 1.5, batch_size=1)
    assert picked and all(r["speedup"] >= 1.5 for r in picked)
    assert {(r["encoder_layers"], r["decoder_layers"]) for r in picked} == {k for k, v in speed.items() if v >= 1.5}
    kept = [r["encoder_layers"] + r["decoder_layers"] for r in picked]
    assert kept == sorted(kept, reverse=True)
    # total = 4 + e + 4d ms: 6/3 keeps the most (9 layers); of the 8-layer ones, 6/2 (18 ms) is faster than 5/3 (21 ms).
    assert [(r["encoder_layers"], r["decoder_layers"]) for r in picked[:3]] == [(6, 3), (6, 2), (5, 3)]
    assert meeting(rows, 1000, batch_size=1) == []


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """One real measurement for the module: (exit code, out dir, what it printed)."""
    out = tmp_path_factory.mktemp("plan") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = run_cli(["plan", "t5-tiny", *TINY, "--min-speedup", "1.2", "--out", str(out)])
    return code, out, printed.getvalue()


def test_plan_writes_table_heatmap_and_json(planned):
    code, out, printed = planned
    assert code == 0
    result = json.loads((out / "plan.json").read_text())
    assert (out / "speedup.png").read_bytes()[:4] == b"\x89PNG"
    assert [m["layers"] for m in result["measurements"]] == [T5, {"encoder": 6, "decoder": 1},
                                                             {"encoder": 1, "decoder": 6}]
    assert set(result["coefficients"][0]) == {"batch_size", "p0", "p1", "p2", "t0", "t1"}
    rows = result["predictions"]
    assert [r["variant"] for r in rows] == PAPER_GRID and {r["batch_size"] for r in rows} == {1}
    assert rows[0]["speedup"] == 1.0 and all(r["ms"] for r in rows)
    # The budget: exactly the variants predicted to reach it, most layers kept first.
    meets = result["meets_min_speedup"]
    assert set(meets) == {r["variant"] for r in rows if r["speedup"] is not None and r["speedup"] >= 1.2 - 1e-9}
    kept = {r["variant"]: r["encoder_layers"] + r["decoder_layers"] for r in rows}
    assert [kept[v] for v in meets] == sorted((kept[v] for v in meets), reverse=True)
    # Printed: the fitted model, a row per variant, the budget's list (or that none meets it).
    assert "fitted cost model (ms):" in printed and "per token = " in printed
    assert all(f"│ {v} " in printed for v in PAPER_GRID) and "× bs1" in printed
    if meets:
        listed = printed.split("predicted to reach 1.2× at batch 1 (most layers kept first):\n")[1].splitlines()
        assert [line.split()[0] for line in listed[:len(meets)]] == meets
    else:
        assert "no variant is predicted to reach 1.2× at batch 1" in printed
    assert f"wrote {out / 'plan.json'} and {out / 'speedup.png'}" in printed


def test_plan_prints_each_variants_ceiling_beside_its_prediction(planned):
    from asymprune.bench.ceiling import backend_precision, step_cost
    from asymprune.models import family_for
    from asymprune.models.presets import preset_config
    code, out, printed = planned
    rows = json.loads((out / "plan.json").read_text())["predictions"]
    for r in rows:  # the bytes of the variant's own decoder, at the plan's source and new tokens
        config, _ = preset_config("t5-tiny")
        family_for(config).set_layer_counts(config, {"encoder": r["encoder_layers"], "decoder": r["decoder_layers"]})
        assert r["bytes_per_step"] == step_cost(config, 1, 16, 4, backend_precision("hf")).total_bytes
        assert r["ceiling_ms_per_token"] > 0 and r["bandwidth_regime"] in ("cache", "dram")
        if r["ms_per_token"] > 0:
            assert r["fraction_of_ceiling"] == pytest.approx(r["ceiling_ms_per_token"] / r["ms_per_token"])
    by_depth = {r["decoder_layers"]: r["bytes_per_step"] for r in rows}
    assert by_depth[1] < by_depth[6]
    assert "ceiling ms/tok bs1" in printed and f"{rows[0]['ceiling_ms_per_token']:.3g} (" in printed


def test_grid_all_from_earlier_measurements(planned, tmp_path):
    _, out, _ = planned
    earlier = json.loads((out / "plan.json").read_text())
    result = run_plan("t5-tiny", PlanConfig(grid="all", min_speedup=1.2), out=tmp_path / "all", measured=earlier)
    assert len(result["predictions"]) == 36
    assert result["coefficients"] == earlier["coefficients"]
    again = json.loads((tmp_path / "all" / "plan.json").read_text())
    assert {(r["encoder_layers"], r["decoder_layers"]) for r in again["predictions"]} == \
        {(e, d) for e in range(1, 7) for d in range(1, 7)}
    assert (tmp_path / "all" / "speedup.png").is_file()
    with pytest.raises(UsageError, match="measurements are of a 6/6-layer model, not t5-tiny-2-2's 2/2"):
        run_plan("t5-tiny-2-2", PlanConfig(grid="all"), measured=earlier)


BAD = {
    "sixth-out-of-range": (["t5-tiny", "--grid", "7/3"], "--grid entry '7/3' is not a variant"),
    "garbage": (["t5-tiny", "--grid", "6/3,abc"], "--grid entry 'abc' is not a variant"),
    "count-too-deep": (["t5-tiny", "--grid", "9L/2L"],
                       "--grid entry '9L/2L' asks for 9 encoder layers; t5-tiny has 6 encoder and 6 decoder layers"),
    "zero-layers": (["t5-tiny-2-2", "--grid", "6/6,1/6"],
                    "--grid entry '1/6' asks for 0 (1/6 of 2) encoder layers; t5-tiny-2-2 has 2 encoder and 2"),
    "zero-count": (["t5-tiny", "--grid", "0L/2L"], "--grid entry '0L/2L' asks for 0 encoder layers"),
    "min-speedup": (["t5-tiny", "--min-speedup", "0"], "--min-speedup must be a positive number"),
    "batch-sizes": (["t5-tiny", "--batch-sizes", "0"], "--batch-sizes must be positive integers"),
    "batch-text": (["t5-tiny", "--batch-sizes", "one"], "--batch-sizes 'one' must be comma-separated integers"),
    "new-tokens": (["t5-tiny", "--new-tokens", "0"], "--new-tokens must be at least 1"),
    "runs": (["t5-tiny", "--runs", "0"], "--runs must be at least 1"),
    "device": (["t5-tiny", "--device", "tpu"], "unknown device 'tpu'"),
    "model": (["/nonexistent/model"], "model '/nonexistent/model' not found"),
    "positions": (["bart-tiny", "--source-length", "5000"], "--source-length 5000 is over bart-tiny's limit"),
    "memory": (["t5-tiny", "--batch-sizes", "1,100000000"], "--batch-sizes 100000000: the bench needs about "),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_before_any_measurement(case, tmp_path, capsys):
    argv, message = BAD[case]
    out = tmp_path / "out"
    assert run_cli(["plan", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_existing_out_needs_overwrite(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert run_cli(["plan", "t5-tiny", "--out", str(tmp_path / "out")]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_sweep_min_speedup_skips_variants_and_reuses_the_measurement(tmp_path, capsys):
    out = tmp_path / "out"
    spec = {"output_dir": str(out), "models": ["t5-tiny"], "datasets": ["synthetic"], "grid": ["6/6", "6/3", "3/6"],
            "finetune_base": False, "control": False, "min_speedup": 1000.0, "data": {"n": 64},
            "evaluate": {"max_samples": 2, "max_new_tokens": 4, "batch_size": 2, "max_source_length": 64},
            "bench": {"batch_sizes": [1], "source_length": 16, "new_tokens": 4, "runs": 1, "warmup": 0}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert run_cli(["sweep", str(path), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "skipped: planner predicts" in printed and "2 variants skipped by min_speedup" in printed
    assert "2 stages to run, 0 done" in printed  # the base's evaluate and bench
    (plan_stage,) = (out / "stages").iterdir()  # the planner's measurement, cached: nothing else ran
    assert plan_stage.name.startswith("plan-")
    # The real run reuses the dry run's measurement, runs the base and records the skipped variants.
    assert run_cli(["sweep", str(path)]) == 0
    assert "planner: timing" not in capsys.readouterr().out
    db = sqlite3.connect(out / "results.db")
    runs = db.execute("SELECT variant, status, error FROM runs ORDER BY variant").fetchall()
    (latency,) = db.execute("SELECT bytes_per_step, bandwidth_regime, ceiling_ms_per_token, fraction_of_ceiling, "
                            "decode_ms_per_token FROM latency").fetchall()  # the sweep stores the bench's ceiling
    db.close()
    assert latency[0] > 0 and latency[1] in ("cache", "dram")
    assert latency[3] == pytest.approx(latency[2] / latency[4])
    assert [r[:2] for r in runs] == [("3/6", "skipped"), ("6/3", "skipped"), ("6/6", "done")]
    assert runs[0][2].startswith("planner predicts") and "< min_speedup 1000× at batch 1" in runs[0][2]


def test_sweep_rejects_a_bad_min_speedup(tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "models": ["t5-tiny"],
                                    "datasets": ["synthetic"], "min_speedup": -1}))
    assert run_cli(["sweep", str(path), "--dry-run"]) == 2
    assert "min_speedup must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
