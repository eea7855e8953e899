"""The worker side of a measurement: one model per fresh process, timed on request.

    worker = Worker(spec, cfg)       # starts the process; it loads the model
    worker.wait_ready(); worker.call("set_inputs", ids, None); worker.call("time", "total", 8, 0)

Each model lives in its own fresh worker process: CTranslate2's int8 kernels slow down later
models of the same process, and no model inherits another's allocator state. Timing happens
inside the worker, so messaging is not timed. A worker leaves quietly when its parent dies.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time

from ..errors import UsageError, first_line
from ..plugins import load_plugins
from .backends import Setup, backend_for, default_threads, rss_mb
from .config import BenchConfig


class _Measure:
    """One model in a worker process, loaded by its backend, timed on request."""

    def __init__(self, spec: dict, cfg: BenchConfig):
        import torch

        self.cfg, self.torch = cfg, torch
        threads = cfg.threads or default_threads()
        torch.set_num_threads(threads)
        self.rss_before_load = rss_mb()
        self.runner = backend_for(spec["setup"]["backend"]).load(spec, Setup(**spec["setup"]), cfg, threads)
        self.info = self.runner.info

    def set_inputs(self, body_ids: list[list[int]] | None, texts: list[str] | None,
                   calls: dict[int, list[list[int]]] | None = None) -> dict[int, list[int]]:
        """Fixed-length mode gets seeded random ids (the family makes its inputs of them, per batch size);
        dataset mode gets texts for this model's processor and, per batch size, the row ids of each call
        (`documents.py`).

        In dataset mode each call's documents are encoded together, padded to the longest of
        them only. Returns the source tokens of each document, per batch size.
        """
        runner = self.runner
        family, config = runner.family, runner.config
        self.batches, sources = {}, {}
        for bs in self.cfg.batch_sizes:
            self.batches[bs], sources[bs] = [], []
            for ids_of_call in (calls[bs] if texts is not None else [None]):
                if texts is not None:
                    enc = family.batch_inputs(runner.processor, [texts[i] for i in ids_of_call],
                                              prefix=family.source_prefix(config), max_length=self.cfg.source_length)
                else:
                    enc = family.fixed_inputs(config, body_ids, bs)
                sources[bs] += enc["attention_mask"].sum(dim=1).tolist()
                self.batches[bs].append(runner.inputs(enc))
        return sources

    def time(self, kind: str, bs: int, call: int = 0) -> dict:
        """Milliseconds for one call: kind 'total' (all tokens) or 'prefill' (first token only)."""
        new_tokens = 1 if kind == "prefill" else self.cfg.new_tokens
        fixed = self.cfg.dataset is None or new_tokens == 1
        sync = self.torch.cuda.synchronize if self.cfg.device == "cuda" else (lambda: None)
        with self.torch.inference_mode():
            sync()
            start = time.perf_counter()
            lengths = self.runner.generate(self.batches[bs][call], new_tokens, fixed)
            sync()
            ms = (time.perf_counter() - start) * 1000
        stats = self.runner.stats
        return {"ms": ms, "lengths": lengths, **({"assist": stats} if stats is not None else {})}

    def check_tokens(self, bs: int) -> dict:
        """The runner's untimed token check (Runner.check_tokens) on the first call of batch size `bs`."""
        with self.torch.inference_mode():
            return self.runner.check_tokens(self.batches[bs][0], self.cfg.new_tokens, self.cfg.dataset is None)

    def peak_memory_mb(self, bs: int) -> float:
        """Peak memory of one untimed generation, as the backend measures it (see each Runner), in
        dataset mode of the call with the longest source."""
        batches = self.batches[bs]
        widest = max(range(len(batches)), key=lambda c: self.runner.width(batches[c]))
        return self.runner.peak_memory_mb(lambda: self.time("total", bs, widest), self.cfg.device,
                                          self.rss_before_load)


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
        load_plugins()  # a registered backend or family from outside the package: this process imports it too
        runner = _Measure(spec, cfg)
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
        self.name, self.path, self.setup, self.info = spec["name"], spec["path"], spec["setup"], None

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
