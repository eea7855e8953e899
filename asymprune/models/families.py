"""Model families: where each encoder-decoder architecture keeps its layer stacks.

One registered adapter per family. Adding a family means adding one class:

    @register_family
    class MyFamily(Family):
        name = "my"
        model_types = ("my-model",)
        layers_attr = "layers"
        ...
"""

from __future__ import annotations

import copy

from torch import nn

from ..errors import UsageError

STACKS = ("encoder", "decoder")
FAMILIES: dict[str, "Family"] = {}


def register_family(cls):
    """Class decorator: make a Family available to `family_for`."""
    FAMILIES[cls.name] = cls()
    return cls


def family_for(config) -> "Family":
    """The adapter for a transformers config, or a UsageError naming what is supported."""
    model_type = getattr(config, "model_type", None)
    if not getattr(config, "is_encoder_decoder", False):
        raise UsageError(
            f"'{model_type}' is not an encoder-decoder model; asymprune prunes seq2seq models "
            f"({supported_types()}), pass one of those"
        )
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    raise UsageError(f"model type '{model_type}' is not supported yet; supported: {supported_types()}")


def supported_types() -> str:
    return ", ".join(t for f in FAMILIES.values() for t in f.model_types)


def param_counts(model) -> dict[str, int]:
    """Total parameters, and those in each stack's layers (embeddings, norms and head are 'other')."""
    family = family_for(model.config)
    total = sum(p.numel() for p in model.parameters())
    per_stack = {s: sum(p.numel() for p in family.layers(model, s).parameters()) for s in STACKS}
    return {"total": total, **per_stack, "other": total - sum(per_stack.values())}


class Family:
    """How to find, replace and describe the two layer stacks of one architecture family."""

    name: str
    model_types: tuple[str, ...]
    layers_attr: str  # attribute of the encoder/decoder module that holds its nn.ModuleList
    count_keys: dict[str, str]  # the config.json key holding each stack's layer count

    def stack(self, model, which: str) -> nn.Module:
        return model.get_encoder() if which == "encoder" else model.get_decoder()

    def layers(self, model, which: str) -> nn.ModuleList:
        return getattr(self.stack(model, which), self.layers_attr)

    def layer_counts(self, config) -> dict[str, int]:
        raise NotImplementedError

    def set_layer_counts(self, config, counts: dict[str, int]) -> None:
        raise NotImplementedError

    def adopt_first_layer(self, new_first: nn.Module, old_first: nn.Module) -> None:
        """Called when layer 0 was dropped: give the new first layer what only layer 0 owned."""

    def replace_layers(self, model, which: str, keep: list[int]) -> None:
        """Keep only the layers `keep` (sorted, unique) of one stack, renumbering cache indices."""
        old = self.layers(model, which)
        kept = [old[i] for i in keep]
        if keep[0] != 0:
            self.adopt_first_layer(kept[0], old[0])
        for new_idx, layer in enumerate(kept):
            # The KV cache is indexed by layer_idx; it must be the layer's new position.
            for module in layer.modules():
                if hasattr(module, "layer_idx"):
                    module.layer_idx = new_idx
        setattr(self.stack(model, which), self.layers_attr, nn.ModuleList(kept))


@register_family
class T5Family(Family):
    """T5, T5 v1.1, FLAN-T5 and mT5: `encoder.block` / `decoder.block`."""

    name = "t5"
    model_types = ("t5", "mt5")
    layers_attr = "block"
    count_keys = {"encoder": "num_layers", "decoder": "num_decoder_layers"}

    def layer_counts(self, config):
        return {"encoder": config.num_layers, "decoder": config.num_decoder_layers}

    def set_layer_counts(self, config, counts):
        config.num_layers = counts["encoder"]
        config.num_decoder_layers = counts["decoder"]
        # transformers sizes the default generation cache from `decoder_layers` when present,
        # else from `num_layers` (the encoder's count): without this, a model with more decoder
        # than encoder layers raises IndexError in plain generate().
        config.decoder_layers = counts["decoder"]

    def adopt_first_layer(self, new_first, old_first):
        # Only block 0 of a T5 stack owns the relative-attention bias; later blocks reuse
        # the bias that block 0 computes. Copy it exactly into the new block 0.
        src = old_first.layer[0].SelfAttention
        dst = new_first.layer[0].SelfAttention
        dst.relative_attention_bias = copy.deepcopy(src.relative_attention_bias)
        dst.has_relative_attention_bias = True

    def replace_layers(self, model, which, keep):
        super().replace_layers(model, which, keep)
        # Each T5 stack keeps its own copy of the config with its own `num_layers`.
        self.stack(model, which).config.num_layers = len(keep)


@register_family
class BartFamily(Family):
    """BART, mBART, PEGASUS and Marian: `model.encoder.layers` / `model.decoder.layers`."""

    name = "bart"
    model_types = ("bart", "mbart", "pegasus", "marian")
    layers_attr = "layers"
    count_keys = {"encoder": "encoder_layers", "decoder": "decoder_layers"}

    def layer_counts(self, config):
        return {"encoder": config.encoder_layers, "decoder": config.decoder_layers}

    def set_layer_counts(self, config, counts):
        config.encoder_layers = counts["encoder"]
        config.decoder_layers = counts["decoder"]
