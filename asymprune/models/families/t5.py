"""T5, T5 v1.1, FLAN-T5 and mT5: `encoder.block` / `decoder.block`, a task prefix, relative positions."""

from __future__ import annotations

import copy

from ..shapes import DecoderShape, Matrix
from .base import Family, register_family

T5_PREFIX = "summarize: "  # T5 is trained with a task prefix


@register_family
class T5Family(Family):
    name = "t5"
    model_types = ("t5", "mt5")
    layers_attr = "block"
    count_keys = {"encoder": "num_layers", "decoder": "num_decoder_layers"}
    tokenizer_style = "t5"

    def set_layer_counts(self, config, counts):
        super().set_layer_counts(config, counts)
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

    def preset_start_token(self, tokenizer):
        return tokenizer.pad_token_id  # T5 starts decoding from <pad>

    def source_prefix(self, config=None):
        return T5_PREFIX

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

    def ct2_loaders(self):
        # The stock converter decides T5's output scaling from `tie_word_embeddings`, which transformers 5
        # forces to True for every T5 config; FLAN-T5 (T5 v1.1) must not be scaled. These loaders decide
        # from `scale_decoder_outputs` instead, so scores and beams match transformers, not only greedy tokens.
        from ctranslate2.converters import transformers as ct2_transformers
        return {"T5Config": _fix_scaling(ct2_transformers.T5Loader),
                "MT5Config": _fix_scaling(ct2_transformers.MT5Loader)}


def _fix_scaling(loader_cls):
    from ctranslate2.specs import model_spec

    class Loader(loader_cls):
        def get_model_spec(self, model):
            spec = super().get_model_spec(model)
            scale = getattr(model.config, "scale_decoder_outputs", model.config.tie_word_embeddings)
            spec.decoder.scale_outputs = model.config.d_model ** -0.5 if scale else model_spec.OPTIONAL
            return spec
    Loader.__name__ = loader_cls.__name__
    return Loader
