"""What one decoding step reads, as shapes: each family's facts, from a config, with no weights.

    shape = family_for(config).decoder_shape(config)    # a DecoderShape
    shape.step_params_per_layer                         # parameters each decoder layer reads per token
    shape.with_vocabulary(4000)                         # the same decoder with a 4,000-row head

A family supplies these facts in `Family.decoder_shape` (models/families.py); the bytes and
FLOPs of a step at a backend's dtype are computed from them in asymprune.bench.ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Matrix:
    name: str          # what it is, e.g. "self-attention q"
    rows: int          # output features (CTranslate2 int8 keeps one float32 scale per row)
    cols: int          # input features
    bias: bool = False  # a float bias of `rows` elements beside it

    @property
    def weights(self) -> int:
        return self.rows * self.cols

    @property
    def params(self) -> int:
        return self.weights + (self.rows if self.bias else 0)


@dataclass(frozen=True)
class DecoderShape:
    layers: int                           # decoder layers
    d_model: int                          # width of the residual stream (one embedding row)
    step_matrices: tuple[Matrix, ...]     # per layer, read at every step
    prefill_matrices: tuple[Matrix, ...]  # per layer, read only at the first step: cross-attention k/v of the source
    layer_norm_params: int                # per layer: norm weights (and biases), read at every step
    stack_vectors: int                    # once per step outside the layers: final and embedding norms, T5's bias table
    head: Matrix                          # the lm_head: one row per vocabulary entry (a logits bias as its bias)
    position_row: int                     # elements of a position embedding row looked up per step (0: relative)
    self_kv_width: int                    # features of K (and of V) per position per layer, self-attention
    cross_kv_width: int                   # features of K (and of V) per source position per layer, cross-attention

    @property
    def step_params_per_layer(self) -> int:
        """Parameters one decoder layer reads for each new token (cross-attention k/v excluded)."""
        return sum(m.params for m in self.step_matrices) + self.layer_norm_params

    def with_vocabulary(self, rows: int) -> "DecoderShape":
        """The same decoder with an lm_head of `rows` rows (a reduced vocabulary, a vocabulary map)."""
        return replace(self, head=replace(self.head, rows=rows))
