"""What Whisper's decoder is conditioned on, and training pairs built to match it exactly.

    prompt = decoder_prompt(model.generation_config)      # tiny.en: [50257, 50362] <|startoftranscript|><|notimestamps|>
    tokens = text_tokens(tokenizer, "Hello there.")        # [18435, 612, 13]: " Hello there." as Whisper writes it
    inputs, labels = training_pair(tokens, prompt, eos=50256)
    # inputs  = [50257, 50362, 18435, 612, 13]
    # labels  = [ -100, 18435,   612,  13, 50256]

generate() feeds the prompt and then predicts the transcript and <|endoftext|>; the prompt tokens
are given, never predicted, so their labels are -100 (no loss). Transcripts start with a space
token (" Hello", 18435, not "Hello", 15496), as Whisper's own outputs do.
"""

from __future__ import annotations

from ..errors import UsageError

IGNORE = -100  # label value the loss skips


def decoder_prompt(generation_config, language: str | None = None, task: str = "transcribe") -> list[int]:
    """The prompt generate() builds without timestamps: <|startoftranscript|>, for multilingual models the
    language and task tokens, then <|notimestamps|>."""
    start = generation_config.decoder_start_token_id
    no_timestamps = getattr(generation_config, "no_timestamps_token_id", None)
    if start is None or no_timestamps is None:
        raise UsageError("the model's generation_config.json lacks decoder_start_token_id or no_timestamps_token_id; "
                         "Whisper's generate() needs both: copy generation_config.json from the original checkpoint")
    prompt = [start]
    if getattr(generation_config, "is_multilingual", False):
        language = language or getattr(generation_config, "language", None)
        lang_to_id, task_to_id = getattr(generation_config, "lang_to_id", {}), getattr(generation_config, "task_to_id", {})
        if not language:
            raise UsageError("a multilingual Whisper needs the transcripts' language (e.g. language='en'): "
                             "otherwise generate() detects one per utterance and training cannot match it")
        token = language if language.startswith("<|") else f"<|{language}|>"
        if token not in lang_to_id or task not in task_to_id:
            raise UsageError(f"language {language!r} or task {task!r} is not in the model's generation config")
        prompt += [lang_to_id[token], task_to_id[task]]
    return prompt + [no_timestamps]


def text_tokens(tokenizer, text: str) -> list[int]:
    """A reference text as Whisper writes transcripts: a leading space, no special tokens."""
    return tokenizer.encode(" " + text.strip(), add_special_tokens=False)


def training_pair(tokens: list[int], prompt: list[int], eos: int) -> tuple[list[int], list[int]]:
    """(decoder_input_ids, labels) of one transcript: prompt + tokens in, tokens + <|endoftext|> out."""
    inputs = list(prompt) + list(tokens)
    labels = [IGNORE] * (len(prompt) - 1) + list(tokens) + [eos]
    return inputs, labels


def pad_pairs(pairs: list[tuple[list[int], list[int]]], pad: int):
    """Batch tensors: decoder_input_ids padded with `pad`, labels with -100 (padding is after every real
    position, so under the causal mask it changes no real position's output)."""
    import torch
    width = max(len(i) for i, _ in pairs)
    inputs = torch.full((len(pairs), width), pad, dtype=torch.long)
    labels = torch.full((len(pairs), width), IGNORE, dtype=torch.long)
    for row, (i, lab) in enumerate(pairs):
        inputs[row, :len(i)] = torch.tensor(i)
        labels[row, :len(lab)] = torch.tensor(lab)
    return inputs, labels
