"""Frozen-encoder training on cached encoder outputs: distil-whisper's way of re-tuning a decoder.

    train_set, eval_set, record = cache_encoder_outputs(model, teacher, processor, (train_tok, eval_tok),
                                                        config, say)
    collator = CachedCollator()      # stacks the cached outputs as `encoder_outputs`, pads labels with -100

With `--freeze-encoder`, a family whose encoder is costly to run (Whisper: every utterance is one
30-second window) names the rows to cache (`Family.encoder_cache_rows`). Their encoder outputs are
computed once, on disk and keyed by the encoder's weights (asymprune.distil.cache), and every
training and validation step reads them as `encoder_outputs`: the model runs its decoder alone. A
teacher whose encoder differs from the student's (an encoder-pruned student) gets its own cache,
passed as `teacher_encoder_outputs`; with the same encoder they share one.

`--pseudo-labels` replaces the training split's labels by the teacher's greedy transcripts
(decoded on its cached outputs, themselves cached): distil-whisper's pseudo-labelling. Validation
keeps its reference transcripts, so the validation loss is measured against the truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import UsageError
from .config import TrainConfig

IGNORE = -100  # label value the loss skips


class CachedSplit:
    """An encoded split whose rows read their encoder outputs from the cache: {"encoder_hidden", "labels"}."""

    def __init__(self, cache, ids: list[str], labels: list[list[int]], teacher_cache=None, teacher_logits=None):
        self.cache, self.ids, self.labels, self.teacher_cache = cache, ids, labels, teacher_cache
        self.teacher_logits = teacher_logits  # distil.TeacherLogits: the teacher's answers, so it need not run

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> list[int]:
        """Label tokens per row: with the encoder's outputs cached, a step's cost grows with its padded labels."""
        return [len(x) for x in self.labels]

    def __getitem__(self, i: int) -> dict:
        row = {"encoder_hidden": self.cache.load(self.ids[i]), "labels": list(self.labels[i])}
        if self.teacher_logits is not None:
            row["teacher_logits"] = self.teacher_logits.load(self.ids[i])
        elif self.teacher_cache is not None:
            row["teacher_hidden"] = self.teacher_cache.load(self.ids[i])
        return row


@dataclass
class CachedCollator:
    """Stacks cached encoder outputs into `encoder_outputs` (a 1-tuple, as the model's forward takes them)
    and the teacher's into `teacher_encoder_outputs`; pads labels with -100."""
    label_pad: int = IGNORE  # what padded label positions hold

    def __call__(self, rows: list[dict]) -> dict:
        import torch
        width = max(len(r["labels"]) for r in rows)
        batch = {"encoder_outputs": (torch.stack([r["encoder_hidden"] for r in rows]),),
                 "labels": torch.tensor([r["labels"] + [self.label_pad] * (width - len(r["labels"])) for r in rows],
                                        dtype=torch.long)}
        if "teacher_hidden" in rows[0]:
            batch["teacher_encoder_outputs"] = (torch.stack([r["teacher_hidden"] for r in rows]),)
        if "teacher_logits" in rows[0]:  # padded positions are masked out of the loss with the labels
            batch["teacher_logits"] = torch.nn.utils.rnn.pad_sequence([r["teacher_logits"] for r in rows],
                                                                      batch_first=True)
        return batch


def cache_encoder_outputs(model, teacher, processor, tokenized: tuple, config: TrainConfig, say):
    """(train, validation, record): the encoded splits on cached encoder outputs (unchanged, record None,
    where the family runs its encoder each step or the encoder trains)."""
    from ..models import family_for

    family = family_for(model.config)
    if not config.freeze_encoder:
        return (*tokenized, None)
    rows = [family.encoder_cache_rows(split) for split in tokenized]
    if rows[0] is None:
        if config.pseudo_labels:
            raise UsageError(f"--pseudo-labels needs cached encoder outputs, which a '{model.config.model_type}' "
                             "model's training does not use (its encoder runs each step); drop the flag")
        return (*tokenized, None)
    record = {"cache_dir": config.cache_dir, "splits": {}}
    splits = []
    for name, split, split_rows in zip(("train", "validation"), tokenized, rows):
        student, teacher_cache, costs = _caches(model, teacher, processor, split_rows, config)
        record["splits"][name] = costs
        say(f"encoder outputs ({name}): {len(split_rows)} utterances, {costs['student']['encoded']} computed in "
            f"{costs['student']['seconds']:.0f} s" + (", the teacher's too" if "teacher" in costs else ""))
        labels, ids, logits = split.labels, [r.id for r in split_rows], None
        if name == "train" and config.pseudo_labels:
            labels, record["pseudo_labels"] = _pseudo_labels(teacher, family, split_rows,
                                                             teacher_cache or student, config, say)
        if name == "train" and teacher is not None:
            logits, record["teacher_logits"] = _teacher_logits(teacher, teacher_cache or student, ids, labels,
                                                               config, say)
        splits.append(CachedSplit(student, ids, labels, teacher_cache, logits))
    return (*splits, record)


def _teacher_logits(teacher, cache, ids, labels, config: TrainConfig, say):
    """(the teacher's logits on the training labels, computed once per teacher, clips and labels; what it cost)."""
    from ..distil import cached_teacher_logits

    logits, path, computed, seconds = cached_teacher_logits(teacher, cache, ids, [list(x) for x in labels],
                                                            cache_dir=config.cache_dir,
                                                            batch_size=config.encode_batch_size,
                                                            autocast=_autocast(config))
    say(f"teacher logits: {len(ids)} utterances, {'computed' if computed else 'cached'} ({seconds:.0f} s)")
    return logits, {"file": str(path), "computed": computed, "seconds": round(seconds, 2),
                    "bytes": path.stat().st_size}


def _caches(model, teacher, processor, rows, config: TrainConfig):
    """(student cache, the teacher's when its encoder differs else None, what each cost)."""
    from ..distil import encoder_outputs

    # A mixed-precision re-tune computes the frozen encoder's outputs at its precision too (the costliest part of
    # caching: every utterance is a 30-second window); evaluation keeps exact ones (EvalConfig.encoder_cache).
    options = dict(extractor=processor.feature_extractor, cache_dir=config.cache_dir,
                   batch_size=config.encode_batch_size, autocast=_autocast(config))
    student = encoder_outputs(model, rows, **options)
    costs = {"student": _cost(student)}
    teacher_cache = None
    if teacher is not None:
        shared = encoder_outputs(teacher, rows, **options)
        costs["teacher"] = _cost(shared)
        teacher_cache = shared if shared.key != student.key else None
    return student, teacher_cache, costs


def _autocast(config: TrainConfig) -> str | None:
    """The precision a mixed-precision re-tune computes its cached encoder outputs and teacher logits in (its
    steps' own), or None: exact, in float32. Pseudo-labels stay the teacher's float32 transcripts."""
    return "bfloat16" if config.bf16 else "float16" if config.fp16 else None


def _cost(cache) -> dict:
    return {"key": cache.key, "folder": str(cache.folder), "rows": len(cache), "encoded": cache.encoded,
            "seconds": round(cache.seconds, 2)}


def _pseudo_labels(teacher, family, rows, cache, config: TrainConfig, say):
    """(labels from the teacher's transcripts, what it cost)."""
    from ..distil import cached_pseudo_labels

    started = time.perf_counter()
    tokens, path, computed = cached_pseudo_labels(teacher, rows, cache, cache_dir=config.cache_dir,
                                                  max_new_tokens=config.max_target_length,
                                                  batch_size=config.encode_batch_size)
    seconds = time.perf_counter() - started
    say(f"pseudo-labels: {len(tokens)} teacher transcripts, {'computed' if computed else 'cached'} "
        f"({seconds:.0f} s)")
    gen, cfg = teacher.generation_config, teacher.config
    labels = [family.label_ids(t, gen, cfg)[:config.max_target_length] for t in tokens]
    return labels, {"file": str(path), "computed": computed, "seconds": round(seconds, 2), "rows": len(tokens),
                    "empty": sum(not t for t in tokens)}
