"""Exact structured layer pruning of encoder-decoder models.

    from asymprune import prune_layers
    kept = prune_layers(model, encoder=None, decoder=2, strategy="paper")   # in memory
    kept = prune_layers(model, decoder="2/6")            # floor(L*2/6) layers, spread
    kept = prune_layers(model, encoder=[0, 3, 7])        # explicit indices

Kept layers are the source's modules, so their tensors are bit-for-bit the source's;
embeddings, final norms and the lm_head are untouched. `save_pruned` writes a plain
Hugging Face directory (safetensors + tokenizer + asymprune.json) atomically.

Selection strategies are registered functions `fn(num_layers, count, **context) -> indices`;
add one with `@register_strategy("name")`. Data-driven ones (`angular`, `greedy-loss`) read
per-layer scores from `context["scores"]` (computed by importance.score_layers).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable, Union

from .errors import UsageError
from .fsutil import atomic_dir, write_json
from .models import STACKS, family_for, save_model

Selection = Union[None, int, str, list[int]]  # None: keep all; int or "a/b": a count; list: indices

# Keep-maps of the paper's released code: stack depth -> kept count -> kept indices.
PAPER_MAPS: dict[int, dict[int, list[int]]] = {
    8: {1: [0], 2: [0, 7], 4: [0, 2, 5, 7], 5: [0, 2, 4, 5, 7], 6: [0, 2, 3, 4, 5, 7]},
    12: {2: [0, 11], 4: [0, 3, 8, 11], 6: [0, 2, 4, 6, 8, 10], 8: [0, 2, 4, 5, 6, 7, 8, 11],
         10: [0, 1, 2, 4, 5, 6, 7, 8, 10, 11]},
    24: {4: [0, 5, 11, 23], 8: [0, 1, 3, 7, 11, 15, 19, 23], 12: [0, 2, 4, 6, 8, 12, 14, 16, 18, 20, 22, 23],
         16: [0, 1, 2, 4, 6, 7, 8, 12, 14, 15, 16, 18, 20, 21, 22, 23],
         20: [0, 1, 2, 3, 4, 6, 7, 8, 9, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]},
}

STRATEGIES: dict[str, Callable[..., list[int]]] = {}
CALIBRATED: set[str] = set()  # strategies that score layers on data: they need --calibration


def register_strategy(name: str, calibrated: bool = False):
    def wrap(fn):
        STRATEGIES[name] = fn
        if calibrated:
            CALIBRATED.add(name)
        return fn
    return wrap


@register_strategy("paper")
def paper(num_layers: int, count: int, stack: str = "stack", **_) -> list[int]:
    maps = PAPER_MAPS.get(num_layers, {})
    if count not in maps:
        have = ", ".join(map(str, maps)) or "none"
        raise UsageError(f"the paper has no keep-map for {count} of {num_layers} {stack} layers (maps for: {have}); "
                         "use --strategy spread")
    return list(maps[count])


@register_strategy("spread")
def spread(num_layers: int, count: int, **_) -> list[int]:
    """Evenly spaced, always keeping the first and the last layer."""
    if count == 1:
        return [0]
    step = (num_layers - 1) / (count - 1)  # >= 1, so rounding keeps indices distinct
    return [math.floor(i * step + 0.5) for i in range(count)]


@register_strategy("first")
def first(num_layers: int, count: int, **_) -> list[int]:
    return list(range(count))


@register_strategy("last")
def last(num_layers: int, count: int, **_) -> list[int]:
    return list(range(num_layers - count, num_layers))


def needs_calibration(strategy: str) -> UsageError:
    """The error for a data-driven strategy run without a calibration set."""
    return UsageError(f"--strategy {strategy} scores layers on data; pass --calibration SPEC (e.g. --calibration "
                      "synthetic) or choose paper, spread, first or last")


def _scores_for(name: str, scores: dict | None) -> dict:
    if not scores or name not in scores:
        raise needs_calibration(name)
    return scores


@register_strategy("angular", calibrated=True)
def angular(num_layers: int, count: int, stack: str = "stack", scores: dict | None = None, **_) -> list[int]:
    """The layers that turn the hidden states most on the calibration set (see importance.py)."""
    from .importance import keep_by_angular
    return keep_by_angular(_scores_for("angular", scores), stack, count)


@register_strategy("greedy-loss", calibrated=True)
def greedy_loss(num_layers: int, count: int, stack: str = "stack", scores: dict | None = None, **_) -> list[int]:
    """What survives greedy removal of the layer whose loss increase is smallest (see importance.py)."""
    from .importance import keep_by_greedy_loss
    return keep_by_greedy_loss(_scores_for("greedy-loss", scores), stack, count)


def parse_count(value: int | str, num_layers: int, stack: str) -> int:
    """A layer count: "N", or the paper's sixths "a/b" meaning floor(num_layers * a / b)."""
    text = str(value).strip()
    if m := re.fullmatch(r"(\d+)\s*/\s*(\d+)", text):
        a, b = int(m[1]), int(m[2])
        if b == 0 or a > b:
            raise UsageError(f"--{stack}-layers {text}: a fraction must be a/b with 0 < a <= b, e.g. 2/6")
        count = num_layers * a // b
    elif re.fullmatch(r"\d+", text):
        count = int(text)
    else:
        raise UsageError(f"--{stack}-layers {text!r} is not a count; pass a number like 4 or a fraction like 2/6")
    if count < 1:
        raise UsageError(f"--{stack}-layers {text} keeps 0 of {num_layers} {stack} layers; keep at least 1")
    if count > num_layers:
        raise UsageError(f"--{stack}-layers {text}: the {stack} has only {num_layers} layers; pass at most {num_layers}")
    return count


def parse_index_list(text: str, stack: str) -> list[int]:
    """"0,3,7" -> [0, 3, 7], as given to --keep-encoder / --keep-decoder."""
    parts = [p.strip() for p in text.split(",")]
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        raise UsageError(f"--keep-{stack} {text!r} must be comma-separated layer indices, e.g. 0,3,7")
    return [int(p) for p in parts]


def check_indices(indices: list[int], num_layers: int, stack: str) -> list[int]:
    """Explicit indices, checked and sorted."""
    indices = [int(i) for i in indices]
    if not indices:
        raise UsageError(f"--keep-{stack} is empty; keep at least one {stack} layer")
    bad = [i for i in indices if not 0 <= i < num_layers]
    if bad:
        raise UsageError(f"--keep-{stack}: index {bad[0]} is out of range; the {stack} has layers 0..{num_layers - 1}")
    dupes = sorted({i for i in indices if indices.count(i) > 1})
    if dupes:
        raise UsageError(f"--keep-{stack}: index {dupes[0]} is given twice; list each layer once")
    return sorted(indices)


def select_layers(selection: Selection, num_layers: int, strategy: str, stack: str, **context) -> list[int]:
    """Resolve one stack's selection (None, a count, "a/b", or indices) to sorted kept indices."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy '{strategy}'; choose one of: {', '.join(STRATEGIES)}")
    if selection is None:
        return list(range(num_layers))
    if isinstance(selection, (list, tuple)):
        return check_indices(list(selection), num_layers, stack)
    count = parse_count(selection, num_layers, stack)
    if count == num_layers:
        return list(range(num_layers))
    return sorted(STRATEGIES[strategy](num_layers, count, stack=stack, **context))


def plan_pruning(config, encoder: Selection = None, decoder: Selection = None,
                 strategy: str = "spread", **context) -> dict[str, list[int]]:
    """Kept indices per stack, validated against the config alone (no weights needed)."""
    counts = family_for(config).layer_counts(config)
    chosen = {"encoder": encoder, "decoder": decoder}
    return {s: select_layers(chosen[s], counts[s], strategy, s, **context) for s in STACKS}


def apply_pruning(model, keep: dict[str, list[int]]) -> None:
    """Drop every layer not in `keep` and update the config to match."""
    family = family_for(model.config)
    for stack in STACKS:
        if len(keep[stack]) != len(family.layers(model, stack)):
            family.replace_layers(model, stack, keep[stack])
    family.set_layer_counts(model.config, {s: len(keep[s]) for s in STACKS})


def prune_layers(model, encoder: Selection = None, decoder: Selection = None,
                 strategy: str = "spread", **context) -> dict[str, list[int]]:
    """Prune `model` in place; return the kept source indices per stack."""
    keep = plan_pruning(model.config, encoder, decoder, strategy, **context)
    apply_pruning(model, keep)
    return keep


def param_counts(model) -> dict[str, int]:
    """Total parameters, and those in each stack's layers (embeddings, norms and head are 'other')."""
    family = family_for(model.config)
    total = sum(p.numel() for p in model.parameters())
    per_stack = {s: sum(p.numel() for p in family.layers(model, s).parameters()) for s in STACKS}
    return {"total": total, **per_stack, "other": total - sum(per_stack.values())}


def save_pruned(model, tokenizer, out: Path, record: dict, overwrite: bool = False) -> None:
    """Write model (safetensors), tokenizer and asymprune.json to `out`, all or nothing."""
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        save_model(model, tmp, tokenizer)
        write_json(tmp / "asymprune.json", record)
