"""The `ct2` backend: a CTranslate2 conversion (cached by content, checked against transformers), in the runtime
the model's family names (`Translator` for text)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from ...errors import UsageError
from .base import Backend, Precision, Runner, Setup, device_used_mb, register_backend, rss_mb, sample_peak

# CTranslate2 compute type -> (matrix, row scale, vector, cache bytes, matmul dtype)
PRECISIONS = {
    "float32": (4, 0, 4, 4, "float32"), "float16": (2, 0, 2, 2, "float16"), "bfloat16": (2, 0, 2, 2, "bfloat16"),
    "int8": (1, 4, 4, 4, None), "int8_float32": (1, 4, 4, 4, None),
    "int8_float16": (1, 4, 2, 2, None), "int8_bfloat16": (1, 4, 2, 2, None),
    "int16": (2, 0, 4, 4, None),  # one scale per matrix: negligible
}


@register_backend
class Ct2Backend(Backend):
    name = "ct2"
    title = "CTranslate2"

    def validate(self, setup, cfg):
        from ...ct2 import check_compute_type
        check_compute_type(setup.ct2_compute_type, cfg.device)
        if setup.draft_vocab:
            raise UsageError("a domain head (draft_vocab) is for the hf backend; CTranslate2 restricts its output "
                             "with a vocabulary map instead (asymprune export --vmap)")
        if setup.compile:
            raise UsageError("--compile is for the hf backend (CTranslate2 has its own kernels); drop --compile or "
                             "pass --backend hf")

    def check_model(self, src, config, setup, cfg):
        from ...ct2 import runtime_for
        runtime = runtime_for(config)
        limit = runtime.max_new_tokens()
        if limit is not None and cfg.new_tokens > limit:  # Whisper: half its 448 positions (whisper_runtime.py)
            raise UsageError(f"--new-tokens {cfg.new_tokens} is over what CTranslate2's {runtime.name} generates "
                             f"for {src} ({limit} at most); pass --new-tokens {limit} or less with --backend ct2")

    def label(self, setup: Setup) -> str:
        return f"ct2:{setup.ct2_compute_type}"

    def describe(self, setup: Setup) -> str:
        return f"ct2 {setup.ct2_compute_type}"

    def precision(self, setup: Setup) -> Precision:
        kind = setup.ct2_compute_type
        if kind not in PRECISIONS:
            raise UsageError(f"the ceiling needs the compute type CTranslate2 really uses, not '{kind}'; pass one "
                             f"of: {', '.join(PRECISIONS)}")
        return Precision(f"ct2 {kind}", *PRECISIONS[kind])

    def value_bytes(self, setup: Setup):
        kind = setup.ct2_compute_type  # "default" and "auto" are taken as float32: an upper bound
        return 1 if kind.startswith("int8") else 2 if "16" in kind else 4, 2 if kind.endswith("16") else 4

    def prepare(self, spec, setup, cfg, workdir):
        """Give the worker a converted copy (cached by content), checked against transformers.

        The check and the parameter count need the HF model, so they run in a process of their own:
        the worker that times CTranslate2 never holds HF weights, and its memory is CTranslate2's.
        """
        from concurrent.futures import ProcessPoolExecutor

        from ...ct2 import cached_conversion
        from ...models import build_preset, load_model, load_processor, save_model
        from ...models.loading import is_preset

        hf_dir = Path(spec["path"])
        if is_preset(spec["path"], presets=True) or not hf_dir.is_dir():
            # Presets and hub ids: materialise a local directory first.
            hf_dir = Path(workdir) / spec["path"].replace("/", "--")
            if is_preset(spec["path"], presets=True):
                model, processor = build_preset(spec["path"], seed=cfg.seed)
            else:
                model, processor = load_model(spec["path"]), load_processor(spec["path"])
            save_model(model, hf_dir, processor)
            spec["path"] = str(hf_dir)
        spec["hf_dir"] = str(hf_dir)
        spec["ct2_dir"] = str(cached_conversion(hf_dir))
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            spec.update(pool.submit(_facts, spec["hf_dir"], spec["ct2_dir"], cfg.seed).result())

    def load(self, spec, setup, cfg, threads):
        return Ct2Runner(spec, setup, cfg, threads)


def _facts(hf_dir: str, ct2_dir: str, seed: int) -> dict:
    """Parameter counts of the HF model and the conversion check (run in a fresh process)."""
    from ...console import quiet_transformers
    from ...ct2 import compare_with_hf
    from ...models import load_model, param_counts
    quiet_transformers()  # this process's output lands in the parent's: no loading bars in the bench's table
    return {"params": param_counts(load_model(hf_dir)), "ct2_check": compare_with_hf(hf_dir, Path(ct2_dir), seed=seed)}


class Ct2Runner(Runner):
    """No HF weights in this process: its resident set is CTranslate2's alone."""

    def __init__(self, spec: dict, setup: Setup, cfg, threads: int):
        from ...ct2 import runtime_for
        from ...models import family_for, load_config, load_processor
        self.processor = load_processor(spec["path"], presets=True)
        self.config = load_config(spec["path"], presets=True)
        self.family = family_for(self.config)
        self.info = {"params": spec["params"], "layers": self.family.layer_counts(self.config),
                     "weights_mb": None, "threads": threads, "ct2_check": spec.get("ct2_check")}
        self.device_used_before = device_used_mb() if cfg.device == "cuda" else None
        self.runtime = runtime_for(self.config)(Path(spec["ct2_dir"]), device=cfg.device,
                                                 compute_type=setup.ct2_compute_type, threads=threads)
        self.stats = None

    def inputs(self, encoded):
        return self.runtime.inputs(encoded)

    def width(self, batch):
        return self.runtime.width(batch)

    def generate(self, batch, new_tokens, fixed):
        return self.runtime.generate(batch, new_tokens, fixed)

    def peak_memory_mb(self, work, device, rss_before_load):
        """The growth of the resident set (CPU) or of the device's used memory (CUDA) since before the model
        was loaded: its weights in their compute type, and the generation."""
        if device == "cuda":
            return sample_peak(device_used_mb, work) - self.device_used_before
        return sample_peak(rss_mb, work) - rss_before_load
