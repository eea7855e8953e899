"""Lossless draft-and-verify on the real Whisper tiny.en: the transcripts of the model alone, drafts counted as for
text, Whisper's first-token suppression kept, a shared encoder only where it is the draft's own, one-line refusals.

- an identical draft (the model as its own draft) is kept in full on real speech: acceptance and alpha 1.0,
  a drafted <|endoftext|> included;
- `generate --audio --assistant D --share-encoder` (D: tiny.en pruned to 2 decoder layers, encoder untouched) prints
  exactly the transcript and ids of `generate --audio`;
- `evaluate --assistant` on an audiofolder has the same predictions and WER, and records acceptance and alpha;
- a draft of another vocabulary or tokenizer, and --share-encoder with another encoder, are one line and exit 2.
"""

from __future__ import annotations

import copy
import json
import os
import shutil

import pytest
import torch

from asymprune.assist import AssistConfig, assisted_generate
from asymprune.models import family_of_type
from tests.helpers import run_cli

WHISPER = family_of_type("whisper")
TEXTS = ["The quick brown fox jumps over the lazy dog.", "What time is it?"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two espeak-ng utterances as 16 kHz WAV files (the same samples every run)."""
    import soundfile as sf

    from tests.speech import SAMPLE_RATE, speak_fresh
    folder = tmp_path_factory.mktemp("clips")
    paths = [folder / f"u{i}.wav" for i in range(len(TEXTS))]
    for path, audio in zip(paths, speak_fresh(TEXTS)):
        sf.write(path, audio, SAMPLE_RATE)
    return paths


def _features(processor, clip):
    return {"input_features": WHISPER.batch_inputs(processor, [str(clip)])["input_features"]}


def test_an_identical_draft_transcribes_the_same_and_is_kept_in_full(tiny_en_greedy, clips):
    model, processor, gen = tiny_en_greedy
    twin = copy.deepcopy(model)
    drafted_eos = 0
    # One draft token a round: the 10-token transcript's <|endoftext|> is drafted first in its round.
    for clip, config in zip(clips, (AssistConfig(draft_tokens=1, confidence=0.0), AssistConfig(share_encoder=True))):
        inputs = _features(processor, clip)
        with torch.inference_mode():
            plain = model.generate(**inputs, generation_config=copy.deepcopy(gen))
        assert 0 < plain.shape[1] < 48  # stopped by itself: its <|endoftext|> is a token the draft proposes too
        out = assisted_generate(model, twin, inputs, None, gen, config)
        s = out.stats
        assert torch.equal(out.sequences, plain), (clip.name, config)
        assert s.acceptance_rate == 1.0 and s.alpha == 1.0 and s.short_rounds == 0, (clip.name, s.per_round)
        assert s.generated == plain.shape[1] + 1  # the transcript's tokens and <|endoftext|>
        drafted_eos += s.accepted + s.rounds - s.generated  # a round that ended on a kept drafted EOS
    assert drafted_eos >= 1  # transformers alone suppresses EOS at each round's first draft: rejected there


def test_whisper_keeps_its_first_token_suppression_with_a_draft(tiny_en_greedy, clips):
    """transformers turns `begin_suppress_tokens` off when a draft assists Whisper; the output must not change."""
    model, processor, gen = tiny_en_greedy
    inputs = _features(processor, clips[0])
    with torch.inference_mode():
        first = model.generate(**inputs, generation_config=copy.deepcopy(gen))[0, 0].item()
        strict = copy.deepcopy(gen)
        strict.begin_suppress_tokens = [*gen.begin_suppress_tokens, first]  # the model's own first token, barred
        plain = model.generate(**inputs, generation_config=copy.deepcopy(strict))
    assert plain[0, 0].item() != first
    out = assisted_generate(model, copy.deepcopy(model), inputs, None, strict, AssistConfig(draft_tokens=3))
    assert torch.equal(out.sequences, plain) and out.stats.acceptance_rate == 1.0


def test_cli_generate_with_a_pruned_draft_and_a_shared_encoder_prints_the_same_transcripts(tiny_en, clips,
                                                                                           tmp_path, capsys):
    draft = tmp_path / "tiny-4-2"
    assert run_cli(["prune", str(tiny_en), str(draft), "--decoder-layers", "2"]) == 0
    capsys.readouterr()
    args = ["generate", str(tiny_en), "--audio", str(clips[1]), "--show-ids"]
    assert run_cli(args) == 0
    plain = capsys.readouterr().out
    assert run_cli([*args, "--assistant", str(draft), "--share-encoder"]) == 0
    assisted = capsys.readouterr().out

    def lines(out):
        return [line for line in out.splitlines() if line.startswith(("output: ", "ids: "))]
    assert len(lines(plain)) == 2 and lines(assisted) == lines(plain)
    assert "output: What time is it?" in plain
    assert "draft: acceptance rate" in assisted and "draft:" not in plain


def test_evaluate_with_an_assistant_has_the_same_wer_and_records_the_drafts(tiny_en, clips, tmp_path):
    folder = tmp_path / "clips"
    (folder / "test").mkdir(parents=True)
    for clip in clips:
        shutil.copy(clip, folder / "test" / clip.name)
    (folder / "metadata.csv").write_text("file_name,text\n" + "".join(
        f"test/{clip.name},{text}\n" for clip, text in zip(clips, TEXTS)))
    base = ["evaluate", str(tiny_en), "--dataset", str(folder), "--split", "test"]
    assert run_cli([*base, "--out", str(tmp_path / "plain")]) == 0
    assert run_cli([*base, "--out", str(tmp_path / "assisted"), "--assistant", str(tiny_en)]) == 0
    plain, assisted = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("plain", "assisted"))

    def predictions(d):
        lines = (tmp_path / d / "predictions.jsonl").read_text().splitlines()
        return [json.loads(line)["prediction"] for line in lines]
    assert predictions("assisted") == predictions("plain") and len(predictions("plain")) == 2
    assert assisted["wer"] == plain["wer"] and assisted["cer"] == plain["cer"] and assisted["metric"] == "wer"
    draft = assisted["assistant"]
    assert draft["model"] == str(tiny_en) and draft["acceptance_rate"] == 1.0 and draft["alpha"] == 1.0
    assert draft["generated"] == round(plain["gen_len"] * 2) and "assistant" not in plain


def _variant(tiny_en, out, vocab_size=None, token_swap=None):
    """tiny.en's processor files beside a small random Whisper of its token ids (`vocab_size`: another
    vocabulary), or tiny.en's own folder (weights hard-linked) with two tokens of its tokenizer swapped."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    out.mkdir()
    for f in tiny_en.iterdir():  # files only: a CTranslate2 bench earlier in the session leaves tiny_en/.ct2/
        if f.is_file() and f.suffix != ".safetensors" and f.name != "config.json":
            shutil.copy(f, out / f.name)
    if vocab_size:
        config = WhisperConfig.from_pretrained(tiny_en)
        config.update(dict(vocab_size=vocab_size, d_model=64, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=128,
                           decoder_ffn_dim=128, encoder_attention_heads=1, decoder_attention_heads=1))
        torch.manual_seed(0)
        WhisperForConditionalGeneration(config).save_pretrained(out)
    else:
        shutil.copy(tiny_en / "config.json", out / "config.json")
        os.link(tiny_en / "model.safetensors", out / "model.safetensors")
    if token_swap:
        data = json.loads((out / "tokenizer.json").read_text())
        vocab, (a, b) = data["model"]["vocab"], token_swap
        vocab[a], vocab[b] = vocab[b], vocab[a]
        (out / "tokenizer.json").write_text(json.dumps(data))
    return out


def test_drafts_that_cannot_verify_losslessly_are_one_line(tiny_en, clips, tmp_path, capsys):
    other_vocab = _variant(tiny_en, tmp_path / "vocab", vocab_size=51865)
    other_tokenizer = _variant(tiny_en, tmp_path / "tokenizer", token_swap=("hello", "world"))
    fewer_encoder_layers = tmp_path / "enc"
    assert run_cli(["prune", str(tiny_en), str(fewer_encoder_layers), "--encoder-layers", "2"]) == 0
    capsys.readouterr()
    generate = ["generate", str(tiny_en), "--audio", str(clips[1])]
    cases = [
        ([*generate, "--assistant", str(other_vocab)], "has a vocabulary of 51865 tokens"),
        ([*generate, "--assistant", str(other_tokenizer)], "has a different tokenizer vocabulary"),
        ([*generate, "--assistant", "t5-tiny"], "is a t5 model and"),
        ([*generate, "--assistant", str(fewer_encoder_layers), "--share-encoder"], "has 2 encoder layers and"),
        # the same shape, other weights: found once both are loaded, before any generation
        ([*generate, "--assistant", "whisper-tiny.en", "--share-encoder"],
         "--share-encoder: the encoder of draft whisper-tiny.en differs from the full model's"),
    ]
    for argv, message in cases:
        code = run_cli(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, (argv, err)
