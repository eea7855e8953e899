"""Both families prune exactly, keep T5's relative bias, and reload in plain transformers."""

import copy
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from asymprune import prune_layers
from asymprune.models import build_preset
from tests.helpers import make_t5_block_identity, run_cli

LAYER_PREFIX = {"t5": ("encoder.block", "decoder.block"), "bart": ("model.encoder.layers", "model.decoder.layers")}


def _layer_tensors(state, prefix, index):
    head = f"{prefix}.{index}."
    return {k[len(head):]: v for k, v in state.items() if k.startswith(head)}


@pytest.mark.parametrize("family,fixture", [("t5", "t5_dir"), ("bart", "bart_dir")])
def test_saved_weights_are_bit_exact(family, fixture, request, tmp_path):
    src = request.getfixturevalue(fixture)
    out = tmp_path / "pruned"
    assert run_cli(["prune", str(src), str(out), "--keep-encoder", "1,2,5", "--keep-decoder", "0,4"]) == 0
    before, after = load_file(src / "model.safetensors"), load_file(out / "model.safetensors")
    record = json.loads((out / "asymprune.json").read_text())
    assert record["kept"] == {"encoder": [1, 2, 5], "decoder": [0, 4]}
    assert record["original_layers"] == {"encoder": 6, "decoder": 6}
    for prefix, kept in zip(LAYER_PREFIX[family], (record["kept"]["encoder"], record["kept"]["decoder"])):
        for new, old in enumerate(kept):
            new_t, old_t = _layer_tensors(after, prefix, new), _layer_tensors(before, prefix, old)
            if family == "t5" and new == 0 and old != 0:  # the new first block received block 0's bias
                bias = "layer.0.SelfAttention.relative_attention_bias.weight"
                assert torch.equal(new_t.pop(bias), _layer_tensors(before, prefix, 0)[bias])
            assert new_t.keys() == old_t.keys()
            assert all(torch.equal(new_t[k], old_t[k]) for k in new_t)
        assert not _layer_tensors(after, prefix, len(kept))  # nothing beyond the kept layers
    outside = [k for k in before if not k.startswith(LAYER_PREFIX[family])]
    assert outside and all(torch.equal(before[k], after[k]) for k in outside)  # embeddings, norms, lm_head


def test_dropping_t5_block_0_keeps_a_working_identical_bias():
    # Block 0 turned into an identity still computes the position bias, so a model without
    # block 0 must compute exactly the same function if the bias moved correctly.
    model, tok = build_preset("t5-tiny", seed=5)
    for stack in (model.encoder, model.decoder):
        make_t5_block_identity(stack.block[0])
    pruned = copy.deepcopy(model)
    prune_layers(pruned, encoder=[1, 2, 3, 4, 5], decoder=[2, 5])
    reference = copy.deepcopy(model)
    prune_layers(reference, decoder=[0, 2, 5])  # decoder block 0 is an identity here
    bias = model.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
    assert torch.equal(pruned.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight, bias)
    assert pruned.encoder.block[0].layer[0].SelfAttention.has_relative_attention_bias
    batch = tok(["Lena Novak of Graz won the poetry prize with a score of 17."], return_tensors="pt")
    decoder_input_ids = torch.tensor([[0, 5, 9, 11, 30]])
    with torch.inference_mode():
        want = reference(**batch, decoder_input_ids=decoder_input_ids).logits
        got = pruned(**batch, decoder_input_ids=decoder_input_ids).logits
        without_bias = copy.deepcopy(pruned)
        without_bias.encoder.block[0].layer[0].SelfAttention.has_relative_attention_bias = False
        broken = without_bias(**batch, decoder_input_ids=decoder_input_ids).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(broken, want, atol=1e-3)  # the test would notice a missing bias


RELOAD = """
import sys, json, torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
m = AutoModelForSeq2SeqLM.from_pretrained(sys.argv[1]); t = AutoTokenizer.from_pretrained(sys.argv[1])
b = t(json.loads(sys.argv[2]), return_tensors="pt", padding=True)
out = m.generate(**b, max_new_tokens=16, min_new_tokens=16, do_sample=False, use_cache=True)
print(json.dumps({"ids": out.tolist(), "asymprune_imported": "asymprune" in sys.modules}))
"""


@pytest.mark.parametrize("preset,enc,dec", [("t5-tiny", [0, 3], [1, 2, 3, 5]), ("bart-tiny", [0, 2, 5], [1])])
def test_reload_in_fresh_process_gives_identical_greedy_tokens(preset, enc, dec, tmp_path):
    # t5 case: fewer encoder than decoder layers, the cache-sizing trap of plain generate().
    model, tok = build_preset(preset, seed=2)
    prune_layers(model, encoder=enc, decoder=dec)
    out = tmp_path / "p"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    texts = ["Bram Jansen was appointed chief executive of Atlas Rail.", "Storms closed 9 bridges near Cork."]
    batch = tok(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        want = model.generate(**batch, max_new_tokens=16, min_new_tokens=16, do_sample=False, use_cache=True)
    proc = subprocess.run([sys.executable, "-c", RELOAD, str(out), json.dumps(texts)], capture_output=True,
                          text=True, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"ids": want.tolist(), "asymprune_imported": False}


TINY = {  # every registered model type, at toy size
    "t5": dict(num_layers=3, num_decoder_layers=3, d_model=16, d_ff=32, num_heads=2, d_kv=8),
    "mt5": dict(num_layers=3, num_decoder_layers=3, d_model=16, d_ff=32, num_heads=2, d_kv=8),
    **{t: dict(encoder_layers=3, decoder_layers=3, d_model=16, encoder_ffn_dim=32, decoder_ffn_dim=32,
               encoder_attention_heads=2, decoder_attention_heads=2, max_position_embeddings=64)
       for t in ("bart", "mbart", "pegasus", "marian")},
    "whisper": dict(encoder_layers=3, decoder_layers=3, d_model=16, encoder_ffn_dim=32, decoder_ffn_dim=32,
                    encoder_attention_heads=2, decoder_attention_heads=2, num_mel_bins=8, max_target_positions=32,
                    suppress_tokens=[], begin_suppress_tokens=[]),
}


def test_every_registered_model_type_has_a_toy_case():
    from asymprune.models import FAMILIES
    assert sorted(TINY) == sorted(t for f in FAMILIES.values() for t in f.model_types)


@pytest.mark.parametrize("model_type", TINY)
def test_every_family_prunes_and_generates_with_cache(model_type, tmp_path):
    from transformers import AutoConfig

    from asymprune.models import family_of_type
    family = family_of_type(model_type)
    config = AutoConfig.for_model(model_type, vocab_size=64, pad_token_id=0, eos_token_id=1,
                                  decoder_start_token_id=0, **TINY[model_type])
    torch.manual_seed(0)
    model = family.from_config(config).eval()
    prune_layers(model, encoder=[1], decoder=[0, 2])
    model.save_pretrained(tmp_path)
    reloaded = family.auto_class.from_pretrained(tmp_path).eval()  # AutoModelForSeq2SeqLM; Whisper's own class
    inputs = family.fixed_inputs(config, [[5, 6, 7, 8, 9]], 1)  # token ids, or a log-mel window
    kw = dict(max_new_tokens=6, min_new_tokens=6, do_sample=False)
    with torch.inference_mode():
        cached = reloaded.generate(**inputs, use_cache=True, **kw)
        assert torch.equal(cached, reloaded.generate(**inputs, use_cache=False, **kw))
        assert torch.equal(cached, model.generate(**inputs, use_cache=True, **kw))
