"""distil-whisper's re-tune in named steps: a frozen encoder's cached outputs, the decoder trained on them.

    from asymprune.distil import DistilConfig, retune
    record = retune("runs/tiny.en-4-2", Path("runs/tiny.en-4-2-kd"), splits,
                    DistilConfig(max_steps=300, distill_from="runs/tiny.en"))
    record["step_seconds"]["median"], record["frozen"]

`splits` holds `SpeechRow`s: "train" and, for validation loss, checkpoints and early stopping,
"validation". Without a teacher, targets are the rows' texts (or the teacher tokens a
pseudo-labelled dataset carries). With `distill_from` (one setting), the teacher's greedy
transcripts become the targets AND its logits the KL term. OUT is a plain Hugging Face Whisper
folder, written atomically: the weights, the source's processor files and generation config,
and `train.json` (the recipe, what was frozen, the rows, costs, seconds per step and losses).
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UsageError
from ..fsutil import atomic_dir, check_writable_out, write_json
from .cache import EncoderCache, encoder_outputs
from .config import DistilConfig, check_config, freeze
from .prompt import decoder_prompt, text_tokens
from .pseudo import cached_pseudo_labels
from .threads import torch_threads
from .trainer import CachedCollator, RowsDataset, build_trainer

# Files of a Whisper folder that describe how to read audio and text, copied as they are.
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "normalizer.json",
                   "generation_config.json")


def load_whisper(folder: str | Path, what: str = "model"):
    """(model, processor) of a Whisper folder, or one line saying what is wrong with it."""
    from transformers import AutoProcessor, WhisperForConditionalGeneration
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise UsageError(f"{what} {folder} is not a model folder (no config.json); pass a Whisper folder, e.g. "
                         "one written by `asymprune import-ct2`")
    try:
        model = WhisperForConditionalGeneration.from_pretrained(str(folder))
        processor = AutoProcessor.from_pretrained(str(folder))
    except Exception as e:  # a config or weights file that exists but does not load is damaged, not absent
        raise UsageError(f"{what} {folder} cannot be loaded ({str(e).splitlines()[0][:200]}); check its files") \
            from None
    return model.eval(), processor


@dataclass
class _Targets:
    train: RowsDataset
    validation: RowsDataset | None
    dropped: int                 # rows left out (empty pseudo-label)
    truncated: int               # transcripts cut to max_target_length
    pseudo_labels: dict | None   # where the teacher's transcripts are cached, and what they cost


def retune(student_dir: str | Path, out: Path, splits: dict, config: DistilConfig | None = None, *,
           overwrite: bool = False, say=None) -> dict:
    """Re-tune the decoder of the Whisper in `student_dir` on cached encoder outputs; write OUT; return its record."""
    config, out, say = config or DistilConfig(), Path(out), say or (lambda text: None)
    started = time.perf_counter()
    _check(student_dir, out, splits, config, overwrite)
    with torch_threads(config.threads):
        student, processor = load_whisper(student_dir, "student")
        teacher = load_whisper(config.distill_from, "teacher")[0] if config.distill_from else None
        frozen = freeze(student, config.frozen)
        say(f"frozen: {', '.join(f'{k} ({v:,})' for k, v in frozen['frozen'].items())}; "
            f"training {frozen['trainable']:,} parameters")
        rows = {"train": splits["train"], "validation": (splits.get("validation") or [])[:config.eval_samples]}
        caches, cache_costs = _caches(student, teacher, processor, rows, config, say)
        targets = _targets(student, teacher, processor, rows, caches, config, say)
        trainer = build_trainer(student, targets.train, targets.validation,
                                CachedCollator(caches["student"], caches.get("teacher"),
                                               decoder_prompt(student.generation_config),
                                               student.generation_config.eos_token_id,
                                               student.generation_config.pad_token_id),
                                config, out.with_name(out.name + ".checkpoints"), config.run_name or out.name,
                                teacher=teacher)
        fit_started = time.perf_counter()
        result = trainer.train()
        fit_seconds = time.perf_counter() - fit_started
    record = _record(student_dir, config, frozen, rows, targets, cache_costs, trainer, result, fit_seconds,
                     time.perf_counter() - started)
    _save(trainer.model, processor, student_dir, out, record, overwrite)
    shutil.rmtree(out.with_name(out.name + ".checkpoints"), ignore_errors=True)
    say(f"re-tuned {record['steps']} steps, {record['step_seconds']['median']:.2f} s a step; wrote {out}")
    return record


def _check(student_dir, out: Path, splits: dict, config: DistilConfig, overwrite: bool) -> None:
    check_config(config)
    inputs = [str(student_dir)] + ([config.distill_from] if config.distill_from else [])
    check_writable_out(out, overwrite, inputs=inputs)
    if not splits.get("train"):
        raise UsageError("no training rows: give splits['train'] (SpeechRows with audio and text)")


def _caches(student, teacher, processor, rows: dict, config: DistilConfig, say):
    """The encoder outputs of every row, for the student's encoder and (KD) the teacher's: shared when equal."""
    every = rows["train"] + rows["validation"]
    options = dict(extractor=processor.feature_extractor, cache_dir=config.cache_dir, dtype=config.cache_dtype,
                   batch_size=config.encode_batch_size, threads=config.threads)
    caches = {"student": encoder_outputs(student, every, **options)}
    if teacher is not None:
        caches["teacher"] = encoder_outputs(teacher, every, **options)
    costs = {name: {"key": c.key, "folder": str(c.folder), "rows": len(c), "encoded": c.encoded,
                    "seconds": round(c.seconds, 2), "dtype": c.dtype} for name, c in caches.items()}
    for name, c in costs.items():
        say(f"{name} encoder outputs: {c['rows']} rows, {c['encoded']} computed in {c['seconds']:.0f} s")
    return caches, costs


def _targets(student, teacher, processor, rows: dict, caches: dict[str, EncoderCache], config: DistilConfig,
             say) -> _Targets:
    """Token targets per split: the teacher's transcripts (KD), a pseudo-labelled dataset's, or the texts."""
    tokenizer, pseudo, dropped, truncated, out = processor.tokenizer, None, 0, 0, {}
    for split, split_rows in rows.items():
        if not split_rows:
            out[split] = None
            continue
        if teacher is not None:
            started = time.perf_counter()
            labelled, path, computed = cached_pseudo_labels(
                teacher, tokenizer, split_rows, caches["teacher"], cache_dir=config.cache_dir,
                max_new_tokens=config.max_new_tokens, batch_size=config.encode_batch_size, threads=config.threads)
            seconds = time.perf_counter() - started
            pseudo = {**(pseudo or {}), split: {"file": str(path), "computed": computed, "seconds": round(seconds, 2)}}
            say(f"pseudo-labels ({split}): {len(labelled)} of {len(split_rows)} rows, "
                f"{'computed' if computed else 'cached'} ({seconds:.0f} s)")
            dropped += len(split_rows) - len(labelled)
            split_rows = labelled
        tokens = [r.info["teacher_tokens"] if "teacher_tokens" in r.info else text_tokens(tokenizer, r.text)
                  for r in split_rows]
        truncated += sum(len(t) > config.max_target_length for t in tokens)
        out[split] = RowsDataset([r.id for r in split_rows], [t[:config.max_target_length] for t in tokens])
    if out["train"] is None or not len(out["train"]):
        raise UsageError("no training rows left: the teacher's transcripts were all empty")
    return _Targets(out["train"], out["validation"], dropped, truncated, pseudo)


def _summary(seconds: list[float]) -> dict:
    if not seconds:
        return {"steps": 0, "mean": None, "median": None, "first": None}
    return {"steps": len(seconds), "mean": round(statistics.mean(seconds), 4),
            "median": round(statistics.median(seconds), 4), "first": round(seconds[0], 4),
            "total": round(sum(seconds), 2)}


def _record(student_dir, config, frozen, rows, targets: _Targets, cache_costs, trainer, result, fit_seconds,
            seconds) -> dict:
    from ..version import __version__
    state, history = trainer.state, trainer.state.log_history
    last = lambda key: next((e[key] for e in reversed(history) if key in e), None)  # noqa: E731
    return {
        "asymprune_version": __version__, "method": "distil-whisper re-tune (frozen encoder, cached outputs)",
        "source": str(student_dir), "teacher": config.distill_from, "kd": config.distill_from is not None,
        "recipe": asdict(config), "frozen": frozen,
        "rows": {"train": len(targets.train), "validation": len(targets.validation or []),
                 "given": {k: len(v) for k, v in rows.items()}, "dropped_empty": targets.dropped,
                 "truncated": targets.truncated},
        "encoder_outputs": cache_costs, "pseudo_labels": targets.pseudo_labels,
        "steps": state.global_step, "max_steps": state.max_steps, "stopped_early": state.global_step < state.max_steps,
        "epochs": state.epoch, "best_eval_loss": state.best_metric,
        "best_step": int(Path(state.best_model_checkpoint).name.split("-")[-1]) if state.best_model_checkpoint
        else None,
        "final_train_loss": last("loss"), "final_eval_loss": last("eval_loss"),
        "mean_train_loss": result.training_loss,
        "step_seconds": _summary(trainer.step_seconds), "data_seconds": _summary(trainer.data_seconds),
        "loss_history": [{k: e[k] for k in ("step", "loss", "eval_loss", "step_seconds", "train_ce", "train_kl")
                          if k in e} for e in history if "loss" in e or "eval_loss" in e],
        "train_seconds": round(fit_seconds, 2), "seconds": round(seconds, 2),
    }


def _save(model, processor, student_dir, out: Path, record: dict, overwrite: bool) -> None:
    """OUT: save_model's weights and config, the source's processor files and generation config, train.json."""
    from ..models.saving import save_model
    with atomic_dir(out, overwrite=overwrite) as tmp:
        save_model(model, tmp)
        processor.save_pretrained(tmp)
        for name in PROCESSOR_FILES:  # exactly the source's: what generate() and the processor read
            if (Path(student_dir) / name).is_file():
                shutil.copy(Path(student_dir) / name, tmp / name)
        write_json(tmp / "train.json", record)
