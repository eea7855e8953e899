"""Whisper log-mel features: one 30-second window per clip, always; batches in order; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from asymprune.errors import UsageError
from asymprune.speech.audio import SpeechRow
from asymprune.speech.features import feature_batches, feature_extractor, input_features


def clip(seconds, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * 16_000))).astype(np.float32)


def test_every_clip_becomes_one_30_second_window():
    x = input_features([clip(1.0), clip(12.5, 1), clip(30.0, 2)])
    assert x.shape == (3, 80, 3000) and x.dtype == torch.float32
    # A clip and the same clip followed by silence read the same: both are padded to 30 s.
    short = clip(3.0, 3)
    padded = np.concatenate([short, np.zeros(16_000 * 7, np.float32)])
    assert torch.allclose(input_features([short]), input_features([padded]), atol=1e-5)


def test_a_clip_over_30_seconds_is_refused_not_cut():
    with pytest.raises(UsageError, match=r"^rows.csv row 2: the clip is 31.0 s long; Whisper reads 30-second"):
        input_features([clip(1), clip(31)], where=["rows.csv row 1", "rows.csv row 2"])


def test_batches_come_in_order_with_their_rows(tmp_path):
    rows = []
    for i in range(5):
        sf.write(str(tmp_path / f"{i}.wav"), clip(0.5 + i / 10, i), 16_000)
        rows.append(SpeechRow(str(i), f"clip {i}", tmp_path / f"{i}.wav", f"rows.csv row {i + 1}"))
    batches = list(feature_batches(rows, batch_size=2))
    assert [[r.id for r in b] for b, _ in batches] == [["0", "1"], ["2", "3"], ["4"]]
    assert [x.shape[0] for _, x in batches] == [2, 2, 1]
    assert torch.equal(batches[1][1][0], input_features([rows[2].read()])[0])


def test_the_extractor_saved_with_a_model_is_used_and_a_damaged_one_refused(tmp_path):
    with pytest.raises(UsageError, match="has no preprocessor_config.json"):
        feature_extractor(tmp_path)
    feature_extractor().save_pretrained(str(tmp_path))
    assert feature_extractor(tmp_path).feature_size == 80
    (tmp_path / "preprocessor_config.json").write_text("{broken")
    with pytest.raises(UsageError, match="preprocessor_config.json cannot be read"):
        feature_extractor(tmp_path)
