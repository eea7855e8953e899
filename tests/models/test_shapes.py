"""A family's decoder shape, read from the config alone, counts exactly the parameters a decoding
step reads in a real model of that config: each decoder layer but its cross-attention k/v, the
norms (and tables) outside the layers, the lm_head (with its logits bias)."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM

from asymprune.errors import UsageError
from asymprune.models import build_preset, family_for
from asymprune.models.families import Family

CROSS_KV = ("EncDecAttention.k.", "EncDecAttention.v.", "encoder_attn.k_proj.", "encoder_attn.v_proj.")
OUTSIDE_LAYERS = ("final_layer_norm", "layernorm_embedding", "layer_norm")  # the decoder stack's own norms


def read_per_step(model) -> tuple[list[int], int, int, int]:
    """From a real model: (per-layer parameters read at each step, prefill-only parameters,
    parameters of the stack outside the layers, lm_head parameters with its logits bias)."""
    family = family_for(model.config)
    layers = family.layers(model, "decoder")
    per_layer = [sum(p.numel() for n, p in layer.named_parameters() if not any(k in n for k in CROSS_KV))
                 for layer in layers]
    prefill = sum(p.numel() for layer in layers for n, p in layer.named_parameters() if any(k in n for k in CROSS_KV))
    decoder = family.stack(model, "decoder")
    outside = sum(p.numel() for n, p in decoder.named_parameters(recurse=True)
                  if n.split(".")[0] in OUTSIDE_LAYERS)
    head = model.lm_head.weight.numel() + (model.final_logits_bias.numel() if hasattr(model, "final_logits_bias") else 0)
    return per_layer, prefill, outside, head


def test_flan_t5_small_by_hand_and_against_the_built_model():
    model, _ = build_preset("flan-t5-small")
    shape = family_for(model.config).decoder_shape(model.config)
    d, inner, ff = 512, 6 * 64, 1024
    by_hand = 4 * inner * d + 2 * inner * d + 3 * d * ff + 3 * d  # self q,k,v,o; cross q,o; wi_0, wi_1, wo; 3 norms
    assert shape.step_params_per_layer == by_hand == 2_754_048
    per_layer, prefill, outside, head = read_per_step(model)
    bias_table = 32 * 6  # T5's relative-position buckets x heads, owned by the first block only
    assert per_layer == [by_hand + bias_table] + [by_hand] * 7
    assert shape.stack_vectors == outside + bias_table == d + bias_table
    assert shape.head.params == head == 32128 * 512
    assert shape.layers * sum(m.params for m in shape.prefill_matrices) == prefill == 8 * 2 * inner * d
    assert shape.self_kv_width == shape.cross_kv_width == inner  # T5's heads x d_kv need not equal d_model


def _tiny(model_type: str, **extra):
    common = dict(vocab_size=97, d_model=32, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    if model_type == "t5":
        kwargs = dict(num_layers=2, num_decoder_layers=3, d_ff=48, num_heads=2, d_kv=8, **extra)
    else:
        kwargs = dict(encoder_layers=2, decoder_layers=3, encoder_ffn_dim=48, decoder_ffn_dim=40,
                      encoder_attention_heads=2, decoder_attention_heads=2, max_position_embeddings=64, **extra)
    config = AutoConfig.for_model(model_type, **common, **kwargs)
    torch.manual_seed(0)
    return AutoModelForSeq2SeqLM.from_config(config)


@pytest.mark.parametrize("model_type,extra", [
    ("t5", {"feed_forward_proj": "relu"}), ("t5", {"feed_forward_proj": "gated-gelu"}),
    ("bart", {}), ("mbart", {}), ("pegasus", {}), ("marian", {}),
])
def test_every_registered_model_type_counts_what_its_model_holds(model_type, extra):
    model = _tiny(model_type, **extra)
    shape = family_for(model.config).decoder_shape(model.config)
    per_layer, prefill, outside, head = read_per_step(model)
    bias_table = sum(p.numel() for n, p in model.named_parameters() if "decoder" in n and "relative_attention_bias" in n)
    assert shape.layers == len(per_layer) == 3
    assert sum(per_layer) == shape.layers * shape.step_params_per_layer + bias_table
    assert shape.stack_vectors == outside + bias_table
    assert shape.head.params == head
    assert shape.layers * sum(m.params for m in shape.prefill_matrices) == prefill
    if model_type != "t5":  # one position row per step: the table's width
        assert shape.position_row == family_for(model.config).stack(model, "decoder").embed_positions.weight.shape[1]


def test_a_smaller_vocabulary_shrinks_only_the_head():
    model = _tiny("bart")
    shape = family_for(model.config).decoder_shape(model.config)
    small = shape.with_vocabulary(10)
    assert small.head.rows == 10 and small.head.cols == shape.head.cols
    assert small.step_matrices == shape.step_matrices and small.stack_vectors == shape.stack_vectors


def test_a_family_without_shape_facts_says_so():
    class Bare(Family):
        name, model_types, layers_attr = "bare", ("bare",), "layers"

    config = AutoConfig.for_model("t5")
    with pytest.raises(UsageError, match="cannot yet count what a 't5' decoding step reads"):
        Bare().decoder_shape(config)
