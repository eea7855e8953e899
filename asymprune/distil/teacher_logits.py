"""The teacher's logits on the training labels, computed once and read by every KD step of every re-tune.

    logits, path, computed = cached_teacher_logits(teacher, cache, ids, labels)   # logits.load(id): (L, V) float16

With a frozen encoder and fixed labels (the teacher's own transcripts), what the teacher says at each
label position never changes: the same for every step, epoch and pruned student of a sweep. Recomputing
it in every step was half of a distil-whisper step on CPU (tiny.en, batch 16: 0.87 of 1.75 s in
bfloat16). Here it is one teacher-forced pass in float32 per utterance, stored as float16 (a logit
rounded by under 0.02 at |x| < 32), one safetensors file keyed by the teacher's weights, its encoder
outputs and the labels; the rows are memory-mapped, not held in RAM.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import UsageError
from ..fsutil import atomic_file
from ..speech.cache import cache_root, digest
from .cache import EncoderCache, weights_digest
from .threads import AUTOCAST, mixed_precision, torch_threads

FORMAT = 1  # bump when what is stored changes


class TeacherLogits:
    """Row id -> the teacher's logits at that row's label positions, (len(labels), vocab) float16."""

    def __init__(self, path: Path):
        from safetensors import safe_open
        self.path = path
        try:
            self._file = safe_open(str(path), framework="pt")
            self.ids = set(self._file.keys())
        except Exception as e:  # safetensors raises its own error types for a truncated or foreign file
            raise UsageError(f"cached teacher logits {path} are damaged ({type(e).__name__}: {e}); delete the "
                             "file and run again") from None

    def load(self, row_id: str):
        return self._file.get_tensor(row_id)


def teacher_logits_key(teacher, cache: EncoderCache, ids: list[str], labels: list[list[int]],
                       autocast: str | None = None) -> str:
    what = {"format": FORMAT, "teacher": weights_digest(teacher), "encoder_outputs": cache.key, "ids": ids,
            "labels": labels}
    return digest({**what, "autocast": autocast} if autocast else what)


def cached_teacher_logits(teacher, cache: EncoderCache, ids: list[str], labels: list[list[int]], *,
                          cache_dir: Path | None = None, batch_size: int = 8, threads: int | None = None,
                          autocast: str | None = None) -> tuple[TeacherLogits, Path, bool, float]:
    """(the logits, their file, whether computed now, seconds spent). `cache` holds the teacher's encoder outputs.
    `autocast`: computed under torch.autocast at that precision, as the re-tune's steps would run the teacher."""
    if autocast not in AUTOCAST:
        raise UsageError(f"teacher logits autocast '{autocast}': choose bfloat16, float16 or none")
    key = teacher_logits_key(teacher, cache, ids, labels, autocast)
    path = Path(cache_dir or cache_root()) / "distil" / "teacher-logits" / f"{key[:24]}.safetensors"
    if path.exists():  # present but unreadable is damaged (TeacherLogits says so), never recomputed silently
        logits = TeacherLogits(path)
        if logits.ids != set(ids):
            raise UsageError(f"cached teacher logits {path} are damaged (their rows are not the clips they are "
                             "named for); delete the file and run again")
        return logits, path, False, 0.0
    started = time.perf_counter()
    tensors = _compute(teacher, cache, ids, labels, batch_size, threads, autocast)
    path.parent.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save
    with atomic_file(path, "wb") as f:
        f.write(save(tensors, metadata={"format": str(FORMAT), "key": key}))
    return TeacherLogits(path), path, True, time.perf_counter() - started


def _compute(teacher, cache: EncoderCache, ids, labels, batch_size: int, threads, autocast=None) -> dict:
    """Teacher-forced float32 logits of each row at its own label positions (the decoder is causal: a
    position's logits do not depend on the padding after it), as float16."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput
    out = {}
    teacher.eval()
    with torch_threads(threads), torch.inference_mode(), mixed_precision(autocast, teacher.device.type):
        for start in range(0, len(ids), batch_size):
            chunk, rows = ids[start:start + batch_size], labels[start:start + batch_size]
            width = max(len(r) for r in rows)
            padded = torch.tensor([r + [-100] * (width - len(r)) for r in rows], dtype=torch.long)
            hidden = cache.stack(chunk).to(teacher.dtype)
            logits = teacher(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), labels=padded).logits
            for row_id, row, lg in zip(chunk, rows, logits):
                out[row_id] = lg[:len(row)].float().to(torch.float16).contiguous()
    return out
