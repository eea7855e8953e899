"""Lossless draft-and-verify: a pruned variant drafts tokens, its full model verifies them.

    from asymprune.assist import AssistConfig, assisted_generate
    out = assisted_generate(full, draft, input_ids, attention_mask, generation_config,
                            AssistConfig(draft_tokens=5))
    out.sequences               # token for token full.generate(...)'s greedy output
    out.stats.acceptance_rate   # draft tokens kept / draft tokens proposed
    out.seconds                 # wall time of the call

This is transformers' assisted generation (`generate(assistant_model=draft)`), greedy and batch 1
only, as transformers has it. Two things are added without forking transformers:

- Counting. `DraftStats` gets, per verification round, how many tokens the draft proposed and
  how many the full model kept, from a subclass of transformers' `AssistedCandidateGenerator`.
  transformers has no public hook that picks the candidate generator, so for the length of one
  call the full model's `_get_candidate_generator` is shadowed on the instance.
- A shared encoder (`share_encoder=True`). transformers runs the draft's own encoder once per
  document. With the option, the draft reads the full model's encoder output instead: the
  encoder runs once per document. The output stays the full model's own; the drafts stay the
  draft's own exactly when its encoder equals the full model's (`asymprune train
  --freeze-encoder` re-tunes a draft that way), otherwise only the acceptance rate changes.

Expected speed-up (Leviathan et al., 2023): with per-token acceptance probability a, g draft
tokens per round and cost ratio c (a draft step's time over a full step's), a round yields
(1 - a^(g+1)) / (1 - a) tokens on average for the price of g*c + 1 full steps:
`predicted_speedup(a, g, c)`.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from .errors import UsageError

SCHEDULES = ("constant", "heuristic_transient")


@dataclass
class AssistConfig:
    draft_tokens: int = 20          # g: tokens the draft proposes per round at most (transformers' default: 20)
    confidence: float = 0.4         # a round ends early once the draft's top probability falls below this; 0: never
    schedule: str = "constant"      # constant g, or heuristic_transient (+2 after a fully kept round, -1 otherwise)
    share_encoder: bool = False     # the draft reads the full model's encoder output (one encoder pass per document)
    fix_draft_cache: bool = True    # resume the draft from its cache; False: stock transformers 5.24 (see module doc)

    def validate(self) -> None:
        if self.draft_tokens < 1:
            raise UsageError(f"--draft-tokens must be at least 1 (got {self.draft_tokens})")
        if not 0 <= self.confidence < 1:
            raise UsageError(f"--draft-confidence must be in [0, 1) (got {self.confidence}); 0 turns it off")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"unknown draft schedule '{self.schedule}'; choose one of: {', '.join(SCHEDULES)}")


@dataclass
class DraftStats:
    """What the draft proposed and the full model kept, summed over verification rounds."""

    rounds: int = 0               # verification passes of the full model
    proposed: int = 0             # draft tokens proposed
    accepted: int = 0             # proposed tokens the full model kept
    short_rounds: int = 0         # rounds that kept fewer tokens than proposed (ended on a rejection)
    per_round: list[list[int]] = field(default_factory=list)  # [proposed, accepted] per round

    def add_round(self, proposed: int, accepted: int) -> None:
        self.rounds += 1
        self.proposed += proposed
        self.accepted += accepted
        self.short_rounds += accepted < proposed
        self.per_round.append([proposed, accepted])

    def merge(self, other: "DraftStats") -> "DraftStats":
        self.rounds += other.rounds
        self.proposed += other.proposed
        self.accepted += other.accepted
        self.short_rounds += other.short_rounds
        self.per_round += other.per_round
        return self

    @property
    def acceptance_rate(self) -> float | None:
        """Draft tokens kept / draft tokens proposed."""
        return self.accepted / self.proposed if self.proposed else None

    @property
    def alpha(self) -> float | None:
        """Per-token acceptance probability (Leviathan's alpha), estimated from the rounds.

        Within a round the draft's tokens are kept until the first rejection, so each round
        shows `accepted` successes and, when it ends short, one failure.
        """
        trials = self.accepted + self.short_rounds
        return self.accepted / trials if trials else None

    @property
    def tokens_per_round(self) -> float | None:
        """Generated tokens per full-model pass: the kept drafts plus the full model's own token."""
        return (self.accepted + self.rounds) / self.rounds if self.rounds else None

    @property
    def draft_tokens_per_round(self) -> float | None:
        return self.proposed / self.rounds if self.rounds else None

    def to_dict(self) -> dict:
        return {"rounds": self.rounds, "proposed": self.proposed, "accepted": self.accepted,
                "short_rounds": self.short_rounds, "acceptance_rate": self.acceptance_rate, "alpha": self.alpha,
                "tokens_per_round": self.tokens_per_round, "draft_tokens_per_round": self.draft_tokens_per_round}

    @classmethod
    def from_dict(cls, data: dict) -> "DraftStats":
        return cls(**{k: data[k] for k in ("rounds", "proposed", "accepted", "short_rounds")},
                   per_round=list(data.get("per_round", [])))


@dataclass
class AssistedOutput:
    sequences: object       # torch.LongTensor (1, length): the full model's greedy tokens
    stats: DraftStats       # this call's rounds
    seconds: float          # wall time of the call (device synchronised)


def expected_tokens_per_round(alpha: float, g: float) -> float:
    """Leviathan et al.'s expected tokens per round: (1 - a^(g+1)) / (1 - a)."""
    return g + 1 if alpha >= 1 else (1 - alpha ** (g + 1)) / (1 - alpha)


def predicted_speedup(alpha: float, g: float, c: float) -> float:
    """Leviathan et al.'s walltime improvement factor: expected tokens per round / (g*c + 1)."""
    return expected_tokens_per_round(alpha, g) / (g * c + 1)


# ---------------------------------------------------------------- checks

def check_draft(full_config, draft_config, full: str = "the full model", draft: str = "the draft",
                full_tokenizer=None, draft_tokenizer=None, share_encoder: bool = False) -> None:
    """One-line errors for a draft that cannot verify losslessly against `full` (configs, tokenizers)."""
    if full_config.model_type != draft_config.model_type:
        raise UsageError(f"draft {draft} is a {draft_config.model_type} model and {full} a {full_config.model_type} "
                         "model; the draft must be a pruned variant of the same model")
    if full_config.vocab_size != draft_config.vocab_size:
        raise UsageError(f"draft {draft} has a vocabulary of {draft_config.vocab_size} tokens and {full} "
                         f"{full_config.vocab_size}; the draft must use the full model's tokenizer")
    for name in ("decoder_start_token_id", "eos_token_id", "pad_token_id"):
        if getattr(full_config, name, None) != getattr(draft_config, name, None):
            raise UsageError(f"draft {draft} has {name} {getattr(draft_config, name, None)} and {full} "
                             f"{getattr(full_config, name, None)}; the draft must use the full model's tokenizer")
    if full_tokenizer is not None and draft_tokenizer is not None \
            and full_tokenizer.get_vocab() != draft_tokenizer.get_vocab():
        raise UsageError(f"draft {draft} has a different tokenizer vocabulary than {full}; use a draft pruned from "
                         "the full model, with its tokenizer")
    if share_encoder and getattr(full_config, "d_model", None) != getattr(draft_config, "d_model", None):
        raise UsageError(f"--share-encoder: draft {draft} has d_model {draft_config.d_model} and {full} "
                         f"{full_config.d_model}; the draft must read the full model's encoder output")


def check_draft_sources(full: str, draft: str, share_encoder: bool = False) -> None:
    """`check_draft` on two MODEL arguments (hub ids, directories or presets), before loading weights."""
    from .models import load_config, load_tokenizer
    check_draft(load_config(full, presets=True), load_config(draft, presets=True), full, draft,
                load_tokenizer(full, presets=True), load_tokenizer(draft, presets=True), share_encoder)


def check_batch_size(batch_size: int, flag: str = "--batch-size") -> None:
    if batch_size > 1:
        raise UsageError(f"{flag} {batch_size}: transformers' assisted generation (--assistant) runs one document "
                         f"at a time; pass {flag} 1")


def check_greedy(generation_config) -> None:
    if (generation_config.num_beams or 1) > 1 or generation_config.do_sample:
        raise UsageError("--assistant verifies greedy decoding only; pass --num-beams 1 (and no sampling)")


def encoders_equal(full, draft) -> bool:
    """Whether the draft's encoder (embeddings included) has exactly the full model's weights."""
    import torch
    a, b = full.get_encoder().state_dict(), draft.get_encoder().state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].to(a[k].device)) for k in a)


def freeze_encoder(model) -> int:
    """Stop training the encoder, and the embeddings it reads (shared with the decoder in T5 and BART).

    Re-tuning a decoder-pruned draft this way keeps its encoder equal to its full model's, so the
    draft can read the full model's encoder output (`share_encoder`). Returns the frozen count.
    """
    params = list(model.get_encoder().parameters())  # a shared embedding is the same Parameter object
    for p in params:
        p.requires_grad_(False)
    return sum(p.numel() for p in params)


# ---------------------------------------------------------------- generation

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


def stats_summary(stats: DraftStats, config: AssistConfig) -> dict:
    """What reports carry: the counts, the rates and the draft settings."""
    return {**stats.to_dict(), "settings": asdict(config)}
