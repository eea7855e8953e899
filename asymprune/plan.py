"""`asymprune plan MODEL`: predict the latency of every pruned variant from three measurements.

    asymprune plan flan-t5-small --batch-sizes 1,8 --source-length 512 --new-tokens 64
    asymprune plan flan-t5-small --grid all --min-speedup 2     # every (encoder, decoder) pair
    result = run_plan("flan-t5-small", PlanConfig(grid="6/3,8L/2L"), out=Path("plan-small"))

    fit = measure("flan-t5-small", BenchConfig(batch_sizes=[1], source_length=512, new_tokens=64))
    speedups = predict_speedups(fit, {"6/1": (8, 1), "3/3": (4, 4)})     # {label: speed-up}

Generation time is linear in the layers kept, once batch size, source length and generated
length are fixed. So the planner times three shapes of MODEL in one interleaved `run_bench`
(full E/D, decoder cut to 1, encoder cut to 1: the widest spread, so the fit is well
conditioned) and fits, per batch size,

    prefill ms   = p0 + p1·e + p2·d    encoder + first token; p2 is the first decoder step,
                                       which also projects the source into every decoder
                                       layer's cross-attention keys and values
    ms per token = t0 + t1·d           t0: embeddings, lm_head, generate()'s own work
    total ms     = prefill + (new_tokens - 1) · ms per token

then predicts every (e, d) of a grid. Speed-ups are predicted full / predicted variant, so
the full model is 1.0 by construction. Beside each prediction stands its decode step's ceiling
on this machine (bench/ceiling.py), as `bench` reports it, and the % of it the predicted ms per
token reaches. Which layers are kept does not change the time, so
the measured shapes keep the first layers of each stack.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .bench import BenchConfig, check_bench, run_bench
from .bench.memory import check_memory
from .errors import UsageError
from .fsutil import atomic_dir, check_writable_out, write_json
from .grid import parse_grid
from .plan_output import heatmap

EPS = 1e-9  # a budget is inclusive; float noise must not decide it


@dataclass
class PlanConfig:
    grid: str = "paper"            # paper (the 16 variants in sixths), all (every e/d), or "6/3,8L/2L"
    min_speedup: float | None = None  # list the variants predicted to reach this at the first batch size
    bench: BenchConfig = field(default_factory=lambda: BenchConfig(runs=3, warmup=1))  # how shapes are timed

    def validate(self) -> None:
        self.bench.validate()
        if self.bench.dataset is not None:
            raise UsageError("the planner times fixed lengths; leave out the dataset")
        if self.min_speedup is not None and not self.min_speedup > 0:
            raise UsageError(f"--min-speedup must be a positive number like 1.5 (got {self.min_speedup})")


@dataclass
class CostModel:
    batch_size: int
    p0: float     # prefill ms with no layers: embeddings, lm_head, generate() setup
    p1: float     # prefill ms per encoder layer
    p2: float     # prefill ms per decoder layer (first step, cross-attention keys/values of the source)
    t0: float     # ms per further token with no decoder layers: embeddings, lm_head, overhead
    t1: float     # ms per further token per decoder layer

    def prefill_ms(self, e: int, d: int) -> float:
        return self.p0 + self.p1 * e + self.p2 * d

    def token_ms(self, d: int) -> float:
        return self.t0 + self.t1 * d

    def total_ms(self, e: int, d: int, new_tokens: int) -> float:
        return self.prefill_ms(e, d) + (new_tokens - 1) * self.token_ms(d)


def _depths(model: str) -> dict[str, int]:
    from .models import family_for, load_config
    config = load_config(model, presets=True)
    return family_for(config).layer_counts(config)


# ---------------------------------------------------------------- measure and fit

def measurement_shapes(depths: dict[str, int]) -> list[tuple[int, int]]:
    """Full, decoder cut to 1, encoder cut to 1 (a stack of depth 1 needs no second point)."""
    E, D = depths["encoder"], depths["decoder"]
    return list(dict.fromkeys([(E, D), (E, 1), (1, D)]))


def _shape_configs(model: str, shapes: list[tuple[int, int]]) -> list:
    """MODEL's config cut to each (e, d): what the memory check of the measurement needs."""
    from .models import family_for, load_config
    configs = []
    for e, d in shapes:
        config = copy.deepcopy(load_config(model, presets=True))
        family_for(config).set_layer_counts(config, {"encoder": e, "decoder": d})
        configs.append(config)
    return configs


def _lstsq(columns: list[list[float]], y: list[float]) -> list[float]:
    """Least squares; a column that does not vary (a stack of depth 1) gets coefficient 0."""
    import numpy as np
    x = np.array(columns, dtype=float).T
    varies = [0] + [j for j in range(1, x.shape[1]) if np.ptp(x[:, j]) > 0]
    coef = np.zeros(x.shape[1])
    coef[varies] = np.linalg.lstsq(x[:, varies], np.array(y, dtype=float), rcond=None)[0]
    return coef.tolist()


def fit(rows: list[dict]) -> list[CostModel]:
    """One CostModel per batch size from bench rows (batch_size, layers, prefill_ms, decode_ms_per_token)."""
    models = []
    for bs in dict.fromkeys(r["batch_size"] for r in rows):
        sel = [r for r in rows if r["batch_size"] == bs]
        e = [r["layers"]["encoder"] for r in sel]
        d = [r["layers"]["decoder"] for r in sel]
        p0, p1, p2 = _lstsq([[1] * len(sel), e, d], [r["prefill_ms"] for r in sel])
        t0, t1 = _lstsq([[1] * len(sel), d], [r["decode_ms_per_token"] for r in sel])
        models.append(CostModel(bs, p0, p1, p2, t0, t1))
    return models


def build_shapes(model: str, shapes: list[tuple[int, int]], root: Path, seed: int) -> list[str]:
    """Save MODEL cut to each (e, d) under root (first layers kept: timing ignores which)."""
    from .models import build_preset, load_model, load_tokenizer
    from .models.loading import is_preset
    from .prune import prune_layers, save_pruned

    if is_preset(model, presets=True):
        full, tokenizer = build_preset(model, seed=seed)
    else:
        full, tokenizer = load_model(model), load_tokenizer(model)
    paths = []
    for e, d in shapes:
        cut = copy.deepcopy(full)
        kept = prune_layers(cut, encoder=e, decoder=d, strategy="first")
        paths.append(str(root / f"{e}-{d}"))
        save_pruned(cut, tokenizer, Path(paths[-1]), {"source": model, "kept": kept, "purpose": "asymprune plan"})
        del cut
    return paths


def measure(model: str, cfg: BenchConfig, progress=None) -> dict:
    """Time MODEL's three shapes in one interleaved run_bench; return the measurements and the fit."""
    check_bench([model], cfg)  # source length vs the model's positions, before building anything
    depths = _depths(model)
    shapes = measurement_shapes(depths)
    with tempfile.TemporaryDirectory(prefix="asymprune-plan-") as tmp:
        paths = build_shapes(model, shapes, Path(tmp), cfg.seed)
        report = run_bench(paths, cfg, progress=progress)
    rows = [{k: r[k] for k in ("batch_size", "layers", "mean_ms", "std_ms", "prefill_ms", "decode_ms_per_token",
                               "runs_ms")} for r in report["results"]]
    models = fit(rows)
    for r in rows:  # the fit's own error on what it was fitted to
        cm = next(m for m in models if m.batch_size == r["batch_size"])
        r["fitted_ms"] = cm.total_ms(r["layers"]["encoder"], r["layers"]["decoder"], cfg.new_tokens)
    return {"model": model, "layers": depths, "env": report["env"], "config": report["config"],
            "measurements": rows, "coefficients": [asdict(m) for m in models]}


# ---------------------------------------------------------------- predict

def predict(fitted: dict, shapes: list[tuple[str, int, int]]) -> list[dict]:
    """A row per shape x batch size: predicted ms (total, prefill, per token) and speed-up."""
    new_tokens = fitted["config"]["new_tokens"]
    E, D = fitted["layers"]["encoder"], fitted["layers"]["decoder"]
    rows = []
    for label, e, d in shapes:
        for c in fitted["coefficients"]:
            cm = CostModel(**c)
            ms, full = cm.total_ms(e, d, new_tokens), cm.total_ms(E, D, new_tokens)
            rows.append({"variant": label, "encoder_layers": e, "decoder_layers": d, "batch_size": cm.batch_size,
                         "ms": ms, "prefill_ms": cm.prefill_ms(e, d), "ms_per_token": cm.token_ms(d),
                         # Noisy measurements can extrapolate to ms <= 0: no speed-up then, and a warning.
                         "speedup": full / ms if ms > 0 and full > 0 else None})
    return rows


def add_ceilings(model: str, result: dict) -> None:
    """Beside each prediction, its decode step's ceiling (bench/ceiling.py: bytes per step at the backend's
    precision over this machine's bandwidth, measured once per working-set size and cached per machine) and
    the fraction of it the predicted ms per token reaches. The encoder does not change a step: one per
    (decoder layers, batch size)."""
    from .bench import Setup
    from .bench.ceiling import bench_row_ceiling
    from .models import family_for, load_config
    cfg = result["config"]
    setup = Setup(backend=cfg["backend"], dtype=cfg["dtype"], ct2_compute_type=cfg["ct2_compute_type"],
                  compile=cfg.get("compile", False))
    limits = {}
    for r in result["predictions"]:
        key = (r["decoder_layers"], r["batch_size"])
        if key not in limits:
            config = copy.deepcopy(load_config(model, presets=True))
            family = family_for(config)
            family.set_layer_counts(config, {"encoder": r["encoder_layers"], "decoder": r["decoder_layers"]})
            step = {"batch_size": r["batch_size"], "decoder_steps_mean": cfg["new_tokens"], "decode_ms_per_token": None}
            limits[key] = bench_row_ceiling(step, config, setup, cfg["device"],
                                            family.cross_attention_rows(config, cfg["source_length"]),
                                            result["env"]["threads"])
        fields = dict(limits[key])
        limit, predicted = fields["ceiling_ms_per_token"], r["ms_per_token"]
        # A noisy fit can extrapolate to ms <= 0: no fraction then
        fields["fraction_of_ceiling"] = limit / predicted if limit is not None and predicted > 0 else None
        if fields["ceiling"] is not None:
            fields["ceiling"] = {**fields["ceiling"], "measured_ms_per_token": None, "fraction_of_ceiling": None}
        r.update(fields)


def predict_speedups(fitted: dict, shapes: dict[str, tuple[int, int]], batch_size: int | None = None) -> dict:
    """{label: predicted speed-up} at `batch_size` (default: the first measured), e.g. for the sweep."""
    bs = batch_size if batch_size is not None else fitted["coefficients"][0]["batch_size"]
    rows = predict(fitted, [(label, e, d) for label, (e, d) in shapes.items()])
    return {r["variant"]: r["speedup"] for r in rows if r["batch_size"] == bs}


def meeting(predictions: list[dict], min_speedup: float, batch_size: int) -> list[dict]:
    """Rows predicted to reach `min_speedup` at `batch_size`: most layers kept (encoder + decoder)
    first; among equally deep ones the faster first, then the deeper encoder."""
    rows = [r for r in predictions if r["batch_size"] == batch_size and r["speedup"] is not None
            and r["speedup"] >= min_speedup - EPS]
    return sorted(rows, key=lambda r: (-(r["encoder_layers"] + r["decoder_layers"]), -r["speedup"],
                                       -r["encoder_layers"]))


def default_out(model: str) -> Path:
    """plan-<name>: a local folder's real name (`plan .` inside runs/d2 gives plan-d2), else the last
    part of the hub id or the preset name."""
    from .fsutil import real_path
    name = real_path(model).name if Path(model).expanduser().exists() else model.rstrip("/").split("/")[-1]
    return Path(f"plan-{name or 'model'}")


def check_plan(model: str, cfg: PlanConfig, out: Path | None = None, overwrite: bool = False):
    """Every check that needs no measurement: settings, the grid against the model, the output."""
    cfg.validate()
    check_bench([model], cfg.bench)
    depths = _depths(model)
    shapes = parse_grid(cfg.grid, model, depths)
    check_memory(_shape_configs(model, measurement_shapes(depths)), cfg.bench)  # the three timed at once
    if out is not None:
        check_writable_out(out, overwrite, inputs=[model])
    return depths, shapes


def run_plan(model: str, cfg: PlanConfig, out: Path | None = None, overwrite: bool = False, progress=None,
             measured: dict | None = None) -> dict:
    """Validate everything, measure, fit, predict the grid; write plan.json and speedup.png to `out`.

    `measured`: an earlier result (plan.json) of the same model to predict from instead of timing
    again, e.g. another grid or budget; its timing settings replace `cfg.bench`'s.
    """
    depths, shapes = check_plan(model, cfg, out, overwrite)
    if measured is not None and measured["layers"] != depths:
        raise UsageError(f"the measurements are of a {measured['layers']['encoder']}/{measured['layers']['decoder']}"
                         f"-layer model, not {model}'s {depths['encoder']}/{depths['decoder']}; measure again")
    keep = ("model", "layers", "env", "config", "measurements", "coefficients")
    result = {k: measured[k] for k in keep} if measured is not None else measure(model, cfg.bench, progress=progress)
    result["grid"] = cfg.grid
    result["predictions"] = predict(result, shapes)
    add_ceilings(model, result)
    result["min_speedup"] = cfg.min_speedup
    if cfg.min_speedup is not None:
        bs = result["config"]["batch_sizes"][0]
        result["meets_min_speedup"] = [r["variant"] for r in meeting(result["predictions"], cfg.min_speedup, bs)]
    if out is not None:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            write_json(tmp / "plan.json", result)
            heatmap(result, tmp / "speedup.png")
    return result
