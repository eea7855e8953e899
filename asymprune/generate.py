"""Summaries of a few texts, or transcripts of a few audio files, by one model: what `asymprune generate` runs.

    done = summarize("runs/d2-ft", ["A long article ..."], max_new_tokens=32)
    done = summarize("runs/whisper-tiny.en", audio=["clip.wav"])   # Whisper reads audio files
    done.outputs[0], done.ids[0]                       # the summary and its generated token ids
    done = summarize("runs/base", assistant="runs/d1-ft", assist=AssistConfig())   # lossless: base's own tokens
    done.stats.acceptance_rate

Plain `generate()` with the KV cache and the model's own generation config, with the lengths
and beams given here. Without texts, one synthetic document is summarized. `compiled` uses a
static cache and a compiled decoding step (asymprune.compiled); `assistant` drafts with a
pruned variant and verifies with the model (asymprune.assist), one text at a time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from .assist import AssistConfig, DraftStats
from .errors import UsageError


@dataclass
class Generated:
    inputs: list[str]              # the texts as the model read them (T5: with the prefix), or the audio files
    outputs: list[str]             # the summaries or transcripts, special tokens skipped
    ids: list[list[int]]           # generated token ids, without the decoder prompt (start token) and padding
    stats: DraftStats | None       # with an assistant: what the draft proposed and the model kept


def _sources(family, texts: list[str] | None, audio: list[str] | None) -> list[str] | None:
    """The inputs of the kind the model's family reads (texts, or audio files); None: the family's example."""
    given = {"text": texts or None, "audio": audio or None}
    other = next((kind for kind, value in given.items() if value and kind != family.inputs), None)
    if other is not None:
        flag = {"text": "--text", "audio": "--audio FILE"}[family.inputs]
        raise UsageError(f"a {family.name} model reads {family.inputs}, not {other}; pass {flag}")
    if family.inputs == "audio":
        if not audio:
            raise UsageError(f"a {family.name} model reads audio; pass --audio FILE (WAV, FLAC, OGG or MP3)")
        from .speech import check_audio
        for path in audio:
            check_audio(Path(path), f"--audio {path}")
    return given[family.inputs]


def summarize(model_src: str, texts: list[str] | None = None, *, max_new_tokens: int = 32, num_beams: int = 1,
              prefix: str | None = None, assistant: str | None = None, assist: AssistConfig | None = None,
              compiled: bool = False, audio: list[str] | None = None) -> Generated:
    """Generate a summary of each text (default: a synthetic document), or a transcript of each audio file,
    with `model_src`: the inputs its family reads (`Family.inputs`).

    `prefix` goes before each text (None: the model family's, "summarize: " for T5; "" for none);
    every setting is checked before weights load.
    """
    import torch

    from .models import family_for, family_of, load_config, load_model, require_processor
    from .synthetic import make_examples

    if max_new_tokens <= 0:
        raise UsageError("--max-new-tokens must be at least 1")
    if num_beams <= 0:
        raise UsageError(f"--num-beams {num_beams}: the beam size must be at least 1 (1 is greedy decoding)")
    sources = _sources(family_of(model_src, presets=True), texts, audio)
    if compiled:
        from .compiled import check_compile
        check_compile(load_config(model_src, presets=True), assistant=assistant, num_beams=num_beams)
    if assistant:
        from .assist import check_draft_sources
        assist = assist or AssistConfig()
        assist.validate()
        if num_beams > 1:
            raise UsageError("--assistant verifies greedy decoding only; pass --num-beams 1")
        check_draft_sources(model_src, assistant, assist.share_encoder, assist.draft_vocab)
    model = load_model(model_src, presets=True)
    processor = require_processor(model_src, presets=True)
    family = family_for(model.config)
    tokenizer = family.tokenizer_of(processor)
    prefix = family.source_prefix(model.config) if prefix is None else prefix
    texts = [prefix + t for t in sources or [make_examples(1, seed=123)[0]["document"]]]
    batch = family.batch_inputs(processor, texts)
    gen = copy.deepcopy(model.generation_config)
    gen.update(max_new_tokens=max_new_tokens, num_beams=num_beams, use_cache=True)
    if compiled:
        from .compiled import compiled_generation_config
        gen = compiled_generation_config(gen, model.device.type)
    stats = None
    if assistant:
        from .assist import generate_one_by_one, prepare_draft
        draft, stats = prepare_draft(model, load_model(assistant, presets=True), assist, assistant), DraftStats()
        out = generate_one_by_one(model, draft, dict(batch), gen, assist, stats, model.config.pad_token_id)
    else:
        with torch.inference_mode():
            out = model.generate(**batch, generation_config=gen)
    ids, _ = family.generated(out, gen, model.config, max_new_tokens)
    return Generated(texts, [tokenizer.decode(row, skip_special_tokens=True) for row in ids], ids, stats)
