"""The re-tune: only the decoder layers move, the loss falls, and OUT is a plain transformers Whisper folder."""

from __future__ import annotations

import json

import pytest
import torch

from asymprune.distil import DistilConfig, distil_loss, load_whisper, retune
from asymprune.errors import UsageError

from .conftest import random_whisper


def test_kd_off_is_plain_cross_entropy_and_kd_is_finite(whisper_dir):
    model, _ = load_whisper(whisper_dir)
    torch.manual_seed(0)
    hidden = torch.randn(2, 1500, 16)
    inputs = torch.tensor([[50257, 50362, 400, 401, 402], [50257, 50362, 500, 50256, 50256]])
    labels = torch.tensor([[-100, 400, 401, 402, 50256], [-100, 500, 50256, -100, -100]])
    out = model(encoder_outputs=(hidden,), decoder_input_ids=inputs, labels=labels)
    loss, parts = distil_loss(out.logits, labels)
    assert torch.equal(loss, out.loss) and set(parts) == {"ce"}
    teacher_logits = out.logits + torch.randn_like(out.logits)
    kd, parts = distil_loss(out.logits, labels, teacher_logits, alpha=0.8, temperature=2.0)
    assert torch.isfinite(kd) and parts["kl"] > 0
    assert torch.allclose(kd, 0.8 * torch.tensor(parts["kl"]) + 0.2 * out.loss, atol=1e-5)
    same, parts = distil_loss(out.logits, labels, out.logits.clone(), alpha=0.8, temperature=2.0)
    assert abs(parts["kl"]) < 1e-5


def test_retune_trains_the_decoder_layers_only(whisper_dir, clips, tmp_path):
    config = DistilConfig(learning_rate=3e-3, warmup_steps=0, lr_scheduler="constant", batch_size=4, max_steps=24,
                          eval_steps=12, logging_steps=4, cache_dir=str(tmp_path / "cache"))
    before = load_whisper(whisper_dir)[0].state_dict()
    record = retune(whisper_dir, tmp_path / "out", clips, config)
    history = [e["loss"] for e in record["loss_history"] if "loss" in e]
    assert history[-1] < history[0]
    assert record["steps"] == 24 and record["step_seconds"]["steps"] == 24 and record["step_seconds"]["median"] > 0
    assert set(record["frozen"]["frozen"]) == {"model.encoder", "model.decoder.embed_tokens",
                                               "model.decoder.embed_positions"}
    assert record["frozen"]["trained_modules"] == ["model.decoder.layer_norm", "model.decoder.layers.*"]
    assert json.loads((tmp_path / "out" / "train.json").read_text())["steps"] == 24

    from transformers import WhisperForConditionalGeneration, WhisperProcessor  # plain transformers, no asymprune
    after = WhisperForConditionalGeneration.from_pretrained(tmp_path / "out").state_dict()
    WhisperProcessor.from_pretrained(tmp_path / "out")
    frozen = ("model.encoder.", "model.decoder.embed_tokens.", "model.decoder.embed_positions.", "proj_out.")
    for name, tensor in before.items():
        if name.startswith(frozen):
            assert torch.equal(after[name], tensor), name
    assert not torch.equal(after["model.decoder.layers.0.fc1.weight"], before["model.decoder.layers.0.fc1.weight"])
    assert (tmp_path / "out" / "generation_config.json").read_text() == \
        (whisper_dir / "generation_config.json").read_text()
    assert not (tmp_path / "out.checkpoints").exists()


def test_kd_retune_of_a_pruned_student(tiny_en_files, whisper_dir, clips, tmp_path):
    student = random_whisper(tiny_en_files, tmp_path / "student", decoder_layers=1, seed=1)
    config = DistilConfig(batch_size=4, max_steps=4, eval_steps=100, logging_steps=2, distill_from=str(whisper_dir),
                          cache_dir=str(tmp_path / "cache"), eval_samples=None, max_new_tokens=8)
    record = retune(student, tmp_path / "out", {"train": clips["train"][:4]}, config)
    assert record["kd"] and record["pseudo_labels"]["train"]["computed"]
    assert all("train_kl" in e for e in record["loss_history"] if "loss" in e)
    # the student's encoder differs from the teacher's: two caches
    assert record["encoder_outputs"]["student"]["key"] != record["encoder_outputs"]["teacher"]["key"]
    with pytest.raises(UsageError, match="already exists"):
        retune(student, tmp_path / "out", {"train": clips["train"][:4]}, config)


def test_the_encoder_stays_frozen(whisper_dir, clips, tmp_path):
    with pytest.raises(UsageError, match="encoder is always frozen"):
        retune(whisper_dir, tmp_path / "out", clips, DistilConfig(frozen=("model.decoder.embed_tokens",)))
