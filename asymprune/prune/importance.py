"""Data-driven layer scores for each stack of an encoder-decoder model.

    cal = CalibrationConfig(spec="synthetic", samples=32)
    batches = calibration_batches(model, processor, cal)
    angular_scores(model, batches)        # {"encoder": [0.31, ...], "decoder": [...]}
    greedy_loss_scores(model, batches)    # {"base_loss": 2.1, "encoder": {...}, "decoder": {...}}

Two scores, both computed with teacher forcing on a calibration set (no training):
- angular: for every layer, the angle between the hidden states entering and leaving it,
  arccos(cos)/pi averaged over real tokens (Gromov et al.'s angular distance, per layer).
  A layer that barely turns the representation is cheap to drop; `--strategy angular` keeps
  the layers with the largest distance.
- greedy-loss: remove, one at a time, the layer whose removal raises the calibration loss
  least, until one layer is left. The encoder and the decoder are scored separately, each
  with the other stack whole. `--strategy greedy-loss` keeps what survives the first L-N steps.

Both strategies register themselves here (`@register_strategy(..., calibrated=True)`), so the
selection code in select.py never imports this module. `asymprune layers MODEL --calibration
SPEC` prints both scores without pruning.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass

from ..errors import UsageError
from ..models import STACKS, family_for
from .select import CALIBRATED, needs_calibration, plan_pruning, register_strategy


@dataclass
class CalibrationConfig:
    spec: str                     # dataset SPEC (see asymprune.data): synthetic, a file, hf:NAME, ...
    split: str = "validation"     # split the rows come from (not test, by default); a single file is used whole
    samples: int = 32             # rows used; the first `samples` of the split
    max_source_length: int = 512  # source tokens per row (longer sources are truncated)
    max_target_length: int = 128  # target tokens per row, teacher-forced into the decoder
    batch_size: int = 8           # rows per forward pass

    def validate(self) -> None:
        if self.samples <= 0:
            raise UsageError(f"--calibration-samples must be at least 1 (got {self.samples})")
        if self.batch_size <= 0 or self.max_source_length <= 0 or self.max_target_length <= 0:
            raise UsageError("calibration batch size and lengths must be positive")


def calibration_batches(model, processor, cal: CalibrationConfig, data=None) -> list[dict]:
    """Padded, teacher-forcing batches (the family's model inputs, labels with -100 padding).

    `data` (a DataConfig): split the SPEC exactly as training does (a sweep passes its own, so a
    single file's test rows never choose layers); None reads a single file whole.
    """
    from dataclasses import replace

    from ..data import DataConfig, check_inputs, load_rows
    cal.validate()
    if processor is None:
        raise UsageError("the model has no tokenizer to encode the calibration set; save one next to the model")
    # Rows missing a source or target are skipped; a set left with none is a one-line error.
    config = replace(data or DataConfig(), drop_empty_rows=True)
    family = family_for(model.config)
    check_inputs(cal.spec, family.inputs, f"this {family.name} model", config)
    rows = load_rows(cal.spec, cal.split, cal.samples, config, whole_file=data is None)
    tokenized, _ = family.encode(rows, processor, prefix=family.source_prefix(model.config),
                                 max_source_length=cal.max_source_length, max_target_length=cal.max_target_length)
    collate = family.data_collator(processor)  # labels padded with -100
    device = next(model.parameters()).device
    return [{k: v.to(device) for k, v in collate([tokenized[j] for j in range(i, min(i + cal.batch_size,
                                                                                      len(tokenized)))]).items()}
            for i in range(0, len(tokenized), cal.batch_size)]


def calibration_loss(model, batches: list[dict]) -> float:
    """Teacher-forced cross-entropy per target token over all batches."""
    import torch
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for b in batches:
            n = int((b["labels"] != -100).sum())
            total += float(model(**b, use_cache=False).loss) * n
            tokens += n
    return total / max(tokens, 1)


def angular_scores(model, batches: list[dict]) -> dict[str, list[float]]:
    """Mean angular distance (0..1) between each layer's input and output hidden states."""
    import torch
    family = family_for(model.config)
    sums = {s: [0.0] * len(family.layers(model, s)) for s in STACKS}
    counts = {s: [0] * len(family.layers(model, s)) for s in STACKS}
    masks = {}  # the real-token mask of the stack running now

    def hook(stack, i):
        def fn(module, args, kwargs, output):
            h_in = args[0] if args else kwargs["hidden_states"]
            h_out = output[0] if isinstance(output, tuple) else output
            cos = torch.nn.functional.cosine_similarity(h_in.float(), h_out.float(), dim=-1)
            angle = torch.arccos(cos.clamp(-1.0, 1.0)) / math.pi
            mask = masks[stack] if masks[stack] is not None else torch.ones_like(angle)  # no mask: every position
            sums[stack][i] += float((angle * mask).sum())
            counts[stack][i] += int(mask.sum())
        return fn

    handles = [layer.register_forward_hook(hook(s, i), with_kwargs=True)
               for s in STACKS for i, layer in enumerate(family.layers(model, s))]
    try:
        with torch.inference_mode():
            for b in batches:
                # Speech encoders read the whole window: their batches have no mask, every frame counts
                masks["encoder"] = b["attention_mask"].float() if "attention_mask" in b else None
                masks["decoder"] = (b["labels"] != -100).float()
                model(**b, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return {s: [sums[s][i] / max(counts[s][i], 1) for i in range(len(sums[s]))] for s in STACKS}


@contextlib.contextmanager
def without_layers(model, stack: str, keep: list[int]):
    """Temporarily keep only `keep` of one stack (exactly as pruning would); restore on exit."""
    family = family_for(model.config)
    layers = family.layers(model, stack)
    counts = family.layer_counts(model.config)
    stack_config = family.stack(model, stack).config
    stack_num_layers = getattr(stack_config, "num_layers", None)
    saved_idx = [(m, m.layer_idx) for m in layers.modules() if hasattr(m, "layer_idx")]
    first = layers[keep[0]]
    if keep[0] != 0:
        layers[keep[0]] = copy.deepcopy(first)  # the copy adopts block 0's bias; the original stays as it was
    try:
        family.replace_layers(model, stack, keep)
        family.set_layer_counts(model.config, {**counts, stack: len(keep)})
        yield model
    finally:
        layers[keep[0]] = first
        setattr(family.stack(model, stack), family.layers_attr, layers)
        for m, idx in saved_idx:
            m.layer_idx = idx
        family.set_layer_counts(model.config, counts)
        if stack_num_layers is not None:
            stack_config.num_layers = stack_num_layers


def greedy_loss_scores(model, batches: list[dict], stop_at: dict[str, int] | None = None, progress=None) -> dict:
    """Greedy removal per stack (the other stack whole), cheapest loss increase first.

    Returns {"base_loss", stack: {"loss_without": [loss with only that layer removed],
    "removal_order": [layer removed at step 1, 2, ...], "loss_after": [loss after each step]}}.
    `stop_at` ends a stack's search once that many layers remain (a prune needs no more).
    """
    family = family_for(model.config)
    base = calibration_loss(model, batches)
    out: dict = {"base_loss": base}
    for stack in STACKS:
        n = len(family.layers(model, stack))
        floor = max(1, (stop_at or {}).get(stack, 1))
        remaining, order, after, alone = list(range(n)), [], [], [None] * n
        task = progress.add_task(f"greedy-loss {stack}", total=sum(range(floor + 1, n + 1))) if progress else None
        while len(remaining) > floor:
            trials = {}
            for layer in remaining:
                keep = [i for i in remaining if i != layer]
                with without_layers(model, stack, keep):
                    trials[layer] = calibration_loss(model, batches)
                if progress:
                    progress.advance(task)
            if len(remaining) == n:
                alone = [trials[i] for i in range(n)]
            best = min(remaining, key=lambda i: (trials[i], i))
            order.append(best)
            after.append(trials[best])
            remaining.remove(best)
        out[stack] = {"loss_without": alone, "removal_order": order, "loss_after": after}
    return out


def score_layers(model, processor, cal: CalibrationConfig, strategies=("angular", "greedy-loss"),
                 stop_at: dict[str, int] | None = None, progress=None, data=None) -> dict:
    """The scores the strategies need, as saved in asymprune.json under "scores"."""
    batches = calibration_batches(model, processor, cal, data)
    scores: dict = {"calibration": {"spec": cal.spec, "split": cal.split,
                                    "samples": sum(len(b["labels"]) for b in batches)}}
    model.eval()
    if "angular" in strategies:
        scores["angular"] = angular_scores(model, batches)
    if "greedy-loss" in strategies:
        scores["greedy-loss"] = greedy_loss_scores(model, batches, stop_at, progress)
    return scores


def keep_by_angular(scores: dict, stack: str, count: int) -> list[int]:
    """The `count` layers that turn the hidden states most (ties: the earlier layer)."""
    dist = scores["angular"][stack]
    return sorted(sorted(range(len(dist)), key=lambda i: (-dist[i], i))[:count])


def keep_by_greedy_loss(scores: dict, stack: str, count: int) -> list[int]:
    greedy = scores["greedy-loss"][stack]
    n = len(greedy["loss_without"])
    removed = greedy["removal_order"][:n - count]
    if len(removed) < n - count:
        raise UsageError(f"greedy-loss scores stop at {n - len(greedy['removal_order'])} {stack} layers; "
                         f"rescore to keep {count}")
    return [i for i in range(n) if i not in removed]


def _scores_for(name: str, scores: dict | None) -> dict:
    if not scores or name not in scores:
        raise needs_calibration(name)
    return scores


@register_strategy("angular", calibrated=True)
def angular(num_layers: int, count: int, stack: str = "stack", scores: dict | None = None, **_) -> list[int]:
    """The layers that turn the hidden states most on the calibration set."""
    return keep_by_angular(_scores_for("angular", scores), stack, count)


@register_strategy("greedy-loss", calibrated=True)
def greedy_loss(num_layers: int, count: int, stack: str = "stack", scores: dict | None = None, **_) -> list[int]:
    """What survives greedy removal of the layer whose loss increase is smallest."""
    return keep_by_greedy_loss(_scores_for("greedy-loss", scores), stack, count)


def plan_calibrated(model, processor, encoder, decoder, strategy: str, cal: CalibrationConfig | None,
                    progress=None, data=None) -> tuple[dict[str, list[int]], dict | None]:
    """Kept indices per stack for any strategy, scoring layers first when the strategy needs it."""
    if strategy not in CALIBRATED:
        return plan_pruning(model.config, encoder, decoder, strategy), None
    if cal is None:
        raise needs_calibration(strategy)
    counts = {s: len(k) for s, k in plan_pruning(model.config, encoder, decoder, "spread").items()}  # validates
    scores = score_layers(model, processor, cal, (strategy,), stop_at=counts, progress=progress, data=data)
    return plan_pruning(model.config, encoder, decoder, strategy, scores=scores), scores


def scores_table(scores: dict, stack: str, kept: list[int] | None = None):
    """A rich table of one stack's scores: angular distance and greedy-loss results per layer."""
    from rich.table import Table
    angular, greedy = scores.get("angular", {}).get(stack), scores.get("greedy-loss", {}).get(stack)
    n = len(angular) if angular else len(greedy["loss_without"])
    cal = scores["calibration"]
    table = Table(title=f"{stack} layers scored on {cal['spec']}:{cal['split']} ({cal['samples']} rows)",
                  title_justify="left")
    table.add_column("layer", justify="right")
    if angular:
        table.add_column("angular distance", justify="right")
        table.add_column("rank", justify="right")
        ranks = {i: r + 1 for r, i in enumerate(sorted(range(n), key=lambda i: (-angular[i], i)))}
    if greedy:
        base = scores["greedy-loss"]["base_loss"]
        table.add_column(f"Δ loss alone (base {base:.3f})", justify="right")
        table.add_column("greedy step", justify="right")
        steps = {layer: k + 1 for k, layer in enumerate(greedy["removal_order"])}
    if kept is not None:
        table.add_column("kept")
    for i in range(n):
        row = [str(i)]
        if angular:
            row += [f"{angular[i]:.4f}", str(ranks[i])]
        if greedy:
            alone = greedy["loss_without"][i]
            row += ["" if alone is None else f"{alone - base:+.4f}", str(steps.get(i, "kept"))]
        if kept is not None:
            row.append("yes" if i in kept else "")
        table.add_row(*row)
    return table
