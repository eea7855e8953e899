"""Presets have the published architectures, real parameter counts, and load without asymprune."""

import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from asymprune.errors import UsageError
from asymprune.models import PRESETS, Preset, build_preset, get_preset, register_preset
from asymprune.models.presets import preset_config
from asymprune.models.tokenizer import train_tokenizer

FLAN = {  # name: (layers, d_model, d_ff, heads, parameters of google/NAME)
    "flan-t5-small": (8, 512, 1024, 6, 76_961_152),
    "flan-t5-base": (12, 768, 2048, 12, 247_577_856),
    "flan-t5-large": (24, 1024, 2816, 16, 783_150_080),
}


@pytest.mark.parametrize("name", FLAN)
def test_flan_architecture_and_parameter_count(name):
    layers, d_model, d_ff, heads, params = FLAN[name]
    config, _ = preset_config(name)
    assert (config.num_layers, config.num_decoder_layers) == (layers, layers)
    assert (config.d_model, config.d_ff, config.num_heads, config.d_kv) == (d_model, d_ff, heads, 64)
    assert config.vocab_size == 32128 and config.feed_forward_proj == "gated-gelu"
    assert config.scale_decoder_outputs is False  # T5 v1.1: no tied-embedding output scaling
    with torch.device("meta"):  # count without allocating 3 GB for flan-t5-large
        model = AutoModelForSeq2SeqLM.from_config(config)
        model.lm_head.weight = torch.nn.Parameter(torch.empty_like(model.lm_head.weight))
    assert sum(p.numel() for p in model.parameters()) == params


def test_flan_small_built_for_real_has_untied_head_and_exact_count():
    model, tok = build_preset("flan-t5-small")
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()
    assert model.encoder.embed_tokens.weight.data_ptr() == model.shared.weight.data_ptr()
    assert sum(p.numel() for p in model.parameters()) == 76_961_152


def test_tiny_presets_build_and_generate():
    for name in ("t5-tiny", "bart-tiny"):
        model, tok = build_preset(name, seed=0)
        batch = tok(["Alice Moreau of Lisbon won the marathon."], return_tensors="pt")
        out = model.generate(**batch, max_new_tokens=5, min_new_tokens=5, do_sample=False)
        assert out.shape == (1, 6)


def test_seed_controls_weights():
    a, _ = build_preset("t5-tiny", seed=0)
    b, _ = build_preset("t5-tiny", seed=0)
    c, _ = build_preset("t5-tiny", seed=1)
    assert torch.equal(a.shared.weight, b.shared.weight)
    assert not torch.equal(a.shared.weight, c.shared.weight)


def test_tokenizer_is_deterministic_with_standard_special_ids():
    t5 = train_tokenizer("t5")
    assert (t5.pad_token_id, t5.eos_token_id, t5.unk_token_id) == (0, 1, 2)
    bart = train_tokenizer("bart")
    assert (bart.bos_token_id, bart.pad_token_id, bart.eos_token_id) == (0, 1, 2)
    text = "summarize: Heavy storms closed 42 roads near Oslo on Monday."
    ids = t5(text).input_ids
    assert ids[-1] == 1 and t5.unk_token_id not in ids
    assert t5.decode(ids, skip_special_tokens=True) == text
    assert train_tokenizer("t5")(text).input_ids == ids
    assert bart(text).input_ids[0] == 0 and bart(text).input_ids[-1] == 2


def test_init_writes_a_directory_plain_transformers_loads(t5_dir, tmp_path):
    # A fresh process with no asymprune import, as a user's serving code would.
    code = (
        "import sys, torch; from transformers import AutoModelForSeq2SeqLM, AutoTokenizer;"
        "m = AutoModelForSeq2SeqLM.from_pretrained(sys.argv[1]); t = AutoTokenizer.from_pretrained(sys.argv[1]);"
        "print(sum(p.numel() for p in m.parameters()), 'asymprune' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(t5_dir)], capture_output=True, text=True, check=True)
    model, _ = build_preset("t5-tiny", seed=1)
    assert out.stdout.split() == [str(sum(p.numel() for p in model.parameters())), "False"]
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(t5_dir)
    assert torch.equal(reloaded.lm_head.weight, model.lm_head.weight)
    assert AutoTokenizer.from_pretrained(t5_dir).eos_token_id == 1


def test_adding_a_preset_is_one_registered_entry():
    register_preset(Preset(name="t5-micro", model_type="t5",
                           config=dict(num_layers=2, num_decoder_layers=3, d_model=32, d_ff=64, num_heads=2, d_kv=16)))
    try:
        model, _ = build_preset("t5-micro")
        assert (len(model.encoder.block), len(model.decoder.block)) == (2, 3)
    finally:
        PRESETS.pop("t5-micro")


def test_unknown_preset_names_the_choices():
    with pytest.raises(UsageError, match="unknown preset 'flan-t5-xxxl'; choose one of: flan-t5-small"):
        get_preset("flan-t5-xxxl")
