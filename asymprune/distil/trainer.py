"""The Seq2SeqTrainer of the re-tune: batches of cached encoder outputs, the KD loss, seconds per step.

    trainer = build_trainer(model, train_set, eval_set, collator, config, checkpoints, teacher=None)
    trainer.train(); trainer.step_seconds   # wall seconds of every optimizer step (data loading included)

The batches hold the student's cached encoder outputs (`encoder_hidden`), the teacher's when
distilling (`teacher_hidden`: the same tensor when both share an encoder), `decoder_input_ids`
(prompt + transcript) and `labels`. The loss runs the decoder alone and applies the output
projection only at labelled positions, so padding costs no vocabulary-sized matmul.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .cache import EncoderCache
from .config import DistilConfig
from .prompt import IGNORE, pad_pairs, training_pair


def distil_loss(logits, labels, teacher_logits=None, alpha: float = 0.8, temperature: float = 2.0):
    """(loss, parts): cross-entropy on `labels`, plus with `teacher_logits` the KL term
    alpha * T^2 * KL(teacher || student) at temperature T and (1 - alpha) * CE, as distil-whisper.

    `logits` are (positions, vocab) at labelled positions or (batch, length, vocab) with -100 labels.
    """
    import torch.nn.functional as F
    if logits.dim() == 3:
        mask = labels != IGNORE
        logits, labels = logits[mask], labels[mask]
        teacher_logits = teacher_logits[mask] if teacher_logits is not None else None
    ce = F.cross_entropy(logits, labels)
    if teacher_logits is None:
        return ce, {"ce": float(ce.detach())}
    t = temperature
    kl = F.kl_div(F.log_softmax(logits / t, dim=-1), F.softmax(teacher_logits.to(logits.dtype) / t, dim=-1),
                  reduction="batchmean") * t * t
    return alpha * kl + (1 - alpha) * ce, {"ce": float(ce.detach()), "kl": float(kl.detach())}


def labelled_logits(model, hidden, decoder_input_ids, mask):
    """Logits (positions, vocab) of the decoder at the `mask` positions, given encoder outputs `hidden`."""
    states = model.get_decoder()(input_ids=decoder_input_ids, encoder_hidden_states=hidden,
                                 use_cache=False).last_hidden_state
    return model.get_output_embeddings()(states[mask])


class RowsDataset:
    """(row id, transcript tokens) pairs; the collator reads the encoder outputs."""

    def __init__(self, ids: list[str], tokens: list[list[int]]):
        self.ids, self.tokens = ids, tokens

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"id": self.ids[i], "tokens": self.tokens[i]}


@dataclass
class CachedCollator:
    student: EncoderCache               # the student's encoder outputs
    teacher: EncoderCache | None        # the teacher's (KD), or None
    prompt: list[int]                   # decoder_prompt(...) of the student
    eos: int                            # <|endoftext|>
    pad: int                            # decoder input padding
    seconds: float = field(default=0.0)  # time spent building batches since last read (reset by the timer)

    def __call__(self, items):
        started = time.perf_counter()
        ids = [it["id"] for it in items]
        inputs, labels = pad_pairs([training_pair(it["tokens"], self.prompt, self.eos) for it in items], self.pad)
        batch = {"encoder_hidden": self.student.stack(ids), "decoder_input_ids": inputs, "labels": labels}
        if self.teacher is not None:
            batch["teacher_hidden"] = batch["encoder_hidden"] if self.teacher.key == self.student.key \
                else self.teacher.stack(ids)
        self.seconds += time.perf_counter() - started
        return batch


def _classes():
    import torch
    from transformers import Seq2SeqTrainer, TrainerCallback

    class DistilTrainer(Seq2SeqTrainer):
        """Seq2SeqTrainer on cached encoder outputs; cross-entropy, or KD from `teacher`."""

        def __init__(self, *args, teacher=None, alpha=0.8, temperature=2.0, collator=None, **kwargs):
            super().__init__(*args, data_collator=collator, **kwargs)
            self.teacher, self.alpha, self.temperature, self.collator = teacher, alpha, temperature, collator
            if teacher is not None:
                self.teacher.to(self.args.device).eval()
            self.step_seconds: list[float] = []   # every optimizer step, data loading included
            self.data_seconds: list[float] = []   # of which building the batch (reading the cache)
            self._logged = 0
            self.parts: dict[str, float] = {}

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"]
            mask = labels != IGNORE
            logits = labelled_logits(model, inputs["encoder_hidden"], inputs["decoder_input_ids"], mask)
            teacher_logits = None
            if self.teacher is not None:
                with torch.no_grad():
                    teacher_logits = labelled_logits(self.teacher, inputs["teacher_hidden"],
                                                     inputs["decoder_input_ids"], mask)
            loss, self.parts = distil_loss(logits, labels[mask], teacher_logits, self.alpha, self.temperature)
            return (loss, {"logits": logits}) if return_outputs else loss

        def log(self, logs, start_time=None):
            if "loss" in logs and len(self.step_seconds) > self._logged:
                recent = self.step_seconds[self._logged:]
                logs["step_seconds"] = round(sum(recent) / len(recent), 4)
                logs.update({f"train_{k}": round(v, 4) for k, v in self.parts.items()})
                self._logged = len(self.step_seconds)
            super().log(logs, start_time)

    class StepTimer(TrainerCallback):
        """Wall time of each optimizer step: the batch's building plus forward, backward and update."""

        def __init__(self, trainer):
            self.trainer, self.started = trainer, None

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            data = self.trainer.collator.seconds
            self.trainer.collator.seconds = 0.0
            self.trainer.data_seconds.append(data)
            self.trainer.step_seconds.append(time.perf_counter() - self.started + data)

    return DistilTrainer, StepTimer


def training_arguments(config: DistilConfig, ckpt: Path, run_name: str, has_eval: bool):
    import torch
    from transformers import Seq2SeqTrainingArguments
    return Seq2SeqTrainingArguments(
        output_dir=str(ckpt), learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps, weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
        optim="adamw_torch", per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, max_steps=config.max_steps,
        eval_strategy="steps" if has_eval else "no", eval_steps=config.eval_steps,
        save_strategy="steps" if has_eval else "no", save_steps=config.eval_steps,
        save_total_limit=config.save_total_limit, load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss", greater_is_better=False, prediction_loss_only=True,
        logging_steps=config.logging_steps, seed=config.seed, report_to=_trackers(config) or "none",
        run_name=run_name, disable_tqdm=True, remove_unused_columns=False, dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(), use_cpu=not torch.cuda.is_available(),
    )


def _trackers(config: DistilConfig) -> list[str]:
    names = [n.strip() for n in config.report_to.split(",") if n.strip()]
    return [] if names in ([], ["none"]) else names


def build_trainer(model, train_set, eval_set, collator: CachedCollator, config: DistilConfig, ckpt: Path,
                  run_name: str, teacher=None):
    from transformers import EarlyStoppingCallback, PrinterCallback
    DistilTrainer, StepTimer = _classes()
    has_eval = eval_set is not None and len(eval_set) > 0
    callbacks = [EarlyStoppingCallback(config.patience)] if config.patience and has_eval else []
    trainer = DistilTrainer(model=model, args=training_arguments(config, ckpt, run_name, has_eval),
                            train_dataset=train_set, eval_dataset=eval_set if has_eval else None,
                            callbacks=callbacks, teacher=teacher, alpha=config.distill_alpha,
                            temperature=config.distill_temperature, collator=collator)
    trainer.add_callback(StepTimer(trainer))
    trainer.remove_callback(PrinterCallback)
    trainer.model_accepts_loss_kwargs = False  # the loss is a per-batch mean (see asymprune.train.trainer)
    return trainer
