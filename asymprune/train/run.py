"""Fine-tune a seq2seq model on a summarization dataset: the paper's recipe on HF Seq2SeqTrainer.

    from asymprune.train import TrainConfig, train
    record = train("runs/pruned", Path("runs/pruned-ft"), "synthetic",
                   TrainConfig(learning_rate=1e-3, batch_size=32, max_steps=600, eval_steps=100))
    record["best_eval_loss"], record["steps"]

"Until converged" is early stopping on validation loss: evaluate and checkpoint every
`eval_steps`, stop after `patience` evaluations without improvement, and keep the best
checkpoint's weights. OUT is written once, atomically, at the end: a plain HF model directory
with the tokenizer and a `train.json` recording the recipe, steps, losses and time.
`accelerate launch` and `torchrun` work unchanged: the Trainer picks up the processes, and the
effective batch counts them; only the main process (RANK 0) checks OUT, writes it and talks.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import UsageError
from .checkpoints import prepare_checkpoints
from .config import TrainConfig, check_config, checkpoint_dir, gradient_accumulation, per_device_batch, trackers
from .cached import CachedCollator, cache_encoder_outputs
from .trainer import build_trainer


def train(model_src: str, out: Path, dataset, config: TrainConfig | None = None, *, data=None,
          overwrite: bool = False, console=None, trust_remote_code: bool = False,
          allow_pickle: bool = False) -> dict:
    """Fine-tune `model_src` on `dataset` (a spec or a DatasetDict) and save it to `out`.

    Returns the record written to OUT/train.json. `console` (a rich Console) turns on the
    progress bar and messages; without it training is quiet, for in-process sweeps.
    """
    config, out = config or TrainConfig(), Path(out)
    main_process = int(os.environ.get("RANK", "0")) == 0  # torchrun / accelerate launch set RANK
    say = (lambda text: console.print(text, soft_wrap=True)) if console is not None and main_process \
        else (lambda text: None)
    run = _check_run(model_src, out, config, overwrite, main_process, trust_remote_code, dataset)
    config = _named(config, out, run)
    splits = _load_splits(dataset, data, config)
    model, processor, teacher = _load_models(model_src, config, trust_remote_code, allow_pickle)
    frozen = _freeze_encoder(model, config, say)
    prefix, tokenized, truncated = _tokenize(splits, model, processor, config, say)
    *tokenized, cached = cache_encoder_outputs(model, teacher, processor, tokenized, config, say)
    trainer, progress, timer = build_trainer(model, processor, *tokenized, config, run.checkpoints,
                                             run.accumulation, teacher=teacher,
                                             console=console if main_process else None,
                                             collator=CachedCollator() if cached else None)
    result, seconds, resumed_step = _fit(trainer, run, progress, say)
    record = _record(model_src, dataset, data, config, run, splits, prefix, frozen, truncated, trainer.state,
                     result, seconds, resumed_step)
    record.update(encoder_outputs=cached, step_seconds=step_summary(timer.seconds))
    if timer.seconds:
        say(f"{record['step_seconds']['median']:.3f} s a step (median of {len(timer.seconds)}; the first took "
            f"{record['step_seconds']['first']:.3f} s)")
    _save(trainer, model_src, out, processor, record, overwrite, config)
    return record


@dataclass
class _Run:
    checkpoints: Path          # OUT.checkpoints (or the config's checkpoint_dir)
    world_size: int            # processes of a torchrun / accelerate launch
    accumulation: int          # gradient accumulation steps that make the effective batch
    resume_from: Path | None   # the checkpoint to continue from


def _check_run(model_src: str, out: Path, config: TrainConfig, overwrite: bool, main_process: bool,
               trust_remote_code: bool, dataset=None) -> _Run:
    """Every check that needs neither data nor weights: settings, outputs, configs, checkpoints."""
    from ..fsutil import check_writable_out
    from ..models import check_has_tokenizer, load_config

    check_config(config)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = gradient_accumulation(config, world_size)
    ckpt = checkpoint_dir(out, config)
    if main_process:  # under torchrun the other processes must not race it for OUT
        inputs = [model_src, config.distill_from, dataset]  # never written over, even with --overwrite
        check_writable_out(out, overwrite, inputs=inputs)
        check_writable_out(ckpt, overwrite=True, inputs=inputs)
    for src in (model_src, config.distill_from):  # cheap: config and weight headers, before the data
        if src:
            load_config(src, presets=True, trust_remote_code=trust_remote_code)
    check_has_tokenizer(model_src, presets=True)
    return _Run(ckpt, world_size, accumulation, prepare_checkpoints(ckpt, config, overwrite))


def _named(config: TrainConfig, out: Path, run: _Run) -> TrainConfig:
    """The config with the run's name in the trackers (OUT's folder name unless given) and the folder
    TensorBoard writes to while training (CHECKPOINTS/runs/NAME unless given)."""
    name = config.run_name or out.name
    logs = config.logging_dir or str(run.checkpoints / "runs" / name)
    return replace(config, run_name=name, logging_dir=logs)


@dataclass
class _Splits:
    spec: str                  # the dataset SPEC, or "<in-memory>"
    train: object              # train rows (source, target)
    validation: object         # validation rows, the first `eval_samples` of them


def _load_splits(dataset, data, config: TrainConfig) -> _Splits:
    from ..data import DataConfig, get_split, load_dataset_spec

    spec = dataset if isinstance(dataset, str) else "<in-memory>"
    ds = load_dataset_spec(dataset, data or DataConfig()) if isinstance(dataset, str) else dataset
    train_rows, eval_rows = get_split(ds, "train", spec), get_split(ds, "validation", spec)
    if config.eval_samples is not None:
        eval_rows = eval_rows.select(range(min(config.eval_samples, len(eval_rows))))
    return _Splits(spec, train_rows, eval_rows)


def _load_models(model_src: str, config: TrainConfig, trust_remote_code: bool, allow_pickle: bool):
    """(model, processor (a text family's: its tokenizer), teacher or None)."""
    from ..models import load_model, require_processor

    model = load_model(model_src, presets=True, seed=config.seed, trust_remote_code=trust_remote_code,
                       allow_pickle=allow_pickle)
    processor = require_processor(model_src, presets=True, trust_remote_code=trust_remote_code)
    teacher = None
    if config.distill_from:
        teacher = load_model(config.distill_from, presets=True, trust_remote_code=trust_remote_code,
                             allow_pickle=allow_pickle)
        if teacher.config.vocab_size != model.config.vocab_size:
            raise UsageError(f"teacher {config.distill_from} has a vocabulary of {teacher.config.vocab_size}, the "
                             f"student {model.config.vocab_size}; distill from the unpruned model of the same family")
    return model, processor, teacher


def _freeze_encoder(model, config: TrainConfig, say) -> int | None:
    """With `freeze_encoder` (and `freeze_embeddings`): stop training the encoder (and the decoder's token
    embeddings, the output projection tied to them and its learned positions); the count of frozen parameters."""
    if not (config.freeze_encoder or config.freeze_embeddings):
        return None
    frozen = 0
    if config.freeze_encoder:
        from ..assist import freeze_encoder
        frozen = freeze_encoder(model)
        say(f"encoder frozen: {frozen:,} parameters (embeddings it reads included) stay as they are")
    if config.freeze_embeddings:
        held = {id(p): p for m in (model.get_input_embeddings(), model.get_output_embeddings(),
                                   getattr(model.get_decoder(), "embed_positions", None)) if m is not None
                for p in m.parameters() if p.requires_grad}  # by identity: a tied projection is the embedding
        for p in held.values():
            p.requires_grad_(False)
        count = sum(p.numel() for p in held.values())
        say(f"embeddings frozen: {count:,} parameters (tokens, the tied output projection, positions)")
        frozen += count
    return frozen


def step_summary(seconds: list[float]) -> dict:
    """train.json's step times: count, first (it warms up), median, mean, total, and every step's."""
    import statistics
    if not seconds:
        return {"steps": 0}
    return {"steps": len(seconds), "first": round(seconds[0], 4), "median": round(statistics.median(seconds), 4),
            "mean": round(statistics.mean(seconds), 4), "total": round(sum(seconds), 2),
            "each": [round(s, 4) for s in seconds]}


def _tokenize(splits: _Splits, model, processor, config: TrainConfig, say):
    """(prefix, (train, validation) encoded by the model's family, truncation report per split)."""
    from ..data import truncation_line
    from ..models import family_for

    family = family_for(model.config)
    prefix = family.source_prefix(model.config) if config.prefix is None else config.prefix
    lengths = dict(prefix=prefix, max_source_length=config.max_source_length,
                   max_target_length=config.max_target_length)
    train_tok, train_report = family.encode(splits.train, processor, **lengths)
    eval_tok, eval_report = family.encode(splits.validation, processor, **lengths)
    for name, report in (("train", train_report), ("validation", eval_report)):
        say(truncation_line(name, report, config.max_source_length, config.max_target_length))
    return prefix, (train_tok, eval_tok), {"train": train_report, "validation": eval_report}


def _fit(trainer, run: _Run, progress, say):
    """Train (resuming when asked); (the Trainer's result, seconds, the step resumed from)."""
    resumed_step = 0
    if run.resume_from:
        resumed_step = json.loads((run.resume_from / "trainer_state.json").read_text())["global_step"]
        say(f"resuming from {run.resume_from} (step {resumed_step})")
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(run.resume_from) if run.resume_from else None)
    except KeyboardInterrupt:
        say(f"interrupted: checkpoints are in {run.checkpoints}; run the same command with --resume to continue")
        raise
    finally:
        if progress is not None:
            progress.close()
    return result, time.perf_counter() - started, resumed_step


def _last(log_history: list[dict], key: str):
    values = [e[key] for e in log_history if key in e]
    return values[-1] if values else None


def _record(model_src: str, dataset, data, config: TrainConfig, run: _Run, splits: _Splits, prefix: str,
            frozen: int | None, truncated: dict, state, result, seconds: float, resumed_step: int) -> dict:
    """What OUT/train.json holds: the recipe as run, the data, steps, losses and time."""
    from ..data import DataConfig
    from ..version import __version__

    return {
        "asymprune_version": __version__,
        "source": model_src,
        "dataset": splits.spec,
        "data": asdict(data or DataConfig()) if isinstance(dataset, str) else None,
        "recipe": {**asdict(config), "prefix": prefix, "per_device_batch_size": per_device_batch(config),
                   "gradient_accumulation_steps": run.accumulation,
                   "world_size": run.world_size, "optimizer": "adamw_torch"},
        "rows": {"train": len(splits.train), "validation": len(splits.validation)},
        "frozen_params": frozen,
        "truncated": truncated,
        "steps": state.global_step,
        "resumed_from_step": resumed_step if run.resume_from else None,
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
        "checkpoints": str(run.checkpoints),
    }


def _save(trainer, model_src: str, out: Path, processor, record: dict, overwrite: bool, config: TrainConfig) -> None:
    """OUT, written by the main process: the best weights, the processor (tokenizer), train.json, the
    source's pruning record (asymprune.json) when it has one, the model card, and TensorBoard's
    event files in runs/ (where the hub shows them as training metrics)."""
    from ..fsutil import atomic_dir, write_json
    from ..models import save_model
    from ..models.card import write_card

    if trainer.is_world_process_zero():
        with atomic_dir(out, overwrite=overwrite) as tmp:
            # The best weights (load_best_model_at_end); not trainer.save_model, which adds a pickle
            # of the training arguments.
            save_model(trainer.accelerator.unwrap_model(trainer.model), tmp, processor)
            source_record = Path(model_src) / "asymprune.json"
            if source_record.is_file():  # keep the pruning record with the model it describes
                shutil.copy(source_record, tmp / "asymprune.json")
            write_json(tmp / "train.json", record)
            logs = Path(config.logging_dir)
            if "tensorboard" in trackers(config) and logs.is_dir():
                shutil.copytree(logs, tmp / "runs" / config.run_name)
            # The model card: what was done, from the records above; titled by the run (a sweep's model/variant).
            write_card(tmp, model_src, out.name, title=config.run_name)
    trainer.accelerator.wait_for_everyone()
