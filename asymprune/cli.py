"""The `asymprune` command line.

    asymprune init flan-t5-small /tmp/m
    asymprune prune /tmp/m /tmp/p --encoder-layers 8 --decoder-layers 2 --strategy paper
    asymprune generate /tmp/p --max-new-tokens 32
    asymprune report runs/demo/results.db --out runs/demo/report --min-speedup 2

Every user mistake is a `UsageError`: one line on stderr, exit code 2, no traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Asymmetric layer pruning for encoder-decoder summarizers.")
console = Console()


def _quiet_transformers() -> None:
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def main(argv: Optional[list[str]] = None) -> None:
    _quiet_transformers()
    try:
        app(args=argv)
    except UsageError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


def _progress():
    """A transient rich progress display on the CLI's console."""
    from rich.progress import Progress
    return Progress(console=console, transient=True)


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:,.2f}M"


@app.command()
def version() -> None:
    """Print the asymprune version."""
    print(__version__)


@app.command()
def presets() -> None:
    """List the built-in architecture presets."""
    from .models import PRESETS
    table = Table("preset", "type", "description")
    for p in PRESETS.values():
        table.add_row(p.name, p.model_type, p.description)
    console.print(table)


@app.command()
def init(
    preset: str = typer.Argument(..., help="Preset name (see `asymprune presets`)."),
    out: Path = typer.Argument(..., help="Directory to write the model and tokenizer to."),
    seed: int = typer.Option(0, help="Seed for the random weights."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Write a preset architecture with random weights, plus a trained tokenizer (offline)."""
    from .fsutil import atomic_dir, check_writable_out
    from .models import build_preset, get_preset, save_model
    from .models import param_counts

    get_preset(preset)
    check_writable_out(out, overwrite)
    model, tokenizer = build_preset(preset, seed=seed)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        save_model(model, tmp, tokenizer)
    console.print(f"wrote {preset} ({_fmt_params(param_counts(model)['total'])} parameters, seed {seed}) to {out}")


@app.command()
def prune(
    src: str = typer.Argument(..., help="Hub id or local model directory."),
    out: Path = typer.Argument(..., help="Directory for the pruned model."),
    encoder_layers: Optional[str] = typer.Option(None, help="Encoder layers to keep: N, or a fraction like 2/6."),
    decoder_layers: Optional[str] = typer.Option(None, help="Decoder layers to keep: N, or a fraction like 2/6."),
    strategy: str = typer.Option("spread", help="Which layers a count keeps: paper, spread, first, last, "
                                                "angular or greedy-loss (the last two need --calibration)."),
    keep_encoder: Optional[str] = typer.Option(None, help="Explicit encoder indices, e.g. 0,3,7."),
    keep_decoder: Optional[str] = typer.Option(None, help="Explicit decoder indices, e.g. 0,7."),
    calibration: Optional[str] = typer.Option(None, help="Dataset SPEC whose rows score layers for angular and "
                                                         "greedy-loss, e.g. synthetic or data.jsonl."),
    calibration_samples: int = typer.Option(32, help="Calibration rows used."),
    calibration_split: str = typer.Option("validation", help="Split the calibration rows come from."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
    trust_remote_code: bool = typer.Option(False, help="Allow code from the model repository to run."),
    allow_pickle: bool = typer.Option(False, help="Allow pickle (.bin) checkpoints; unpickling can run code."),
) -> None:
    """Remove whole layers from the encoder and/or decoder and save a plain HF model."""
    from .fsutil import check_writable_out
    from .prune.importance import CalibrationConfig, plan_calibrated, scores_table
    from .models import STACKS, family_for, load_config, load_model, load_tokenizer
    from .models import param_counts
    from .prune import CALIBRATED, apply_pruning, needs_calibration, parse_index_list, plan_pruning, save_pruned

    for stack, count, keep in (("encoder", encoder_layers, keep_encoder), ("decoder", decoder_layers, keep_decoder)):
        if count is not None and keep is not None:
            raise UsageError(f"--{stack}-layers and --keep-{stack} both given; pass one of them")
    cal = CalibrationConfig(calibration, calibration_split, calibration_samples) if calibration else None
    if cal:
        cal.validate()
    check_writable_out(out, overwrite)
    config = load_config(src, trust_remote_code=trust_remote_code)
    enc = encoder_layers if keep_encoder is None else parse_index_list(keep_encoder, "encoder")
    dec = decoder_layers if keep_decoder is None else parse_index_list(keep_decoder, "decoder")
    calibrated = strategy in CALIBRATED and any(isinstance(x, str) for x in (enc, dec))
    if cal is not None and not calibrated:
        console.print(f"[yellow]warning:[/] --calibration is used only by angular and greedy-loss with layer "
                      f"counts; it is ignored here")
    if calibrated and cal is None:
        raise needs_calibration(strategy)
    # Validates the counts before loading any weights (data-driven choices come after scoring).
    keep = plan_pruning(config, enc, dec, "spread" if strategy in CALIBRATED else strategy)
    original = family_for(config).layer_counts(config)
    if all(len(keep[s]) == original[s] for s in STACKS):
        raise UsageError(f"nothing to remove: this keeps all {original['encoder']} encoder and "
                         f"{original['decoder']} decoder layers; pass --encoder-layers/--decoder-layers below the "
                         "stack's depth (or --keep-encoder/--keep-decoder)")

    model = load_model(src, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    tokenizer = load_tokenizer(src, trust_remote_code=trust_remote_code)
    scores = None
    if calibrated:
        with _progress() as progress:
            keep, scores = plan_calibrated(model, tokenizer, enc, dec, strategy, cal, progress)
        for stack in STACKS:
            console.print(scores_table(scores, stack, keep[stack]))
    before = param_counts(model)
    apply_pruning(model, keep)
    after = param_counts(model)
    explicit = keep_encoder is not None or keep_decoder is not None
    record = {
        "asymprune_version": __version__,
        "source": src,
        "strategy": "explicit" if explicit else strategy,
        "kept": keep,
        "original_layers": original,
        "layers": {s: len(keep[s]) for s in STACKS},
        "params_before": before,
        "params_after": after,
        **({"scores": scores} if scores else {}),
    }
    save_pruned(model, tokenizer, out, record, overwrite=overwrite)
    if tokenizer is None:
        console.print(f"[yellow]warning:[/] {src} has no tokenizer; none was copied to {out}")

    table = Table("part", "layers", "kept", "params before", "params after", "% removed", title=f"pruned {src}")
    for part in (*STACKS, "other", "total"):
        layers = f"{original[part]} → {len(keep[part])}" if part in STACKS else ""
        kept = "" if part not in STACKS else "all" if len(keep[part]) == original[part] else ",".join(map(str, keep[part]))
        removed = 100 * (1 - after[part] / before[part]) if before[part] else 0.0
        table.add_row(part, layers, kept, _fmt_params(before[part]), _fmt_params(after[part]), f"{removed:.1f}")
    console.print(table)
    console.print(f"saved to {out}")


@app.command()
def layers(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Hub id, local directory or preset name."),
    calibration: str = typer.Option(..., help="Dataset SPEC whose rows score the layers, e.g. synthetic."),
    calibration_samples: int = typer.Option(32, help="Calibration rows used."),
    calibration_split: str = typer.Option("validation", help="Split the calibration rows come from."),
    strategy: str = typer.Option("angular,greedy-loss", help="Scores to compute: angular, greedy-loss or both."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the scores to this JSON file."),
    overwrite: bool = typer.Option(False, help="Replace the JSON file if it exists."),
) -> None:
    """Score every layer of both stacks on a calibration set, without pruning."""
    from .fsutil import check_writable_out, write_json
    from .prune.importance import CalibrationConfig, score_layers, scores_table
    from .models import STACKS, load_model, load_tokenizer
    from .prune import CALIBRATED

    wanted = [s.strip() for s in strategy.split(",") if s.strip()]
    bad = [s for s in wanted if s not in CALIBRATED]
    if not wanted or bad:
        raise UsageError(f"--strategy {strategy!r}: choose from {', '.join(sorted(CALIBRATED))} (comma-separated)")
    cal = CalibrationConfig(calibration, calibration_split, calibration_samples)
    cal.validate()
    if json_path is not None:
        check_writable_out(json_path, overwrite, file=True, flag="--json")
    _quiet_datasets()
    model, tokenizer = load_model(model_src, presets=True), load_tokenizer(model_src, presets=True)
    with _progress() as progress:
        scores = score_layers(model, tokenizer, cal, wanted, progress=progress)
    for stack in STACKS:
        console.print(scores_table(scores, stack))
    console.print("angular: mean angle between a layer's input and output (0-1); higher turns the representation "
                  "more, and `--strategy angular` keeps the highest. greedy step: the order in which greedy-loss "
                  "removes layers (lowest loss increase first).")
    if json_path is not None:
        write_json(json_path, {"model": model_src, **scores})
        console.print(f"scores written to {json_path}")


# Lossless draft-and-verify options that `generate`, `evaluate` and `bench` share (asymprune.assist).
ASSISTANT_HELP = "Draft model (a pruned variant of MODEL) for lossless draft-and-verify: same tokens, batch 1."
DRAFT_TOKENS_OPTION = typer.Option(20, help="--assistant: tokens the draft proposes per round at most.")
DRAFT_CONFIDENCE_OPTION = typer.Option(0.4, help="--assistant: end a round early when the draft's top probability "
                                                 "falls below this; 0: never.")
SHARE_ENCODER_OPTION = typer.Option(False, help="--assistant: the draft reads MODEL's encoder output (one encoder "
                                                "pass per document; exact for drafts trained with --freeze-encoder).")


def _assist_config(draft_tokens: int, draft_confidence: float, share_encoder: bool):
    from .assist import AssistConfig
    config = AssistConfig(draft_tokens=draft_tokens, confidence=draft_confidence, share_encoder=share_encoder)
    config.validate()
    return config


def _draft_line(stats) -> str:
    if not stats.proposed:
        return f"draft: {stats.rounds} rounds, no tokens proposed"
    return (f"draft: acceptance rate {stats.acceptance_rate:.1%} ({stats.accepted:,} of {stats.proposed:,} proposed "
            f"tokens kept), {stats.tokens_per_round:.2f} tokens per pass of the full model")


@app.command()
def generate(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Hub id, local directory or preset name."),
    text: Optional[list[str]] = typer.Option(None, help="Input text (repeatable); default: a synthetic document."),
    max_new_tokens: int = typer.Option(32, help="Tokens to generate at most."),
    num_beams: int = typer.Option(1, help="Beam size."),
    prefix: str = typer.Option("summarize: ", help="Prefix for T5-family models ('' for none)."),
    assistant: Optional[str] = typer.Option(None, help=ASSISTANT_HELP + " Texts run one at a time."),
    draft_tokens: int = DRAFT_TOKENS_OPTION,
    draft_confidence: float = DRAFT_CONFIDENCE_OPTION,
    share_encoder: bool = SHARE_ENCODER_OPTION,
    compiled: bool = typer.Option(False, "--compile", help="Static KV cache and torch.compile'd decoding steps "
                                 "(the first call compiles: minutes on CPU)."),
    show_ids: bool = typer.Option(False, help="Also print the generated token ids."),
) -> None:
    """Summarize text with a model (plain `generate()` with the KV cache)."""
    import copy

    import torch

    from .models import load_config, load_model, load_tokenizer
    from .synthetic import make_examples

    if max_new_tokens <= 0:
        raise UsageError("--max-new-tokens must be at least 1")
    if num_beams <= 0:
        raise UsageError(f"--num-beams {num_beams}: the beam size must be at least 1 (1 is greedy decoding)")
    if compiled:
        from .compiled import check_compile
        check_compile(load_config(model_src, presets=True), assistant=assistant, num_beams=num_beams)
    assist = _assist_config(draft_tokens, draft_confidence, share_encoder) if assistant else None
    if assistant:
        from .assist import check_draft_sources
        if num_beams > 1:
            raise UsageError("--assistant verifies greedy decoding only; pass --num-beams 1")
        check_draft_sources(model_src, assistant, share_encoder)
    model = load_model(model_src, presets=True)
    tokenizer = load_tokenizer(model_src, presets=True)
    if tokenizer is None:
        raise UsageError(f"'{model_src}' has no tokenizer; save one into the model directory")
    texts = text or [make_examples(1, seed=123)[0]["document"]]
    if model.config.model_type in ("t5", "mt5"):
        texts = [prefix + t for t in texts]
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
    gen = copy.deepcopy(model.generation_config)
    gen.update(max_new_tokens=max_new_tokens, num_beams=num_beams, use_cache=True)
    if compiled:
        from .compiled import compiled_generation_config
        gen = compiled_generation_config(gen)
    stats = None
    if assist is not None:
        from .assist import DraftStats, generate_one_by_one
        draft, stats = load_model(assistant, presets=True), DraftStats()
        out = generate_one_by_one(model, draft, batch.input_ids, batch.attention_mask, gen, assist, stats,
                                  model.config.pad_token_id)
    else:
        with torch.inference_mode():
            out = model.generate(**batch, generation_config=gen)
    for src_text, ids in zip(texts, out):
        console.print(f"[bold]input:[/] {src_text[:200]}{'…' if len(src_text) > 200 else ''}")
        console.print(f"[bold]output:[/] {tokenizer.decode(ids, skip_special_tokens=True)}")
        if show_ids:
            generated = ids.tolist()[1:]  # without the decoder-start token
            while generated and generated[-1] == model.config.pad_token_id:
                generated.pop()  # padding of a shorter output in the batch
            print("ids: " + " ".join(map(str, generated)))
    if stats is not None:
        console.print(_draft_line(stats), soft_wrap=True)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), help="Working directory; a second run reuses finished stages."),
    from_scratch: bool = typer.Option(False, help="Train the t5-tiny base too (tens of minutes on 2 cores) "
                                      "instead of starting from the shipped converged one."),
) -> None:
    """The main job end to end on CPU: a converged t5-tiny, a reduced grid, a control, a report."""
    import yaml

    from .report import recommendation_line, write_report
    from .sweep import DEMO_BASE, DEMO_SCRATCH, DEMO_SPEC, SweepSpec, check_output_dir, check_sections, run_sweep

    _quiet_datasets()
    spec = SweepSpec(**{**DEMO_SPEC, **(DEMO_SCRATCH if from_scratch else {}), "output_dir": str(out)})
    if not from_scratch and not (DEMO_BASE / "model.safetensors").is_file():
        raise UsageError(f"the shipped demo base {DEMO_BASE} is missing; reinstall asymprune, or pass "
                         "--from-scratch to train it")
    check_sections(spec, "demo")
    check_output_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.yaml").write_text(yaml.safe_dump({k: v for k, v in vars(spec).items()}, sort_keys=False))
    base = "t5-tiny trained here" if from_scratch else f"the converged t5-tiny base in {DEMO_BASE.name}"
    console.print(f"demo: {base}, on {spec.datasets[0]}; variants {', '.join(spec.grid)} and a re-tuned "
                  f"control (same run as `asymprune sweep {out / 'spec.yaml'}`)", soft_wrap=True)
    run_sweep(spec, console=console)
    written = write_report(out / "results.db", out / "report", overwrite=True)
    console.print(f"report: {written['report']} and {written['html']}", soft_wrap=True)
    for label, rec in written["recommendations"]:
        print(f"recommendation: {recommendation_line(label, rec, 1)}")


# Timing options that `bench` and `plan` share.
DEVICE_OPTION = typer.Option("cpu", help="cpu or cuda.")
DTYPE_OPTION = typer.Option("float32", help="float32, bfloat16 or float16 (hf backend).")
THREADS_OPTION = typer.Option(None, help="Intra-op threads (default: the library's).")
BACKEND_OPTION = typer.Option("hf", help="hf (transformers) or ct2 (CTranslate2).")
CT2_COMPUTE_TYPE_OPTION = typer.Option("int8", help="CTranslate2 compute type: int8, int8_float32, float32, ...")


def _int_list(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{flag} {text!r} must be comma-separated integers, e.g. 1,8,16") from None


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
    runs: int = typer.Option(7, help="Timed runs per model and batch size."),
    warmup: int = typer.Option(2, help="Untimed warm-up runs."),
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
    compiled: bool = typer.Option(False, "--compile", help="hf: static KV cache and torch.compile'd decoding steps; "
                                 "warm-up runs absorb the compilation."),
) -> None:
    """Time generation: mean ± std over interleaved runs, prefill and per-token decode, speed-ups."""
    from .bench import BenchConfig, check_bench, results_table, run_bench
    from .fsutil import check_writable_out, write_json

    cfg = BenchConfig(batch_sizes=_int_list(batch_sizes, "--batch-sizes"), source_length=source_length,
                      new_tokens=new_tokens, dataset=dataset, split=split, runs=runs, warmup=warmup, device=device,
                      dtype=dtype, threads=threads, backend=backend, ct2_compute_type=ct2_compute_type, seed=seed,
                      assistants=assistant or [], assist=_assist_config(draft_tokens, draft_confidence, share_encoder),
                      compile=compiled)
    if assistant:  # one document at a time (a sweep's lossless point adds batch 1 to a wider bench instead)
        from .assist import check_batch_size
        for bs in cfg.batch_sizes:
            check_batch_size(bs, "--batch-sizes")
    if json_path is not None:
        check_writable_out(json_path, overwrite, file=True, flag="--json")
    check_bench(models, cfg)  # fail before the progress display starts
    with _progress() as progress:
        report = run_bench(models, cfg, progress=progress)
    console.print(results_table(report))
    for r in report["results"]:
        if r.get("draft"):
            from .assist import DraftStats
            console.print(f"{r['model']}: {_draft_line(DraftStats.from_dict(r['draft']))}; speed-up "
                          f"{r['speedup']:.2f}× over {models[0]} alone at batch {r['batch_size']}", soft_wrap=True)
        check = r.get("ct2_check")
        if check and r["batch_size"] == cfg.batch_sizes[0] and not (check["tokens_match"] and check["scores_match"]):
            console.print(f"[yellow]warning:[/] {r['model']}: CTranslate2 float32 and transformers disagree on a "
                          f"short greedy input (tokens match: {check['tokens_match']}, max |Δ log-prob| "
                          f"{check['max_logprob_diff']:.2g}); the converted model may be wrong")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, report)
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
    from .bench import BenchConfig
    from .plan import PlanConfig, check_plan, coefficient_lines, meeting, plan_table, run_plan

    bench_cfg = BenchConfig(batch_sizes=_int_list(batch_sizes, "--batch-sizes"), source_length=source_length,
                            new_tokens=new_tokens, runs=runs, warmup=warmup, device=device, dtype=dtype,
                            threads=threads, backend=backend, ct2_compute_type=ct2_compute_type, seed=seed)
    cfg = PlanConfig(grid=grid, min_speedup=min_speedup, bench=bench_cfg)
    out = out if out is not None else Path(f"plan-{Path(model_src.rstrip('/')).name}")
    check_plan(model_src, cfg, out, overwrite)  # fail before the progress display starts
    with _progress() as progress:
        result = run_plan(model_src, cfg, out=out, overwrite=overwrite, progress=progress)
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


@app.command()
def export(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Local model directory."),
    out: Path = typer.Argument(..., help="Directory for the exported model."),
    format: str = typer.Option("ct2", "--format", help="Export format: ct2 (CTranslate2)."),
    quantize: Optional[str] = typer.Option(None, help="Weight quantization, e.g. int8, int8_float32, float16."),
    vmap: Optional[str] = typer.Option(None, help="Dataset SPEC: add CTranslate2's vocabulary map (vmap.txt) of the "
                                       "tokens its train split uses, for translate_batch(use_vmap=True); the "
                                       "model keeps every row (see `asymprune vocab` to remove them)."),
    vmap_size: Optional[int] = typer.Option(None, help="Tokens in the vocabulary map, as `asymprune vocab --size`."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Export a model for deployment (CTranslate2, optionally quantized), with its tokenizer."""
    import tempfile

    from .ct2 import compare_with_hf, export_ct2
    from .fsutil import check_writable_out
    from .models import load_config

    if format != "ct2":
        raise UsageError(f"unknown export format '{format}'; the supported format is: ct2")
    if vmap_size is not None and vmap is None:
        raise UsageError("--vmap-size needs --vmap SPEC, the dataset whose tokens the map keeps")
    check_writable_out(out, overwrite)
    load_config(model_src)
    if not Path(model_src).is_dir():
        raise UsageError(f"export needs a local model directory; download '{model_src}' first "
                         "(e.g. save_pretrained) and pass its path")
    with tempfile.TemporaryDirectory(prefix="asymprune-vmap-") as tmp:
        vmap_file = None
        if vmap is not None:
            from .vocab import VocabConfig, domain_tokens, write_vmap
            _quiet_datasets()
            tokens = domain_tokens(model_src, vmap, VocabConfig(size=vmap_size))
            vmap_file = Path(tmp) / "vmap.txt"
            write_vmap(tokens, vmap_file)
        export_ct2(model_src, out, quantize=quantize, overwrite=overwrite, vmap=vmap_file)
    console.print(f"exported {model_src} to {out} (CTranslate2{', ' + quantize if quantize else ''})")
    if vmap is not None:
        console.print(f"vocabulary map: {len(tokens):,} tokens of {vmap} in {out / 'vmap.txt'}; translate with "
                      "use_vmap=True")
    if not quantize:
        check = compare_with_hf(model_src, out)
        verdict = "match" if check["tokens_match"] and check["scores_match"] else "[yellow]DIFFER[/]"
        console.print(f"check vs transformers (float32, greedy): tokens and log-probs {verdict} "
                      f"(max |Δ log-prob| {check['max_logprob_diff']:.2g})")


@app.command()
def sweep(
    spec_path: Path = typer.Argument(..., metavar="SPEC.yaml", help="Sweep spec (see configs/paper-flan-t5.yaml)."),
    executor: str = typer.Option("local", help="local (sequential) or ray (one task per variant chain)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address, e.g. auto; default: a local instance."),
    dry_run: bool = typer.Option(False, help="List the stages that would run, and run nothing."),
) -> None:
    """Run a grid of pruned variants: fine-tune, prune, re-fine-tune, evaluate, bench; resumable."""
    from .sweep import bench_groups, load_spec, run_sweep

    _quiet_datasets()
    spec = load_spec(spec_path)
    try:
        chains = run_sweep(spec, executor=executor, address=address, dry_run=dry_run, console=console)
    except KeyboardInterrupt:
        sys.stderr.write(f"interrupted: finished stages are kept in {spec.output_dir}; run `asymprune sweep "
                         f"{spec_path}{' --executor ' + executor if executor != 'local' else ''}` again to "
                         "continue\n")
        sys.exit(130)
    if dry_run:
        table = Table("model", "dataset", "variant", "to run", "done", title=f"sweep {spec.name} (dry run)")
        for c in chains:
            todo = f"skipped: {c.skipped}" if c.skipped else ", ".join(s.name for s in c.stages if not s.done) or "-"
            table.add_row(c.model, c.dataset, c.variant, todo, ", ".join(s.name for s in c.stages if s.done) or "-")
        groups = bench_groups(spec, chains)
        benches = [g.stage(g.members(planned=True)) for g in groups]
        for g, stage in zip(groups, benches):
            n = len(g.members(planned=True))
            table.add_row(g.model, g.dataset, f"all {n}", "-" if stage.done else f"bench ({n} models, interleaved)",
                          "bench" if stage.done else "-")
        console.print(table)
        todo = sum(not s.done for c in chains if not c.skipped for s in c.stages) + sum(not s.done for s in benches)
        done = sum(s.done for c in chains for s in c.stages) + sum(s.done for s in benches)
        skipped = sum(bool(c.skipped) for c in chains)
        console.print(f"{todo} stages to run, {done} done"
                      + (f", {skipped} variants skipped by min_speedup" if skipped else ""))
    else:
        counts = _sweep_counts(spec, chains)
        failed = counts.get("failed", 0)
        others = sum(n for status, n in counts.items() if status not in ("done", "failed", "skipped"))
        print(f"{counts.get('done', 0)} runs done, {failed} failed, {counts.get('skipped', 0)} skipped"
              + (f", {others} not finished" if others else "") + f"; results: {Path(spec.output_dir) / 'results.db'}")
        if failed or others:
            sys.stderr.write(f"error: {failed + others} of {len(chains)} runs did not finish; see `asymprune results "
                             f"{Path(spec.output_dir) / 'results.db'}` for the errors, fix them and run the same "
                             "command again (finished stages are kept)\n")
            sys.exit(1)


def _sweep_counts(spec, chains) -> dict[str, int]:
    """Status -> number of this sweep's runs (the chains just planned), read from its results database."""
    from .store import Store

    store = Store(Path(spec.output_dir) / "results.db", create=False)
    try:
        frame = store.frame("SELECT model, dataset, variant, status FROM runs WHERE sweep = ?", (spec.name,))
    finally:
        store.close()
    planned = {(c.model, c.dataset, c.variant) for c in chains}
    counts: dict[str, int] = {}
    for r in frame.itertuples():
        if (r.model, r.dataset, r.variant) in planned:
            counts[r.status] = counts.get(r.status, 0) + 1
    return counts


@app.command()
def results(
    db: Path = typer.Argument(..., help="The results.db a sweep wrote."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write the table as CSV here instead of printing it."),
    overwrite: bool = typer.Option(False, help="Replace the --csv file if it exists."),
) -> None:
    """List every run: status, ROUGE-2, impact, and latency and speed-up per batch size; then the disk used."""
    from .fsutil import check_writable_out
    from .report import disk_use_line, load_runs, results_table, runs_table, write_csv_atomic

    if csv is not None:
        check_writable_out(csv, overwrite, file=True, flag="--csv")
    frame = load_runs(db)
    if csv is None:
        console.print(results_table(frame))
        console.print(disk_use_line(db), soft_wrap=True)
        return
    write_csv_atomic(runs_table(frame), csv, overwrite=overwrite)
    console.print(f"wrote {csv} ({len(frame)} runs)", soft_wrap=True)


@app.command()
def report(
    db: Path = typer.Argument(..., help="The results.db a sweep wrote."),
    out: Path = typer.Option(..., "--out", help="Directory for report.md, report.html, plots and CSVs."),
    max_rouge2_loss: Optional[float] = typer.Option(None, help="Budget: ROUGE-2 points you accept to lose vs "
                                                    "the full model; picks the fastest (default 1.0)."),
    min_speedup: Optional[float] = typer.Option(None, help="Budget: speed-up you need; picks the most accurate."),
    batch_size: int = typer.Option(1, help="Batch size of the latency used for speed-up, Pareto and the pick."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Write the paper's tables, plots, the Pareto frontier and a recommendation (md + one-file HTML)."""
    from .report import recommendation_line, write_report

    written = write_report(db, out, max_rouge2_loss=max_rouge2_loss, min_speedup=min_speedup,
                           batch_size=batch_size, overwrite=overwrite)
    console.print(f"wrote {written['report']} and {written['html']}", soft_wrap=True)
    for label, rec in written["recommendations"]:  # plain print: one unwrapped line each
        print(f"recommendation: {recommendation_line(label, rec, batch_size)}")

# ---------------------------------------------------------------------------------------------
# train and evaluate. Options left at None take the defaults of TrainConfig / EvalConfig /
# DataConfig, so the recipe is written down once, in those dataclasses.

from .evaluate import EvalConfig  # noqa: E402  (dataclasses only; the heavy imports are lazy)
from .train import TrainConfig  # noqa: E402


def _quiet_datasets() -> None:
    # Our own one-line errors and rich bars replace datasets' log lines and tqdm bars.
    import datasets
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)


def _default(cls, name: str) -> str:
    return f" (default: {cls.__dataclass_fields__[name].default})"


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _data_config(source_column, target_column, n, split_seed, drop_empty_rows):
    from .data import DataConfig
    return DataConfig(**_given(source_column=source_column, target_column=target_column, n=n, split_seed=split_seed),
                      drop_empty_rows=drop_empty_rows)


DATASET_HELP = "registered name (synthetic, cnn_dailymail, xsum), hf:NAME[:CONFIG], a .jsonl/.json/.csv/.parquet " \
               "file, or a directory of train/validation/test files."
SOURCE_COLUMN = typer.Option(None, help="Column holding the text to summarize (default: inferred).")
TARGET_COLUMN = typer.Option(None, help="Column holding the reference summary (default: inferred).")
N_OPTION = typer.Option(None, "--n", help="synthetic: training rows (default 10,000); others: keep the first N.")
SPLIT_SEED = typer.Option(None, help="Seed of the synthetic corpus and of splitting a single file (default: 0); "
                                     "use the same value for train and evaluate.")
DROP_EMPTY = typer.Option(False, help="Skip rows with an empty or null source/target instead of failing.")


@app.command()
def train(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Hub id, local model directory or preset name."),
    out: Path = typer.Argument(..., help="Directory for the fine-tuned model (checkpoints go to OUT.checkpoints)."),
    dataset: str = typer.Option(..., help="Dataset: " + DATASET_HELP),
    source_column: Optional[str] = SOURCE_COLUMN,
    target_column: Optional[str] = TARGET_COLUMN,
    n: Optional[int] = N_OPTION,
    split_seed: Optional[int] = SPLIT_SEED,
    drop_empty_rows: bool = DROP_EMPTY,
    learning_rate: Optional[float] = typer.Option(None, help="Peak learning rate." + _default(TrainConfig, "learning_rate")),
    lr_scheduler: Optional[str] = typer.Option(None, help="transformers scheduler name." + _default(TrainConfig, "lr_scheduler")),
    warmup_steps: Optional[int] = typer.Option(None, help="Linear warm-up steps." + _default(TrainConfig, "warmup_steps")),
    weight_decay: Optional[float] = typer.Option(None, help="AdamW weight decay." + _default(TrainConfig, "weight_decay")),
    batch_size: Optional[int] = typer.Option(None, help="Effective batch (per-device x accumulation x processes)." + _default(TrainConfig, "batch_size")),
    per_device_batch_size: Optional[int] = typer.Option(None, help="Examples per forward pass (default: up to 8)."),
    max_source_length: Optional[int] = typer.Option(None, help="Source tokens kept." + _default(TrainConfig, "max_source_length")),
    max_target_length: Optional[int] = typer.Option(None, help="Target tokens kept." + _default(TrainConfig, "max_target_length")),
    prefix: Optional[str] = typer.Option(None, help="Source prefix (default: 'summarize: ' for T5, '' otherwise)."),
    epochs: Optional[float] = typer.Option(None, help="Passes over train, at most." + _default(TrainConfig, "epochs")),
    max_steps: Optional[int] = typer.Option(None, help="Optimizer steps; overrides --epochs."),
    eval_steps: Optional[int] = typer.Option(None, help="Validation loss and a checkpoint every N steps." + _default(TrainConfig, "eval_steps")),
    eval_samples: Optional[int] = typer.Option(None, help="Validation rows for the loss (default: all)."),
    patience: Optional[int] = typer.Option(None, help="Evaluations without improvement before stopping; 0: never." + _default(TrainConfig, "patience")),
    logging_steps: Optional[int] = typer.Option(None, help="Train loss shown every N steps." + _default(TrainConfig, "logging_steps")),
    seed: Optional[int] = typer.Option(None, help="Seed of preset weights, data order and dropout." + _default(TrainConfig, "seed")),
    bf16: bool = typer.Option(False, help="bfloat16 mixed precision (GPU)."),
    fp16: bool = typer.Option(False, help="float16 mixed precision (GPU)."),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in OUT.checkpoints."),
    checkpoint_dir: Optional[str] = typer.Option(None, help="Where checkpoints go (default: OUT.checkpoints)."),
    distill_from: Optional[str] = typer.Option(None, help="Teacher model (the unpruned one) for a distillation loss."),
    distill_alpha: Optional[float] = typer.Option(None, help="Weight of the distillation loss." + _default(TrainConfig, "distill_alpha")),
    distill_temperature: Optional[float] = typer.Option(None, help="Distillation temperature." + _default(TrainConfig, "distill_temperature")),
    freeze_encoder: bool = typer.Option(False, help="Train the decoder only; the encoder and the embeddings it "
                                        "reads stay as they are (a draft for --assistant --share-encoder)."),
    overwrite: bool = typer.Option(False, help="Replace OUT (and start over from no checkpoint unless --resume)."),
    trust_remote_code: bool = typer.Option(False, help="Allow code from the model repository to run."),
    allow_pickle: bool = typer.Option(False, help="Allow pickle (.bin) checkpoints; unpickling can run code."),
) -> None:
    """Fine-tune a model on a summarization dataset (the paper's recipe; every setting overridable)."""
    from .train import train as run_train

    _quiet_datasets()
    config = TrainConfig(**_given(
        learning_rate=learning_rate, lr_scheduler=lr_scheduler, warmup_steps=warmup_steps, weight_decay=weight_decay,
        batch_size=batch_size, per_device_batch_size=per_device_batch_size, max_source_length=max_source_length,
        max_target_length=max_target_length, prefix=prefix, epochs=epochs, max_steps=max_steps, eval_steps=eval_steps,
        eval_samples=eval_samples, patience=patience, logging_steps=logging_steps, seed=seed,
        checkpoint_dir=checkpoint_dir, distill_from=distill_from, distill_alpha=distill_alpha,
        distill_temperature=distill_temperature), bf16=bf16, fp16=fp16, resume=resume, freeze_encoder=freeze_encoder)
    data = _data_config(source_column, target_column, n, split_seed, drop_empty_rows)
    record = run_train(model_src, out, dataset, config, data=data, overwrite=overwrite, console=console,
                       trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    if os.environ.get("RANK", "0") != "0":
        return  # torchrun / accelerate launch: the main process (RANK 0) reports
    table = Table("", "value", title=f"trained {model_src} on {dataset}")
    table.add_row("steps", f"{record['steps']:,}" + (" (stopped early)" if record["stopped_early"] else ""))
    table.add_row("best validation loss", f"{record['best_eval_loss']:.4f} at step {record['best_step']}")
    if record["final_train_loss"] is not None:
        table.add_row("last train loss", f"{record['final_train_loss']:.4f}")
    table.add_row("time", f"{record['seconds']:.0f} s")
    console.print(table)
    console.print(f"saved to {out} (checkpoints in {record['checkpoints']})")


@app.command()
def evaluate(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Hub id, local model directory or preset name."),
    dataset: str = typer.Option(..., help="Dataset: " + DATASET_HELP),
    split: Optional[str] = typer.Option(None, help="Split to summarize." + _default(EvalConfig, "split")),
    max_samples: Optional[int] = typer.Option(None, help="Only the first N rows of the split (default: all)."),
    out: Optional[Path] = typer.Option(None, help="Results directory (default: MODEL/eval-<dataset>-<split>)."),
    baseline: Optional[Path] = typer.Option(None, help="metrics.json of the unpruned model: adds the impact (%)."),
    batch_size: Optional[int] = typer.Option(None, help="Sources per generate() call." + _default(EvalConfig, "batch_size")),
    num_beams: Optional[int] = typer.Option(None, help="Beam size (default: the model's generation config)."),
    max_new_tokens: Optional[int] = typer.Option(None, help="Generated tokens at most." + _default(EvalConfig, "max_new_tokens")),
    min_new_tokens: Optional[int] = typer.Option(None, help="Generated tokens at least (default: the model's)."),
    length_penalty: Optional[float] = typer.Option(None, help="Beam length penalty (default: the model's)."),
    max_source_length: Optional[int] = typer.Option(None, help="Source tokens kept." + _default(EvalConfig, "max_source_length")),
    prefix: Optional[str] = typer.Option(None, help="Source prefix (default: 'summarize: ' for T5, '' otherwise)."),
    source_column: Optional[str] = SOURCE_COLUMN,
    target_column: Optional[str] = TARGET_COLUMN,
    n: Optional[int] = N_OPTION,
    split_seed: Optional[int] = SPLIT_SEED,
    drop_empty_rows: bool = DROP_EMPTY,
    overwrite: bool = typer.Option(False, help="Replace the results directory if it exists."),
    trust_remote_code: bool = typer.Option(False, help="Allow code from the model repository to run."),
    allow_pickle: bool = typer.Option(False, help="Allow pickle (.bin) checkpoints; unpickling can run code."),
    assistant: Optional[str] = typer.Option(None, help=ASSISTANT_HELP + " Sets --batch-size 1."),
    draft_tokens: int = DRAFT_TOKENS_OPTION,
    draft_confidence: float = DRAFT_CONFIDENCE_OPTION,
    share_encoder: bool = SHARE_ENCODER_OPTION,
) -> None:
    """Summarize a split and report ROUGE-1/2/L/Lsum and GenL (plus impact vs. a baseline)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .evaluate import add_baseline, default_out, evaluate as run_evaluate, load_baseline, save_evaluation
    from .rouge import ROUGE_KEYS, difference_text
    from .fsutil import check_writable_out

    _quiet_datasets()
    if assistant is not None and batch_size is None:
        batch_size = 1  # assisted generation runs one document at a time
    config = EvalConfig(**_given(split=split, max_samples=max_samples, batch_size=batch_size, num_beams=num_beams,
                                 max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                                 length_penalty=length_penalty, max_source_length=max_source_length, prefix=prefix,
                                 assistant=assistant),
                        assist=_assist_config(draft_tokens, draft_confidence, share_encoder))
    out = out if out is not None else default_out(model_src, dataset, config.split)
    check_writable_out(out, overwrite)
    if baseline is not None:
        load_baseline(baseline)  # fail before generating, not after
    data = _data_config(source_column, target_column, n, split_seed, drop_empty_rows)
    bar = Progress(TextColumn("generate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)
    task = bar.add_task("generate", total=None)

    def progress(done: int, total: int) -> None:
        bar.start()  # on the first batch, so that a data error is not preceded by an empty bar
        bar.update(task, completed=done, total=total)
    try:
        result = run_evaluate(model_src, dataset, config, data=data, progress=progress,
                              trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    finally:
        if bar.live.is_started:
            bar.stop()
    if baseline is not None:
        add_baseline(result, baseline)
    save_evaluation(result, out, overwrite=overwrite)

    m = result["metrics"]
    console.print(f"{m['split']}: {m['samples']:,} samples; truncated {m['sources_truncated']:,} sources "
                  f"(> {m['max_source_length']} tokens)", soft_wrap=True)
    impact, intervals = m.get("impact"), m.get("intervals")
    table = Table("metric", "value", *(["baseline", "impact %", "Δ points [95% CI, paired]"] if impact else []),
                  title=f"{model_src} on {dataset} ({m['split']})")
    names = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum",
             "gen_len": "GenL"}
    for key in (*ROUGE_KEYS, "gen_len"):
        row = [names[key], f"{m[key]:.2f}"]
        if impact:
            ci = (intervals or {}).get(key)
            row += [f"{m['baseline'][key]:.2f}", "n/a" if impact[key] is None else f"{impact[key]:+.2f}",
                    f"{ci['delta']:+.2f} [{ci['low']:+.2f}, {ci['high']:+.2f}]" if ci else "–"]
        table.add_row(*row)
    console.print(table)
    if intervals:
        console.print(f"ROUGE-2 vs the baseline: {difference_text(intervals['rouge2'])}", soft_wrap=True)
    elif impact:
        console.print(f"[yellow]note:[/] no intervals: {m['intervals_missing']}", soft_wrap=True)
    if "assistant" in m:
        from .assist import DraftStats
        console.print(_draft_line(DraftStats.from_dict(m["assistant"])) + f"; generation took "
                      f"{m['generate_seconds']:.1f} s", soft_wrap=True)
    console.print(f"wrote {out / 'metrics.json'} and {out / 'predictions.jsonl'}")


@app.command()
def vocab(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Local model directory or hub id."),
    out: Path = typer.Argument(..., help="Directory for the model with the smaller vocabulary."),
    dataset: str = typer.Option(..., help="Dataset whose sources and targets choose the tokens: " + DATASET_HELP),
    size: Optional[int] = typer.Option(None, help="Tokens kept in total: the special ones, then the data's by "
                                       "frequency, then the tokenizer's own order (default: the data's tokens)."),
    split: str = typer.Option("train", help="Split whose tokens are kept."),
    keep_sentinels: bool = typer.Option(False, help="Also keep special tokens with no role in summarization "
                                        "(T5's <extra_id_N> sentinels)."),
    prefix: Optional[str] = typer.Option(None, help="Source prefix (default: 'summarize: ' for T5, '' otherwise)."),
    source_column: Optional[str] = SOURCE_COLUMN,
    target_column: Optional[str] = TARGET_COLUMN,
    n: Optional[int] = N_OPTION,
    split_seed: Optional[int] = SPLIT_SEED,
    drop_empty_rows: bool = DROP_EMPTY,
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Keep only the tokens a dataset uses: fewer embedding and lm_head rows, a tokenizer to match."""
    from .vocab import VocabConfig, prepare_vocabulary, reduce_vocabulary, summary_table

    _quiet_datasets()
    cfg = VocabConfig(size=size, split=split, keep_sentinels=keep_sentinels, prefix=prefix)
    data = _data_config(source_column, target_column, n, split_seed, drop_empty_rows)
    job = prepare_vocabulary(model_src, out, dataset, cfg, data=data, overwrite=overwrite)  # fail before the bars
    with _progress() as progress:
        record = reduce_vocabulary(model_src, out, dataset, cfg, overwrite=overwrite, progress=progress, job=job)
    console.print(summary_table(record))
    console.print(f"saved to {out} (new id -> old id in {out / 'vocab.json'})")
