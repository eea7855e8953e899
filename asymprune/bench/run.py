"""Generation latency, measured so that models can be compared fairly.

    cfg = BenchConfig(batch_sizes=[1, 8], source_length=512, new_tokens=64, runs=7)
    report = run_bench(["flan-t5-small", "runs/pruned"], cfg)   # first model is the baseline
    print(results_table(report))                                # describe.py; report is also JSON-ready
    report = run_bench(["runs/d2", ("runs/d2", Setup(backend="ct2", ct2_compute_type="int8"))], cfg)  # mixed

How the measurement stays honest:
- Fixed work: every model generates exactly `new_tokens` tokens (EOS suppressed with
  min_new_tokens = max_new_tokens), from the same seeded source ids. With `dataset` set,
  real documents are used instead, with natural stopping, and generated lengths are reported.
- Warm-up runs are discarded; every model then runs interleaved (A B C A B C ...), so drift
  of the machine lands on all models alike.
- Each model runs on its backend (backends/: hf, ct2; cfg's by default, or the Setup its entry
  names, so that one interleaved run may time HF float32 beside CTranslate2 int8).
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
- With `dataset`, each round times the same K calls (`docs`) of batch-size documents for
  every model, K·b documents at batch b (documents.py); each call is tokenized on its own
  (padded to its own longest document), and the documents' ids and lengths are reported.
- On CUDA the device is synchronised before the clock is read.
- A compiled model's tokens are checked against its eager path's on one untimed call per batch size,
  before the warm-up (which then no longer holds the compilation): `tokens_equal_eager` in its rows.
- Each row carries its decode step's ceiling (ceiling.py: the bytes a step reads at the row's own
  precision, over the machine's bandwidth) and the fraction of it the measured decode reaches.
- Speed-up is the ratio of medians over the same rounds (a round's latency: the mean over its
  calls), with a paired bootstrap 95% interval over the rounds (speedup.py), and in dataset mode
  over the documents too (documents.py); a mean lets one disturbed run decide the ordering.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from itertools import accumulate
from pathlib import Path

from ..assist import DraftStats
from ..errors import UsageError
from ..fsutil import check_writable_out, write_json
from .backends import Setup, backend_for
from .ceiling import bench_row_ceiling, row_fields
from .config import BenchConfig
from .describe import environment
from .documents import document_calls, round_means, speedup_interval_over_documents
from .memory import check_memory
from .speedup import speedup, speedup_interval
from .worker import Worker


Entry = str | tuple[str, Setup]  # a MODEL, or a MODEL with the setup it runs in (backend, precision)


def _check_model(src: str, setup: Setup, cfg: BenchConfig) -> dict:
    """Validate one MODEL before any process starts; return its worker spec (its setup included)."""
    from ..models import family_for, load_config, load_generation_config
    config = load_config(src, presets=True)
    family = family_for(config)
    limit = family.max_source_positions(config)  # learned positions (BART family)
    if limit and cfg.dataset is None and cfg.source_length > limit:
        raise UsageError(f"--source-length {cfg.source_length} is over {src}'s limit of {limit} positions; "
                         f"pass --source-length {limit} or less")
    limit = family.max_target_positions(config)
    # The decoder's positions hold its prompt (the start token; Whisper's <|startoftranscript|><|notimestamps|>)
    prompt = len(family.decoder_prompt(load_generation_config(src, presets=True), config))
    if limit and prompt + cfg.new_tokens > limit:
        raise UsageError(f"--new-tokens {cfg.new_tokens} is over {src}'s limit: its {limit} decoder positions hold "
                         f"a {prompt}-token prompt and the new tokens; pass --new-tokens {limit - prompt} or less")
    name = src if setup == cfg.setup() else f"{src} ({backend_for(setup.backend).describe(setup)})"
    return {"name": name, "path": src, "vocab": config.vocab_size, "setup": asdict(setup),
            "inputs": family.bench_inputs(cfg.source_length, f"{cfg.dataset}:{cfg.split}" if cfg.dataset else None)}


def _assisted_spec(full: str, draft: str, assist, cfg: BenchConfig) -> dict:
    """A worker that times `full` assisted by `draft` (lossless draft-and-verify) with `assist`'s settings, in
    cfg's setup; a domain head is named (the same draft may also run without one)."""
    from ..assist import check_draft_sources
    check_draft_sources(full, draft, assist.share_encoder, assist.draft_vocab)
    head = f" (domain head {assist.draft_vocab})" if assist.draft_vocab else ""
    return {**_check_model(full, cfg.setup(), cfg), "name": f"{full} assisted by {draft}{head}", "assistant": draft,
            "assist": asdict(assist)}


def _entries(models: list[Entry], cfg: BenchConfig) -> list[tuple[str, Setup]]:
    """(MODEL, its setup) per entry: cfg's setup for a bare MODEL."""
    return [(m, cfg.setup()) if isinstance(m, str) else (m[0], m[1]) for m in models]


def _source(specs: list[dict], cfg: BenchConfig, data=None) -> tuple[list[list[int]] | None, list[str] | None]:
    """Fixed-length mode: seeded random ids for the largest batch; dataset mode: the split's first
    K x largest-batch texts (fewer if it is shorter: `document_calls` cycles them)."""
    n = max(cfg.batch_sizes)
    if cfg.dataset:
        from ..data import load_rows
        return None, list(load_rows(cfg.dataset, cfg.split, cfg.docs * n, data)["source"])
    import torch
    vocab = min(s["vocab"] for s in specs)
    gen = torch.Generator().manual_seed(cfg.seed)
    # Ids from 5 up skip the special tokens of both T5 (0-2) and BART (0-4) layouts.
    return torch.randint(5, min(vocab, 32000), (n, cfg.source_length - 1), generator=gen).tolist(), None


def _stats(times: list[float]) -> dict:
    return {"mean_ms": statistics.fmean(times), "std_ms": statistics.stdev(times) if len(times) > 1 else 0.0,
            "median_ms": statistics.median(times), "runs_ms": times}


def check_bench(models: list[Entry], cfg: BenchConfig) -> list[dict]:
    """Every check that needs no worker: settings (each model's setup by its backend), each MODEL's
    config, whether the batches fit in memory (memory.py); the worker specs."""
    cfg.validate()
    from ..hardware import cache_path, load_cache
    load_cache(cache_path())  # a damaged machine-limits file (ceiling.py) stops the bench before, not after, timing
    if not models:
        raise UsageError("pass at least one MODEL (hub id, directory or preset name)")
    from ..models import load_config
    entries = _entries(models, cfg)
    for _, setup in entries:
        cfg.validate_setup(setup)
    specs = [_check_model(m, setup, cfg) for m, setup in entries]
    for m, setup in entries:
        backend_for(setup.backend).check_model(m, load_config(m, presets=True), setup, cfg)
    specs += [_assisted_spec(entries[0][0], draft, assist, cfg) for draft, assist in cfg.assistant_entries()]
    inputs = sorted({s["inputs"] for s in specs})
    if len(inputs) > 1:  # one run times every model on the same inputs: text ids and audio windows are not that
        raise UsageError(f"the MODELs take different inputs ({'; '.join(inputs)}); bench models of one kind together")
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise UsageError("a MODEL is given twice; pass each model once")
    check_memory([load_config(m, presets=True) for m, _ in entries], cfg,
                 [load_config(d, presets=True) for d, _ in cfg.assistant_entries()], [setup for _, setup in entries])
    return specs


def run_bench(models: list[Entry], cfg: BenchConfig, progress=None, data=None, json_path: Path | None = None,
              overwrite: bool = False) -> dict:
    """Benchmark `models` (the first is the baseline) in one interleaved run; return {env, config, results}.

    Each entry is a MODEL (run in cfg's setup) or (MODEL, Setup): one run may time HF float32 beside
    CTranslate2 int8; a row's `backend` and `dtype` say how it ran, and a model whose setup is not cfg's
    is named with it ("runs/d2 (ct2 int8)").
    `data` is the DataConfig of `cfg.dataset` (the split seed of a file, the synthetic corpus's n).
    `json_path`: also write the report there (checked, with `overwrite`, before any work).
    """
    import tempfile

    from ..models import load_config
    if json_path is not None:
        check_writable_out(json_path, overwrite, file=True, flag="--json",
                           inputs=[*(m for m, _ in _entries(models, cfg)), cfg.dataset])
    specs = check_bench(models, cfg)
    body, texts = _source(specs, cfg, data)
    calls = {bs: document_calls(len(texts), cfg.docs, bs) for bs in cfg.batch_sizes} if texts else None
    workers: list[Worker] = []
    with tempfile.TemporaryDirectory(prefix="asymprune-bench-") as workdir:
        try:
            for spec in specs:
                setup = Setup(**spec["setup"])
                backend_for(setup.backend).prepare(spec, setup, cfg, Path(workdir))
                workers.append(Worker(spec, cfg))
            sources = {}
            for w in workers:
                w.wait_ready()
                sources[w.name] = w.call("set_inputs", body, texts, calls)
            # Untimed, before the warm-up: a compiled model's tokens against its eager path's (it compiles here)
            checks = {(w.name, bs): w.call("check_tokens", bs) for w in workers for bs in _sizes(w, cfg)}
            measured, memory = _measure(workers, cfg, cfg.docs if calls else 1, progress)
            configs = {w.name: load_config(w.path, presets=True) for w in workers}  # a backend's copy is in workdir
        finally:
            for w in workers:
                w.close()

    results = []
    for w in workers:
        for bs in _sizes(w, cfg):
            base = next(r for r in results if r["batch_size"] == bs) if results and w is not workers[0] else None
            m = measured[(w.name, bs)]
            docs = {"bench_docs": cfg.docs, "documents": [i for c in calls[bs] for i in c],
                    "calls_ms": m["calls_ms"]} if calls else {"bench_docs": None, "documents": None, "calls_ms": None}
            setup = Setup(**w.setup)
            results.append({"model": w.name, "backend": setup.backend,
                            "dtype": backend_for(setup.backend).label(setup), "batch_size": bs,
                            "inputs": specs[0]["inputs"], **docs,
                            **_row(m, bs, cfg), "source_tokens": sources[w.name][bs],
                            "peak_memory_mb": memory[(w.name, bs)], **checks[(w.name, bs)],
                            **_speedup_fields(base, m), **w.info,
                            **(_assist_fields(m["drafted"], specs[workers.index(w)]) if "assistant" in w.info
                               else {})})
            results[-1].update(_ceiling(results[-1], w, configs[w.name], cfg, sources[w.name][bs],
                                        calls[bs] if calls else None))
    report = {"env": {**environment(cfg, workers[0].info["threads"]), "inputs": specs[0]["inputs"]},
              "config": asdict(cfg), "results": results}
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, report)
    return report


def _measure(workers: list[Worker], cfg: BenchConfig, n_calls: int, progress=None) -> tuple[dict, dict]:
    """Warm-up, then `cfg.runs` rounds: (per (model, batch size) every call's times, lengths and drafts;
    per (model, batch size) its peak memory in MB).

    The first warm-up round is the memory measurement: an untimed generation of the call with the widest
    source, sampled for the resident set (or CUDA's allocator peak). Being a process's first call of that
    shape, it also holds what the first call allocates once, so the peak is what a server's first request
    needs. With no warm-up the memory is measured after the timed rounds.

    Within a round every call (a batch of documents) is timed by each model in turn (A B C on the
    same documents, then the next call), so drift lands on all models alike. Warm-up generations
    repeat each model's first call: they warm the process, not the documents.
    """
    keys = [(w, bs) for bs in cfg.batch_sizes for w in workers if bs in _sizes(w, cfg)]
    out = {(w.name, bs): {"calls_ms": [], "prefill_ms": [], "lengths": [], "drafted": DraftStats()} for w, bs in keys}
    prefill_runs = cfg.runs if cfg.prefill_runs is None else cfg.prefill_runs
    task = progress.add_task("benchmark", total=len(keys) * (cfg.warmup + (cfg.runs + prefill_runs) * n_calls)) \
        if progress else None
    memory = {}
    for i in range(cfg.warmup):
        for w, bs in keys:
            if i == 0:
                memory[(w.name, bs)] = w.call("peak_memory_mb", bs)
            else:
                w.call("time", "total", bs, 0)
            if progress:
                progress.advance(task)
    for run in range(cfg.runs):
        for m in out.values():
            m["calls_ms"].append([])
            m["lengths"].append([])
        for bs in cfg.batch_sizes:
            for call in range(n_calls):
                for w, _bs in [k for k in keys if k[1] == bs]:  # interleaved: A B C on the same documents
                    m = out[(w.name, bs)]
                    r = w.call("time", "total", bs, call)
                    m["calls_ms"][-1].append(r["ms"])
                    m["lengths"][-1].append(r["lengths"])
                    if "assist" in r:
                        m["drafted"].merge(DraftStats.from_dict(r["assist"]))
                    # The prefill is a second call (one new token): where it costs as much as the whole call
                    # (Whisper's 30-second windows), fewer rounds of it halve the bench (--prefill-runs).
                    timed_prefill = run < prefill_runs
                    if timed_prefill:
                        m["prefill_ms"].append(w.call("time", "prefill", bs, call)["ms"])
                    if progress:
                        progress.advance(task, 1 + timed_prefill)
    for w, bs in keys:  # no warm-up: measured now
        if (w.name, bs) not in memory:
            memory[(w.name, bs)] = w.call("peak_memory_mb", bs)
    return out, memory


def _row(m: dict, bs: int, cfg: BenchConfig) -> dict:
    """A result row's timing and length fields from one model's calls at one batch size."""
    total = _stats(round_means(m["calls_ms"]))  # a round's latency: the mean over its calls
    prefill = statistics.fmean(m["prefill_ms"])
    per_doc = [n for call in m["lengths"][0] for n in call]  # greedy: every round generates the same
    gen_len = statistics.fmean(n for run in m["lengths"] for call in run for n in call)
    steps = statistics.fmean(max(call) for run in m["lengths"] for call in run)
    return {**total, "new_tokens": cfg.new_tokens if cfg.dataset is None else None,
            "generated_tokens_mean": gen_len,  # GenL: mean generated tokens per document, EOS included
            "doc_lengths": per_doc if cfg.dataset else None,  # generated tokens of each document timed
            "decoder_steps_mean": steps,       # a call's longest output: the steps it ran
            "tokens_per_s": bs * gen_len / (total["mean_ms"] / 1000), "prefill_ms": prefill,
            "prefill_calls": len(m["prefill_ms"]),  # timed prefills (every round's calls, or --prefill-runs')
            # Per step, not per mean output: a batch runs until its longest output ends.
            "decode_ms_per_token": (total["mean_ms"] - prefill) / max(steps - 1, 1)}


def _ceiling(row: dict, worker: Worker, config, cfg: BenchConfig, source_tokens: list[int], calls) -> dict:
    """The row's decode-step ceiling and the fraction of it reached (ceiling.py), at the row's own backend
    precision, source length and steps run. Measured here, after every worker has closed, so that the
    machine's bandwidth is read on quiet cores (cached per machine after the first time)."""
    from ..models import family_for
    if "assistant" in worker.info:
        # Draft-and-verify is not one decoder step per token: the draft runs several steps, the full model
        # verifies several positions per pass, and the bytes per token depend on the acceptance rate.
        return row_fields(None, "an assisted (draft-and-verify) row reads no fixed bytes per token")
    if worker.setup.get("draft_vocab"):
        return row_fields(None, "a domain head reads fewer output rows than the model's config has")
    # A batch's cross-attention cache holds its longest source (padding included): per call in dataset mode
    ends = list(accumulate(len(c) for c in calls)) if calls else [len(source_tokens)]
    widths = [max(source_tokens[end - n:end]) for end, n in zip(ends, [len(c) for c in calls] if calls else ends)]
    rows = family_for(config).cross_attention_rows(config, statistics.fmean(widths))
    return bench_row_ceiling(row, config, Setup(**worker.setup), cfg.device, rows, worker.info["threads"])


def _speedup_fields(base: dict | None, m: dict) -> dict:
    """Speed-up over the first model from the medians of the same rounds, with its interval: over
    the rounds, and in dataset mode over the documents too."""
    if base is None:
        return {"speedup": 1.0, "speedup_low": None, "speedup_high": None}
    runs = round_means(m["calls_ms"])
    if base["calls_ms"] is not None:
        ci = speedup_interval_over_documents(base["calls_ms"], m["calls_ms"]) or {}
    else:
        ci = speedup_interval(base["runs_ms"], runs) or {}
    return {"speedup": speedup(base["runs_ms"], runs), "speedup_low": ci.get("low"), "speedup_high": ci.get("high")}


def _sizes(worker, cfg: BenchConfig) -> list[int]:
    """Batch sizes a worker is timed at: an assisted one (draft-and-verify) runs at batch 1 only."""
    return [1] if "assistant" in worker.info else cfg.batch_sizes


def _assist_fields(stats, spec: dict) -> dict:
    from ..assist import AssistConfig, stats_summary
    return {"acceptance_rate": stats.acceptance_rate, "draft": stats_summary(stats, AssistConfig(**spec["assist"]))}
