"""Remove the layers a plan drops, exactly, and save the result as a plain Hugging Face folder.

    from asymprune import prune_layers
    kept = prune_layers(model, encoder=None, decoder=2, strategy="paper")   # in memory
    kept = prune_layers(model, decoder="2/6")            # floor(L*2/6) layers, spread
    kept = prune_layers(model, encoder=[0, 3, 7])        # explicit indices
    save_pruned(model, tokenizer, Path("out"), record)   # safetensors + tokenizer + asymprune.json + README.md

Kept layers are the source's modules, so their tensors are bit-for-bit the source's;
embeddings, final norms and the lm_head are untouched. `save_pruned` writes atomically.
"""

from __future__ import annotations

from pathlib import Path

from ..fsutil import atomic_dir, write_json
from ..models import STACKS, family_for, save_model
from ..models.card import write_card
from .select import Selection, plan_pruning


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


def save_pruned(model, tokenizer, out: Path, record: dict, overwrite: bool = False) -> None:
    """Write model (safetensors), tokenizer, asymprune.json and the model card (README.md) to `out`,
    all or nothing."""
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        save_model(model, tmp, tokenizer)
        write_json(tmp / "asymprune.json", record)
        write_card(tmp, record["source"], Path(out).name)
