"""The CLI: the Done-when path of `init` + `prune`, and a one-line error for every bad input."""

import json

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, GPT2Config, GPT2LMHeadModel

from tests.helpers import run_cli, run_cli_subprocess


def test_init_prune_paper_flan_small(tmp_path):
    src, out = tmp_path / "m", tmp_path / "p"
    assert run_cli(["init", "flan-t5-small", str(src)]) == 0
    assert run_cli(["prune", str(src), str(out), "--encoder-layers", "8", "--decoder-layers", "2",
                    "--strategy", "paper"]) == 0
    source = AutoModelForSeq2SeqLM.from_pretrained(src)
    pruned = AutoModelForSeq2SeqLM.from_pretrained(out)
    assert (len(pruned.encoder.block), len(pruned.decoder.block)) == (8, 2)
    for new, old in enumerate([0, 7]):
        want, got = source.decoder.block[old].state_dict(), pruned.decoder.block[new].state_dict()
        assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    assert all(torch.equal(a, b) for a, b in zip(source.encoder.parameters(), pruned.encoder.parameters()))
    ids = torch.tensor([[5, 6, 7, 8, 1]])
    gen = pruned.generate(input_ids=ids, max_new_tokens=8, min_new_tokens=8, use_cache=True, do_sample=False)
    assert gen.shape == (1, 9)
    record = json.loads((out / "asymprune.json").read_text())
    assert record["strategy"] == "paper" and record["source"] == str(src)
    assert record["params_before"]["total"] == 76_961_152
    bias = 32 * 6  # relative-attention buckets x heads, owned by block 0 only
    assert record["params_after"]["decoder"] == (record["params_before"]["decoder"] - bias) // 8 * 2 + bias
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "tokenizer.json", "asymprune.json"}


def test_sixths_on_a_24_layer_model(tmp_path):
    from asymprune.models import Preset, register_preset, PRESETS
    register_preset(Preset(name="t5-deep", model_type="t5",
                           config=dict(num_layers=24, num_decoder_layers=24, d_model=16, d_ff=32, num_heads=2,
                                       d_kv=8)))
    try:
        assert run_cli(["init", "t5-deep", str(tmp_path / "m")]) == 0
    finally:
        PRESETS.pop("t5-deep")
    assert run_cli(["prune", str(tmp_path / "m"), str(tmp_path / "p"), "--decoder-layers", "2/6",
                    "--strategy", "paper"]) == 0
    record = json.loads((tmp_path / "p" / "asymprune.json").read_text())
    assert record["kept"]["decoder"] == [0, 1, 3, 7, 11, 15, 19, 23] and len(record["kept"]["encoder"]) == 24


def test_overwrite_replaces_only_when_asked(t5_dir, tmp_path, capsys):
    out = tmp_path / "p"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run_cli(["prune", str(t5_dir), str(out), "--decoder-layers", "3"]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert run_cli(["prune", str(t5_dir), str(out), "--decoder-layers", "3", "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["p"]  # no temporary leftovers


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("gpt2")
    GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50, n_positions=32)).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pickle_dir(tmp_path_factory, t5_dir):
    path = tmp_path_factory.mktemp("pickle")
    model = AutoModelForSeq2SeqLM.from_pretrained(t5_dir)
    model.config.save_pretrained(path)
    torch.save(model.state_dict(), path / "pytorch_model.bin")
    return path


BAD = {  # case: (extra args after SRC OUT, expected message part)
    "count-zero": (["--decoder-layers", "0"], "--decoder-layers 0 keeps 0 of 6 decoder layers; keep at least 1"),
    "count-too-many": (["--encoder-layers", "7"], "the encoder has only 6 layers; pass at most 6"),
    "fraction-zero": (["--decoder-layers", "0/6"], "keeps 0 of 6 decoder layers"),
    "count-garbage": (["--decoder-layers", "two"], "is not a count; pass a number like 4 or a fraction like 2/6"),
    "index-out-of-range": (["--keep-decoder", "0,6"], "index 6 is out of range; the decoder has layers 0..5"),
    "index-twice": (["--keep-encoder", "0,2,2"], "index 2 is given twice; list each layer once"),
    "index-garbage": (["--keep-encoder", "0,x"], "must be comma-separated layer indices, e.g. 0,3,7"),
    "unknown-strategy": (["--decoder-layers", "2", "--strategy", "middle"],
                         "unknown strategy 'middle'; choose one of: paper, spread, first, last, angular, greedy-loss"),
    "no-paper-map": (["--decoder-layers", "3", "--strategy", "paper"],
                     "the paper has no keep-map for 3 of 6 decoder layers (maps for: none); use --strategy spread"),
    "count-and-indices": (["--decoder-layers", "2", "--keep-decoder", "0,1"],
                          "--decoder-layers and --keep-decoder both given; pass one of them"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_selection_is_one_line_exit_2_and_no_out(case, t5_dir, tmp_path, capsys):
    args, message = BAD[case]
    out = tmp_path / "p"
    assert run_cli(["prune", str(t5_dir), str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_sources(gpt2_dir, pickle_dir, tmp_path, capsys):
    cases = [
        (str(tmp_path / "missing"), "not found; pass an existing model directory or a hub id"),
        (str(tmp_path), "is not a model directory (no config.json)"),
        (str(gpt2_dir), "'gpt2' is not an encoder-decoder model; asymprune prunes seq2seq models"),
        (str(pickle_dir), "has no .safetensors weights, only a pickle checkpoint; re-save it with safetensors "
                          "or pass --allow-pickle"),
        ("no-such-org/no-such-model", "'no-such-org/no-such-model' is not a local folder, and the Hugging Face hub "
                                      "cannot be reached to look it up"),
    ]
    out = tmp_path / "p"
    for src, message in cases:
        assert run_cli(["prune", src, str(out), "--decoder-layers", "2"]) == 2, src
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert not out.exists()


def test_allow_pickle_loads_a_trusted_pickle_checkpoint(pickle_dir, tmp_path):
    assert run_cli(["prune", str(pickle_dir), str(tmp_path / "p"), "--decoder-layers", "2", "--allow-pickle"]) == 0
    assert (tmp_path / "p" / "model.safetensors").exists()


def test_errors_in_a_real_process_have_no_traceback(gpt2_dir, tmp_path):
    proc = run_cli_subprocess(["prune", str(gpt2_dir), str(tmp_path / "p"), "--decoder-layers", "2"])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: 'gpt2' is not an encoder-decoder model; asymprune prunes seq2seq models "
        "(t5, mt5, bart, mbart, pegasus, marian, whisper), pass one of those"]
    assert "Traceback" not in proc.stdout + proc.stderr
    proc = run_cli_subprocess(["init", "flan-t5-xxxl", str(tmp_path / "m")])
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown preset 'flan-t5-xxxl'")
    assert not (tmp_path / "m").exists()


def test_failed_write_leaves_no_partial_out(tmp_path):
    from asymprune.fsutil import atomic_dir
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_generate_runs(t5_dir, capsys):
    assert run_cli(["generate", str(t5_dir), "--max-new-tokens", "4", "--text", "Storms closed 3 roads."]) == 0
    assert "output:" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_end_to_end_and_rerun_reuses_everything(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run_cli(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "recommendation: " in text and (out / "report" / "report.html").is_file()
    md = (out / "report" / "report.md").read_text()
    assert "re-tuned control" in md and "| control | control |" in md  # the yardstick, with the same extra training
    assert "95% CI" in md and "speed-up BS1 [95% CI]" in md  # both differences carry their noise band
    executed = (out / "executions.jsonl").read_text()
    assert run_cli(["demo", "--out", str(out)]) == 0
    assert (out / "executions.jsonl").read_text() == executed  # nothing ran twice
