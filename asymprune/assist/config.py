"""Draft-and-verify settings, what a draft did, and what it should buy.

    config = AssistConfig(draft_tokens=5, confidence=0.4)    # validate() gives one-line errors
    stats = DraftStats(); stats.add_round(proposed=5, accepted=3, generated=4)
    stats.acceptance_rate, stats.alpha, stats.tokens_per_round
    predicted_speedup(alpha=0.8, g=5, c=0.2)                 # Leviathan et al.'s expected improvement

Expected speed-up (Leviathan et al., 2023): with per-token acceptance probability a, g draft
tokens per round and cost ratio c (a draft step's time over a full step's), a round yields
(1 - a^(g+1)) / (1 - a) tokens on average for the price of g*c + 1 full steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import UsageError

SCHEDULES = ("constant", "heuristic_transient")


@dataclass
class AssistConfig:
    draft_tokens: int = 20          # g: tokens the draft proposes per round at most (transformers' default: 20)
    confidence: float = 0.4         # a round ends early below this draft probability; 0: never (adapts: README)
    schedule: str = "constant"      # constant g, or heuristic_transient (+2 after a fully kept round, -1 otherwise)
    share_encoder: bool = False     # the draft reads the full model's encoder output (one encoder pass per document)
    fix_draft_cache: bool = True    # resume the draft from its cache; False: stock transformers 5.25 (README)
    draft_vocab: str | None = None  # JSON file of token ids: the draft proposes only those (a domain head, in memory)

    def validate(self) -> None:
        if self.draft_tokens < 1:
            raise UsageError(f"--draft-tokens must be at least 1 (got {self.draft_tokens})")
        if not 0 <= self.confidence < 1:
            raise UsageError(f"--draft-confidence must be in [0, 1) (got {self.confidence}); 0 turns it off")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"unknown draft schedule '{self.schedule}'; choose one of: {', '.join(SCHEDULES)}")
        if self.draft_vocab is not None:
            from .checks import read_draft_vocab
            read_draft_vocab(self.draft_vocab)


@dataclass
class DraftStats:
    """What the draft proposed and the full model kept, summed over verification rounds.

    A round's kept tokens are the common prefix of the draft's proposal and what the full model
    appended, EOS included: a draft identical to the full model is kept in full.
    """

    rounds: int = 0               # verification passes of the full model
    proposed: int = 0             # draft tokens proposed
    accepted: int = 0             # proposed tokens the full model kept
    short_rounds: int = 0         # rounds that kept fewer tokens than proposed (ended on a rejection)
    generated: int = 0            # tokens appended: kept drafts + the full model's own (none after a kept EOS)
    per_round: list[list[int]] = field(default_factory=list)  # [proposed, accepted] per round

    def add_round(self, proposed: int, accepted: int, generated: int | None = None) -> None:
        """One round; `generated` (default accepted + 1) is what the full model appended."""
        self.rounds += 1
        self.proposed += proposed
        self.accepted += accepted
        self.short_rounds += accepted < proposed
        self.generated += accepted + 1 if generated is None else generated
        self.per_round.append([proposed, accepted])

    def merge(self, other: "DraftStats") -> "DraftStats":
        self.rounds += other.rounds
        self.proposed += other.proposed
        self.accepted += other.accepted
        self.short_rounds += other.short_rounds
        self.generated += other.generated
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
        return self.generated / self.rounds if self.rounds else None

    @property
    def draft_tokens_per_round(self) -> float | None:
        return self.proposed / self.rounds if self.rounds else None

    def to_dict(self) -> dict:
        return {"rounds": self.rounds, "proposed": self.proposed, "accepted": self.accepted,
                "short_rounds": self.short_rounds, "generated": self.generated,
                "acceptance_rate": self.acceptance_rate, "alpha": self.alpha,
                "tokens_per_round": self.tokens_per_round, "draft_tokens_per_round": self.draft_tokens_per_round}

    @classmethod
    def from_dict(cls, data: dict) -> "DraftStats":
        counts = {k: data[k] for k in ("rounds", "proposed", "accepted", "short_rounds")}
        # Written before `generated` was counted: each round then added its kept drafts plus one.
        generated = data.get("generated", counts["accepted"] + counts["rounds"])
        return cls(**counts, generated=generated, per_round=list(data.get("per_round", [])))


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


def confidence_adapts(config: AssistConfig) -> bool:
    """Whether transformers moves the confidence threshold during a call, as it does for stock assisted
    generation: from `config.confidence` along the ROC curve of the draft's probabilities, only where
    scikit-learn is installed (asymprune does not require it) and the threshold is not 0."""
    from transformers.utils import is_sklearn_available
    return bool(config.confidence) and is_sklearn_available()


def stats_summary(stats: DraftStats, config: AssistConfig) -> dict:
    """What reports carry: the counts, the rates, the draft settings and whether the threshold adapted."""
    return {**stats.to_dict(), "settings": asdict(config), "confidence_adapts": confidence_adapts(config)}
