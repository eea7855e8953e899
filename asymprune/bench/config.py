"""What a latency measurement times, and the checks that fail on impossible settings before any work.

    cfg = BenchConfig(batch_sizes=[1, 8], source_length=512, new_tokens=64, runs=7)
    cfg.validate()        # one-line UsageError naming the flag and the fix
    cfg.setup()           # Setup(backend="hf", dtype="float32", ...): how every model runs unless told otherwise
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..assist import AssistConfig
from ..errors import UsageError
from .backends import BACKENDS, Setup, backend_for, default_threads

DTYPES = ("float32", "bfloat16", "float16")
__all__ = ["BACKENDS", "DTYPES", "BenchConfig", "Setup", "default_threads"]


@dataclass
class BenchConfig:
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 16])  # paper: 1, 8 and 16
    source_length: int = 1024      # source tokens per document (paper: 1024)
    new_tokens: int = 256          # tokens generated per document; a cap when `dataset` is set (paper: 256)
    dataset: str | None = None     # dataset SPEC: time real documents with natural stopping instead
    split: str = "test"            # split of `dataset`
    docs: int = 16                 # dataset mode: K calls per round, each of batch-size documents (--bench-docs)
    runs: int = 7                  # timed runs per model and batch size (paper: 7)
    warmup: int = 2                # untimed runs first
    prefill_runs: int | None = None  # rounds that also time the first token alone (prefill); None: every round
    device: str = "cpu"            # cpu or cuda
    dtype: str = "float32"         # HF weights dtype: float32, bfloat16, float16
    threads: int | None = None     # intra-op threads (torch and CTranslate2); None: every core this process may use
    backend: str = "hf"            # a registered backend: hf (transformers generate) or ct2 (CTranslate2)
    ct2_compute_type: str = "int8"  # CTranslate2 compute type (int8, int8_float32, float32, ...)
    seed: int = 0                  # seed of the source ids and of preset weights
    # drafts: each adds the first MODEL assisted by it (batch 1); a (draft, AssistConfig) pair has settings of its own
    assistants: list = field(default_factory=list)
    assist: AssistConfig = field(default_factory=AssistConfig)  # draft settings of bare drafts' rows (asymprune.assist)
    compile: bool = False          # hf: static KV cache and torch.compile'd decoding steps (asymprune.compiled)

    def __post_init__(self):
        if isinstance(self.assist, dict):  # from JSON or a sweep spec
            self.assist = AssistConfig(**self.assist)
        self.assistants = [a if isinstance(a, str) else (a[0], a[1] if isinstance(a[1], AssistConfig)
                                                         else AssistConfig(**a[1])) for a in self.assistants]

    def assistant_entries(self) -> list[tuple[str, AssistConfig]]:
        """(draft, its settings) per assisted row: `assist` for a bare draft."""
        return [(a, self.assist) if isinstance(a, str) else a for a in self.assistants]

    def setup(self) -> Setup:
        """How a model runs when its entry names no setup of its own: this config's backend fields."""
        return Setup(backend=self.backend, dtype=self.dtype, ct2_compute_type=self.ct2_compute_type,
                     compile=self.compile)

    def validate(self) -> None:
        if not self.batch_sizes or min(self.batch_sizes) <= 0:
            raise UsageError("--batch-sizes must be positive integers, e.g. 1,8,16")
        if self.new_tokens <= 0:
            raise UsageError(f"--new-tokens must be at least 1 (got {self.new_tokens})")
        if self.source_length <= 1:
            raise UsageError(f"--source-length must be at least 2 (got {self.source_length})")
        if self.runs <= 0 or self.warmup < 0:
            raise UsageError("--runs must be at least 1 and --warmup at least 0")
        if self.prefill_runs is not None and not 1 <= self.prefill_runs <= self.runs:
            raise UsageError(f"--prefill-runs {self.prefill_runs}: time the prefill in 1 to --runs ({self.runs}) "
                             "rounds, or leave it out to time it in every round")
        if self.docs <= 0:
            raise UsageError(f"--bench-docs must be at least 1 (got {self.docs}); it is the number of "
                             "documents (calls) each round times in dataset mode")
        backend_for(self.backend)
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown dtype '{self.dtype}'; choose one of: {', '.join(DTYPES)}")
        if self.device not in ("cpu", "cuda"):
            raise UsageError(f"unknown device '{self.device}'; choose cpu or cuda")
        if self.threads is not None and self.threads <= 0:
            raise UsageError("--threads must be at least 1")
        if self.device == "cuda":
            import torch
            if not torch.cuda.is_available():
                raise UsageError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
        self.validate_setup(self.setup())
        if self.assistants:
            self._validate_assistants()

    def validate_setup(self, setup: Setup) -> None:
        """One model's setup: a known backend and dtype, and what its backend refuses (see backends/)."""
        backend = backend_for(setup.backend)
        if setup.dtype not in DTYPES:
            raise UsageError(f"unknown dtype '{setup.dtype}'; choose one of: {', '.join(DTYPES)}")
        backend.validate(setup, self)

    def _validate_assistants(self) -> None:
        from ..assist import check_batch_size
        backend = backend_for(self.backend)
        if not backend.assisted:
            raise UsageError(f"--assistant needs the hf backend ({backend.title} has no assisted generation); pass "
                             "--backend hf")
        if 1 not in self.batch_sizes:
            check_batch_size(min(self.batch_sizes), "--batch-sizes")
        for _, assist in self.assistant_entries():
            assist.validate()
