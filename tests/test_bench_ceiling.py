"""Every bench row placed against its limit: the bytes one decode step reads at the row's own precision,
the machine's bandwidth (measured once per session: conftest's ASYMPRUNE_LIMITS_DIR), the ceiling and the
fraction of it the measured decode reaches, in the JSON and the table. No timing is asserted."""

import json

import pytest
from rich.console import Console

from asymprune.bench import BenchConfig, Setup, results_table, run_bench
from asymprune.bench.ceiling import backend_precision, step_cost
from asymprune.bench.describe import percent_of_ceiling
from asymprune.errors import UsageError
from asymprune.hardware import cache_path
from asymprune.models.presets import preset_config
from tests.helpers import run_cli

CFG = dict(batch_sizes=[1, 2], source_length=16, new_tokens=4, runs=1, warmup=0, threads=1)


@pytest.fixture(scope="module")
def hf_and_ct2():
    """One interleaved run: t5-tiny-2-2 in HF float32 beside the same model in CTranslate2 int8."""
    return run_bench(["t5-tiny-2-2", ("t5-tiny-2-2", Setup(backend="ct2", ct2_compute_type="int8"))],
                     BenchConfig(**CFG))


def test_each_row_carries_its_ceiling_and_the_fraction_reached(hf_and_ct2):
    config, _ = preset_config("t5-tiny-2-2")
    for r in hf_and_ct2["results"]:
        precision = backend_precision(r["backend"], ct2_compute_type="int8")
        step = step_cost(config, r["batch_size"], 16, 4, precision)  # the row's own source and steps
        assert r["bytes_per_step"] == step.total_bytes == r["ceiling"]["bytes_per_step"]
        assert r["bandwidth_gb_s"] > 0 and r["bandwidth_regime"] in ("cache", "dram")
        assert r["ceiling_ms_per_token"] > 0 and r["ceiling"]["precision"] == precision.name
        assert r["fraction_of_ceiling"] == pytest.approx(r["ceiling_ms_per_token"] / r["decode_ms_per_token"])
        assert r["ceiling_note"] is None


def test_ct2_int8_reads_fewer_bytes_than_hf_float32(hf_and_ct2):
    rows = {(r["backend"], r["batch_size"]): r for r in hf_and_ct2["results"]}
    for bs in (1, 2):
        hf, ct2 = rows[("hf", bs)], rows[("ct2", bs)]
        assert ct2["ceiling"]["weight_bytes"] < hf["ceiling"]["weight_bytes"] / 3  # int8 + a scale per row
        assert ct2["bytes_per_step"] < hf["bytes_per_step"]
        assert ct2["ceiling"]["bytes_by_part"]["cross-attention cache"] == \
            hf["ceiling"]["bytes_by_part"]["cross-attention cache"]  # float32 activations in both


def test_the_table_shows_the_ceiling_and_the_percent_reached(hf_and_ct2):
    console = Console(width=80, record=True)
    console.print(results_table(hf_and_ct2))
    text = console.export_text()
    assert "ceiling" in text and "ms/tok" in text and "% of" in text
    assert max(map(len, text.splitlines())) <= 80
    for r in hf_and_ct2["results"]:
        assert f"{r['ceiling_ms_per_token']:.3g}" in text and percent_of_ceiling(r["fraction_of_ceiling"]) in text


def test_percent_of_ceiling_cells():
    assert percent_of_ceiling(0.354) == "35%" and percent_of_ceiling(0.00523) == "0.52%"
    assert percent_of_ceiling(None) == "–"


def test_cli_json_carries_the_fields_and_a_damaged_limits_file_stops_before_timing(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert run_cli(["bench", "t5-tiny-2-2", "--batch-sizes", "1", "--source-length", "16", "--new-tokens", "3",
                    "--runs", "1", "--warmup", "0", "--threads", "1", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert {"bytes_per_step", "bandwidth_gb_s", "bandwidth_regime", "ceiling_ms_per_token",
            "fraction_of_ceiling", "ceiling"} <= set(row)
    assert "ceiling" in capsys.readouterr().out
    limits = cache_path()
    kept = limits.read_bytes()
    try:
        limits.write_text("{not json")
        assert run_cli(["bench", "t5-tiny-2-2", "--batch-sizes", "1", "--source-length", "16", "--new-tokens", "3",
                        "--runs", "1", "--warmup", "0", "--threads", "1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: the machine-limits cache {limits} is damaged") and err.count("\n") == 1
        assert limits.read_text() == "{not json"  # named, not replaced
    finally:
        limits.write_bytes(kept)


def test_a_damaged_limits_file_is_refused_by_check_bench():
    from asymprune.bench import check_bench
    limits = cache_path()
    kept = limits.read_bytes() if limits.exists() else None
    try:
        limits.parent.mkdir(parents=True, exist_ok=True)
        limits.write_text("[]")
        with pytest.raises(UsageError, match="machine-limits cache"):
            check_bench(["t5-tiny-2-2"], BenchConfig(**CFG))
    finally:
        if kept is None:
            limits.unlink()
        else:
            limits.write_bytes(kept)
