"""Whisper as a family: exact pruning of the real tiny.en, its preset, its prompt, inputs and labels, and the commands.

- `prune` keeps 2 decoder layers whose tensors equal the kept originals, everything else untouched,
  into a folder that plain WhisperForConditionalGeneration and WhisperProcessor load;
- the `whisper-tiny.en` preset has tiny.en's architecture, parameter count, tokenizer and prompt;
- the decoder prompt is Whisper generate()'s own: <|startoftranscript|>(<|lang|><|task|>)<|notimestamps|>;
- labels carry the prompt without the start token, so the model's shift puts the whole prompt in front;
- `generate --audio` prints the model's greedy transcript; `evaluate` on an audiofolder writes WER that jiwer agrees
  with (after the normaliser the README names); `export --format ct2` matches transformers.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from asymprune.errors import UsageError
from asymprune.models import build_preset, family_of_type
from tests.helpers import run_cli

EOT, SOT, NO_TIMESTAMPS = 50256, 50257, 50362
WHISPER = family_of_type("whisper")


@pytest.fixture(scope="module")
def pruned(tiny_en, tmp_path_factory):
    out = tmp_path_factory.mktemp("pruned") / "tiny-4-2"
    assert run_cli(["prune", str(tiny_en), str(out), "--decoder-layers", "2"]) == 0
    return out


def test_pruning_the_real_tiny_en_keeps_the_layers_exactly(tiny_en, pruned):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    record = json.loads((pruned / "asymprune.json").read_text())
    assert record["kept"] == {"encoder": [0, 1, 2, 3], "decoder": [0, 3]}
    before, after = load_file(tiny_en / "model.safetensors"), load_file(pruned / "model.safetensors")
    layer = "model.decoder.layers."
    renamed = {k.replace(f"{layer}3.", f"{layer}1."): v for k, v in before.items()
               if not k.startswith((f"{layer}1.", f"{layer}2."))}
    assert renamed.keys() == after.keys()
    assert all(torch.equal(renamed[k], after[k]) for k in after)  # kept layers, encoder, embeddings, norms

    model = WhisperForConditionalGeneration.from_pretrained(pruned)
    assert (model.config.encoder_layers, model.config.decoder_layers) == (4, 2)
    assert [layer.self_attn.layer_idx for layer in model.model.decoder.layers] == [0, 1]  # the KV cache's index
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()  # still tied
    processor = WhisperProcessor.from_pretrained(pruned)
    assert (pruned / "preprocessor_config.json").is_file() and processor.feature_extractor.feature_size == 80
    assert processor.tokenizer.prefix_tokens == [SOT, NO_TIMESTAMPS]
    assert json.loads((pruned / "generation_config.json").read_text())["no_timestamps_token_id"] == NO_TIMESTAMPS
    x = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(0))
    kw = dict(max_new_tokens=6, min_new_tokens=6)
    with torch.inference_mode():  # renumbered layers index their own cache entries
        assert torch.equal(model.generate(x, use_cache=True, **kw), model.generate(x, use_cache=False, **kw))
    card = (pruned / "README.md").read_text()
    assert "pipeline_tag: automatic-speech-recognition" in card and "WhisperProcessor.from_pretrained" in card


def test_the_preset_is_tiny_en_with_random_weights(tiny_en, tmp_path):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    model, processor = build_preset("whisper-tiny.en", seed=0)
    c = model.config
    assert (c.d_model, c.encoder_layers, c.decoder_layers, c.encoder_attention_heads, c.decoder_attention_heads) == \
        (384, 4, 4, 6, 6)
    assert (c.encoder_ffn_dim, c.decoder_ffn_dim, c.num_mel_bins, c.vocab_size, c.max_target_positions) == \
        (1536, 1536, 80, 51864, 448)
    assert sum(p.numel() for p in model.parameters()) == 37_760_256  # the real tiny.en's count
    real = WhisperForConditionalGeneration.from_pretrained(tiny_en)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in real.state_dict().items()}
    assert not torch.equal(model.model.encoder.conv1.weight, real.model.encoder.conv1.weight)
    assert processor.tokenizer.get_vocab() == WhisperProcessor.from_pretrained(tiny_en).tokenizer.get_vocab()
    assert WHISPER.decoder_prompt(model.generation_config, c) == [SOT, NO_TIMESTAMPS]
    assert (c.decoder_start_token_id, c.eos_token_id, c.pad_token_id) == (SOT, EOT, EOT)

    assert run_cli(["init", "whisper-tiny.en", str(tmp_path / "m"), "--seed", "3"]) == 0
    loaded = WhisperForConditionalGeneration.from_pretrained(tmp_path / "m")
    assert WhisperProcessor.from_pretrained(tmp_path / "m").tokenizer.prefix_tokens == [SOT, NO_TIMESTAMPS]
    assert loaded.generation_config.no_timestamps_token_id == NO_TIMESTAMPS


def test_the_decoder_prompt_is_whisper_generates_own():
    from transformers import GenerationConfig, WhisperConfig

    config = WhisperConfig(decoder_start_token_id=SOT)
    english = GenerationConfig(decoder_start_token_id=SOT, no_timestamps_token_id=NO_TIMESTAMPS)
    assert WHISPER.decoder_prompt(english, config) == [SOT, NO_TIMESTAMPS]
    multi = GenerationConfig(decoder_start_token_id=50258, no_timestamps_token_id=50363, is_multilingual=True,
                             lang_to_id={"<|en|>": 50259, "<|de|>": 50261},
                             task_to_id={"transcribe": 50359, "translate": 50358}, language="de")
    assert WHISPER.decoder_prompt(multi, config) == [50258, 50261, 50359, 50363]
    forced = GenerationConfig(decoder_start_token_id=50258, no_timestamps_token_id=50363,
                              forced_decoder_ids=[[1, 50259], [2, 50359], [3, 50363]])
    assert WHISPER.decoder_prompt(forced, config) == [50258, 50259, 50359, 50363]
    multi.language = None
    with pytest.raises(UsageError, match="names no language"):
        WHISPER.decoder_prompt(multi, config)


def test_labels_carry_the_prompt_and_the_collator_pads_them(tiny_en, clips):
    from datasets import Dataset
    from transformers import WhisperForConditionalGeneration
    from transformers.models.whisper.modeling_whisper import shift_tokens_right

    processor = WHISPER.load_processor(str(tiny_en))
    texts = ["The quick brown fox jumps over the lazy dog.", "What time is it?"]  # what the clips say
    rows = Dataset.from_dict({"source": [str(p) for p in clips], "target": texts})
    inputs, report = WHISPER.encode(rows, processor, max_target_length=448)
    assert report == {"rows": 2, "targets_truncated": 0}  # a clip is never cut: no source count
    first = inputs[0]
    assert first["input_features"].shape == (80, 3000)
    assert first["labels"][0] == NO_TIMESTAMPS and first["labels"][-1] == EOT
    assert processor.tokenizer.decode(first["labels"], skip_special_tokens=True) == " " + texts[0]
    batch = WHISPER.data_collator(processor)([inputs[0], inputs[1]])
    assert batch["input_features"].shape == (2, 80, 3000)
    assert batch["labels"].shape[1] == len(first["labels"]) and (batch["labels"][1] == -100).sum() > 0
    decoder_input_ids = shift_tokens_right(batch["labels"], EOT, SOT)
    assert decoder_input_ids[:, :2].tolist() == [[SOT, NO_TIMESTAMPS]] * 2  # the model's shift restores the prompt
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en)
    swapped = WHISPER.data_collator(processor)([{**inputs[0], "labels": inputs[1]["labels"]},
                                                {**inputs[1], "labels": inputs[0]["labels"]}])
    with torch.inference_mode():  # each clip's features go with its own transcript
        assert float(model(**batch).loss) < float(model(**swapped).loss) - 1
    _, cut = WHISPER.encode(rows, processor, max_target_length=4)
    assert cut["targets_truncated"] == 2


def test_generate_audio_prints_the_greedy_transcript(tiny_en, clips, capsys):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    assert run_cli(["generate", str(tiny_en), "--audio", str(clips[0]), "--audio", str(clips[1]), "--show-ids"]) == 0
    out = capsys.readouterr().out
    import soundfile as sf

    from tests.speech import SAMPLE_RATE
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en)
    processor = WhisperProcessor.from_pretrained(tiny_en)
    audio = [sf.read(p, dtype="float32")[0] for p in clips]
    features = processor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    with torch.inference_mode():
        want = model.generate(features, max_new_tokens=32)
    for row, text in zip(want, processor.batch_decode(want, skip_special_tokens=True)):
        assert f"output: {text.strip()}" in out
        ids = [t for t in row.tolist() if t != EOT]
        assert "ids: " + " ".join(map(str, ids)) in out
    assert "quick" in out and "time is it" in out


@pytest.mark.parametrize("argv,message", [
    (["--text", "Hello."], "a whisper model reads audio, not text; pass --audio FILE"),
    ([], "a whisper model reads audio; pass --audio FILE"),
])
def test_generate_says_what_a_whisper_model_reads(tiny_en, argv, message, capsys):
    assert run_cli(["generate", str(tiny_en), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_generate_refuses_audio_for_a_text_model(t5_dir, clips, capsys):
    assert run_cli(["generate", str(t5_dir), "--audio", str(clips[0])]) == 2
    assert "a t5 model reads text, not audio; pass --text" in capsys.readouterr().err


def test_generated_counts_the_end_of_sequence_whisper_strips():
    from transformers import WhisperConfig
    ids, counts = WHISPER.generated(torch.tensor([[5, 6, 7, EOT, EOT], [5, 6, 7, 8, 9]]), None,
                                    WhisperConfig(pad_token_id=EOT), max_new_tokens=5)
    assert ids == [[5, 6, 7], [5, 6, 7, 8, 9]] and counts == [4, 5]  # stopped: + its EOS; at the cap: none


@pytest.mark.slow
def test_export_ct2_matches_transformers_and_runs_fixed_lengths(pruned, clips, tmp_path, capsys):
    from asymprune.ct2 import runtime_for
    from asymprune.models import load_config, require_processor

    out = tmp_path / "ct2"
    assert run_cli(["export", str(pruned), str(out), "--format", "ct2"]) == 0
    assert "tokens and log-probs match" in capsys.readouterr().out
    files = {p.name for p in out.iterdir()}
    assert {"model.bin", "vocabulary.json", "preprocessor_config.json", "tokenizer.json"} <= files
    config = load_config(str(pruned))
    runtime = runtime_for(config)(out, compute_type="float32", threads=1)
    batch = runtime.inputs(WHISPER.batch_inputs(require_processor(str(pruned)), [str(p) for p in clips]))
    assert runtime.generate(batch, 40, fixed=True) == [40, 40]  # EOS suppressed: exactly the tokens asked for
    fixed = runtime.inputs(WHISPER.fixed_inputs(config, [[7, 8, 9]], 3))
    assert runtime.width(fixed) == 3000 and runtime.generate(fixed, 5, fixed=True) == [5, 5, 5]
    with pytest.raises(UsageError, match="at most 224 tokens"):
        runtime.generate(batch, 225, fixed=True)


def test_layers_scores_whisper_on_an_audiofolder(tiny_en, clips, tmp_path, capsys):
    folder = tmp_path / "af"
    folder.mkdir()
    lines = ["file_name,text"]
    for i, clip in enumerate(clips * 2):
        (folder / f"c{i}.wav").write_bytes(clip.read_bytes())
        lines.append(f"c{i}.wav,{'The quick brown fox jumps over the lazy dog.' if i % 2 == 0 else 'What time is it?'}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    scores = tmp_path / "scores.json"
    assert run_cli(["layers", str(tiny_en), "--calibration", str(folder), "--calibration-split", "train",
                    "--calibration-samples", "2", "--strategy", "angular", "--json", str(scores)]) == 0
    angular = json.loads(scores.read_text())["angular"]
    assert len(angular["encoder"]) == 4 and len(angular["decoder"]) == 4
    assert all(0 < a < 1 for stack in angular.values() for a in stack)


def test_evaluate_on_an_audiofolder_writes_wer_that_jiwer_agrees_with(tiny_en, clips, tmp_path, capsys):
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer  # the normaliser the README names

    folder = tmp_path / "clips"
    (folder / "test").mkdir(parents=True)
    references = ["The quick brown fox jumps over the lazy dog.", "What time is it?"]
    for clip in clips:
        (folder / "test" / clip.name).write_bytes(clip.read_bytes())
    (folder / "metadata.csv").write_text("file_name,text\n" + "".join(
        f"test/{clip.name},{text}\n" for clip, text in zip(clips, references)))
    out = tmp_path / "eval"
    assert run_cli(["evaluate", str(tiny_en), "--dataset", str(folder), "--split", "test", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test: 2 samples" in printed and "truncated" not in printed  # speech: no source is ever cut
    metrics = json.loads((out / "metrics.json").read_text())
    assert "sources_truncated" not in metrics and "max_source_length" not in metrics
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert metrics["metric"] == "wer" and metrics["samples"] == 2 and len(rows) == 2
    assert [r["id"] for r in rows] == ["test/u0.wav", "test/u1.wav"] and [r["reference"] for r in rows] == references
    assert rows[1]["prediction"] == "What time is it?"
    normalize = EnglishTextNormalizer()
    want = 100 * jiwer.wer([normalize(r) for r in references], [normalize(r["prediction"]) for r in rows])
    assert metrics["wer"] == pytest.approx(want, abs=1e-9) and 0 < metrics["wer"] < 100  # percent, corpus-level
    assert metrics["words"] == sum(len(normalize(r).split()) for r in references)
