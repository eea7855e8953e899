"""The teacher's logits on fixed labels are computed once, equal its own forward, and a damaged file is refused."""

from __future__ import annotations

import pytest
import torch

from asymprune.distil import cached_teacher_logits, encoder_outputs
from asymprune.errors import UsageError
from tests.distil.conftest import load_whisper


def _setup(whisper_dir, clips, tmp_path, n=3):
    teacher, processor = load_whisper(whisper_dir)
    rows = clips["train"][:n]
    cache = encoder_outputs(teacher, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    labels = [[50257, 50362, *range(100 + i, 104 + 2 * i)] for i in range(n)]  # rows of different lengths
    return teacher, cache, [r.id for r in rows], labels


def test_teacher_logits_equal_its_forward_and_are_reused(whisper_dir, clips, tmp_path):
    teacher, cache, ids, labels = _setup(whisper_dir, clips, tmp_path)
    logits, path, computed, _ = cached_teacher_logits(teacher, cache, ids, labels, cache_dir=tmp_path, batch_size=2)
    again, path2, computed2, _ = cached_teacher_logits(teacher, cache, ids, labels, cache_dir=tmp_path)
    assert computed and not computed2 and path == path2
    for row_id, row in zip(ids, labels):  # each row alone, unpadded: padding in the batch changed nothing
        with torch.inference_mode():
            own = teacher(encoder_outputs=(cache.stack([row_id]),), labels=torch.tensor([row])).logits[0]
        stored = again.load(row_id)
        assert stored.dtype == torch.float16 and stored.shape == own.shape == (len(row), teacher.config.vocab_size)
        assert torch.allclose(stored.float(), own, atol=0.02, rtol=1e-3)
    # other labels are another file
    _, other, computed3, _ = cached_teacher_logits(teacher, cache, ids, [r[:-1] for r in labels], cache_dir=tmp_path)
    assert computed3 and other != path


def test_damaged_teacher_logits_are_one_line(whisper_dir, clips, tmp_path):
    teacher, cache, ids, labels = _setup(whisper_dir, clips, tmp_path, n=1)
    _, path, _, _ = cached_teacher_logits(teacher, cache, ids, labels, cache_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UsageError) as err:
        cached_teacher_logits(teacher, cache, ids, labels, cache_dir=tmp_path)
    assert "\n" not in str(err.value) and str(path) in str(err.value) and "damaged" in str(err.value)
