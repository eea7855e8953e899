"""A checkpoint loads exactly or not at all (issue 20): layer counts, tensor shapes, wrong-typed config values and
tensors that from_pretrained would fill in or drop are each one line and exit 2, and nothing is written."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from asymprune.errors import UsageError
from asymprune.models import load_model
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def two_layers(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exact") / "t5-2-2"
    assert run_cli(["init", "t5-tiny-2-2", str(out)]) == 0
    return out


def _copy(src: Path, dst: Path, config=None, weights=None) -> Path:
    """A hard-linked copy of `src` with config.json edited by `config(dict)` and the weights by `weights(dict)`."""
    shutil.copytree(src, dst, copy_function=os.link)
    if config is not None:
        data = json.loads((src / "config.json").read_text())
        config(data)
        (dst / "config.json").unlink()
        (dst / "config.json").write_text(json.dumps(data))
    if weights is not None:
        tensors = load_file(src / "model.safetensors")
        weights(tensors)
        (dst / "model.safetensors").unlink()
        save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


def _drop(*keys):
    return lambda d: [d.pop(k) for k in keys]


CASES = {
    # The case: a 2-layer checkpoint whose config.json has no layer counts became 6/6 with 4 random layers.
    "no-layer-counts": (dict(config=_drop("num_layers", "num_decoder_layers")),
                        ["config.json has no num_layers; transformers' default 6 does not match the 2 encoder layers "
                         "in model.safetensors", "no num_decoder_layers", "would add random layers",
                         'Set "num_layers": 2 and "num_decoder_layers": 2']),
    "more-layers-than-config": (dict(config=lambda d: d.update(num_decoder_layers=1)),
                                ["config.json says num_decoder_layers 1, but model.safetensors holds 2 decoder layers",
                                 "would drop layers"]),
    "wrong-type": (dict(config=lambda d: d.update(d_model="128")),
                   ["config.json: Field 'd_model' expected int, got str (value: '128')", "without quotes"]),
    "config-not-the-weights": (dict(config=lambda d: d.update(num_heads=8)),
                               ["config.json does not match the weights: ", "[128, 128] in model.safetensors but "
                                "[256, 128] by config.json", "attention heads"]),
    "vocabulary-size": (dict(config=lambda d: d.update(vocab_size=900)),
                        ["lm_head.weight is [946, 128] in model.safetensors but [900, 128]", "vocab_size"]),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["prune", "generate", "evaluate"])
def test_a_checkpoint_that_does_not_match_its_config_is_one_line(case, command, two_layers, tmp_path, capsys):
    edits, words = CASES[case]
    model = _copy(two_layers, tmp_path / "m", **edits)
    out = tmp_path / "out"
    argv = {"prune": ["prune", str(model), str(out), "--decoder-layers", "1"], "generate": ["generate", str(model)],
            "evaluate": ["evaluate", str(model), "--dataset", "synthetic", "--out", str(out)]}[command]
    capsys.readouterr()
    assert run_cli(argv) == 2
    printed = capsys.readouterr()
    lines = printed.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and printed.out == "", printed
    assert all(w in lines[0] for w in words), lines[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("edit,words", [
    (lambda t: t.pop("encoder.final_layer_norm.weight"),
     ["the weights lack 1 tensors that config.json's model has (encoder.final_layer_norm.weight)", "random values"]),
    (lambda t: t.update({"decoder.extra.weight": t["encoder.final_layer_norm.weight"].clone()}),
     ["the weights hold 1 tensors that config.json's model has no place for (decoder.extra.weight)", "drop them"]),
])
def test_tensors_from_pretrained_would_fill_in_or_drop_are_refused(edit, words, two_layers, tmp_path):
    model = _copy(two_layers, tmp_path / "m", weights=edit)
    with pytest.raises(UsageError) as e:
        load_model(str(model))
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value), str(e.value)


def test_a_checkpoint_that_matches_loads_and_its_record_says_so(two_layers, tmp_path):
    """The checks refuse nothing that loads exactly: the pruned model's record has the real layer counts."""
    out = tmp_path / "p"
    assert run_cli(["prune", str(two_layers), str(out), "--decoder-layers", "1"]) == 0
    record = json.loads((out / "asymprune.json").read_text())
    assert record["original_layers"] == {"encoder": 2, "decoder": 2} and record["layers"]["decoder"] == 1
    assert load_model(str(out)).config.num_decoder_layers == 1
