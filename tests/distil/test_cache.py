"""Encoder outputs: computed once, reused by every model with the same encoder, checked when read."""

from __future__ import annotations

import pytest
import torch

from asymprune.distil import encoder_outputs
from asymprune.errors import UsageError
from asymprune.speech import input_features
from tests.distil.conftest import load_whisper


def test_outputs_equal_the_encoder_and_are_reused(whisper_dir, clips, tmp_path):
    model, processor = load_whisper(whisper_dir)
    rows = clips["train"][:4]
    cache = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path, batch_size=3)
    assert cache.encoded == 4 and len(cache) == 4
    with torch.inference_mode():
        expected = model.get_encoder()(input_features([r.read() for r in rows], processor.feature_extractor)
                                       ).last_hidden_state
    assert torch.equal(cache.stack([r.id for r in rows]), expected)
    again = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    assert again.encoded == 0 and again.key == cache.key and again.files == cache.files


def test_keyed_by_the_encoder_weights_only(whisper_dir, clips, tmp_path):
    model, processor = load_whisper(whisper_dir)
    rows = clips["train"][:2]
    first = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    with torch.no_grad():  # a decoder change (a decoder-pruned variant): same encoder, same outputs
        model.model.decoder.layers[0].fc1.weight.add_(1.0)
    assert encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path).encoded == 0
    with torch.no_grad():  # an encoder change: a folder of its own
        model.model.encoder.layers[0].fc1.weight.add_(1.0)
    changed = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    assert changed.encoded == 2 and changed.key != first.key and changed.folder != first.folder
    half = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path, dtype="float16")
    assert half.key != changed.key
    assert torch.allclose(half.load(rows[0].id), changed.load(rows[0].id), atol=1e-2)


def test_outputs_under_a_re_tunes_autocast_have_their_own_key_and_stay_close(whisper_dir, clips, tmp_path):
    model, processor = load_whisper(whisper_dir)
    rows = clips["train"][:2]
    exact = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    mixed = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path,
                            autocast="bfloat16")
    assert mixed.encoded == 2 and mixed.key != exact.key and mixed.folder != exact.folder
    a, b = exact.load(rows[0].id), mixed.load(rows[0].id)
    assert b.dtype == torch.float32 and not torch.equal(a, b)  # computed in bfloat16, stored as asked
    assert (a - b).norm() / a.norm() < 0.05
    with pytest.raises(UsageError, match="autocast 'int8': choose bfloat16, float16 or none"):
        encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path, autocast="int8")


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_file_is_one_line_naming_it(whisper_dir, clips, tmp_path, damage):
    model, processor = load_whisper(whisper_dir)
    rows = clips["train"][:1]
    cache = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    path = cache.files[rows[0].id]
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[:len(data) // 2]))
    else:
        data[-5] ^= 0xFF
        path.write_bytes(bytes(data))
    again = encoder_outputs(model, rows, extractor=processor.feature_extractor, cache_dir=tmp_path)
    assert again.encoded == 0  # present is not absent: never silently recomputed
    with pytest.raises(UsageError) as err:
        again.load(rows[0].id)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "damaged" in message
