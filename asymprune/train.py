"""Fine-tune a seq2seq model on a summarization dataset: the paper's recipe on HF Seq2SeqTrainer.

    from asymprune.train import TrainConfig, train
    record = train("runs/pruned", Path("runs/pruned-ft"), "synthetic",
                   TrainConfig(learning_rate=1e-3, batch_size=32, max_steps=600, eval_steps=100))
    record["best_eval_loss"], record["steps"]

Defaults are the paper's recipe (from its released code): effective batch 64 (per-device batch x
gradient accumulation x processes), AdamW at a constant 1e-4, weight decay 0.01, sources up to
1024 tokens and targets up to 256, prefix "summarize: " for T5. "Until converged" is early
stopping on validation loss: evaluate and checkpoint every `eval_steps`, stop after `patience`
evaluations without improvement, and keep the best checkpoint's weights.

Checkpoints live next to OUT in `OUT.checkpoints/` and are kept after training, so a run can be
resumed (`resume=True`) after an interruption, or continued to a larger `max_steps`. OUT itself
is written once, atomically, at the end: a plain HF model directory with the tokenizer and a
`train.json` recording the recipe, steps, losses and time. `accelerate launch` and `torchrun`
work unchanged: the Trainer picks up the processes, and the effective batch counts them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import UsageError

CHECKPOINT_SUFFIX = ".checkpoints"


@dataclass
class TrainConfig:
    learning_rate: float = 1e-4              # paper: 1e-4, held constant
    lr_scheduler: str = "constant"           # any transformers scheduler name: constant, linear, cosine, ...
    warmup_steps: int = 0                    # linear warm-up steps before the schedule
    weight_decay: float = 0.01               # AdamW weight decay (paper: 0.01)
    batch_size: int = 64                     # effective batch: per-device x accumulation x processes (paper: 64)
    per_device_batch_size: int | None = None  # examples per forward pass (None: up to 8); accumulation does the rest
    max_source_length: int = 1024            # source tokens kept (paper: 1024); longer sources are truncated
    max_target_length: int = 256             # target tokens kept (paper: 256)
    prefix: str | None = None                # None: "summarize: " for T5-family models, "" otherwise
    epochs: float = 3.0                      # upper bound on passes over train when max_steps is not set
    max_steps: int | None = None             # optimizer steps; overrides epochs
    eval_steps: int = 500                    # validation loss and a checkpoint every N steps
    eval_samples: int | None = None          # validation rows used for the loss; None: the whole split
    patience: int = 3                        # evaluations without improvement before stopping; 0: never stop early
    logging_steps: int = 10                  # train loss logged every N steps
    save_total_limit: int = 2                # checkpoints kept (the best one is always kept too)
    seed: int = 0                            # weights of presets, data order, dropout
    bf16: bool = False                       # bfloat16 mixed precision (GPU)
    fp16: bool = False                       # float16 mixed precision (GPU)
    resume: bool = False                     # continue from the last checkpoint in the checkpoint dir
    checkpoint_dir: str | None = None        # None: OUT.checkpoints next to OUT
    distill_from: str | None = None          # teacher model: add Shleifer & Rush's distillation loss
    distill_alpha: float = 0.8               # weight of the distillation loss (1 - alpha on cross-entropy)
    distill_temperature: float = 2.0         # softmax temperature of teacher and student
    freeze_encoder: bool = False             # train the decoder only: a draft keeps its full model's encoder


def checkpoint_dir(out: Path, config: TrainConfig) -> Path:
    return Path(config.checkpoint_dir) if config.checkpoint_dir else out.with_name(out.name + CHECKPOINT_SUFFIX)


def per_device_batch(config: TrainConfig) -> int:
    return config.per_device_batch_size or min(8, config.batch_size)


def gradient_accumulation(config: TrainConfig, world_size: int) -> int:
    """Accumulation steps that make per-device batches add up to the effective batch."""
    per_step = per_device_batch(config) * world_size
    if config.batch_size % per_step:
        raise UsageError(f"--batch-size {config.batch_size} is not a multiple of --per-device-batch-size "
                         f"{per_device_batch(config)} x {world_size} process(es); pass a per-device batch that "
                         "divides it")
    return config.batch_size // per_step


def check_config(config: TrainConfig) -> None:
    """Fail on impossible settings before any work."""
    import torch
    from transformers.trainer_utils import SchedulerType

    for name in ("batch_size", "max_source_length", "max_target_length", "eval_steps",
                 "logging_steps", "save_total_limit"):
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(config, name)})")
    if config.per_device_batch_size is not None and not 0 < config.per_device_batch_size <= config.batch_size:
        raise UsageError(f"--per-device-batch-size {config.per_device_batch_size} must be between 1 and --batch-size "
                         f"{config.batch_size}")
    if config.max_steps is not None and config.max_steps < 1:
        raise UsageError(f"--max-steps {config.max_steps}: train for at least 1 step")
    if config.epochs <= 0:
        raise UsageError(f"--epochs {config.epochs}: must be more than 0")
    if config.learning_rate <= 0:
        raise UsageError(f"--learning-rate {config.learning_rate}: must be more than 0")
    if config.patience < 0:
        raise UsageError(f"--patience {config.patience}: pass 0 to turn early stopping off, or a positive count")
    if config.eval_samples is not None and config.eval_samples < 1:
        raise UsageError(f"--eval-samples {config.eval_samples}: use at least 1 row, or leave it out for all")
    schedulers = [s.value for s in SchedulerType]
    if config.lr_scheduler not in schedulers:
        raise UsageError(f"unknown --lr-scheduler '{config.lr_scheduler}'; choose one of: {', '.join(schedulers)}")
    if config.bf16 and config.fp16:
        raise UsageError("--bf16 and --fp16 both given; pass one of them")
    if (config.bf16 or config.fp16) and not torch.cuda.is_available():
        raise UsageError(f"--{'bf16' if config.bf16 else 'fp16'} needs a CUDA GPU and none is available; "
                         "drop the flag to train in float32")
    if not 0 <= config.distill_alpha <= 1 or config.distill_temperature <= 0:
        raise UsageError("--distill-alpha must be in [0, 1] and --distill-temperature above 0")


def _trainer_classes():
    """Trainer subclasses, built on first use so that importing this module stays cheap."""
    import torch
    import torch.nn.functional as F
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn
    from transformers import Seq2SeqTrainer, TrainerCallback

    class DistillationTrainer(Seq2SeqTrainer):
        """Cross-entropy plus KL to a teacher's softened token distributions (Shleifer & Rush's KD)."""

        loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by accumulation steps

        def __init__(self, *args, teacher, alpha: float, temperature: float, **kwargs):
            super().__init__(*args, **kwargs)
            self.teacher = teacher.to(self.args.device).eval()
            self.alpha, self.temperature = alpha, temperature

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(**inputs)
            with torch.no_grad():
                teacher_logits = self.teacher(**inputs).logits
            mask = inputs["labels"] != -100
            t = self.temperature
            student = F.log_softmax(outputs.logits[mask] / t, dim=-1)
            teacher = F.softmax(teacher_logits[mask].to(student.dtype) / t, dim=-1)
            kd = F.kl_div(student, teacher, reduction="batchmean") * t * t
            loss = self.alpha * kd + (1 - self.alpha) * outputs.loss
            return (loss, outputs) if return_outputs else loss

    class RichProgress(TrainerCallback):
        """A rich progress bar with the latest train loss, and a line per validation."""

        def __init__(self, console):
            self.console, self.progress, self.task, self.loss = console, None, None, None

        def on_train_begin(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            self.progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                     console=self.console, transient=False)
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, loss="")
            self.progress.start()

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.progress is not None and logs and "loss" in logs:
                self.progress.update(self.task, loss=f"loss {logs['loss']:.4f}")

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if self.progress is not None and metrics and "eval_loss" in metrics:
                best = state.best_metric
                best = min(best, metrics["eval_loss"]) if best is not None else metrics["eval_loss"]
                self.progress.console.print(f"step {state.global_step:>6}: validation loss "
                                            f"{metrics['eval_loss']:.4f} (best {best:.4f})")

        def on_train_end(self, args, state, control, **kwargs):
            self.close()

        def close(self):
            # Also called when training is interrupted: the live display redirects stderr until stopped.
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return DistillationTrainer, RichProgress


def is_complete_checkpoint(path: Path) -> bool:
    """Whether a checkpoint folder was written to the end.

    The Trainer writes weights, optimizer, scheduler and RNG state first and trainer_state.json
    last (transformers 5 `_save_checkpoint`), not atomically: a checkpoint whose
    trainer_state.json is missing or does not parse was cut off mid-save and cannot be resumed.
    """
    try:
        return "global_step" in json.loads((path / "trainer_state.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def last_checkpoint(ckpt: Path) -> Path | None:
    """The newest complete checkpoint in `ckpt` (or None), after removing every half-written one.

        last_checkpoint(Path("runs/ft.checkpoints"))   # runs/ft.checkpoints/checkpoint-400
    """
    found = sorted((p for p in ckpt.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True) if ckpt.is_dir() else []
    complete = []
    for path in found:
        if is_complete_checkpoint(path):
            complete.append(path)
        else:
            shutil.rmtree(path, ignore_errors=True)  # other processes of a multi-GPU run do the same
    return complete[0] if complete else None


def _prepare_checkpoints(ckpt: Path, config: TrainConfig, overwrite: bool) -> Path | None:
    """The checkpoint to resume from (or None), after checking the checkpoint dir against the flags."""
    last = last_checkpoint(ckpt)
    if config.resume:
        if last is None:
            raise UsageError(f"--resume: no checkpoint in {ckpt}; run without --resume to start training")
        return last
    if last is not None:
        if not overwrite:
            raise UsageError(f"{ckpt} holds checkpoints of an earlier run; pass --resume to continue it, or "
                             "--overwrite to start over")
        shutil.rmtree(ckpt, ignore_errors=True)
    return None


def _last(log_history: list[dict], key: str):
    values = [e[key] for e in log_history if key in e]
    return values[-1] if values else None


def train(model_src: str, out: Path, dataset, config: TrainConfig | None = None, *, data=None,
          overwrite: bool = False, console=None, trust_remote_code: bool = False,
          allow_pickle: bool = False) -> dict:
    """Fine-tune `model_src` on `dataset` (a spec or a DatasetDict) and save it to `out`.

    Returns the record written to OUT/train.json. `console` (a rich Console) turns on the
    progress bar and messages; without it training is quiet, for in-process sweeps.
    """
    import torch
    from transformers import DataCollatorForSeq2Seq, EarlyStoppingCallback, PrinterCallback, Seq2SeqTrainer, \
        Seq2SeqTrainingArguments

    from . import __version__
    from .data import DataConfig, get_split, load_dataset_spec, source_prefix, tokenize, truncation_line
    from .fsutil import atomic_dir, check_writable_out, write_json
    from .models import load_config, load_model, load_tokenizer, save_model

    config = config or TrainConfig()
    out = Path(out)
    main_process = int(os.environ.get("RANK", "0")) == 0  # torchrun / accelerate launch set RANK
    say = (lambda text: console.print(text, soft_wrap=True)) if console is not None and main_process \
        else (lambda text: None)
    check_config(config)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = gradient_accumulation(config, world_size)
    ckpt = checkpoint_dir(out, config)
    if main_process:  # under torchrun the other processes must not race it for OUT
        check_writable_out(out, overwrite)
        check_writable_out(ckpt, overwrite=True)
    for src in (model_src, config.distill_from):  # cheap: config and weight headers, before the data
        if src:
            load_config(src, presets=True, trust_remote_code=trust_remote_code)
    resume_from = _prepare_checkpoints(ckpt, config, overwrite)

    spec = dataset if isinstance(dataset, str) else "<in-memory>"
    ds = load_dataset_spec(dataset, data or DataConfig()) if isinstance(dataset, str) else dataset
    train_rows, eval_rows = get_split(ds, "train", spec), get_split(ds, "validation", spec)
    if config.eval_samples is not None:
        eval_rows = eval_rows.select(range(min(config.eval_samples, len(eval_rows))))

    model = load_model(model_src, presets=True, seed=config.seed, trust_remote_code=trust_remote_code,
                       allow_pickle=allow_pickle)
    tokenizer = load_tokenizer(model_src, presets=True, trust_remote_code=trust_remote_code)
    if tokenizer is None:
        raise UsageError(f"'{model_src}' has no tokenizer; save one into the model directory")
    teacher = None
    if config.distill_from:
        teacher = load_model(config.distill_from, presets=True, trust_remote_code=trust_remote_code,
                             allow_pickle=allow_pickle)
        if teacher.config.vocab_size != model.config.vocab_size:
            raise UsageError(f"teacher {config.distill_from} has a vocabulary of {teacher.config.vocab_size}, the "
                             f"student {model.config.vocab_size}; distill from the unpruned model of the same family")
    frozen = None
    if config.freeze_encoder:
        from .assist import freeze_encoder
        frozen = freeze_encoder(model)
        say(f"encoder frozen: {frozen:,} parameters (embeddings it reads included) stay as they are")
    prefix = source_prefix(model.config.model_type) if config.prefix is None else config.prefix
    lengths = dict(prefix=prefix, max_source_length=config.max_source_length,
                   max_target_length=config.max_target_length)
    train_tok, train_report = tokenize(train_rows, tokenizer, **lengths)
    eval_tok, eval_report = tokenize(eval_rows, tokenizer, **lengths)
    for name, report in (("train", train_report), ("validation", eval_report)):
        say(truncation_line(name, report, config.max_source_length, config.max_target_length))

    args = Seq2SeqTrainingArguments(
        output_dir=str(ckpt),
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        optim="adamw_torch",
        per_device_train_batch_size=per_device_batch(config),
        per_device_eval_batch_size=per_device_batch(config),
        gradient_accumulation_steps=accumulation,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.eval_steps,  # early stopping needs a checkpoint at every evaluation
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        restore_callback_states_from_checkpoint=True,  # the patience counter survives --resume
        logging_steps=config.logging_steps,
        seed=config.seed,
        bf16=config.bf16,
        fp16=config.fp16,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without use_cpu, torchrun on a machine without CUDA starts independent trainings instead of
        # one distributed (gloo) run; with it, the processes share the work and the effective batch.
        use_cpu=not torch.cuda.is_available(),
    )
    DistillationTrainer, RichProgress = _trainer_classes()
    callbacks = [EarlyStoppingCallback(config.patience)] if config.patience else []
    progress = RichProgress(console) if console is not None and main_process else None
    if progress is not None:
        callbacks.append(progress)
    kwargs = dict(model=model, args=args, train_dataset=train_tok, eval_dataset=eval_tok, processing_class=tokenizer,
                  data_collator=DataCollatorForSeq2Seq(tokenizer, model=model), callbacks=callbacks)
    if teacher is not None:
        trainer = DistillationTrainer(**kwargs, teacher=teacher, alpha=config.distill_alpha,
                                      temperature=config.distill_temperature)
    else:
        trainer = Seq2SeqTrainer(**kwargs)
    trainer.remove_callback(PrinterCallback)  # the rich bar (or silence) instead of raw log dicts
    # T5 and BART accept **kwargs but ignore `num_items_in_batch`, so the Trainer would take their
    # per-batch mean loss as already normalized and skip dividing it by the accumulation steps:
    # the logged loss and the gradients would come out accumulation-times too large.
    trainer.model_accepts_loss_kwargs = False

    resumed_step = 0
    if resume_from:
        resumed_step = json.loads((resume_from / "trainer_state.json").read_text())["global_step"]
        say(f"resuming from {resume_from} (step {resumed_step})")
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except KeyboardInterrupt:
        say(f"interrupted: checkpoints are in {ckpt}; run the same command with --resume to continue")
        raise
    finally:
        if progress is not None:
            progress.close()
    seconds = time.perf_counter() - started
    state = trainer.state

    record = {
        "asymprune_version": __version__,
        "source": model_src,
        "dataset": spec,
        "data": asdict(data or DataConfig()) if isinstance(dataset, str) else None,
        "recipe": {**asdict(config), "prefix": prefix, "per_device_batch_size": per_device_batch(config),
                   "gradient_accumulation_steps": accumulation,
                   "world_size": world_size, "optimizer": "adamw_torch"},
        "rows": {"train": len(train_rows), "validation": len(eval_rows)},
        "frozen_params": frozen,
        "truncated": {"train": train_report, "validation": eval_report},
        "steps": state.global_step,
        "resumed_from_step": resumed_step if resume_from else None,
        "steps_this_run": state.global_step - resumed_step,
        "max_steps": state.max_steps,
        "epochs": state.epoch,
        "stopped_early": state.global_step < state.max_steps,
        "best_step": int(Path(state.best_model_checkpoint).name.split("-")[-1]) if state.best_model_checkpoint
        else None,
        "best_eval_loss": state.best_metric,
        "final_train_loss": _last(state.log_history, "loss"),
        "final_eval_loss": _last(state.log_history, "eval_loss"),
        "mean_train_loss": result.training_loss,
        "seconds": seconds,
        "checkpoints": str(ckpt),
    }
    if trainer.is_world_process_zero():
        with atomic_dir(out, overwrite=overwrite) as tmp:
            # The best weights (load_best_model_at_end); not trainer.save_model, which adds a pickle
            # of the training arguments.
            save_model(trainer.accelerator.unwrap_model(trainer.model), tmp, tokenizer)
            source_record = Path(model_src) / "asymprune.json"
            if source_record.is_file():  # keep the pruning record with the model it describes
                shutil.copy(source_record, tmp / "asymprune.json")
            write_json(tmp / "train.json", record)
    trainer.accelerator.wait_for_everyone()
    return record
