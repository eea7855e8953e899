"""Frozen-encoder training on cached encoder outputs (distil-whisper's recipe) on the real tiny.en, pruned to 4/2:
each utterance through the encoder once, only the decoder moves, KD and pseudo-labels, step times in train.json."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from asymprune.data import DataConfig, load_dataset_spec
from asymprune.errors import UsageError
from asymprune.prune import prune_folder
from asymprune.speech import input_features, read_audio
from asymprune.train import TrainConfig, train
from tests.helpers import run_cli

SMALL = dict(batch_size=2, max_steps=3, eval_steps=3, eval_samples=1, logging_steps=1, learning_rate=5e-4,
             max_target_length=48, freeze_encoder=True, patience=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tmp_path_factory.mktemp("speech-corpus")


@pytest.fixture(scope="module")
def tiny_en_4_2(tiny_en, tmp_path_factory):
    out = tmp_path_factory.mktemp("whisper") / "tiny.en-4-2"
    prune_folder(str(tiny_en), out, decoder=2)
    return out


class EncoderCalls:
    """Utterances that went through any WhisperEncoder while active (a global forward hook: no mock)."""

    def __enter__(self):
        from transformers.models.whisper.modeling_whisper import WhisperEncoder
        self.utterances = 0

        def count(module, args, kwargs, output):
            if isinstance(module, WhisperEncoder):
                self.utterances += (args[0] if args else kwargs["input_features"]).shape[0]
        self.handle = torch.nn.modules.module.register_module_forward_hook(count, with_kwargs=True)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def test_decoder_trains_on_cached_outputs_with_kd_and_pseudo_labels(tiny_en, tiny_en_4_2, corpus, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("ASYMPRUNE_CACHE", str(corpus))
    config = TrainConfig(**SMALL, distill_from=str(tiny_en), pseudo_labels=True, freeze_embeddings=True,
                         cache_dir=str(tmp_path / "cache"))
    with EncoderCalls() as calls:
        record = train(str(tiny_en_4_2), tmp_path / "ft", "synthetic-speech", config, data=DataConfig(n=3))
    # 3 train + 1 validation utterances, each through the encoder once: the teacher's encoder has the same
    # weights (a decoder-pruned student), so it shares the cache, and pseudo-labelling decodes on it
    assert calls.utterances == 4
    splits = record["encoder_outputs"]["splits"]
    assert splits["train"]["student"]["encoded"] == 3 and splits["validation"]["student"]["encoded"] == 1
    assert splits["train"]["teacher"]["key"] == splits["train"]["student"]["key"]
    # the teacher ran once per training utterance, before the steps, not in every step (distil.teacher_logits)
    assert record["encoder_outputs"]["teacher_logits"]["computed"]
    times = record["step_seconds"]
    assert times["steps"] == 3 == len(times["each"]) and all(t > 0 for t in times["each"])
    on_disk = json.loads((tmp_path / "ft" / "train.json").read_text())
    assert on_disk["step_seconds"] == times and on_disk["recipe"]["pseudo_labels"]

    # only the decoder's layers and final norm moved; encoder, embeddings (tied head) and positions are the teacher's
    before, after = load_file(tiny_en_4_2 / "model.safetensors"), load_file(tmp_path / "ft" / "model.safetensors")
    assert before.keys() == after.keys()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("model.decoder.layers.") or k.startswith("model.decoder.layer_norm")
                         for k in moved)
    assert any(k.startswith("model.decoder.layers.1.") for k in moved)

    # the labels were the teacher's transcripts: the cached pseudo-labels equal the teacher's own generate()
    teacher = WhisperForConditionalGeneration.from_pretrained(tiny_en).eval()
    processor = WhisperProcessor.from_pretrained(tiny_en)
    labels = [json.loads(line)["tokens"] for line in
              open(record["encoder_outputs"]["pseudo_labels"]["file"], encoding="utf-8").read().splitlines()]
    assert len(labels) == 3 and all(labels)
    audio = load_dataset_spec("synthetic-speech", DataConfig(n=3))["train"]["source"][0]
    features = input_features([read_audio(audio, audio)], processor.feature_extractor)
    with torch.inference_mode():
        own = teacher.generate(features, max_new_tokens=48, do_sample=False, num_beams=1)[0].tolist()
    assert labels[0] == [t for t in own if t != 50256]

    # the folder is a plain Whisper: transformers alone loads and runs it
    model = WhisperForConditionalGeneration.from_pretrained(tmp_path / "ft")
    assert model.config.decoder_layers == 2 and WhisperProcessor.from_pretrained(tmp_path / "ft").tokenizer

    # a second run over the same clips computes nothing: the encoder never runs
    with EncoderCalls() as calls:
        again = train(str(tiny_en_4_2), tmp_path / "ft2", "synthetic-speech",
                      TrainConfig(**{**SMALL, "max_steps": 1, "eval_steps": 1}, cache_dir=str(tmp_path / "cache")),
                      data=DataConfig(n=3))
    assert calls.utterances == 0 and again["encoder_outputs"]["splits"]["train"]["student"]["encoded"] == 0


def test_pseudo_labels_need_a_teacher_and_a_frozen_encoder(tiny_en_4_2, tmp_path, capsys):
    assert run_cli(["train", str(tiny_en_4_2), str(tmp_path / "ft"), "--dataset", "synthetic-speech",
                    "--pseudo-labels", "--freeze-encoder"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--pseudo-labels" in err and "--distill-from" in err
    with pytest.raises(UsageError, match="--pseudo-labels"):
        train(str(tiny_en_4_2), tmp_path / "ft", "synthetic-speech",
              TrainConfig(distill_from=str(tiny_en_4_2), pseudo_labels=True))


def test_group_by_length_batches_cached_rows_of_like_label_length(tmp_path):
    """A step on cached encoder outputs costs what its labels pad to: --group-by-length batches like lengths
    (transformers' LengthGroupedSampler, seeded), every row still seen once an epoch."""
    from asymprune.train.cached import CachedSplit
    from asymprune.train.trainer import length_grouped_sampler, training_arguments

    lengths = [64 if i % 8 == 0 else 10 + i % 5 for i in range(64)]  # one looping 64-token label in eight
    split = CachedSplit(None, [f"r{i}" for i in range(64)], [[1] * n for n in lengths])
    assert split.lengths == lengths

    def padded(order):
        return sum(4 * max(lengths[i] for i in order[j:j + 4]) for j in range(0, len(order), 4))

    args = training_arguments(TrainConfig(group_by_length=True), tmp_path / "ckpt", 1)
    torch.manual_seed(0)
    order = list(length_grouped_sampler(args, split, 4))
    torch.manual_seed(0)
    shuffled = torch.randperm(64).tolist()
    assert sorted(order) == list(range(64))
    assert padded(order) < padded(shuffled)
    # off (the default), or a dataset that does not state lengths: the Trainer's own sampler
    assert length_grouped_sampler(training_arguments(TrainConfig(), tmp_path / "ckpt", 1), split, 4) is None
    assert length_grouped_sampler(args, list(range(64)), 4) is None
