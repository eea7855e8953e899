"""The limit of a decoding step: its bytes, checked by hand and against the parameters of real
models (HF at its dtype, CTranslate2's own int8 quantization), its FLOPs, and the ceiling's
arithmetic. The README section "How far from the limit" quotes these hand figures."""

import math
import tempfile
from pathlib import Path

import pytest
import torch

from asymprune.bench import BenchConfig
from asymprune.bench.ceiling import (
    backend_precision, ceiling, decode_ceiling, mean_positions, shape_of, step_cost,
)
from asymprune.errors import UsageError
from asymprune.hardware import Bandwidth, FlopRate
from asymprune.models import build_preset, save_model
from asymprune.models.presets import preset_config

# flan-t5-small by hand: d_model 512, 6 heads x d_kv 64 = 384, gated d_ff 1024, vocabulary 32128.
D, INNER, FF, VOCAB = 512, 384, 1024, 32128
LAYER_PARAMS = (3 * INNER * D + D * INNER) + (INNER * D + D * INNER) + (2 * FF * D + D * FF) + 3 * D
HEAD_PARAMS = VOCAB * D
ROWS_PER_LAYER = (3 * INNER + D) + (INNER + D) + (2 * FF + D)   # int8: one float32 scale per output row


def test_flan_t5_small_float32_by_hand():
    config, _ = preset_config("flan-t5-small")
    step = step_cost(config, batch_size=1, source_length=512, new_tokens=64, precision=backend_precision("hf"))
    assert LAYER_PARAMS == 2_754_048 and HEAD_PARAMS == 16_449_536
    assert step.layer_bytes == 4 * LAYER_PARAMS == 11_016_192
    assert step.bytes["decoder layers"] == 8 * 11_016_192 == 88_129_536
    assert step.bytes["lm_head"] == 4 * HEAD_PARAMS == 65_798_144
    assert step.bytes["stack vectors"] == 4 * (D + 32 * 6)          # final norm, relative-position table
    assert step.bytes["embedding rows"] == 4 * D                    # one token row, no position row
    assert step.bytes["cross-attention cache"] == 8 * 2 * INNER * 512 * 4 == 12_582_912
    assert step.bytes["self-attention cache"] == 8 * 2 * INNER * 33 * 4  # mean of 2..64 positions: 33
    assert step.prefill_only_bytes == 8 * 2 * INNER * D * 4         # cross-attention k/v: at prefill only
    assert step.total_bytes == 167_326_464


def test_flan_t5_small_bytes_equal_the_built_models_parameters():
    model, _ = build_preset("flan-t5-small")
    for dtype in (torch.float32, torch.bfloat16):
        model.to(dtype)
        step = step_cost(model.config, 1, 512, 64, backend_precision("hf", dtype=str(dtype).removeprefix("torch.")))
        blocks = model.decoder.block
        read = [sum(p.numel() * p.element_size() for n, p in block.named_parameters()
                    if ".EncDecAttention.k." not in f".{n}" and ".EncDecAttention.v." not in f".{n}")
                for block in blocks]
        table = blocks[0].layer[0].SelfAttention.relative_attention_bias.weight
        table_bytes = table.numel() * table.element_size()
        assert read == [step.layer_bytes + table_bytes] + [step.layer_bytes] * 7
        assert step.layer_bytes == LAYER_PARAMS * model.lm_head.weight.element_size()
        norm = model.decoder.final_layer_norm.weight
        assert step.bytes["stack vectors"] == table_bytes + norm.numel() * norm.element_size()
        assert step.bytes["lm_head"] == model.lm_head.weight.numel() * model.lm_head.weight.element_size()


def test_flan_t5_small_int8_by_hand():
    config, _ = preset_config("flan-t5-small")
    step = step_cost(config, 1, 512, 64, backend_precision("ct2", ct2_compute_type="int8"))
    norms = 3 * D
    assert step.layer_bytes == (LAYER_PARAMS - norms) + 4 * ROWS_PER_LAYER + 4 * norms == 2_779_136
    assert step.bytes["lm_head"] == HEAD_PARAMS + 4 * VOCAB == 16_578_048
    assert step.bytes["embedding rows"] == D + 4                     # an int8 row and its scale
    assert step.bytes["cross-attention cache"] == 12_582_912         # float32 activations


def _ct2_int8_decoder_bytes(model, tokenizer) -> int:
    """What CTranslate2's own int8 quantization holds for one step: every decoder variable but the
    embedding and position tables (rows are looked up) and cross-attention's fused k/v (prefill).
    A variable that others alias (identical values, a tied head) is stored, and read, once."""
    from ctranslate2.converters import transformers as ct2_transformers

    import asymprune.ct2  # noqa: F401  (registers the loaders asymprune converts with)
    with torch.no_grad():  # random presets have all-ones norms and zero biases, which CTranslate2 would
        for p in model.parameters():  # alias as one variable, and a zero logits bias, which it drops
            if p.dim() == 1:
                p.copy_(torch.rand_like(p) + 0.5)
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias.copy_(torch.rand_like(model.final_logits_bias))
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, Path(tmp), tokenizer)
        spec = ct2_transformers.TransformersConverter(tmp)._load()  # the spec `convert` would save
    spec.validate()
    spec.optimize(quantization="int8")
    variables = spec.variables()
    stored = set()
    for name, value in variables.items():
        target = value if isinstance(value, str) else name
        if (not name.startswith("decoder/") or not getattr(variables[target], "shape", ()) or "/embeddings/" in name
                or "/position_encodings/" in name or "/attention/linear_1/" in name):
            continue
        stored |= {target} | ({target + "_scale"} & set(variables))  # an aliased weight brings its scale
    return sum(variables[name].num_bytes() for name in stored)


@pytest.mark.parametrize("preset", ["t5-tiny-2-2", "bart-tiny"])
def test_int8_bytes_equal_ctranslate2s_own_quantization(preset):
    model, tokenizer = build_preset(preset)
    step = step_cost(model.config, 1, 16, 8, backend_precision("ct2", ct2_compute_type="int8"))
    counted = step.bytes["decoder layers"] + step.bytes["stack vectors"] + step.bytes["lm_head"]
    assert counted == _ct2_int8_decoder_bytes(model, tokenizer)


def test_caches_grow_with_batch_and_weights_do_not():
    config, _ = preset_config("flan-t5-small")
    one, eight = (step_cost(config, b, 512, 64, backend_precision("hf")) for b in (1, 8))
    for part in ("decoder layers", "stack vectors", "lm_head"):
        assert eight.bytes[part] == one.bytes[part]
    for part in ("self-attention cache", "cross-attention cache"):
        assert eight.bytes[part] == 8 * one.bytes[part]
    assert eight.bytes["embedding rows"] == 8 * one.bytes["embedding rows"]
    assert eight.flops == 8 * one.flops


def test_mean_positions_over_the_timed_decode_steps():
    assert mean_positions(64) == sum(range(2, 65)) / 63 == 33
    assert mean_positions(2) == 2 and mean_positions(1) == 1


def test_flops_by_hand():
    config, _ = preset_config("flan-t5-small")
    step = step_cost(config, 1, 512, 64, backend_precision("hf"))
    weights = 8 * (LAYER_PARAMS - 3 * D) + HEAD_PARAMS
    attention = 8 * 4 * INNER * (33 + 512)
    assert step.flops == 2 * weights + attention


def test_a_smaller_vocabulary_reads_a_smaller_head():
    config, _ = preset_config("flan-t5-small")
    full = step_cost(config, 1, 512, 64, backend_precision("ct2", ct2_compute_type="int8"))
    mapped = step_cost(config, 1, 512, 64, backend_precision("ct2", ct2_compute_type="int8"), vocab_rows=4000)
    assert mapped.bytes["lm_head"] == 4000 * (D + 4)
    assert mapped.total_bytes == full.total_bytes - (VOCAB - 4000) * (D + 4)
    assert shape_of(config).head.rows == VOCAB


def test_bart_counts_biases_and_a_position_row():
    model, _ = build_preset("bart-tiny")
    step = step_cost(model.config, 2, 16, 8, backend_precision("hf"))
    d = model.config.d_model
    assert step.bytes["embedding rows"] == 4 * (2 * d + d)  # two token rows, one shared position row
    assert step.bytes["lm_head"] == 4 * (model.lm_head.weight.numel() + model.final_logits_bias.numel())


@pytest.mark.parametrize("backend,dtype,compute,matrix,cache", [
    ("hf", "bfloat16", "int8", 2, 2), ("ct2", "float32", "int8_float16", 1, 2), ("ct2", "float32", "float32", 4, 4),
])
def test_precisions(backend, dtype, compute, matrix, cache):
    p = backend_precision(backend, dtype=dtype, ct2_compute_type=compute)
    assert (p.matrix_bytes, p.cache_bytes) == (matrix, cache)


@pytest.mark.parametrize("compute", ["auto", "default"])
def test_an_unresolved_compute_type_is_refused(compute):
    with pytest.raises(UsageError, match="really uses"):
        backend_precision("ct2", ct2_compute_type=compute)


def _bandwidth(gb_s, regime="dram", load=0.0):
    return Bandwidth(gb_s=gb_s, bytes=2 ** 27, regime=regime, dram_gb_s=gb_s, dram_bytes=2 ** 30,
                     machine="test", source="given", load=load)


def test_the_ceiling_and_the_fraction_reached():
    config, _ = preset_config("flan-t5-small")
    step = step_cost(config, 1, 512, 64, backend_precision("hf"))
    result = ceiling(step, _bandwidth(10.0), measured_ms_per_token=33.4652928)
    assert result["memory_ms_per_token"] == pytest.approx(167_326_464 / 10e9 * 1e3)   # 16.73 ms
    assert result["ceiling_ms_per_token"] == result["memory_ms_per_token"] and result["bound"] == "memory"
    assert result["fraction_of_ceiling"] == pytest.approx(0.5)
    assert result["flop_ms_per_token"] is None and result["regime"] == "dram"
    assert result["warnings"] == []
    assert ceiling(step, _bandwidth(10.0))["fraction_of_ceiling"] is None


def test_busy_figures_and_a_decode_above_its_ceiling_are_flagged():
    config, _ = preset_config("flan-t5-small")
    step = step_cost(config, 1, 512, 64, backend_precision("hf"))
    busy, above = ceiling(step, _bandwidth(10.0, load=4.8), measured_ms_per_token=8.0)["warnings"]
    assert "busy cores (load 4.8 per core)" in busy
    assert "ran at 209% of its ceiling" in above


def test_a_slow_matmul_makes_the_step_compute_bound():
    config, _ = preset_config("flan-t5-small")
    step = step_cost(config, 16, 512, 64, backend_precision("hf"))
    result = ceiling(step, _bandwidth(1000.0), 100.0, FlopRate(gflops=1.0, machine="test", source="given", load=0.0))
    assert result["bound"] == "compute"
    assert result["ceiling_ms_per_token"] == result["flop_ms_per_token"] == pytest.approx(step.flops / 1e9 * 1e3)


@pytest.fixture(scope="module")
def limits_dir(tmp_path_factory):
    """One machine-limits cache for the tests below: the DRAM figure is measured once."""
    return tmp_path_factory.mktemp("limits")


@pytest.mark.parametrize("backend", ["hf", "ct2"])
def test_decode_ceiling_measures_once_and_reuses(limits_dir, backend):
    cfg = BenchConfig(backend=backend, source_length=32, new_tokens=8, threads=1)
    first = decode_ceiling("t5-tiny-2-2", cfg, batch_size=1, measured_ms_per_token=5.0, cache_dir=limits_dir)
    assert first["bandwidth_gb_s"] > 0 and math.isfinite(first["bandwidth_gb_s"])
    assert first["regime"] in ("cache", "dram") and 0 < first["fraction_of_ceiling"] < math.inf
    assert (first["peak_gflops"] is not None) == (backend == "hf")  # no int8 matmul figure
    written = (limits_dir / "machine-limits.json").read_text()
    assert decode_ceiling("t5-tiny-2-2", cfg, 1, 5.0, cache_dir=limits_dir) == first
    assert (limits_dir / "machine-limits.json").read_text() == written
