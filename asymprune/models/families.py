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
from .shapes import DecoderShape, Matrix

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

    def decoder_shape(self, config) -> DecoderShape:
        """What one decoding step reads, from the config alone (asymprune.bench.ceiling uses it)."""
        raise UsageError(f"asymprune cannot yet count what a '{config.model_type}' decoding step reads; "
                         "its family has no decoder_shape")

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

    def decoder_shape(self, config):
        d, inner = config.d_model, config.num_heads * config.d_kv  # inner: T5 heads need not span d_model
        ff = (Matrix("feed-forward wi_0", config.d_ff, d), Matrix("feed-forward wi_1", config.d_ff, d)) \
            if config.is_gated_act else (Matrix("feed-forward wi", config.d_ff, d),)
        return DecoderShape(
            layers=config.num_decoder_layers, d_model=d,
            step_matrices=(Matrix("self-attention q", inner, d), Matrix("self-attention k", inner, d),
                           Matrix("self-attention v", inner, d), Matrix("self-attention o", d, inner),
                           Matrix("cross-attention q", inner, d), Matrix("cross-attention o", d, inner),
                           *ff, Matrix("feed-forward wo", d, config.d_ff)),
            prefill_matrices=(Matrix("cross-attention k", inner, d), Matrix("cross-attention v", inner, d)),
            layer_norm_params=3 * d,  # RMS norms (weight only) before self-attention, cross-attention, feed-forward
            # The final norm, and the relative-position table that only the first block owns.
            stack_vectors=d + config.relative_attention_num_buckets * config.num_heads,
            head=Matrix("lm_head", config.vocab_size, d),  # tied (T5) or not (FLAN-T5): read once a step
            position_row=0, self_kv_width=inner, cross_kv_width=inner,
        )

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

    # Norms of the decoder stack outside its layers, per model type: (after the embeddings, at the end).
    STACK_NORMS = {"bart": (True, False), "mbart": (True, True), "pegasus": (False, True), "marian": (False, False)}

    def decoder_shape(self, config):
        d, ffn = config.d_model, config.decoder_ffn_dim
        vocab = getattr(config, "decoder_vocab_size", None) or config.vocab_size  # Marian may have its own
        return DecoderShape(
            layers=config.decoder_layers, d_model=d,
            step_matrices=(*(Matrix(f"self-attention {p}", d, d, bias=True) for p in "qkvo"),
                           Matrix("cross-attention q", d, d, bias=True), Matrix("cross-attention o", d, d, bias=True),
                           Matrix("fc1", ffn, d, bias=True), Matrix("fc2", d, ffn, bias=True)),
            prefill_matrices=(Matrix("cross-attention k", d, d, bias=True), Matrix("cross-attention v", d, d, bias=True)),
            layer_norm_params=3 * 2 * d,  # LayerNorms (weight and bias) of self-attention, cross-attention, fc
            stack_vectors=2 * d * sum(self.STACK_NORMS[config.model_type]),
            head=Matrix("lm_head", vocab, d, bias=True),  # tied to the embeddings; final_logits_bias is its bias
            position_row=d,  # learned (BART, mBART) or sinusoidal (PEGASUS, Marian) table: one row per step
            self_kv_width=d, cross_kv_width=d,
        )
