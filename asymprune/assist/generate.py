"""Greedy generation with a draft: transformers' assisted generation, counted, optionally sharing the encoder.

    out = assisted_generate(full, draft, input_ids, attention_mask, generation_config, AssistConfig(draft_tokens=5))
    out = assisted_generate(whisper, draft, {"input_features": features}, None, generation_config)  # any model inputs
    out.sequences, out.stats, out.seconds

transformers has no public hook that picks the candidate generator, so for the length of one
call the full model's `_get_candidate_generator` is shadowed on the instance. The shadow calls
transformers' own, so the candidate generator is stock `AssistedCandidateGenerator` (transformers
adapts the confidence threshold only for exactly that type), and counts by wrapping two methods
of that one object: what the draft proposed, and what the full model then appended. What a family's
own generate() needs on top (Whisper: its first-token suppression, kept) is its `prepare_assisted` hook.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from contextlib import contextmanager

from .checks import check_batch_size, check_greedy
from .config import AssistConfig, AssistedOutput, DraftStats


class _PrecomputedEncoder:
    """Stands in for the draft's encoder: returns the full model's encoder output."""

    def __init__(self, outputs):
        self.outputs = outputs

    def forward(self, **kwargs):
        return self.outputs

    __call__ = forward


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _count_rounds(candidates, stats: DraftStats) -> None:
    """Count each round on this candidate generator (its type stays transformers' own).

    A round's kept drafts are the common prefix of what the draft proposed and what the full model
    appended. transformers' `num_matches` is not that: it is recomputed after the round is cut at
    EOS, so a drafted EOS that the full model accepts would count as a rejection.
    """
    get, update = candidates.get_candidates, candidates.update_candidate_strategy
    round_ = {}

    def get_candidates(input_ids, **kwargs):
        proposed, logits = get(input_ids, **kwargs)
        start = input_ids.shape[1]
        round_.update(start=start, drafted=proposed[0, start:].tolist())
        return proposed, logits

    def update_candidate_strategy(input_ids, scores, num_matches):
        # Called once per round, after the full model's pass, with the sequence it extended.
        appended = input_ids[0, round_["start"]:].tolist()
        stats.add_round(len(round_["drafted"]), common_prefix(round_["drafted"], appended), len(appended))
        return update(input_ids, scores, num_matches)

    candidates.get_candidates = get_candidates  # instance attributes: the class is untouched
    candidates.update_candidate_strategy = update_candidate_strategy


@contextmanager
def _drafting(full, draft, config: AssistConfig, stats: DraftStats):
    """For one call: the full model builds transformers' candidates, counted; the draft runs `config`'s settings."""
    import torch
    from transformers.generation.candidate_generator import AssistedCandidateGenerator

    stock = type(full)._get_candidate_generator

    def make_candidates(**kwargs):
        shared = kwargs["model_kwargs"].get("encoder_outputs") if config.share_encoder else None
        assistant = kwargs["assistant_model"]
        if shared is not None:  # the draft's encoder pass happens while the candidates are built: replace it
            assistant.get_encoder = lambda *args, **kw: _PrecomputedEncoder(shared)
        try:
            candidates = stock(full, **kwargs)
        finally:
            if shared is not None:
                del assistant.get_encoder
        if type(candidates) is not AssistedCandidateGenerator:  # a transformers change: do not count wrongly
            raise RuntimeError(f"transformers built a {type(candidates).__name__}, not the AssistedCandidateGenerator "
                               "asymprune counts; this transformers version is not supported with --assistant")
        if config.fix_draft_cache and assistant.config.is_encoder_decoder \
                and "decoder_attention_mask" not in candidates.assistant_kwargs:
            # generate() slices a resumed input by its attention mask's length; without a decoder
            # mask an encoder-decoder draft re-feeds its whole prefix on top of its cache.
            candidates.assistant_kwargs["decoder_attention_mask"] = torch.ones_like(
                kwargs["input_ids"]).to(assistant.device)
        _count_rounds(candidates, stats)
        return candidates

    saved = draft.generation_config
    draft.generation_config = copy.deepcopy(saved)
    draft.generation_config.num_assistant_tokens = config.draft_tokens
    draft.generation_config.num_assistant_tokens_schedule = config.schedule
    draft.generation_config.assistant_confidence_threshold = config.confidence
    full._get_candidate_generator = make_candidates  # shadows the method on this instance only
    try:
        yield draft.generation_config
    finally:
        del full._get_candidate_generator
        draft.generation_config = saved


def _model_inputs(inputs, attention_mask) -> dict:
    """generate()'s keyword inputs: a tensor is token ids; a mapping is the family's inputs (input_features...)."""
    given = dict(inputs) if isinstance(inputs, Mapping) else {"input_ids": inputs}
    if attention_mask is not None:
        given["attention_mask"] = attention_mask
    return given


def assisted_generate(full, draft, inputs, attention_mask=None, generation_config=None,
                      config: AssistConfig | None = None) -> AssistedOutput:
    """Greedy `full.generate(..., assistant_model=draft)` on one document, with its draft statistics.

    `inputs` is the token ids of a text model, or a mapping of model inputs (Whisper: `input_features`).
    `generation_config` (default: the full model's) must be greedy; pass explicit lengths. The
    sequences equal `full.generate(**inputs, attention_mask=..., generation_config=...)`. With
    `config.share_encoder`, call `check_shared_encoder(full, draft)` once first (generate, evaluate and
    bench do), not once per document.
    """
    import torch

    from ..models import family_for

    config = config or AssistConfig()
    config.validate()
    kwargs = _model_inputs(inputs, attention_mask)
    first = next(v for v in kwargs.values() if v is not None)
    check_batch_size(first.shape[0], "batch size")
    gen = copy.deepcopy(generation_config or full.generation_config)
    check_greedy(gen)
    stats = DraftStats()
    sync = torch.cuda.synchronize if first.device.type == "cuda" else (lambda: None)
    with _drafting(full, draft, config, stats) as draft_gen, torch.inference_mode():
        kwargs.update(family_for(full.config).prepare_assisted(gen, draft_gen, full.config))
        sync()
        start = time.perf_counter()
        sequences = full.generate(**kwargs, generation_config=gen, assistant_model=draft)
        sync()
        seconds = time.perf_counter() - start
    return AssistedOutput(sequences, stats, seconds)


def _row(inputs: Mapping, i: int) -> dict:
    """Row i of a batch of model inputs, without its padding: every input laid out like the attention mask
    (token ids) keeps the positions the mask marks; others (Whisper's 30-second windows) are taken whole."""
    mask = inputs.get("attention_mask")
    keep = mask[i].bool() if mask is not None else None
    row = {}
    for name, value in inputs.items():
        if value is None:
            continue
        value = value[i]
        if keep is not None and value.shape[:1] == keep.shape:
            value = value[keep]
        row[name] = value[None]
    return row


def generate_one_by_one(full, draft, inputs: Mapping, generation_config, config: AssistConfig,
                        stats: DraftStats, pad_token_id: int):
    """`assisted_generate` over the rows of a batch of model inputs (input_ids and attention_mask, or the
    family's: Whisper's input_features), right-padded to one tensor; adds to `stats`."""
    import torch

    rows = []
    for i in range(next(v for v in inputs.values() if v is not None).shape[0]):
        out = assisted_generate(full, draft, _row(inputs, i), None, generation_config, config)
        stats.merge(out.stats)
        rows.append(out.sequences[0])
    width = max(len(r) for r in rows)
    return torch.stack([torch.nn.functional.pad(r, (0, width - len(r)), value=pad_token_id) for r in rows])
