"""BART, mBART, PEGASUS and Marian: `model.encoder.layers` / `model.decoder.layers`, learned or sinusoidal positions."""

from __future__ import annotations

from ..shapes import DecoderShape, Matrix
from .base import Family, register_family


@register_family
class BartFamily(Family):
    name = "bart"
    model_types = ("bart", "mbart", "pegasus", "marian")
    layers_attr = "layers"
    count_keys = {"encoder": "encoder_layers", "decoder": "decoder_layers"}

    # Norms of the decoder stack outside its layers, per model type: (after the embeddings, at the end).
    STACK_NORMS = {"bart": (True, False), "mbart": (True, True), "pegasus": (False, True), "marian": (False, False)}

    def max_source_positions(self, config):
        return config.max_position_embeddings  # one table for each stack: learned (BART, mBART) or sinusoidal

    def max_target_positions(self, config):
        return config.max_position_embeddings

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

    def ct2_loaders(self):
        # transformers 5 dropped `normalize_before` from BART/mBART configs; the converter still reads
        # it. BART is post-norm, mBART pre-norm.
        from ctranslate2.converters import transformers as ct2_transformers
        return {"BartConfig": _with_norm_default(ct2_transformers.BartLoader, False),
                "MBartConfig": _with_norm_default(ct2_transformers.MBartLoader, True)}


def _with_norm_default(loader_cls, normalize_before: bool):
    class Loader(loader_cls):
        def get_model_spec(self, model):
            if not hasattr(model.config, "normalize_before"):
                model.config.normalize_before = normalize_before
            return super().get_model_spec(model)
    Loader.__name__ = loader_cls.__name__
    return Loader
