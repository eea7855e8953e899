"""The Hugging Face Seq2SeqTrainer a training run uses: its arguments, distillation, a rich progress bar.

    trainer, progress = build_trainer(model, processor, train_tok, eval_tok, config, ckpt, accumulation)

Built on first use, so that importing asymprune.train stays cheap.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from .config import TrainConfig, per_device_batch, trackers


def _trainer_classes():
    """Trainer subclasses, built on first use so that importing this module stays cheap."""
    import torch
    import torch.nn.functional as F
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn
    from transformers import Seq2SeqTrainer, TrainerCallback

    from ..interrupt import raise_pending

    class Trainer(Seq2SeqTrainer):
        """Seq2SeqTrainer whose length grouping also reads a dataset's own `lengths` (train.cached: label tokens,
        what a step on cached encoder outputs costs), where transformers would look for input ids."""

        def _get_train_sampler(self, train_dataset=None):
            dataset = self.train_dataset if train_dataset is None else train_dataset
            grouped = length_grouped_sampler(self.args, dataset, self.args.train_batch_size *
                                             self.args.gradient_accumulation_steps)
            return grouped if grouped is not None else super()._get_train_sampler(train_dataset)

        def _get_eval_sampler(self, eval_dataset):
            # Validation keeps its rows' order (and draws nothing from the RNG the training order comes from);
            # transformers would group it too, reading input ids a cached split does not have.
            if groups_by_own_lengths(self.args, eval_dataset):
                return torch.utils.data.SequentialSampler(eval_dataset)
            return super()._get_eval_sampler(eval_dataset)

    class DistillationTrainer(Trainer):
        """Cross-entropy plus KL to a teacher's softened token distributions (Shleifer & Rush's KD)."""

        loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by accumulation steps

        def __init__(self, *args, teacher, alpha: float, temperature: float, **kwargs):
            super().__init__(*args, **kwargs)
            self.teacher = teacher.to(self.args.device).eval()
            self.alpha, self.temperature = alpha, temperature

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # cached encoder outputs (train.cached): the teacher's own where its encoder differs, else the student's
            own = inputs.pop("teacher_encoder_outputs", None)
            teacher_logits = inputs.pop("teacher_logits", None)  # cached once (distil.teacher_logits), else run it
            outputs = model(**inputs)
            if teacher_logits is None:
                # accelerate autocasts the prepared model's forward only: the teacher joins its precision here
                with torch.no_grad(), self.accelerator.autocast():
                    teacher_logits = self.teacher(
                        **(inputs if own is None else {**inputs, "encoder_outputs": own})).logits
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

    class PendingInterrupt(TrainerCallback):
        """Raises, at a step's boundary, a Ctrl-C that landed in a finalizer and was deferred (asymprune.interrupt)."""

        def on_step_begin(self, args, state, control, **kwargs):
            raise_pending()

        on_step_end = on_evaluate = on_step_begin

    class StepTimer(TrainerCallback):
        """Wall seconds of every optimizer step: its batches' loading, forward, backward and update; the
        logging, validation and checkpoint saving after a step are left out."""

        def __init__(self):
            self.seconds, self.mark = [], None

        def _now(self, *args, **kwargs):
            self.mark = time.perf_counter()

        on_train_begin = on_log = on_evaluate = on_save = _now

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.mark)
            self.mark = time.perf_counter()

    return Trainer, DistillationTrainer, RichProgress, StepTimer, PendingInterrupt


def length_grouped_sampler(args, dataset, batch_size: int):
    """transformers' LengthGroupedSampler on `dataset.lengths` when grouping by length and the dataset states its
    rows' lengths, else None (the Trainer's own choice). Random megabatches, each sorted by length: a batch's rows
    pad to like lengths (the demo's pseudo-labels: about 30% fewer padded label tokens), the order stays seeded."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    if not groups_by_own_lengths(args, dataset):
        return None
    return LengthGroupedSampler(batch_size, lengths=list(dataset.lengths))


def groups_by_own_lengths(args, dataset) -> bool:
    """Grouping by length, on a dataset that states its rows' lengths (train.cached.CachedSplit)."""
    return args.train_sampling_strategy == "group_by_length" and hasattr(dataset, "lengths")


def training_arguments(config: TrainConfig, ckpt: Path, accumulation: int, own_columns: bool = False):
    """Seq2SeqTrainingArguments for the recipe: a validation and a checkpoint every `eval_steps`,
    the best checkpoint's weights at the end (early stopping on validation loss)."""
    import torch
    from transformers import Seq2SeqTrainingArguments

    return Seq2SeqTrainingArguments(
        output_dir=str(ckpt),
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        optim="adamw_torch",
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
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
        prediction_loss_only=True,  # validation needs the loss alone; gathering logits costs vocab x tokens floats
        remove_unused_columns=not own_columns,  # a collator of our own reads columns the model's forward does not
        restore_callback_states_from_checkpoint=True,  # the patience counter survives --resume
        logging_steps=config.logging_steps,
        seed=config.seed,
        bf16=config.bf16,
        fp16=config.fp16,
        report_to=trackers(config) or "none",  # experiment trackers (--report-to), as the Trainer names them
        run_name=config.run_name,
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without use_cpu, torchrun on a machine without CUDA starts independent trainings instead of
        # one distributed (gloo) run; with it, the processes share the work and the effective batch.
        use_cpu=not torch.cuda.is_available(),
    )


@contextmanager
def _tensorboard_dir(config: TrainConfig):
    """TENSORBOARD_LOGGING_DIR set to the run's logging dir while the Trainer is built: transformers 5's
    TensorBoard callback reads it when made, and would otherwise write ./runs/ in whatever folder the
    command runs in. The variable is restored after."""
    if "tensorboard" not in trackers(config) or not config.logging_dir:
        yield
        return
    before = os.environ.get("TENSORBOARD_LOGGING_DIR")
    os.environ["TENSORBOARD_LOGGING_DIR"] = config.logging_dir
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
        else:
            os.environ["TENSORBOARD_LOGGING_DIR"] = before


def build_trainer(model, processor, train_tok, eval_tok, config: TrainConfig, ckpt: Path, accumulation: int,
                  teacher=None, console=None, collator=None):
    """(trainer, progress, timer): a Seq2SeqTrainer (a distillation one with a teacher) with early stopping,
    the rich progress callback when a `console` is given (else None: quiet, for sweeps), and the step
    timer (`timer.seconds`). `collator` replaces the family's (cached encoder outputs: train.cached)."""
    from transformers import EarlyStoppingCallback, PrinterCallback

    from ..models import family_for

    Trainer, DistillationTrainer, RichProgress, StepTimer, PendingInterrupt = _trainer_classes()
    timer = StepTimer()
    callbacks = ([EarlyStoppingCallback(config.patience)] if config.patience else []) + [timer, PendingInterrupt()]
    progress = RichProgress(console) if console is not None else None
    if progress is not None:
        callbacks.append(progress)
    args = training_arguments(config, ckpt, accumulation, own_columns=collator is not None)
    kwargs = dict(model=model, args=args, train_dataset=train_tok,
                  eval_dataset=eval_tok, processing_class=processor,
                  data_collator=collator or family_for(model.config).data_collator(processor, model),
                  callbacks=callbacks)
    with _tensorboard_dir(config):  # the Trainer builds the trackers' callbacks, which read it, here
        if teacher is not None:
            trainer = DistillationTrainer(**kwargs, teacher=teacher, alpha=config.distill_alpha,
                                          temperature=config.distill_temperature)
        else:
            trainer = Trainer(**kwargs)
    trainer.remove_callback(PrinterCallback)  # the rich bar (or silence) instead of raw log dicts
    # T5 and BART accept **kwargs but ignore `num_items_in_batch`, so the Trainer would take their
    # per-batch mean loss as already normalized and skip dividing it by the accumulation steps:
    # the logged loss and the gradients would come out accumulation-times too large.
    trainer.model_accepts_loss_kwargs = False
    return trainer, progress, timer
