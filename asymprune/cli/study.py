"""The study's commands: fine-tune (train) and score (evaluate), the paper's recipe by default.

    asymprune train runs/d3 runs/d3-ft --dataset synthetic --learning-rate 5e-4 --max-steps 300
    asymprune evaluate runs/d3-ft --dataset synthetic --baseline runs/base/eval-synthetic-test/metrics.json

Options left at None take the defaults of TrainConfig / EvalConfig / DataConfig.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..console import quiet_datasets
from ..evaluate import EvalConfig  # dataclasses only; the heavy imports are lazy
from ..train import TrainConfig
from .app import app, console
from .options import (ASSISTANT_HELP, DATASET_HELP, DRAFT_CONFIDENCE_OPTION, DRAFT_TOKENS_OPTION, DRAFT_VOCAB_OPTION,
                      DROP_EMPTY, N_OPTION, PREFIX, SHARE_ENCODER_OPTION, SOURCE_COLUMN, SPLIT_SEED, TARGET_COLUMN,
                      assist_config, data_config, default, draft_line, given)


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
    learning_rate: Optional[float] = typer.Option(None, help="Peak learning rate." + default(TrainConfig, "learning_rate")),
    lr_scheduler: Optional[str] = typer.Option(None, help="transformers scheduler name." + default(TrainConfig, "lr_scheduler")),
    warmup_steps: Optional[int] = typer.Option(None, help="Linear warm-up steps." + default(TrainConfig, "warmup_steps")),
    weight_decay: Optional[float] = typer.Option(None, help="AdamW weight decay." + default(TrainConfig, "weight_decay")),
    batch_size: Optional[int] = typer.Option(None, help="Effective batch (per-device x accumulation x processes)." + default(TrainConfig, "batch_size")),
    per_device_batch_size: Optional[int] = typer.Option(None, help="Examples per forward pass (default: up to 8)."),
    max_source_length: Optional[int] = typer.Option(None, help="Source tokens kept." + default(TrainConfig, "max_source_length")),
    max_target_length: Optional[int] = typer.Option(None, help="Target tokens kept." + default(TrainConfig, "max_target_length")),
    prefix: Optional[str] = PREFIX,
    epochs: Optional[float] = typer.Option(None, help="Passes over train, at most." + default(TrainConfig, "epochs")),
    max_steps: Optional[int] = typer.Option(None, help="Optimizer steps; overrides --epochs."),
    eval_steps: Optional[int] = typer.Option(None, help="Validation loss and a checkpoint every N steps." + default(TrainConfig, "eval_steps")),
    eval_samples: Optional[int] = typer.Option(None, help="Validation rows for the loss (default: all)."),
    patience: Optional[int] = typer.Option(None, help="Evaluations without improvement before stopping; 0: never." + default(TrainConfig, "patience")),
    logging_steps: Optional[int] = typer.Option(None, help="Train loss shown every N steps." + default(TrainConfig, "logging_steps")),
    seed: Optional[int] = typer.Option(None, help="Seed of preset weights, data order and dropout." + default(TrainConfig, "seed")),
    bf16: bool = typer.Option(False, help="bfloat16 mixed precision (GPU)."),
    fp16: bool = typer.Option(False, help="float16 mixed precision (GPU)."),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in OUT.checkpoints."),
    checkpoint_dir: Optional[str] = typer.Option(None, help="Where checkpoints go (default: OUT.checkpoints)."),
    distill_from: Optional[str] = typer.Option(None, help="Teacher model (the unpruned one) for a distillation loss."),
    distill_alpha: Optional[float] = typer.Option(None, help="Weight of the distillation loss." + default(TrainConfig, "distill_alpha")),
    distill_temperature: Optional[float] = typer.Option(None, help="Distillation temperature." + default(TrainConfig, "distill_temperature")),
    freeze_encoder: bool = typer.Option(False, help="Train the decoder only; the encoder and the embeddings it "
                                        "reads stay as they are (a draft for --assistant --share-encoder)."),
    freeze_embeddings: bool = typer.Option(False, help="Also keep the decoder's token embeddings (and the output "
                                           "projection tied to them) and its learned positions (distil-whisper)."),
    pseudo_labels: bool = typer.Option(False, help="Train on the teacher's (--distill-from) greedy transcripts instead "
                                       "of the references (distil-whisper; needs --freeze-encoder; cached)."),
    cache_dir: Optional[str] = typer.Option(None, help="Where cached encoder outputs and pseudo-labels go (default: "
                                            "$ASYMPRUNE_CACHE or ~/.cache/asymprune)."),
    group_by_length: bool = typer.Option(False, help="Batch rows of like length (less padding; on cached encoder "
                                         "outputs, label length)."),
    report_to: Optional[str] = typer.Option(None, help="Experiment trackers the Trainer reports to, comma-separated: "
                                            "tensorboard, wandb, mlflow, ..., all or none." + default(TrainConfig, "report_to")),
    run_name: Optional[str] = typer.Option(None, help="The run's name in the trackers (default: OUT's folder name)."),
    overwrite: bool = typer.Option(False, help="Replace OUT (and start over from no checkpoint unless --resume)."),
    trust_remote_code: bool = typer.Option(False, help="Allow code from the model repository to run."),
    allow_pickle: bool = typer.Option(False, help="Allow pickle (.bin) checkpoints; unpickling can run code."),
) -> None:
    """Fine-tune a model on a summarization dataset (the paper's recipe; every setting overridable)."""
    from ..train import train as run_train

    quiet_datasets()
    config = TrainConfig(**given(
        learning_rate=learning_rate, lr_scheduler=lr_scheduler, warmup_steps=warmup_steps, weight_decay=weight_decay,
        batch_size=batch_size, per_device_batch_size=per_device_batch_size, max_source_length=max_source_length,
        max_target_length=max_target_length, prefix=prefix, epochs=epochs, max_steps=max_steps, eval_steps=eval_steps,
        eval_samples=eval_samples, patience=patience, logging_steps=logging_steps, seed=seed,
        checkpoint_dir=checkpoint_dir, distill_from=distill_from, distill_alpha=distill_alpha,
        distill_temperature=distill_temperature, report_to=report_to, run_name=run_name), bf16=bf16, fp16=fp16, resume=resume,
        freeze_encoder=freeze_encoder, freeze_embeddings=freeze_embeddings, pseudo_labels=pseudo_labels,
        cache_dir=cache_dir, group_by_length=group_by_length)
    data = data_config(source_column, target_column, n, split_seed, drop_empty_rows)
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
    if record["step_seconds"]["steps"]:
        table.add_row("time a step (median)", f"{record['step_seconds']['median']:.3f} s")
    console.print(table)
    console.print(f"saved to {out} (checkpoints in {record['checkpoints']})")
    if "tensorboard" in record["recipe"]["report_to"] or record["recipe"]["report_to"] == "all":
        console.print(f"TensorBoard: tensorboard --logdir {out / 'runs'}")


@app.command()
def evaluate(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Hub id, local model directory or preset name."),
    dataset: str = typer.Option(..., help="Dataset: " + DATASET_HELP),
    split: Optional[str] = typer.Option(None, help="Split to summarize." + default(EvalConfig, "split")),
    max_samples: Optional[int] = typer.Option(None, help="Only the first N rows of the split (default: all)."),
    out: Optional[Path] = typer.Option(None, help="Results directory (default: MODEL/eval-<dataset>-<split>)."),
    baseline: Optional[Path] = typer.Option(None, help="metrics.json of the unpruned model: adds the impact (%)."),
    batch_size: Optional[int] = typer.Option(None, help="Sources per generate() call." + default(EvalConfig, "batch_size")),
    num_beams: Optional[int] = typer.Option(None, help="Beam size (default: the model's generation config)."),
    max_new_tokens: Optional[int] = typer.Option(None, help="Generated tokens at most." + default(EvalConfig, "max_new_tokens")),
    min_new_tokens: Optional[int] = typer.Option(None, help="Generated tokens at least (default: the model's)."),
    length_penalty: Optional[float] = typer.Option(None, help="Beam length penalty (default: the model's)."),
    max_source_length: Optional[int] = typer.Option(None, help="Source tokens kept." + default(EvalConfig, "max_source_length")),
    prefix: Optional[str] = PREFIX,
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
    draft_vocab: Optional[Path] = DRAFT_VOCAB_OPTION,
    encoder_cache: bool = typer.Option(False, help="Speech: keep the encoder's outputs in the asymprune cache and "
                                       "reuse them for every model with the same encoder (same transcripts)."),
) -> None:
    """Summarize or transcribe a split and report its dataset's metric (ROUGE-1/2/L/Lsum, or WER/CER) and GenL (plus
    impact and intervals vs. a baseline)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..evaluate import evaluate_and_save
    from ..metrics import metric_for

    quiet_datasets()
    if assistant is not None and batch_size is None:
        batch_size = 1  # assisted generation runs one document at a time
    config = EvalConfig(**given(split=split, max_samples=max_samples, batch_size=batch_size, num_beams=num_beams,
                                max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                                length_penalty=length_penalty, max_source_length=max_source_length, prefix=prefix,
                                assistant=assistant, encoder_cache=encoder_cache),
                        assist=assist_config(draft_tokens, draft_confidence, share_encoder, draft_vocab))
    data = data_config(source_column, target_column, n, split_seed, drop_empty_rows)
    bar = Progress(TextColumn("generate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)
    task = bar.add_task("generate", total=None)

    def progress(done: int, total: int) -> None:
        bar.start()  # on the first batch, so that a data error is not preceded by an empty bar
        bar.update(task, completed=done, total=total)
    try:
        result, out = evaluate_and_save(model_src, dataset, config, out, baseline=baseline, data=data,
                                        overwrite=overwrite, progress=progress, trust_remote_code=trust_remote_code,
                                        allow_pickle=allow_pickle)
    finally:
        if bar.live.is_started:
            bar.stop()

    m = result["metrics"]
    cut = (f"; truncated {m['sources_truncated']:,} sources (> {m['max_source_length']} tokens)"
           if "sources_truncated" in m else "")  # absent where the family cuts nothing (speech: whole windows)
    console.print(f"{m['split']}: {m['samples']:,} samples{cut}", soft_wrap=True)
    impact, intervals = m.get("impact"), m.get("intervals")
    table = Table("metric", "value", *(["baseline", "impact %", "Δ points [95% CI, paired]"] if impact else []),
                  title=f"{model_src} on {dataset} ({m['split']})")
    metric = metric_for(m["metric"])
    for key in (*metric.keys, "gen_len"):
        row = ["GenL" if key == "gen_len" else metric.key_label(key), f"{m[key]:.2f}"]
        if impact:
            ci = (intervals or {}).get(key)
            row += [f"{m['baseline'][key]:.2f}", "n/a" if impact[key] is None else f"{impact[key]:+.2f}",
                    f"{ci['delta']:+.2f} [{ci['low']:+.2f}, {ci['high']:+.2f}]" if ci else "–"]
        table.add_row(*row)
    console.print(table)
    if intervals:
        console.print(f"{metric.label} vs the baseline: {metric.difference_text(intervals[metric.headline])}",
                      soft_wrap=True)
    elif impact:
        console.print(f"[yellow]note:[/] no intervals: {m['intervals_missing']}", soft_wrap=True)
    if "assistant" in m:
        from ..assist import DraftStats
        console.print(draft_line(DraftStats.from_dict(m["assistant"])) + f"; generation took "
                      f"{m['generate_seconds']:.1f} s", soft_wrap=True)
    console.print(f"wrote {out / 'metrics.json'} and {out / 'predictions.jsonl'}")
    if result.get("card"):
        console.print(f"the scores are in the model card {result['card']}", soft_wrap=True)
