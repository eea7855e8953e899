"""Data-driven layer scores (angular, greedy-loss), the strategies that use them, and `asymprune layers`."""

import copy
import json

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from asymprune import prune_layers
from asymprune.errors import UsageError
from asymprune.models import build_preset
from asymprune.prune import select_layers
from asymprune.prune.importance import (CalibrationConfig, angular_scores, calibration_batches, calibration_loss,
                                        greedy_loss_scores, keep_by_angular, keep_by_greedy_loss, without_layers)
from tests.helpers import make_t5_block_identity, run_cli

CAL = ["--calibration", "synthetic", "--calibration-samples", "6"]


@pytest.fixture(scope="module")
def scored():
    """t5-tiny with decoder block 3 made an identity, its calibration batches and both scores."""
    model, tok = build_preset("t5-tiny", seed=4)
    make_t5_block_identity(model.decoder.block[3])
    model.eval()
    batches = calibration_batches(model, tok, CalibrationConfig("synthetic", samples=6, batch_size=4))
    return model, batches, angular_scores(model, batches), greedy_loss_scores(model, batches)


def test_calibration_batches_are_teacher_forcing_batches(scored):
    model, batches, *_ = scored
    assert [len(b["input_ids"]) for b in batches] == [4, 2]
    assert all(set(b) == {"input_ids", "attention_mask", "labels"} for b in batches)
    assert all((b["labels"] == -100).any() or b["labels"].min() >= 0 for b in batches)


def test_angular_distance_is_zero_for_an_identity_layer_and_drops_it_first(scored):
    _, _, angular, _ = scored
    assert len(angular["encoder"]) == len(angular["decoder"]) == 6
    assert all(0 <= a <= 1 for s in angular.values() for a in s)
    assert angular["decoder"][3] == pytest.approx(0, abs=1e-3)
    assert min(angular["decoder"][i] for i in (0, 1, 2, 4, 5)) > 0.01
    assert keep_by_angular({"angular": angular}, "decoder", 5) == [0, 1, 2, 4, 5]


def test_greedy_loss_removal_of_an_identity_layer_leaves_the_loss_unchanged(scored):
    model, batches, _, greedy = scored
    base = greedy["base_loss"]
    assert greedy["decoder"]["loss_without"][3] == pytest.approx(base, rel=1e-5)
    for stack in ("encoder", "decoder"):
        g = greedy[stack]
        assert sorted(g["removal_order"]) == sorted(set(g["removal_order"])) and len(g["removal_order"]) == 5
        first = g["removal_order"][0]
        assert g["loss_without"][first] == min(g["loss_without"]) == g["loss_after"][0]  # step 1 is the cheapest
    assert calibration_loss(model, batches) == pytest.approx(base, rel=1e-6)  # the model was restored


def test_greedy_keep_follows_the_removal_order(scored):
    greedy = scored[3]
    order = greedy["decoder"]["removal_order"]
    scores = {"greedy-loss": greedy}
    assert keep_by_greedy_loss(scores, "decoder", 4) == sorted(set(range(6)) - set(order[:2]))
    assert select_layers(2, 6, "greedy-loss", "decoder", scores=scores) == sorted(set(range(6)) - set(order[:4]))
    with pytest.raises(UsageError, match="needs|scores layers on data; pass --calibration"):
        select_layers(2, 6, "angular", "decoder")


def test_temporary_removal_equals_real_pruning_and_restores_the_model():
    model, tok = build_preset("t5-tiny", seed=7)
    model.eval()
    batches = calibration_batches(model, tok, CalibrationConfig("synthetic", samples=3))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    base = calibration_loss(model, batches)
    for stack, keep in (("encoder", [2, 4]), ("decoder", [1, 3, 5]), ("decoder", [0, 5])):
        pruned = copy.deepcopy(model)
        prune_layers(pruned, **{stack: keep})
        with without_layers(model, stack, keep):
            assert calibration_loss(model, batches) == pytest.approx(calibration_loss(pruned, batches), rel=1e-6)
    assert calibration_loss(model, batches) == pytest.approx(base, rel=1e-6)
    after = model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in state)
    assert [b.layer[0].SelfAttention.layer_idx for b in model.decoder.block] == list(range(6))
    assert not model.decoder.block[1].layer[0].SelfAttention.has_relative_attention_bias


@pytest.mark.parametrize("fixture", ["t5_dir", "bart_dir"])
@pytest.mark.parametrize("strategy", ["angular", "greedy-loss"])
def test_prune_with_a_data_driven_strategy_saves_a_plain_model(strategy, fixture, request, tmp_path, capsys):
    src, out = request.getfixturevalue(fixture), tmp_path / "p"
    assert run_cli(["prune", str(src), str(out), "--encoder-layers", "4", "--decoder-layers", "2/6",
                    "--strategy", strategy, *CAL]) == 0
    record = json.loads((out / "asymprune.json").read_text())
    assert record["strategy"] == strategy and record["layers"] == {"encoder": 4, "decoder": 2}
    scores = record["scores"]
    assert scores["calibration"] == {"spec": "synthetic", "split": "validation", "samples": 6}
    want = {"angular": keep_by_angular, "greedy-loss": keep_by_greedy_loss}[strategy]
    assert record["kept"] == {"encoder": want(scores, "encoder", 4), "decoder": want(scores, "decoder", 2)}
    assert "kept" in capsys.readouterr().out  # the scores table marks the kept layers
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    ids = torch.tensor([[5, 6, 7, 8, 1]])
    assert model.generate(input_ids=ids, max_new_tokens=5, min_new_tokens=5, do_sample=False).shape == (1, 6)


def test_explicit_indices_need_no_calibration(t5_dir, tmp_path):
    out = tmp_path / "p"
    assert run_cli(["prune", str(t5_dir), str(out), "--keep-decoder", "0,5", "--strategy", "angular"]) == 0
    assert json.loads((out / "asymprune.json").read_text())["kept"]["decoder"] == [0, 5]


def test_layers_prints_both_stacks_and_writes_json(t5_dir, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert run_cli(["layers", str(t5_dir), *CAL, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "encoder layers scored on synthetic:validation (6 rows)" in printed and "decoder layers" in printed
    scores = json.loads(out.read_text())
    assert len(scores["angular"]["encoder"]) == 6 and len(scores["greedy-loss"]["decoder"]["removal_order"]) == 5
    assert run_cli(["layers", str(t5_dir), *CAL, "--json", str(out)]) == 2  # no overwrite without --overwrite


@pytest.fixture()
def blank_rows(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text('{"document": "  ", "summary": "x"}\n{"document": "a b c", "summary": ""}\n')
    return path


@pytest.mark.parametrize("args,message", [
    (["--decoder-layers", "2", "--strategy", "angular"],
     "--strategy angular scores layers on data; pass --calibration SPEC"),
    (["--decoder-layers", "2", "--strategy", "greedy-loss", "--calibration", "synthetic",
      "--calibration-samples", "0"], "--calibration-samples must be at least 1 (got 0)"),
    (["--decoder-layers", "2", "--strategy", "angular", "--calibration", "BLANK"],
     "has no row with both a source and a target"),
    (["--decoder-layers", "2", "--strategy", "angular", "--calibration", "nope.jsonl"],
     "dataset file 'nope.jsonl' not found"),
])
def test_bad_calibration_is_one_line_exit_2(args, message, t5_dir, blank_rows, tmp_path, capsys):
    args = [str(blank_rows) if a == "BLANK" else a for a in args]
    out = tmp_path / "p"
    assert run_cli(["prune", str(t5_dir), str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_layers_bad_input(t5_dir, capsys):
    assert run_cli(["layers", str(t5_dir), "--calibration", "synthetic", "--calibration-samples", "-1"]) == 2
    assert "--calibration-samples must be at least 1" in capsys.readouterr().err
    assert run_cli(["layers", str(t5_dir), "--calibration", "synthetic", "--strategy", "spread"]) == 2
    assert "choose from angular, greedy-loss" in capsys.readouterr().err
