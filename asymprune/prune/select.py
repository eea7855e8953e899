"""Which layers a selection keeps: registered strategies, the paper's keep-maps, counts and indices.

    plan_pruning(config, encoder=None, decoder=2, strategy="paper")   # {'encoder': [0..7], 'decoder': [0, 7]}
    select_layers("2/6", 24, "spread", "decoder")                     # floor(24*2/6) = 8 evenly spaced
    select_layers([0, 3, 7], 8, "spread", "encoder")                  # explicit indices, checked

A selection is None (keep all), a count (an int, "N" or the paper's sixths "a/b"), or a list
of indices. Strategies are registered functions `fn(num_layers, count, **context) -> indices`;
add one with `@register_strategy("name")`. The data-driven ones (`angular`, `greedy-loss`)
register themselves from importance.py and read per-layer scores from `context["scores"]`.
Nothing here needs weights: the config says how deep each stack is.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Union

from ..errors import UsageError
from ..grid import parse_count
from ..models import STACKS, family_for

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
