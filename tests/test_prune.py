"""Layer selection (paper maps, spread/first/last, sixths) and exact in-memory pruning."""

import pytest
import torch

from asymprune import param_counts, plan_pruning, prune_layers
from asymprune.errors import UsageError
from asymprune.grid import parse_count
from asymprune.models import build_preset
from asymprune.prune import PAPER_MAPS, select_layers


@pytest.mark.parametrize("num_layers,count", [(L, n) for L, maps in PAPER_MAPS.items() for n in maps])
def test_every_paper_map_is_used_exactly(num_layers, count):
    assert select_layers(count, num_layers, "paper", "decoder") == PAPER_MAPS[num_layers][count]


def test_paper_maps_match_the_released_code():
    # Spot-check against the table in the issue, independent of the PAPER_MAPS constant's layout.
    assert select_layers(2, 8, "paper", "decoder") == [0, 7]
    assert select_layers(4, 12, "paper", "decoder") == [0, 3, 8, 11]
    assert select_layers(8, 24, "paper", "decoder") == [0, 1, 3, 7, 11, 15, 19, 23]
    assert select_layers(20, 24, "paper", "encoder") == [0, 1, 2, 3, 4, 6, 7, 8, 9, 12, 14, 15, 16, 17, 18, 19,
                                                           20, 21, 22, 23]


@pytest.mark.parametrize("num_layers", [8, 12, 24])
@pytest.mark.parametrize("sixths", [1, 2, 3, 4, 5])
def test_sixths_of_every_paper_depth_have_a_map(num_layers, sixths):
    count = num_layers * sixths // 6
    assert select_layers(f"{sixths}/6", num_layers, "paper", "decoder") == PAPER_MAPS[num_layers][count]


def test_sixths_notation():
    assert parse_count("2/6", 24, "decoder") == 8
    assert parse_count("1/6", 8, "decoder") == 1
    assert parse_count("3/6", 8, "decoder") == 4
    assert parse_count("6/6", 12, "decoder") == 12
    assert parse_count(" 5 / 6 ", 12, "encoder") == 10
    with pytest.raises(UsageError, match="keeps 0 of 4 decoder layers"):
        parse_count("1/6", 4, "decoder")


def test_spread_first_last():
    assert select_layers(2, 8, "spread", "decoder") == [0, 7]
    assert select_layers(3, 6, "spread", "decoder") == [0, 3, 5]  # 0, 2.5 -> 3, 5
    assert select_layers(4, 12, "spread", "decoder") == [0, 4, 7, 11]
    assert select_layers(1, 12, "spread", "decoder") == [0]
    assert select_layers(3, 8, "first", "decoder") == [0, 1, 2]
    assert select_layers(3, 8, "last", "decoder") == [5, 6, 7]
    assert select_layers(None, 5, "last", "decoder") == [0, 1, 2, 3, 4]  # None keeps every layer
    assert select_layers(8, 8, "paper", "decoder") == list(range(8))  # a full stack needs no map


@pytest.mark.parametrize("num_layers", range(1, 25))
def test_spread_keeps_ends_and_distinct_layers(num_layers):
    for count in range(1, num_layers + 1):
        kept = select_layers(count, num_layers, "spread", "encoder")
        assert len(kept) == len(set(kept)) == count
        assert kept == sorted(kept) and kept[0] == 0
        if count > 1:
            assert kept[-1] == num_layers - 1


def test_bad_selections_say_what_to_do():
    with pytest.raises(UsageError, match="no keep-map for 3 of 8 decoder layers.*use --strategy spread"):
        select_layers(3, 8, "paper", "decoder")
    with pytest.raises(UsageError, match="keeps 0 of 8 encoder layers; keep at least 1"):
        select_layers(0, 8, "spread", "encoder")
    with pytest.raises(UsageError, match="has only 8 layers; pass at most 8"):
        select_layers(9, 8, "spread", "decoder")
    with pytest.raises(UsageError, match="index 8 is out of range; the decoder has layers 0..7"):
        select_layers([0, 8], 8, "spread", "decoder")
    with pytest.raises(UsageError, match="index 3 is given twice"):
        select_layers([0, 3, 3], 8, "spread", "encoder")
    with pytest.raises(UsageError, match="unknown strategy 'middle'; choose one of: paper, spread, first, last, angular, greedy-loss"):
        select_layers(2, 8, "middle", "decoder")


def test_prune_layers_in_memory_keeps_source_modules():
    model, _ = build_preset("t5-tiny", seed=0)
    source_blocks = list(model.decoder.block)
    before = param_counts(model)
    kept = prune_layers(model, encoder="3/6", decoder=[1, 4], strategy="first")
    assert kept == {"encoder": [0, 1, 2], "decoder": [1, 4]}
    assert [b for b in model.decoder.block] == [source_blocks[1], source_blocks[4]]
    assert (model.config.num_layers, model.config.num_decoder_layers, model.config.decoder_layers) == (3, 2, 2)
    after = param_counts(model)
    assert after["other"] == before["other"]  # embeddings, final norms and lm_head stay
    bias = source_blocks[0].layer[0].SelfAttention.relative_attention_bias.weight.numel()
    assert after["decoder"] == (before["decoder"] - bias) // 6 * 2 + bias  # 2 of 6 equal blocks + the bias
    assert after["total"] == sum(p.numel() for p in model.parameters())
    # Cache indices follow the new positions.
    assert [b.layer[0].SelfAttention.layer_idx for b in model.decoder.block] == [0, 1]
    assert [b.layer[1].EncDecAttention.layer_idx for b in model.decoder.block] == [0, 1]


def test_plan_pruning_needs_only_the_config():
    model, _ = build_preset("bart-tiny")
    assert plan_pruning(model.config, encoder=2, decoder="1/6", strategy="spread") == {
        "encoder": [0, 5], "decoder": [0]}


def test_greedy_output_with_cache_equals_without_cache():
    model, tok = build_preset("t5-tiny", seed=3)
    prune_layers(model, encoder=2, decoder=[2, 4, 5])
    batch = tok(["Tara Quinn of Oslo won the chess final.", "Storms closed 7 roads."], return_tensors="pt",
                padding=True)
    kw = dict(max_new_tokens=12, min_new_tokens=12, do_sample=False)
    with torch.inference_mode():
        assert torch.equal(model.generate(**batch, use_cache=True, **kw), model.generate(**batch, use_cache=False, **kw))
