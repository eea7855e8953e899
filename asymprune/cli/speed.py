"""Speed: time models side by side (bench), or predict every variant's speed-up from three timings (plan).

    asymprune bench /tmp/m /tmp/p --batch-sizes 1,8,16 --source-length 1024 --new-tokens 256
    asymprune plan flan-t5-small --batch-sizes 1,8 --min-speedup 2
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, console, progress
from .options import (BACKEND_OPTION, CT2_COMPUTE_TYPE_OPTION, DEVICE_OPTION, DRAFT_CONFIDENCE_OPTION,
                      DRAFT_TOKENS_OPTION, DRAFT_VOCAB_OPTION, DTYPE_OPTION, SHARE_ENCODER_OPTION, THREADS_OPTION, assist_config,
                      draft_line, int_list)


@app.command()
def bench(
    models: list[str] = typer.Argument(..., metavar="MODEL...", help="Hub ids, directories or preset names; "
                                       "the first is the baseline."),
    batch_sizes: str = typer.Option("1,8,16", help="Comma-separated batch sizes."),
    source_length: int = typer.Option(1024, help="Source tokens per document."),
    new_tokens: int = typer.Option(256, help="Tokens generated per document, exactly (EOS suppressed); "
                                   "a cap with --dataset."),
    dataset: Optional[str] = typer.Option(None, help="Time real documents with natural stopping instead."),
    split: str = typer.Option("test", help="Split of --dataset."),
    bench_docs: int = typer.Option(16, help="With --dataset: calls each round times, the same for every model; "
                                   "batch b takes K·b documents."),
    runs: int = typer.Option(7, help="Timed runs (rounds) per model and batch size."),
    warmup: int = typer.Option(2, help="Untimed warm-up runs."),
    prefill_runs: Optional[int] = typer.Option(None, help="Rounds that also time the prefill (a 1-token call); "
                                               "default: every round. 1 halves a Whisper bench."),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    backend: str = BACKEND_OPTION,
    ct2_compute_type: str = CT2_COMPUTE_TYPE_OPTION,
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON here."),
    seed: int = typer.Option(0, help="Seed of the source ids and preset weights."),
    overwrite: bool = typer.Option(False, help="Replace the --json file if it exists."),
    assistant: Optional[list[str]] = typer.Option(None, help="Draft (repeatable): adds a row of the first MODEL "
                                                  "assisted by it, lossless, with its acceptance rate (batch 1)."),
    draft_tokens: int = DRAFT_TOKENS_OPTION,
    draft_confidence: float = DRAFT_CONFIDENCE_OPTION,
    share_encoder: bool = SHARE_ENCODER_OPTION,
    draft_vocab: Optional[Path] = DRAFT_VOCAB_OPTION,
    compiled: bool = typer.Option(False, "--compile", help="hf: static KV cache and torch.compile'd decoding steps; "
                                 "warm-up runs absorb the compilation."),
) -> None:
    """Time generation: median and std over interleaved runs, prefill, per-token decode, speed-ups with 95% CIs."""
    from ..bench import BenchConfig, results_table, run_bench
    from ..bench.describe import ceiling_warnings, token_check_warnings

    cfg = BenchConfig(batch_sizes=int_list(batch_sizes, "--batch-sizes"), source_length=source_length,
                      new_tokens=new_tokens, dataset=dataset, split=split, docs=bench_docs, runs=runs,
                      warmup=warmup, prefill_runs=prefill_runs, device=device, dtype=dtype, threads=threads,
                      backend=backend, ct2_compute_type=ct2_compute_type, seed=seed,
                      assistants=assistant or [], assist=assist_config(draft_tokens, draft_confidence, share_encoder, draft_vocab),
                      compile=compiled)
    if assistant:  # one document at a time (a sweep's lossless point adds batch 1 to a wider bench instead)
        from ..assist import check_batch_size
        for bs in cfg.batch_sizes:
            check_batch_size(bs, "--batch-sizes")
    with progress() as bar:
        report = run_bench(models, cfg, progress=bar, json_path=json_path, overwrite=overwrite)
    console.print(results_table(report))
    for line in ceiling_warnings(report) + token_check_warnings(report):
        console.print(f"[yellow]warning:[/] {line}", soft_wrap=True)
    for r in report["results"]:
        if r.get("draft"):
            from ..assist import DraftStats
            random = (" (random ids: the acceptance of a real text differs; pass --dataset)"
                      if r["bench_docs"] is None else "")
            console.print(f"{r['model']}{random}: {draft_line(DraftStats.from_dict(r['draft']))}; speed-up "
                          f"{r['speedup']:.2f}× over {models[0]} alone at batch {r['batch_size']}", soft_wrap=True)
        check = r.get("ct2_check")
        if check and r["batch_size"] == cfg.batch_sizes[0] and not (check["tokens_match"] and check["scores_match"]):
            console.print(f"[yellow]warning:[/] {r['model']}: CTranslate2 float32 and transformers disagree on a "
                          f"short greedy input (tokens match: {check['tokens_match']}, max |Δ log-prob| "
                          f"{check['max_logprob_diff']:.2g}); the converted model may be wrong", soft_wrap=True)
    if json_path is not None:
        console.print(f"wrote {json_path}")


@app.command()
def plan(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Hub id, local model directory or preset name."),
    batch_sizes: str = typer.Option("1,8,16", help="Comma-separated batch sizes; --min-speedup and the "
                                    "heat-map use the first."),
    source_length: int = typer.Option(1024, help="Source tokens per document."),
    new_tokens: int = typer.Option(256, help="Tokens generated per document, exactly (EOS suppressed)."),
    grid: str = typer.Option("paper", help="Variants to predict: paper (the 16 in sixths), all (every "
                             "encoder/decoder count), or entries like 6/3,3/3 (sixths) or 8L/2L (layer counts)."),
    min_speedup: Optional[float] = typer.Option(None, help="List the variants predicted to reach this speed-up "
                                                "at the first batch size, most layers kept first."),
    out: Optional[Path] = typer.Option(None, help="Directory for plan.json and speedup.png "
                                       "(default: plan-<model name>)."),
    runs: int = typer.Option(3, help="Timed runs per measured shape and batch size."),
    warmup: int = typer.Option(1, help="Untimed warm-up runs."),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    backend: str = BACKEND_OPTION,
    ct2_compute_type: str = CT2_COMPUTE_TYPE_OPTION,
    seed: int = typer.Option(0, help="Seed of the source ids and preset weights."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Predict every variant's latency and speed-up from three measurements (full, decoder and encoder cut)."""
    from ..bench import BenchConfig
    from ..plan import PlanConfig, default_out, meeting, run_plan
    from ..plan_output import coefficient_lines, plan_table

    bench_cfg = BenchConfig(batch_sizes=int_list(batch_sizes, "--batch-sizes"), source_length=source_length,
                            new_tokens=new_tokens, runs=runs, warmup=warmup, device=device, dtype=dtype,
                            threads=threads, backend=backend, ct2_compute_type=ct2_compute_type, seed=seed)
    cfg = PlanConfig(grid=grid, min_speedup=min_speedup, bench=bench_cfg)
    out = out if out is not None else default_out(model_src)
    with progress() as bar:
        result = run_plan(model_src, cfg, out=out, overwrite=overwrite, progress=bar)
    for line in ["fitted cost model (ms):", *coefficient_lines(result)]:
        print(line)
    console.print(plan_table(result))
    bad = sorted({r["variant"] for r in result["predictions"] if r["speedup"] is None})
    if bad:
        console.print(f"[yellow]warning:[/] the fit predicts no positive latency for {', '.join(bad)}; the "
                      "measurements are too noisy: raise --runs or --source-length", soft_wrap=True)
    if min_speedup is not None:
        bs = bench_cfg.batch_sizes[0]
        rows = meeting(result["predictions"], min_speedup, bs)
        if rows:
            print(f"predicted to reach {min_speedup:g}× at batch {bs} (most layers kept first):")
            for r in rows:
                print(f"  {r['variant']:>7}  {r['encoder_layers']}+{r['decoder_layers']} layers  {r['speedup']:.2f}×")
        else:
            first = [r for r in result["predictions"] if r["batch_size"] == bs and r["speedup"] is not None]
            fastest = max(first, key=lambda r: r["speedup"], default=None)
            print(f"no variant is predicted to reach {min_speedup:g}× at batch {bs}"
                  + (f"; the fastest is {fastest['variant']} at {fastest['speedup']:.2f}×" if fastest else ""))
    print(f"wrote {out / 'plan.json'} and {out / 'speedup.png'}")
