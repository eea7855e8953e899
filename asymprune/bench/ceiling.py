"""How far a decode runs from the limit: the bytes and FLOPs one step needs, against this machine.

    result = decode_ceiling("flan-t5-small", BenchConfig(backend="ct2", source_length=512, new_tokens=64),
                            batch_size=1, measured_ms_per_token=4.2)
    result["ceiling_ms_per_token"], result["fraction_of_ceiling"], result["regime"]

    step = step_cost(config, batch_size=1, source_length=512, new_tokens=64,
                     precision=backend_precision("hf", dtype="float32"))
    step.bytes["lm_head"], step.total_bytes, step.flops

    row.update(bench_row_ceiling(row, config, setup, "cpu", source_rows=512, threads=2))  # bench/run.py: each row

At batch 1 a decoding step is bound by memory bandwidth: each new token reads, once,
- every decoder layer's weights, except the cross-attention k/v projections: those project
  the encoder's output, once, at the first step (prefill), into the cross-attention cache;
  they are reported as `prefill_only_bytes` and not counted in a step;
- the norms outside the layers (and T5's relative-position table), and the lm_head, whose
  rows are the vocabulary (a reduced vocabulary or a CTranslate2 vocabulary map has fewer);
  tied to the embeddings or not, it is read once a step;
- one embedding row per sequence, and one position row (BART family);
- the self-attention cache (K and V of every position so far, per layer and sequence: the
  mean over the timed decode steps is used) and the cross-attention cache (K and V of every
  source position), at the dtype of the activations.
Writes (the new K/V, activations) are left out: together they are under one cache row per layer.

Bytes are counted at the dtype the backend really holds (its `precision`, bench/backends/): HF at its
dtype; CTranslate2 int8 as int8 matrices (embeddings and lm_head included) with a float32
scale per row, norms and biases in float32 (or 16-bit with int8_float16/int8_bfloat16).
CTranslate2's u8s8 GEMM on x86 may add an int32 compensation per row: not counted (<0.5%).
A BART-family logits bias is counted with the lm_head (HF adds it at every step); CTranslate2
drops one that is all zeros, which is 4 bytes per vocabulary row less.

FLOPs of a step: 2 per weight of every matrix a token passes (cross-attention k/v excluded)
per sequence, plus 4 x positions x K-width per layer and sequence for each attention
(scores and weighted sum).

The ceiling is bytes / bandwidth, the bandwidth measured at the step's own working-set size
(asymprune.hardware: "cache" or "dram" regime), and FLOPs / a measured matmul peak where
one is available (float types; no int8 figure); the slower of the two binds. The fraction of
the ceiling a measured decode reaches is ceiling ms / measured ms (1.0 is the limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..hardware import Bandwidth, FlopRate, matmul_rate, read_bandwidth
from ..models.shapes import DecoderShape, Matrix
from .backends import Precision, Setup, backend_for
from .config import BenchConfig

BUSY_LOAD = 1.0  # load average per core above which the machine's figures are marked as taken on busy cores


def backend_precision(backend: str, dtype: str = "float32", ct2_compute_type: str = "int8") -> Precision:
    """How a backend holds weights and caches (its `precision`): HF at `dtype`, CTranslate2 at `ct2_compute_type`."""
    return backend_for(backend).precision(Setup(backend=backend, dtype=dtype, ct2_compute_type=ct2_compute_type))


@dataclass(frozen=True)
class StepCost:
    precision: str             # Precision.name
    batch_size: int
    source_length: int         # source tokens per sequence (cross-attention cache rows)
    mean_positions: float      # self-attention cache rows read per layer and sequence, mean over decode steps
    bytes: dict                # what one step reads, by part: decoder layers, stack vectors, lm_head,
                               # embedding rows, self-attention cache, cross-attention cache
    flops: float               # one step, the whole batch
    layer_bytes: int           # one decoder layer's weights read per step
    prefill_only_bytes: int    # cross-attention k/v weights, all layers: read at the first step only

    @property
    def total_bytes(self) -> float:
        return sum(self.bytes.values())

    @property
    def weight_bytes(self) -> float:
        return self.total_bytes - self.bytes["self-attention cache"] - self.bytes["cross-attention cache"]


def matrix_bytes(m: Matrix, p: Precision) -> int:
    return m.weights * p.matrix_bytes + m.rows * p.row_scale_bytes + (m.rows * p.vector_bytes if m.bias else 0)


def mean_positions(new_tokens: int) -> float:
    """Mean self-attention cache rows over the timed decode steps. The step that makes token k
    attends over k positions (the start token and k - 1 generated); token 1 is the prefill's,
    so decode steps make tokens 2..new_tokens: mean (new_tokens + 2) / 2."""
    return (new_tokens + 2) / 2 if new_tokens >= 2 else 1.0


def shape_of(config) -> DecoderShape:
    from ..models import family_for
    return family_for(config).decoder_shape(config)


def step_cost(config, batch_size: int, source_length: int, new_tokens: int, precision: Precision,
              vocab_rows: int | None = None) -> StepCost:
    """Bytes and FLOPs of one decoding step of `config`'s decoder (see the module's docstring).

    `new_tokens`: tokens generated per sequence (with natural stopping, the mean generated);
    `vocab_rows`: rows of the lm_head actually used (a CTranslate2 vocabulary map), if fewer.
    """
    shape = shape_of(config)
    if vocab_rows is not None:
        shape = shape.with_vocabulary(vocab_rows)
    p, B, L = precision, batch_size, shape.layers
    positions = mean_positions(new_tokens)
    layer = sum(matrix_bytes(m, p) for m in shape.step_matrices) + shape.layer_norm_params * p.vector_bytes
    parts = {
        "decoder layers": L * layer,
        "stack vectors": shape.stack_vectors * p.vector_bytes,
        "lm_head": matrix_bytes(shape.head, p),
        # A token row per sequence; one position row, as every sequence is at the same position.
        "embedding rows": B * (shape.d_model * p.matrix_bytes + p.row_scale_bytes) + shape.position_row * p.vector_bytes,
        "self-attention cache": B * L * 2 * shape.self_kv_width * positions * p.cache_bytes,
        "cross-attention cache": B * L * 2 * shape.cross_kv_width * source_length * p.cache_bytes,
    }
    weights = L * sum(m.weights for m in shape.step_matrices) + shape.head.weights
    attention = L * 4 * (shape.self_kv_width * positions + shape.cross_kv_width * source_length)
    return StepCost(precision=p.name, batch_size=B, source_length=source_length, mean_positions=positions,
                    bytes=parts, flops=B * (2 * weights + attention), layer_bytes=layer,
                    prefill_only_bytes=L * sum(matrix_bytes(m, p) for m in shape.prefill_matrices))


def ceiling(step: StepCost, bandwidth: Bandwidth, measured_ms_per_token: float | None = None,
            peak: FlopRate | None = None) -> dict:
    """The step's limit in ms per token, and the fraction of it `measured_ms_per_token` reaches.

    Keys: bytes_per_step, weight_bytes, bytes_by_part, flops_per_step; bandwidth_gb_s (at
    bandwidth_bytes), regime, dram_gb_s, bandwidth_load; peak_gflops, peak_load (None without a
    peak); memory_ms_per_token, flop_ms_per_token (None without a peak), ceiling_ms_per_token
    (the larger), bound ("memory" or "compute"); measured_ms_per_token, fraction_of_ceiling
    (None without a measurement); machine, bandwidth_source, peak_source; warnings (sentences
    for the user: figures taken on busy cores, a decode faster than its ceiling).
    """
    memory_ms = step.total_bytes / (bandwidth.gb_s * 1e9) * 1e3
    flop_ms = step.flops / (peak.gflops * 1e9) * 1e3 if peak is not None else None
    limit = max(memory_ms, flop_ms or 0.0)
    fraction = limit / measured_ms_per_token if measured_ms_per_token else None
    load = max(bandwidth.load, peak.load if peak else 0.0)
    warnings = []
    if load > BUSY_LOAD:
        warnings.append(f"the machine's limits were measured on busy cores (load {load:.1f} per core), so they are "
                        "too low; measure again on a quiet machine")
    if fraction is not None and fraction > 1:
        warnings.append(f"the decode ran at {fraction:.0%} of its ceiling: the bandwidth figure is too low for this "
                        "step (a busy machine when measured, or a working set the caches hold better than a read)")
    return {
        "precision": step.precision, "batch_size": step.batch_size,
        "bytes_per_step": step.total_bytes, "weight_bytes": step.weight_bytes, "bytes_by_part": dict(step.bytes),
        "flops_per_step": step.flops, "bandwidth_gb_s": bandwidth.gb_s, "bandwidth_bytes": bandwidth.bytes,
        "regime": bandwidth.regime, "dram_gb_s": bandwidth.dram_gb_s, "bandwidth_load": bandwidth.load,
        "peak_gflops": peak.gflops if peak else None, "peak_load": peak.load if peak else None,
        "memory_ms_per_token": memory_ms, "flop_ms_per_token": flop_ms, "ceiling_ms_per_token": limit,
        "bound": "compute" if flop_ms is not None and flop_ms > memory_ms else "memory",
        "measured_ms_per_token": measured_ms_per_token, "fraction_of_ceiling": fraction,
        "machine": bandwidth.machine, "bandwidth_source": bandwidth.source, "peak_source": peak.source if peak else None,
        "warnings": warnings,
    }


def setup_ceiling(config, setup: Setup, device: str, batch_size: int, source_length: float, new_tokens: float,
                  measured_ms_per_token: float | None = None, threads: int | None = None,
                  vocab_rows: int | None = None, cache_dir: Path | None = None) -> dict:
    """`ceiling` for `config` as `setup` runs it (its backend's precision) on `device`.

    `source_length`: cross-attention cache rows (the encoder's output length: Family.cross_attention_rows);
    `new_tokens`: the steps a call runs. Bandwidth and peak are measured on first use and cached per machine.
    """
    precision = backend_for(setup.backend).precision(setup)
    step = step_cost(config, batch_size, source_length, new_tokens, precision, vocab_rows)
    bandwidth = read_bandwidth(int(step.total_bytes), device, threads, cache_dir)
    peak = matmul_rate(precision.flop_dtype, device, threads, cache_dir) if precision.flop_dtype else None
    return ceiling(step, bandwidth, measured_ms_per_token, peak)


def decode_ceiling(model: str, cfg: BenchConfig, batch_size: int, measured_ms_per_token: float | None = None,
                   vocab_rows: int | None = None, new_tokens: float | None = None, threads: int | None = None,
                   cache_dir: Path | None = None) -> dict:
    """`ceiling` for MODEL (hub id, folder or preset; its config only) as `cfg` runs it at `batch_size`.

    `new_tokens`: the mean generated length where it differs from cfg.new_tokens (a dataset run);
    `threads`: the bench's thread count (default: cfg.threads, else every core this process may use).
    Bandwidth and peak are measured on first use and cached per machine (asymprune.hardware).
    """
    from ..models import family_for, load_config
    config = load_config(model, presets=True)
    rows = family_for(config).cross_attention_rows(config, cfg.source_length)
    return setup_ceiling(config, cfg.setup(), cfg.device, batch_size, rows,
                         new_tokens if new_tokens is not None else cfg.new_tokens, measured_ms_per_token,
                         threads or cfg.threads, vocab_rows, cache_dir)


# A bench row's headline figures of its ceiling (the whole `ceiling` result is in its "ceiling" field).
ROW_FIELDS = ("bytes_per_step", "bandwidth_gb_s", "bandwidth_regime", "ceiling_ms_per_token", "fraction_of_ceiling")


def row_fields(result: dict | None, note: str | None = None) -> dict:
    """A bench row's ceiling fields from `ceiling`'s result; all None (with `note` saying why) without one."""
    if result is None:
        return {**dict.fromkeys(ROW_FIELDS), "ceiling": None, "ceiling_note": note}
    return {"bytes_per_step": result["bytes_per_step"], "bandwidth_gb_s": result["bandwidth_gb_s"],
            "bandwidth_regime": result["regime"], "ceiling_ms_per_token": result["ceiling_ms_per_token"],
            "fraction_of_ceiling": result["fraction_of_ceiling"], "ceiling": result, "ceiling_note": note}


def bench_row_ceiling(row: dict, config, setup: Setup, device: str, source_rows: float, threads: int) -> dict:
    """`row_fields` of a measured bench row (batch_size, decoder_steps_mean, decode_ms_per_token) of `config`
    run in `setup`, with `source_rows` cross-attention cache rows. A family or backend that cannot state what
    a step reads (no decoder_shape, no precision: a plugin's) gets no ceiling, and the note says why."""
    try:  # both only checked here: setup_ceiling uses them
        backend_for(setup.backend).precision(setup)
        shape_of(config)
    except NotImplementedError:
        return row_fields(None, f"the {setup.backend} backend states no precision, so the bytes of a step are unknown")
    except UsageError as e:
        return row_fields(None, str(e))
    return row_fields(setup_ceiling(config, setup, device, row["batch_size"], source_rows, row["decoder_steps_mean"],
                                    row["decode_ms_per_token"], threads))
