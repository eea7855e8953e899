"""Checkpoints of a training run: complete ones found, half-written ones removed, resuming checked.

    last_checkpoint(Path("runs/ft.checkpoints"))   # runs/ft.checkpoints/checkpoint-400, or None

They live next to OUT in `OUT.checkpoints/` and are kept after training, so a run can be
resumed (`resume=True`) after an interruption, or continued to a larger `max_steps`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import UsageError
from .config import TrainConfig

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


def prepare_checkpoints(ckpt: Path, config: TrainConfig, overwrite: bool) -> Path | None:
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
