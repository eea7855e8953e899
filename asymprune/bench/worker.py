"""The worker side of a measurement: one model per fresh process, timed on request.

    worker = Worker(spec, cfg)       # starts the process; it loads the model
    worker.wait_ready(); worker.call("set_inputs", ids, None); worker.call("time", "total", 8, 0)

Each model lives in its own fresh worker process: CTranslate2's int8 kernels slow down later
models of the same process, and no model inherits another's allocator state. Timing happens
inside the worker, so messaging is not timed. A worker leaves quietly when its parent dies.
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import os
import threading
import time
from pathlib import Path

from ..errors import UsageError, first_line
from .config import BenchConfig, default_threads


class _Runner:
    """Loads one model in a worker process and times generation on request."""

    def __init__(self, spec: dict, cfg: BenchConfig):
        import torch

        from ..models import family_for, load_config, load_model, load_tokenizer, param_counts

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
            from ..compiled import compiled_generation_config
            model.generation_config = compiled_generation_config(model.generation_config, cfg.device)
        self.model = model
        if spec.get("assistant"):
            self._init_draft(spec["assistant"], dtype)

    def _init_draft(self, src: str, dtype):
        from ..assist import encoders_equal
        from ..models import family_for, load_model
        self.draft = load_model(src, presets=True, seed=self.cfg.seed, dtype=dtype).to(self.cfg.device)
        self.draft.generation_config = explicit_generation_config(self.draft)
        self.info["assistant"] = src
        self.info["draft_layers"] = family_for(self.draft.config).layer_counts(self.draft.config)
        self.info["draft_encoder_identical"] = encoders_equal(self.model, self.draft)
        self.info["weights_mb"] += sum(p.numel() * p.element_size() for p in self.draft.parameters()) / 2**20

    def _init_ct2(self, spec):
        import ctranslate2

        from ..ct2 import vocabulary
        ct2_dir = Path(spec["ct2_dir"])
        self.vocab = vocabulary(ct2_dir)
        self.device_used_before = _device_used_mb() if self.cfg.device == "cuda" else None
        self.translator = ctranslate2.Translator(str(ct2_dir), device=self.cfg.device,
                                                 compute_type=self.cfg.ct2_compute_type,
                                                 intra_threads=self.threads, inter_threads=1)

    def set_inputs(self, body_ids: list[list[int]] | None, texts: list[str] | None,
                   calls: dict[int, list[list[int]]] | None = None) -> dict[int, list[int]]:
        """Fixed-length mode gets token ids (one call per batch size); dataset mode gets texts for
        this model's tokenizer and, per batch size, the row ids of each call (`documents.py`).

        In dataset mode each call's documents are tokenized together, padded to the longest of
        them only. Returns the source tokens of each document, per batch size.
        """
        torch = self.torch
        self.batches, sources = {}, {}
        for bs in self.cfg.batch_sizes:
            self.batches[bs], sources[bs] = [], []
            for ids_of_call in (calls[bs] if texts is not None else [None]):
                if texts is not None:
                    from ..data import source_prefix
                    batch = [source_prefix(self.config.model_type) + texts[i] for i in ids_of_call]
                    enc = self.tokenizer(batch, truncation=True, max_length=self.cfg.source_length, padding=True,
                                         return_tensors="pt")
                    ids, mask = enc.input_ids, enc.attention_mask
                else:
                    ids = torch.tensor([row + [self.config.eos_token_id] for row in body_ids[:bs]])
                    mask = torch.ones_like(ids)
                sources[bs] += mask.sum(dim=1).tolist()
                if self.cfg.backend == "ct2":
                    self.batches[bs].append([[self.vocab[i] for i, m in zip(row, mrow) if m]
                                             for row, mrow in zip(ids.tolist(), mask.tolist())])
                else:
                    self.batches[bs].append((ids.to(self.cfg.device), mask.to(self.cfg.device)))
        return sources

    def _generate(self, bs: int, call: int, new_tokens: int):
        fixed = self.cfg.dataset is None or new_tokens == 1
        if self.cfg.backend == "ct2":
            out = self.translator.translate_batch(
                self.batches[bs][call], beam_size=1, max_decoding_length=new_tokens,
                min_decoding_length=new_tokens if fixed else 1)
            return [len(r.hypotheses[0]) + (0 if fixed or len(r.hypotheses[0]) == new_tokens else 1) for r in out]
        ids, mask = self.batches[bs][call]
        lengths = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens if fixed else None)
        if self.draft is not None:
            from ..assist import assisted_generate
            gen = copy.deepcopy(self.model.generation_config)
            gen.update(**lengths)
            result = assisted_generate(self.model, self.draft, ids, mask, gen, self.cfg.assist)
            out, self.last_stats = result.sequences, result.stats.to_dict()
        else:
            out = self.model.generate(input_ids=ids, attention_mask=mask, **lengths)
        pad = self.config.pad_token_id
        return (out[:, 1:] != pad).sum(dim=1).tolist()  # generated tokens, start token excluded, EOS included

    def time(self, kind: str, bs: int, call: int = 0) -> dict:
        """Milliseconds for one call: kind 'total' (all tokens) or 'prefill' (first token only)."""
        new_tokens = 1 if kind == "prefill" else self.cfg.new_tokens
        sync = self.torch.cuda.synchronize if self.cfg.device == "cuda" else (lambda: None)
        with self.torch.inference_mode():
            sync()
            start = time.perf_counter()
            lengths = self._generate(bs, call, new_tokens)
            sync()
            ms = (time.perf_counter() - start) * 1000
        return {"ms": ms, "lengths": lengths, **({"assist": self.last_stats} if self.draft is not None else {})}

    def peak_memory_mb(self, bs: int) -> float:
        """Peak memory of one untimed generation.

        HF on CUDA: the allocator's peak. HF on CPU: the weights plus what the generation adds
        to the resident set. CTranslate2: the growth of the resident set (CPU) or of the device's
        used memory (CUDA) since before the model was loaded, so its weights in their compute type.
        In dataset mode, of the call with the longest source.
        """
        torch = self.torch
        batches = self.batches[bs]
        widest = max(range(len(batches)), key=lambda c: max(map(len, batches[c])) if self.cfg.backend == "ct2"
                     else batches[c][0].shape[1])
        if self.cfg.device == "cuda" and self.cfg.backend == "hf":
            torch.cuda.reset_peak_memory_stats()
            self.time("total", bs, widest)
            return torch.cuda.max_memory_allocated() / 2**20
        if self.cfg.device == "cuda":
            peak = _sample_peak(_device_used_mb, lambda: self.time("total", bs, widest))
            return peak - self.device_used_before
        base = _rss_mb()
        peak = _sample_peak(_rss_mb, lambda: self.time("total", bs, widest))
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
        from ..console import quiet_transformers
        quiet_transformers()
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
            conn.send(("error", first_line(e, typed=True),
                       isinstance(e, UsageError)))
        except OSError:  # BrokenPipeError and friends: the parent died meanwhile
            pass


class Worker:
    """The parent's handle on one worker process: start it, wait until its model is loaded, call it."""

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
            message = reply[1].split(": ", 1)[-1] if reply[2] else reply[1]
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
