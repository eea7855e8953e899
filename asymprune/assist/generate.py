"""Greedy generation with a draft: transformers' assisted generation, counted, optionally sharing the encoder.

    out = assisted_generate(full, draft, input_ids, attention_mask, generation_config, AssistConfig(draft_tokens=5))
    out.sequences, out.stats, out.seconds

transformers has no public hook that picks the candidate generator, so for the length of one
call the full model's `_get_candidate_generator` is shadowed on the instance by one that counts
each round (a subclass of transformers' `AssistedCandidateGenerator`).
"""

from __future__ import annotations

import copy
import time
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


def _candidates_class():
    """A subclass of transformers' AssistedCandidateGenerator that counts each round (built lazily)."""
    import torch
    from transformers.generation.candidate_generator import AssistedCandidateGenerator

    class CountingCandidates(AssistedCandidateGenerator):
        def __init__(self, *, stats: DraftStats, encoder_outputs=None, fix_cache: bool = True, **kwargs):
            self.stats, self.proposed = stats, 0
            draft = kwargs["assistant_model"]
            if encoder_outputs is not None:  # the draft's encoder pass happens in __init__: replace it
                draft.get_encoder = lambda *args, **kw: _PrecomputedEncoder(encoder_outputs)
            try:
                super().__init__(**kwargs)
            finally:
                if encoder_outputs is not None:
                    del draft.get_encoder
            if fix_cache and draft.config.is_encoder_decoder and "decoder_attention_mask" not in self.assistant_kwargs:
                # generate() slices a resumed input by its attention mask's length; without a decoder
                # mask an encoder-decoder draft re-feeds its whole prefix on top of its cache.
                self.assistant_kwargs["decoder_attention_mask"] = torch.ones_like(kwargs["input_ids"]).to(draft.device)

        def get_candidates(self, input_ids, **kwargs):
            candidates, logits = super().get_candidates(input_ids, **kwargs)
            self.proposed = candidates.shape[1] - input_ids.shape[1]
            return candidates, logits

        def update_candidate_strategy(self, input_ids, scores, num_matches):
            # Called once per round, after the full model's pass, with the tokens it kept.
            self.stats.add_round(self.proposed, int(num_matches))
            super().update_candidate_strategy(input_ids, scores, num_matches)

    return CountingCandidates


@contextmanager
def _drafting(full, draft, config: AssistConfig, stats: DraftStats):
    """For one call: the full model builds counting candidates; the draft runs `config`'s settings."""
    cls = _candidates_class()

    def make_candidates(*, model_kwargs, assistant_model, target_tokenizer=None, assistant_tokenizer=None, **kwargs):
        shared = model_kwargs.get("encoder_outputs") if config.share_encoder else None
        return cls(stats=stats, encoder_outputs=shared, fix_cache=config.fix_draft_cache, model_kwargs=model_kwargs, assistant_model=assistant_model,
                   **kwargs)

    saved = draft.generation_config
    draft.generation_config = copy.deepcopy(saved)
    draft.generation_config.num_assistant_tokens = config.draft_tokens
    draft.generation_config.num_assistant_tokens_schedule = config.schedule
    draft.generation_config.assistant_confidence_threshold = config.confidence
    full._get_candidate_generator = make_candidates  # shadows the method on this instance only
    try:
        yield
    finally:
        del full._get_candidate_generator
        draft.generation_config = saved


def assisted_generate(full, draft, input_ids, attention_mask=None, generation_config=None,
                      config: AssistConfig | None = None) -> AssistedOutput:
    """Greedy `full.generate(..., assistant_model=draft)` on one document, with its draft statistics.

    `generation_config` (default: the full model's) must be greedy; pass explicit lengths. The
    sequences equal `full.generate(input_ids, attention_mask=..., generation_config=...)`.
    """
    import torch

    config = config or AssistConfig()
    config.validate()
    check_batch_size(input_ids.shape[0], "batch size")
    gen = copy.deepcopy(generation_config or full.generation_config)
    check_greedy(gen)
    stats = DraftStats()
    sync = torch.cuda.synchronize if input_ids.device.type == "cuda" else (lambda: None)
    with _drafting(full, draft, config, stats), torch.inference_mode():
        sync()
        start = time.perf_counter()
        sequences = full.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=gen,
                                  assistant_model=draft)
        sync()
        seconds = time.perf_counter() - start
    return AssistedOutput(sequences, stats, seconds)


def generate_one_by_one(full, draft, input_ids, attention_mask, generation_config, config: AssistConfig,
                        stats: DraftStats, pad_token_id: int):
    """`assisted_generate` over the rows of a batch, right-padded to one tensor; adds to `stats`."""
    import torch

    rows = []
    for i in range(input_ids.shape[0]):
        keep = attention_mask[i].bool() if attention_mask is not None else slice(None)
        ids = input_ids[i][keep][None]
        out = assisted_generate(full, draft, ids, torch.ones_like(ids), generation_config, config)
        stats.merge(out.stats)
        rows.append(out.sequences[0])
    width = max(len(r) for r in rows)
    return torch.stack([torch.nn.functional.pad(r, (0, width - len(r)), value=pad_token_id) for r in rows])
