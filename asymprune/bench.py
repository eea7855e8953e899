"""Generation latency, measured so that models can be compared fairly.

    cfg = BenchConfig(batch_sizes=[1, 8], source_length=512, new_tokens=64, runs=7)
    report = run_bench(["flan-t5-small", "runs/pruned"], cfg)   # first model is the baseline

How the measurement stays honest:
- Fixed work: every model generates exactly `new_tokens` tokens (EOS suppressed with
  min_new_tokens = max_new_tokens), from the same seeded source ids. With `dataset` set,
  real documents are used instead, with natural stopping, and generated lengths are reported.
- Warm-up runs are discarded; every model then runs interleaved (A B C A B C ...), so drift
  of the machine lands on all models alike.
- Each model lives in its own fresh worker process: CTranslate2's int8 kernels slow down
  later models of the same process, and no model inherits another's allocator state.
  Timing happens inside the worker, so messaging is not timed.
- Prefill (encoder + first token) is timed apart; per-step decode time is derived from it,
  over the batch's longest output (a batch runs until its last sequence ends).
- Nothing is inherited from the checkpoint's generation config (beams, no_repeat_ngram_size,
  forced EOS, min_length...): every model decodes greedily with only its start, end and pad ids
  and the lengths asked for, so the HF and CTranslate2 backends do the same work.
- Threads are explicit and recorded: `threads`, or every core this process may use (never an
  inherited OMP_NUM_THREADS, which Ray sets to a task's num_cpus), for torch and CTranslate2 alike.
- With `dataset`, each batch is tokenized on its own (padded to its own longest document).
- On CUDA the device is synchronised before the clock is read.
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import os
import platform
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .assist import AssistConfig, DraftStats
from .errors import UsageError

DTYPES = ("float32", "bfloat16", "float16")
BACKENDS = ("hf", "ct2")


def default_threads() -> int:
    """Every core this process may run on: the CPU affinity mask, not OMP_NUM_THREADS."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class BenchConfig:
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 16])  # paper: 1, 8 and 16
    source_length: int = 1024      # source tokens per document (paper: 1024)
    new_tokens: int = 256          # tokens generated per document; a cap when `dataset` is set (paper: 256)
    dataset: str | None = None     # dataset SPEC: time real documents with natural stopping instead
    split: str = "test"            # split of `dataset`
    runs: int = 7                  # timed runs per model and batch size (paper: 7)
    warmup: int = 2                # untimed runs first
    device: str = "cpu"            # cpu or cuda
    dtype: str = "float32"         # HF weights dtype: float32, bfloat16, float16
    threads: int | None = None     # intra-op threads (torch and CTranslate2); None: every core this process may use
    backend: str = "hf"            # hf (transformers generate) or ct2 (CTranslate2 translate_batch)
    ct2_compute_type: str = "int8"  # CTranslate2 compute type (int8, int8_float32, float32, ...)
    seed: int = 0                  # seed of the source ids and of preset weights
    assistants: list[str] = field(default_factory=list)  # drafts: each adds the first MODEL assisted by it (batch 1)
    assist: AssistConfig = field(default_factory=AssistConfig)  # draft settings of those rows (asymprune.assist)
    compile: bool = False          # hf: static KV cache and torch.compile'd decoding steps (asymprune.compiled)

    def __post_init__(self):
        if isinstance(self.assist, dict):  # from JSON or a sweep spec
            self.assist = AssistConfig(**self.assist)

    def validate(self) -> None:
        if not self.batch_sizes or min(self.batch_sizes) <= 0:
            raise UsageError("--batch-sizes must be positive integers, e.g. 1,8,16")
        if self.new_tokens <= 0:
            raise UsageError(f"--new-tokens must be at least 1 (got {self.new_tokens})")
        if self.source_length <= 1:
            raise UsageError(f"--source-length must be at least 2 (got {self.source_length})")
        if self.runs <= 0 or self.warmup < 0:
            raise UsageError("--runs must be at least 1 and --warmup at least 0")
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend '{self.backend}'; choose one of: {', '.join(BACKENDS)}")
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
        if self.backend == "ct2":
            from .ct2 import check_compute_type
            check_compute_type(self.ct2_compute_type, self.device)
        if self.assistants:
            self._validate_assistants()

    def _validate_assistants(self) -> None:
        from .assist import check_batch_size
        if self.backend != "hf":
            raise UsageError("--assistant needs the hf backend (CTranslate2 has no assisted generation); pass "
                             "--backend hf")
        if 1 not in self.batch_sizes:
            check_batch_size(min(self.batch_sizes), "--batch-sizes")
        self.assist.validate()


# ---------------------------------------------------------------- worker side

class _Runner:
    """Loads one model in a worker process and times generation on request."""

    def __init__(self, spec: dict, cfg: BenchConfig):
        import torch

        from .models import family_for, load_config, load_model, load_tokenizer
        from .prune import param_counts

        self.cfg, self.torch = cfg, torch
        self.draft, self.last_stats = None, None  # a draft model: lossless rows only
        self.threads = cfg.threads or default_threads()
        torch.set_num_threads(self.threads)
        self.rss_before_load = _rss_mb()
        self.tokenizer = load_tokenizer(spec["path"], presets=True)
        if cfg.backend == "ct2":
            # No HF weights in this process: its resident set is CTranslate2's alone.
            self.config = load_config(spec["path"], presets=True)
            self.info = {"params": spec["params"], "layers": family_for(self.config).layer_counts(self.config),
                         "weights_mb": None, "threads": self.threads, "ct2_check": spec.get("ct2_check")}
            self._init_ct2(spec)
            return
        dtype = getattr(torch, cfg.dtype)
        model = load_model(spec["path"], presets=True, seed=cfg.seed, dtype=dtype).to(cfg.device)
        self.config = model.config
        self.info = {"params": param_counts(model), "layers": family_for(model.config).layer_counts(model.config),
                     "weights_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20,
                     "threads": self.threads}
        model.generation_config = explicit_generation_config(model)
        if cfg.compile:
            from .compiled import compiled_generation_config
            model.generation_config = compiled_generation_config(model.generation_config, cfg.device)
        self.model = model
        if spec.get("assistant"):
            self._init_draft(spec["assistant"], dtype)

    def _init_draft(self, src: str, dtype):
        from .assist import encoders_equal
        from .models import family_for, load_model
        self.draft = load_model(src, presets=True, seed=self.cfg.seed, dtype=dtype).to(self.cfg.device)
        self.draft.generation_config = explicit_generation_config(self.draft)
        self.info["assistant"] = src
        self.info["draft_layers"] = family_for(self.draft.config).layer_counts(self.draft.config)
        self.info["draft_encoder_identical"] = encoders_equal(self.model, self.draft)
        self.info["weights_mb"] += sum(p.numel() * p.element_size() for p in self.draft.parameters()) / 2**20

    def _init_ct2(self, spec):
        import ctranslate2

        from .ct2 import vocabulary
        ct2_dir = Path(spec["ct2_dir"])
        self.vocab = vocabulary(ct2_dir)
        self.device_used_before = _device_used_mb() if self.cfg.device == "cuda" else None
        self.translator = ctranslate2.Translator(str(ct2_dir), device=self.cfg.device,
                                                 compute_type=self.cfg.ct2_compute_type,
                                                 intra_threads=self.threads, inter_threads=1)

    def set_inputs(self, body_ids: list[list[int]] | None, texts: list[str] | None):
        """Fixed-length mode gets token ids; dataset mode gets texts for this model's tokenizer.

        Each batch size gets its own inputs: in dataset mode the first `bs` texts tokenized
        together, padded to the longest of them only.
        """
        torch = self.torch
        self.batches = {}
        for bs in self.cfg.batch_sizes:
            if texts is not None:
                from .data import source_prefix
                batch = [source_prefix(self.config.model_type) + t for t in texts[:bs]]
                enc = self.tokenizer(batch, truncation=True, max_length=self.cfg.source_length, padding=True,
                                     return_tensors="pt")
                ids, mask = enc.input_ids, enc.attention_mask
            else:
                ids = torch.tensor([row + [self.config.eos_token_id] for row in body_ids[:bs]])
                mask = torch.ones_like(ids)
            if self.cfg.backend == "ct2":
                self.batches[bs] = [[self.vocab[i] for i, m in zip(row, mrow) if m]
                                    for row, mrow in zip(ids.tolist(), mask.tolist())]
            else:
                self.batches[bs] = (ids.to(self.cfg.device), mask.to(self.cfg.device))

    def _generate(self, bs: int, new_tokens: int):
        fixed = self.cfg.dataset is None or new_tokens == 1
        if self.cfg.backend == "ct2":
            out = self.translator.translate_batch(
                self.batches[bs], beam_size=1, max_decoding_length=new_tokens,
                min_decoding_length=new_tokens if fixed else 1)
            return [len(r.hypotheses[0]) + (0 if fixed or len(r.hypotheses[0]) == new_tokens else 1) for r in out]
        ids, mask = self.batches[bs]
        lengths = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens if fixed else None)
        if self.draft is not None:
            from .assist import assisted_generate
            gen = copy.deepcopy(self.model.generation_config)
            gen.update(**lengths)
            result = assisted_generate(self.model, self.draft, ids, mask, gen, self.cfg.assist)
            out, self.last_stats = result.sequences, result.stats.to_dict()
        else:
            out = self.model.generate(input_ids=ids, attention_mask=mask, **lengths)
        pad = self.config.pad_token_id
        return (out[:, 1:] != pad).sum(dim=1).tolist()  # generated tokens, start token excluded, EOS included

    def time(self, kind: str, bs: int) -> dict:
        """Milliseconds for one call: kind 'total' (all tokens) or 'prefill' (first token only)."""
        new_tokens = 1 if kind == "prefill" else self.cfg.new_tokens
        sync = self.torch.cuda.synchronize if self.cfg.device == "cuda" else (lambda: None)
        with self.torch.inference_mode():
            sync()
            start = time.perf_counter()
            lengths = self._generate(bs, new_tokens)
            sync()
            ms = (time.perf_counter() - start) * 1000
        return {"ms": ms, "lengths": lengths, **({"assist": self.last_stats} if self.draft is not None else {})}

    def peak_memory_mb(self, bs: int) -> float:
        """Peak memory of one untimed generation.

        HF on CUDA: the allocator's peak. HF on CPU: the weights plus what the generation adds
        to the resident set. CTranslate2: the growth of the resident set (CPU) or of the device's
        used memory (CUDA) since before the model was loaded, so its weights in their compute type.
        """
        torch = self.torch
        if self.cfg.device == "cuda" and self.cfg.backend == "hf":
            torch.cuda.reset_peak_memory_stats()
            self.time("total", bs)
            return torch.cuda.max_memory_allocated() / 2**20
        if self.cfg.device == "cuda":
            peak = _sample_peak(_device_used_mb, lambda: self.time("total", bs))
            return peak - self.device_used_before
        base = _rss_mb()
        peak = _sample_peak(_rss_mb, lambda: self.time("total", bs))
        if self.cfg.backend == "ct2":
            return peak - self.rss_before_load
        return self.info["weights_mb"] + max(0.0, peak - base)


def explicit_generation_config(model):
    """Greedy decoding with the model's start, end and pad ids and nothing else from its checkpoint.

    generate() fills every unset field from `model.generation_config`, so the bench replaces that
    config instead of passing one beside it: bart-large-cnn's beams and no_repeat_ngram_size, or
    PEGASUS's forced EOS, would otherwise make HF time other work than CTranslate2 does.
    """
    from transformers import GenerationConfig
    config, shipped = model.config, model.generation_config
    start = shipped.decoder_start_token_id
    start = config.decoder_start_token_id if start is None else start
    return GenerationConfig(decoder_start_token_id=start, eos_token_id=config.eos_token_id,
                            pad_token_id=config.pad_token_id, bos_token_id=getattr(config, "bos_token_id", None),
                            do_sample=False, num_beams=1, use_cache=True)


def _sample_peak(read, work) -> float:
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


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def _device_used_mb() -> float:
    import torch
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**20


def _exit_with_parent(parent: int) -> None:
    """Leave quietly once the parent is gone (killed, even mid-run), instead of lingering as an orphan."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


def _worker(conn, spec: dict, cfg: BenchConfig, parent: int | None = None) -> None:
    if parent is not None:
        _exit_with_parent(parent)
    try:
        from .cli import _quiet_transformers
        _quiet_transformers()
        runner = _Runner(spec, cfg)
        conn.send(("ready", runner.info))
        while True:
            cmd, *args = conn.recv()
            if cmd == "stop":
                return
            conn.send(("ok", getattr(runner, cmd)(*args)))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the parent is gone: nobody to report to
    except BaseException as e:  # report to the parent, which decides how to fail
        try:
            conn.send(("error", f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}",
                       isinstance(e, UsageError)))
        except OSError:  # BrokenPipeError and friends: the parent died meanwhile
            pass


class _Worker:
    def __init__(self, spec: dict, cfg: BenchConfig):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, spec, cfg, os.getpid()), daemon=True)
        self.proc.start()
        self.name, self.info = spec["name"], None

    def wait_ready(self) -> None:
        """Block until the model is loaded (workers are started first, so they load side by side)."""
        self.info = self._recv()

    def _recv(self):
        reply = self.conn.recv()
        if reply[0] == "error":
            message = reply[1].split(": ", 1)[1] if reply[2] else reply[1]
            raise UsageError(f"{self.name}: {message}") if reply[2] else RuntimeError(f"{self.name}: {message}")
        return reply[1]

    def call(self, cmd: str, *args):
        self.conn.send((cmd, *args))
        return self._recv()

    def close(self):
        try:
            self.conn.send(("stop",))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()


# ---------------------------------------------------------------- parent side

def _check_model(src: str, cfg: BenchConfig) -> dict:
    """Validate one MODEL before any process starts; return its worker spec."""
    from .models import load_config
    config = load_config(src, presets=True)
    limit = getattr(config, "max_position_embeddings", None)  # learned positions (BART family)
    if limit and cfg.dataset is None and cfg.source_length > limit:
        raise UsageError(f"--source-length {cfg.source_length} is over {src}'s limit of {limit} positions; "
                         f"pass --source-length {limit} or less")
    if limit and cfg.new_tokens + 1 > limit:
        raise UsageError(f"--new-tokens {cfg.new_tokens} is over {src}'s limit of {limit} positions; "
                         f"pass --new-tokens {limit - 1} or less")
    return {"name": src, "path": src, "vocab": config.vocab_size}


def _assisted_spec(full: str, draft: str, cfg: BenchConfig) -> dict:
    """A worker that times `full` assisted by `draft` (lossless draft-and-verify)."""
    from .assist import check_draft_sources
    check_draft_sources(full, draft, cfg.assist.share_encoder)
    return {**_check_model(full, cfg), "name": f"{full} assisted by {draft}", "assistant": draft}


def _prepare_ct2(spec: dict, cfg: BenchConfig, workdir: Path) -> None:
    """Give a ct2 worker a converted copy (cached by content), checked against transformers.

    The check and the parameter count need the HF model, so they run in a process of their own:
    the worker that times CTranslate2 never holds HF weights, and its memory is CTranslate2's.
    """
    from concurrent.futures import ProcessPoolExecutor

    from .ct2 import cached_conversion
    from .models import build_preset, save_model
    from .models.loading import is_preset

    hf_dir = Path(spec["path"])
    if is_preset(spec["path"], presets=True) or not hf_dir.is_dir():
        # Presets and hub ids: materialise a local directory first.
        from .models import load_model, load_tokenizer
        hf_dir = workdir / spec["path"].replace("/", "--")
        if is_preset(spec["path"], presets=True):
            model, tokenizer = build_preset(spec["path"], seed=cfg.seed)
        else:
            model, tokenizer = load_model(spec["path"]), load_tokenizer(spec["path"])
        save_model(model, hf_dir, tokenizer)
        spec["path"] = str(hf_dir)
    spec["hf_dir"] = str(hf_dir)
    spec["ct2_dir"] = str(cached_conversion(hf_dir))
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        spec.update(pool.submit(_ct2_facts, spec["hf_dir"], spec["ct2_dir"], cfg.seed).result())


def _ct2_facts(hf_dir: str, ct2_dir: str, seed: int) -> dict:
    """Parameter counts of the HF model and the conversion check (run in a fresh process)."""
    from .ct2 import compare_with_hf
    from .models import load_model
    from .prune import param_counts
    return {"params": param_counts(load_model(hf_dir)), "ct2_check": compare_with_hf(hf_dir, Path(ct2_dir), seed=seed)}


def _source(specs: list[dict], cfg: BenchConfig, data=None) -> tuple[list[list[int]] | None, list[str] | None]:
    n = max(cfg.batch_sizes)
    if cfg.dataset:
        from .data import load_rows
        texts = list(load_rows(cfg.dataset, cfg.split, n, data)["source"])
        return None, (texts * n)[:n]  # a split shorter than the largest batch is repeated to fill it
    import torch
    vocab = min(s["vocab"] for s in specs)
    gen = torch.Generator().manual_seed(cfg.seed)
    # Ids from 5 up skip the special tokens of both T5 (0-2) and BART (0-4) layouts.
    return torch.randint(5, min(vocab, 32000), (n, cfg.source_length - 1), generator=gen).tolist(), None


def environment(cfg: BenchConfig, threads: int | None = None) -> dict:
    """Where a measurement was taken: versions, processor (and GPU), threads, backend and dtype."""
    import torch
    import transformers

    from . import __version__
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "asymprune": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "ctranslate2": _version("ctranslate2"),
        "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if cfg.device == "cuda" else None,
        "threads": threads, "device": cfg.device, "source_length": cfg.source_length,
        "new_tokens": cfg.new_tokens if cfg.dataset is None else None, "dataset": cfg.dataset,
        "dtype": cfg.dtype if cfg.backend == "hf" else f"ct2:{cfg.ct2_compute_type}", "backend": cfg.backend,
    }


def _version(package: str) -> str | None:
    """An optional package's version, or None where it is not installed (hf-only machines)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _stats(times: list[float]) -> dict:
    return {"mean_ms": statistics.fmean(times), "std_ms": statistics.stdev(times) if len(times) > 1 else 0.0,
            "median_ms": statistics.median(times), "runs_ms": times}


def check_bench(models: list[str], cfg: BenchConfig) -> list[dict]:
    """Every check that needs no worker: settings and each MODEL's config; the worker specs."""
    cfg.validate()
    if not models:
        raise UsageError("pass at least one MODEL (hub id, directory or preset name)")
    specs = [_check_model(m, cfg) for m in models]
    if cfg.compile:
        from .compiled import check_compile
        from .models import load_config
        for m in models:
            check_compile(load_config(m, presets=True), device=cfg.device, backend=cfg.backend,
                          assistant=cfg.assistants[0] if cfg.assistants else None)
    specs += [_assisted_spec(models[0], draft, cfg) for draft in cfg.assistants]
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise UsageError("a MODEL is given twice; pass each model once")
    return specs


def run_bench(models: list[str], cfg: BenchConfig, progress=None, data=None) -> dict:
    """Benchmark `models` (the first is the baseline) in one interleaved run; return {env, config, results}.

    `data` is the DataConfig of `cfg.dataset` (the split seed of a file, the synthetic corpus's n).
    """
    import tempfile
    specs = check_bench(models, cfg)
    body, texts = _source(specs, cfg, data)
    workers: list[_Worker] = []
    with tempfile.TemporaryDirectory(prefix="asymprune-bench-") as workdir:
        try:
            for spec in specs:
                if cfg.backend == "ct2":
                    _prepare_ct2(spec, cfg, Path(workdir))
                workers.append(_Worker(spec, cfg))
            for w in workers:
                w.wait_ready()
                w.call("set_inputs", body, texts)
            times = {(w.name, bs, kind): [] for w in workers for bs in cfg.batch_sizes for kind in ("total", "prefill")}
            lengths = {(w.name, bs): [] for w in workers for bs in cfg.batch_sizes}
            longest = {(w.name, bs): [] for w in workers for bs in cfg.batch_sizes}  # decoder steps per run
            drafted = {(w.name, bs): DraftStats() for w in workers for bs in cfg.batch_sizes}
            steps = (cfg.warmup + cfg.runs) * sum(len(_sizes(w, cfg)) for w in workers) * 2
            task = progress.add_task("benchmark", total=steps) if progress else None
            for run in range(cfg.warmup + cfg.runs):
                for bs in cfg.batch_sizes:
                    for w in workers:  # interleaved: A B C A B C ...
                        if bs not in _sizes(w, cfg):
                            continue
                        for kind in ("total", "prefill"):
                            r = w.call("time", kind, bs)
                            if run >= cfg.warmup:
                                times[(w.name, bs, kind)].append(r["ms"])
                                if kind == "total":
                                    lengths[(w.name, bs)].extend(r["lengths"])
                                    longest[(w.name, bs)].append(max(r["lengths"]))
                                    if "assist" in r:
                                        drafted[(w.name, bs)].merge(DraftStats.from_dict(r["assist"]))
                            if progress:
                                progress.advance(task)
            memory = {(w.name, bs): w.call("peak_memory_mb", bs) for w in workers for bs in _sizes(w, cfg)}
        finally:
            for w in workers:
                w.close()

    results = []
    for w in workers:
        for bs in _sizes(w, cfg):
            total = _stats(times[(w.name, bs, "total")])
            prefill = statistics.fmean(times[(w.name, bs, "prefill")])
            gen_len = statistics.fmean(lengths[(w.name, bs)])
            steps = statistics.fmean(longest[(w.name, bs)])
            base = next(r for r in results if r["batch_size"] == bs) if results and w is not workers[0] else None
            results.append({
                "model": w.name, "backend": cfg.backend, "batch_size": bs, **total,
                "new_tokens": cfg.new_tokens if cfg.dataset is None else None,
                "generated_tokens_mean": gen_len,  # GenL: mean generated tokens per document, EOS included
                "decoder_steps_mean": steps,       # the batch's longest output: the steps it ran
                "tokens_per_s": bs * gen_len / (total["mean_ms"] / 1000),
                "prefill_ms": prefill,
                # Per step, not per mean output: a batch runs until its longest output ends.
                "decode_ms_per_token": (total["mean_ms"] - prefill) / max(steps - 1, 1),
                "peak_memory_mb": memory[(w.name, bs)],
                "speedup": (base["mean_ms"] / total["mean_ms"]) if base else 1.0,
                **w.info,
                **(_assist_fields(drafted[(w.name, bs)], cfg) if "assistant" in w.info else {}),
            })
    return {"env": environment(cfg, workers[0].info["threads"]), "config": asdict(cfg), "results": results}


def _sizes(worker, cfg: BenchConfig) -> list[int]:
    """Batch sizes a worker is timed at: an assisted one (draft-and-verify) runs at batch 1 only."""
    return [1] if "assistant" in worker.info else cfg.batch_sizes


def _assist_fields(stats, cfg: BenchConfig) -> dict:
    from .assist import stats_summary
    return {"acceptance_rate": stats.acceptance_rate, "draft": stats_summary(stats, cfg.assist)}


def results_table(report: dict):
    """A rich table of a report."""
    from rich.table import Table
    cfg = report["config"]
    length = f"{cfg['new_tokens']} new tokens" if cfg["dataset"] is None else f"{cfg['dataset']}:{cfg['split']}"
    env = report["env"]
    table = Table(title=f"latency: {env['backend']} {env['dtype']} on {env['device']}, {env['threads']} threads, "
                        f"source {cfg['source_length']}, {length}, {cfg['runs']} runs", title_justify="left")
    # Narrow enough for an 80-column terminal; the JSON has every field.
    natural = cfg["dataset"] is not None
    cols = ["model", "enc/dec", "bs", "mean ± std ms", "prefill ms", "ms/token", "tok/s", "speed-up"]
    for col in cols[:3] + (["gen len"] if natural else []) + cols[3:]:
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in report["results"]:
        cells = [r["model"], f"{r['layers']['encoder']}/{r['layers']['decoder']}", str(r["batch_size"])]
        cells += [f"{r['generated_tokens_mean']:.1f}"] if natural else []
        cells += [f"{r['mean_ms']:.0f} ± {r['std_ms']:.0f}", f"{r['prefill_ms']:.0f}",
                  f"{r['decode_ms_per_token']:.1f}", f"{r['tokens_per_s']:.0f}", f"{r['speedup']:.2f}×"]
        table.add_row(*cells)
    return table
