"""Generation latency, measured so that models can be compared fairly.

    cfg = BenchConfig(batch_sizes=[1, 8], source_length=512, new_tokens=64, runs=7)
    report = run_bench(["flan-t5-small", "runs/pruned"], cfg)   # first model is the baseline
    print(results_table(report))                                # rich table; report is also JSON-ready

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
- Speed-up is the ratio of medians over the same rounds, with a paired bootstrap 95% interval
  over the rounds (speedup.py); a mean lets one disturbed run decide the ordering.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import statistics
from dataclasses import asdict
from pathlib import Path

from ..assist import DraftStats
from ..errors import UsageError
from ..fsutil import check_writable_out, write_json
from .config import BenchConfig
from .speedup import speedup, speedup_interval, speedup_text
from .worker import Worker


def _check_model(src: str, cfg: BenchConfig) -> dict:
    """Validate one MODEL before any process starts; return its worker spec."""
    from ..models import load_config
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
    from ..assist import check_draft_sources
    check_draft_sources(full, draft, cfg.assist.share_encoder)
    return {**_check_model(full, cfg), "name": f"{full} assisted by {draft}", "assistant": draft}


def _prepare_ct2(spec: dict, cfg: BenchConfig, workdir: Path) -> None:
    """Give a ct2 worker a converted copy (cached by content), checked against transformers.

    The check and the parameter count need the HF model, so they run in a process of their own:
    the worker that times CTranslate2 never holds HF weights, and its memory is CTranslate2's.
    """
    from concurrent.futures import ProcessPoolExecutor

    from ..ct2 import cached_conversion
    from ..models import build_preset, save_model
    from ..models.loading import is_preset

    hf_dir = Path(spec["path"])
    if is_preset(spec["path"], presets=True) or not hf_dir.is_dir():
        # Presets and hub ids: materialise a local directory first.
        from ..models import load_model, load_tokenizer
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
    from ..ct2 import compare_with_hf
    from ..models import load_model, param_counts
    return {"params": param_counts(load_model(hf_dir)), "ct2_check": compare_with_hf(hf_dir, Path(ct2_dir), seed=seed)}


def _source(specs: list[dict], cfg: BenchConfig, data=None) -> tuple[list[list[int]] | None, list[str] | None]:
    n = max(cfg.batch_sizes)
    if cfg.dataset:
        from ..data import load_rows
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

    from ..version import __version__
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
        from ..compiled import check_compile
        from ..models import load_config
        for m in models:
            check_compile(load_config(m, presets=True), device=cfg.device, backend=cfg.backend,
                          assistant=cfg.assistants[0] if cfg.assistants else None)
    specs += [_assisted_spec(models[0], draft, cfg) for draft in cfg.assistants]
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise UsageError("a MODEL is given twice; pass each model once")
    return specs


def run_bench(models: list[str], cfg: BenchConfig, progress=None, data=None, json_path: Path | None = None,
              overwrite: bool = False) -> dict:
    """Benchmark `models` (the first is the baseline) in one interleaved run; return {env, config, results}.

    `data` is the DataConfig of `cfg.dataset` (the split seed of a file, the synthetic corpus's n).
    `json_path`: also write the report there (checked, with `overwrite`, before any work).
    """
    import tempfile
    if json_path is not None:
        check_writable_out(json_path, overwrite, file=True, flag="--json", inputs=[*models, cfg.dataset])
    specs = check_bench(models, cfg)
    body, texts = _source(specs, cfg, data)
    workers: list[Worker] = []
    with tempfile.TemporaryDirectory(prefix="asymprune-bench-") as workdir:
        try:
            for spec in specs:
                if cfg.backend == "ct2":
                    _prepare_ct2(spec, cfg, Path(workdir))
                workers.append(Worker(spec, cfg))
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
                **_speedup_fields(base, total),
                **w.info,
                **(_assist_fields(drafted[(w.name, bs)], cfg) if "assistant" in w.info else {}),
            })
    report = {"env": environment(cfg, workers[0].info["threads"]), "config": asdict(cfg), "results": results}
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, report)
    return report


def _speedup_fields(base: dict | None, total: dict) -> dict:
    """Speed-up over the first model from the medians of the same rounds, with its interval."""
    if base is None:
        return {"speedup": 1.0, "speedup_low": None, "speedup_high": None}
    ci = speedup_interval(base["runs_ms"], total["runs_ms"]) or {}
    return {"speedup": speedup(base["runs_ms"], total["runs_ms"]), "speedup_low": ci.get("low"),
            "speedup_high": ci.get("high")}


def _sizes(worker, cfg: BenchConfig) -> list[int]:
    """Batch sizes a worker is timed at: an assisted one (draft-and-verify) runs at batch 1 only."""
    return [1] if "assistant" in worker.info else cfg.batch_sizes


def _assist_fields(stats, cfg: BenchConfig) -> dict:
    from ..assist import stats_summary
    return {"acceptance_rate": stats.acceptance_rate, "draft": stats_summary(stats, cfg.assist)}


def results_table(report: dict):
    """A rich table of a report."""
    from rich.table import Table
    cfg = report["config"]
    length = f"{cfg['new_tokens']} new tokens" if cfg["dataset"] is None else f"{cfg['dataset']}:{cfg['split']}"
    env = report["env"]
    table = Table(title=f"latency: {env['backend']} {env['dtype']} on {env['device']}, {env['threads']} threads, "
                        f"source {cfg['source_length']}, {length}, {cfg['runs']} runs", title_justify="left",
                  caption="median ± std ms; speed-up: ratio of medians over the first model, [95% CI] over the "
                          "paired rounds (3 or more); a CI holding 1 is no measurable speed-up", caption_justify="left")
    # Narrow enough for an 80-column terminal; the JSON has every field.
    natural = cfg["dataset"] is not None
    cols = ["model", "enc/dec", "bs", "median ms", "prefill ms", "ms/token", "tok/s", "speed-up"]
    for col in cols[:3] + (["gen len"] if natural else []) + cols[3:]:
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in report["results"]:
        cells = [r["model"], f"{r['layers']['encoder']}/{r['layers']['decoder']}", str(r["batch_size"])]
        cells += [f"{r['generated_tokens_mean']:.1f}"] if natural else []
        cells += [f"{r['median_ms']:.0f} ± {r['std_ms']:.0f}", f"{r['prefill_ms']:.0f}",
                  f"{r['decode_ms_per_token']:.1f}", f"{r['tokens_per_s']:.0f}",
                  speedup_text(r["speedup"], r.get("speedup_low"), r.get("speedup_high"), short=True)]
        table.add_row(*cells)
    return table
