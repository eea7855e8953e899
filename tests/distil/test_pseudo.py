"""Pseudo-labels are the teacher's own generate() transcripts, decoded on its cached encoder outputs, and kept."""

from __future__ import annotations

import pytest
import torch

from asymprune.distil import cached_pseudo_labels, encoder_outputs, greedy_tokens
from asymprune.errors import UsageError
from asymprune.speech import input_features
from tests.distil.conftest import load_whisper


def test_pseudo_labels_equal_the_teachers_generate(whisper_dir, clips, tmp_path):
    teacher, processor = load_whisper(whisper_dir)
    rows = clips["train"][:4]
    cache = encoder_outputs(teacher, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    with torch.inference_mode():
        own = teacher.generate(input_features([r.read() for r in rows], processor.feature_extractor),
                               max_new_tokens=12, do_sample=False, num_beams=1)
    own = [[t for t in seq if t != 50256] for seq in own.tolist()]
    assert greedy_tokens(teacher, cache, [r.id for r in rows], batch_size=4, max_new_tokens=12) == own
    first, path, computed = cached_pseudo_labels(teacher, rows, cache, cache_dir=tmp_path, max_new_tokens=12)
    second, path2, computed2 = cached_pseudo_labels(teacher, rows, cache, cache_dir=tmp_path, max_new_tokens=12)
    assert computed and not computed2 and path == path2 and first == second == own


def test_damaged_pseudo_labels_are_one_line(whisper_dir, clips, tmp_path):
    teacher, processor = load_whisper(whisper_dir)
    rows = clips["train"][:1]
    cache = encoder_outputs(teacher, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    _, path, _ = cached_pseudo_labels(teacher, rows, cache, cache_dir=tmp_path, max_new_tokens=4)
    path.write_text("{not json\n")
    with pytest.raises(UsageError) as err:
        cached_pseudo_labels(teacher, rows, cache, cache_dir=tmp_path, max_new_tokens=4)
    assert "\n" not in str(err.value) and str(path) in str(err.value) and "damaged" in str(err.value)
