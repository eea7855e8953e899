"""`Backend`: how models are loaded and timed on one runtime; `Setup`: which backend a model runs on, and at what precision.

    backend = backend_for("ct2")                  # the registered backend, or a one-line UsageError
    backend.validate(setup, cfg)                  # parent, before any work: settings it cannot run
    backend.prepare(spec, setup, cfg, workdir)    # parent: what the worker needs made first (a conversion)
    runner = backend.load(spec, setup, cfg)       # worker: the model loaded; runner.generate(...) is what is timed

A backend is one registered class (`@register_backend`) with a `Runner`; nothing outside the
backends asks which backend a setting names.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from ...errors import UsageError
from ...plugins import load_plugins

BACKENDS: dict[str, "Backend"] = {}


def register_backend(cls):
    """Class decorator: make a Backend available as `--backend NAME` (a later one of the same name replaces it)."""
    BACKENDS[cls.name] = cls()
    return cls


def backend_for(name: str) -> "Backend":
    load_plugins()
    if name not in BACKENDS:
        raise UsageError(f"unknown backend '{name}'; choose one of: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def default_threads() -> int:
    """Every core this process may run on: the CPU affinity mask, not OMP_NUM_THREADS."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Setup:
    """How one model of a bench runs (BenchConfig's backend fields are the run's default for every model)."""
    backend: str = "hf"             # a registered backend: hf (transformers generate), ct2 (CTranslate2)
    dtype: str = "float32"          # hf: weights dtype (float32, bfloat16, float16)
    ct2_compute_type: str = "int8"  # ct2: compute type (int8, int8_float32, float32, ...)
    compile: bool = False           # hf: static KV cache and torch.compile'd decoding steps
    draft_vocab: str | None = None  # hf: the domain head --draft-vocab FILE gives a draft, put in (its cost ratio)


@dataclass(frozen=True)
class Precision:
    name: str               # what the backend runs, e.g. "ct2 int8"
    matrix_bytes: int       # bytes per weight of a matrix (layers, embeddings, lm_head)
    row_scale_bytes: int    # bytes per matrix row on top (int8: a float32 scale per output row)
    vector_bytes: int       # bytes per element of norms, biases, position rows, T5's bias table
    cache_bytes: int        # bytes per element of the KV caches (the activations' dtype)
    flop_dtype: str | None  # torch dtype whose matmul peak bounds the FLOPs; None: no figure (int8)


class Runner:
    """One model loaded in a worker process: what the bench times. `config`, `processor` and `info` are set by load."""

    def inputs(self, encoded: dict):
        """One call's batch as the runtime takes it, from the family's model inputs (input_ids, attention_mask)."""
        raise NotImplementedError

    def width(self, batch) -> int:
        """The longest source of a batch (peak memory is measured on the widest call)."""
        raise NotImplementedError

    def generate(self, batch, new_tokens: int, fixed: bool) -> list[int]:
        """Greedy generation, the work timed: tokens generated per sequence, end-of-sequence included
        (`fixed`: exactly `new_tokens`, EOS suppressed)."""
        raise NotImplementedError

    def peak_memory_mb(self, work, device: str, rss_before_load: float) -> float:
        """Peak memory of `work()` (one untimed generation), weights included."""
        raise NotImplementedError

    def check_tokens(self, batch, new_tokens: int, fixed: bool) -> dict:
        """Row fields of an untimed check of this runner's tokens against a reference path on `batch` (the hf
        backend's compiled path against its eager one); {} where the runner has none."""
        return {}


class Backend:
    name: str
    title: str                  # how messages name it
    assisted = False            # whether it runs draft-and-verify rows (--assistant)

    def validate(self, setup: Setup, cfg) -> None:
        """One-line errors for settings this backend cannot run, before any work."""

    def check_model(self, src: str, config, setup: Setup, cfg) -> None:
        """One-line errors for a MODEL this backend cannot run with these settings, before any work."""

    def label(self, setup: Setup) -> str:
        """The dtype a result row names: what the weights are held and computed in."""
        raise NotImplementedError

    def describe(self, setup: Setup) -> str:
        """The setup in a few words, e.g. 'hf float32', 'ct2 int8'."""
        return f"{self.name} {self.label(setup)}"

    def precision(self, setup: Setup) -> Precision:
        """How the backend holds weights and caches, for the decode-step ceiling (asymprune.bench.ceiling)."""
        raise NotImplementedError

    def value_bytes(self, setup: Setup) -> tuple[float, float]:
        """(bytes per weight, bytes per activation), for the memory estimate (asymprune.bench.memory)."""
        raise NotImplementedError

    def prepare(self, spec: dict, setup: Setup, cfg, workdir) -> None:
        """In the parent, before the model's worker starts: what it needs made first (into `spec`)."""

    def load(self, spec: dict, setup: Setup, cfg, threads: int) -> Runner:
        """In the worker: the model of `spec` loaded, ready to time."""
        raise NotImplementedError


def rss_mb() -> float:
    """This process's resident set (MB)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def device_used_mb() -> float:
    """Memory used on the GPU, by every process (MB)."""
    import torch
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**20


def sample_peak(read, work) -> float:
    """The highest value of `read()` while `work()` runs, sampled every 5 ms."""
    peak, stop = [read()], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], read())
            stop.wait(0.005)
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        work()
    finally:
        stop.set()
        thread.join()
    return max(peak[0], read())
