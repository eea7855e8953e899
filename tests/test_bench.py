"""`asymprune bench` and `export`: report fields, baselines, the ct2 backend and bad input.

Timings are never asserted: only that they were taken and reported.
"""

import json
import shutil

import ctranslate2
import pytest
from ctranslate2.converters import transformers as ct2_transformers

from asymprune.bench import default_threads, explicit_generation_config
from asymprune.bench.speedup import speedup, speedup_interval, speedup_text, speedup_verdict
from asymprune.ct2 import cached_conversion, compare_with_hf
from tests.helpers import run_cli

SMALL = ["--source-length", "24", "--new-tokens", "6", "--runs", "2", "--warmup", "1"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, t5_dir, bart_dir):
    """Full and pruned copies of both tiny families, private to this module (ct2 caches land in them)."""
    root = tmp_path_factory.mktemp("bench")
    dirs = {}
    for name, src in (("t5", t5_dir), ("bart", bart_dir)):
        dirs[name] = root / name
        shutil.copytree(src, dirs[name])
        dirs[f"{name}-pruned"] = root / f"{name}-pruned"
        assert run_cli(["prune", str(src), str(dirs[f"{name}-pruned"]), "--keep-encoder", "1,3,5",
                        "--decoder-layers", "2"]) == 0
    return dirs


def test_preset_bench_writes_every_field(tmp_path):
    out = tmp_path / "r.json"
    assert run_cli(["bench", "t5-tiny", "--batch-sizes", "1,2", *SMALL, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"asymprune", "torch", "transformers", "ctranslate2", "cpu", "threads", "dtype", "device"} <= set(
        report["env"])
    assert [r["batch_size"] for r in report["results"]] == [1, 2]
    for r in report["results"]:
        assert len(r["runs_ms"]) == 2 and all(t > 0 for t in r["runs_ms"])
        assert r["mean_ms"] > 0 and r["std_ms"] >= 0 and r["median_ms"] > 0
        assert r["generated_tokens_mean"] == 6 == r["new_tokens"]  # exactly, EOS suppressed
        assert r["tokens_per_s"] > 0 and r["prefill_ms"] > 0 and r["decode_ms_per_token"] is not None
        assert r["peak_memory_mb"] >= r["weights_mb"] > 0
        assert r["params"]["total"] == r["params"]["encoder"] + r["params"]["decoder"] + r["params"]["other"]
        assert r["layers"] == {"encoder": 6, "decoder": 6} and r["speedup"] == 1.0


def test_several_models_report_speedups_against_the_first(models, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert run_cli(["bench", str(models["t5"]), str(models["t5-pruned"]), "--batch-sizes", "1", *SMALL,
                    "--json", str(out)]) == 0
    base, pruned = json.loads(out.read_text())["results"]
    assert base["speedup"] == 1.0 and base["model"] == str(models["t5"])
    assert pruned["speedup"] == pytest.approx(base["median_ms"] / pruned["median_ms"])  # medians: robust to a stall
    assert pruned["speedup_low"] is None  # 2 runs: too few rounds for an honest interval
    assert pruned["layers"] == {"encoder": 3, "decoder": 2}
    assert "speed-up" in capsys.readouterr().out
    assert run_cli(["bench", "t5-tiny", "--batch-sizes", "1", *SMALL, "--json", str(out)]) == 2  # no overwrite


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_ct2_backend_on_pruned_models_matches_transformers(family, models, tmp_path):
    out = tmp_path / "r.json"
    assert run_cli(["bench", str(models[family]), str(models[f"{family}-pruned"]), "--backend", "ct2",
                    "--ct2-compute-type", "float32", "--batch-sizes", "1", *SMALL, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["env"]["dtype"] == "ct2:float32"
    # No --threads: every core, passed to CTranslate2 explicitly (its own default is 4) and recorded.
    assert report["env"]["threads"] == default_threads()
    for r in report["results"]:
        assert r["ct2_check"]["tokens_match"] and r["ct2_check"]["scores_match"], r["ct2_check"]
        assert r["generated_tokens_mean"] == 6 and r["threads"] == default_threads()
        assert r["weights_mb"] is None and r["peak_memory_mb"] > 0  # CTranslate2's own memory, not HF's weights
    cache = list((models[f"{family}-pruned"] / ".ct2").iterdir())
    assert len(cache) == 1 and (cache[0] / "model.bin").is_file()
    # Same content, same cache entry: a second conversion request reuses it.
    stamp = (cache[0] / "model.bin").stat().st_mtime_ns
    assert cached_conversion(models[f"{family}-pruned"]) == cache[0]
    assert (cache[0] / "model.bin").stat().st_mtime_ns == stamp


def test_stock_converter_scales_flan_t5_logits(models, tmp_path):
    # The trap our registered loader fixes: the stock T5 loader reads tie_word_embeddings, which
    # transformers 5 forces to True, and scales FLAN-T5's outputs. Greedy tokens survive, scores do not.
    ours = ct2_transformers._MODEL_LOADERS["T5Config"]
    ct2_transformers.register_loader("T5Config")(ct2_transformers.T5Loader)
    try:
        ct2_transformers.TransformersConverter(str(models["t5"])).convert(str(tmp_path / "stock"))
    finally:
        ct2_transformers._MODEL_LOADERS["T5Config"] = ours
    stock = compare_with_hf(models["t5"], tmp_path / "stock")
    fixed = compare_with_hf(models["t5"], cached_conversion(models["t5"]))
    assert not stock["scores_match"] and stock["max_logprob_diff"] > 1e-2
    assert fixed["scores_match"] and fixed["tokens_match"]


def test_export_ct2_int8_is_deployable(models, tmp_path, capsys):
    out = tmp_path / "ct2"
    assert run_cli(["export", str(models["t5-pruned"]), str(out), "--format", "ct2", "--quantize", "int8"]) == 0
    assert {"model.bin", "tokenizer.json", "config.json"} <= {p.name for p in out.iterdir()}
    translator = ctranslate2.Translator(str(out), compute_type="int8")
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(out)
    tokens = tok.convert_ids_to_tokens(tok("summarize: Storms closed 5 roads.").input_ids)
    result = translator.translate_batch([tokens], max_decoding_length=5, min_decoding_length=5)
    assert len(result[0].hypotheses[0]) == 5
    capsys.readouterr()
    assert run_cli(["export", str(models["t5-pruned"]), str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert run_cli(["export", str(models["t5-pruned"]), str(tmp_path / "x"), "--format", "onnx"]) == 2
    assert "unknown export format 'onnx'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel
    path = tmp_path_factory.mktemp("gpt2")
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=32)).save_pretrained(path)
    return path


def test_bad_input_is_one_line_exit_2(models, gpt2_dir, tmp_path, capsys):
    cases = [
        (["t5-tiny", "--batch-sizes", "0"], "--batch-sizes must be positive integers"),
        (["t5-tiny", "--batch-sizes", "1,-8"], "--batch-sizes must be positive integers"),
        (["t5-tiny", "--batch-sizes", "one"], "--batch-sizes 'one' must be comma-separated integers"),
        (["t5-tiny", "--new-tokens", "0"], "--new-tokens must be at least 1 (got 0)"),
        (["bart-tiny", "--source-length", "2048"], "--source-length 2048 is over bart-tiny's limit of 1024 positions"),
        (["t5-tiny", "--backend", "ct2", "--ct2-compute-type", "float16"],
         "CTranslate2 cannot run compute type 'float16' on this cpu; use one of: "),
        (["t5-tiny", "--backend", "onnx"], "unknown backend 'onnx'; choose one of: hf, ct2"),
        ([str(gpt2_dir)], "'gpt2' is not an encoder-decoder model"),
        ([str(tmp_path / "nope")], "not found; pass an existing model directory or a hub id"),
    ]
    for args, message in cases:
        assert run_cli(["bench", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, (args, err)


def test_failed_conversion_leaves_no_broken_cache(models, tmp_path, capsys):
    broken = tmp_path / "no-tokenizer"
    shutil.copytree(models["t5-pruned"], broken, ignore=shutil.ignore_patterns("tokenizer*", ".ct2"))
    assert run_cli(["bench", str(broken), "--backend", "ct2", "--batch-sizes", "1", *SMALL]) == 2
    assert "has no tokenizer files" in capsys.readouterr().err
    (broken / "tokenizer.json").write_text("{not json")  # damaged: named before any work (issue 16)
    assert run_cli(["bench", str(broken), "--backend", "ct2", "--batch-sizes", "1", *SMALL]) == 2
    assert "tokenizer.json is damaged: not valid JSON" in capsys.readouterr().err
    (broken / "tokenizer.json").write_text('{"model": null}')  # JSON, but no tokenizer: the converter fails
    (broken / "tokenizer_config.json").write_text("{}")
    assert run_cli(["bench", str(broken), "--backend", "ct2", "--batch-sizes", "1", *SMALL]) == 2
    assert "CTranslate2 could not convert" in capsys.readouterr().err
    assert not (broken / ".ct2").exists() or list((broken / ".ct2").iterdir()) == []


def test_dataset_mode_times_real_documents_with_natural_stopping(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert run_cli(["bench", "t5-tiny", "--dataset", "synthetic", "--split", "test", "--batch-sizes", "2",
                    "--source-length", "64", "--new-tokens", "8", "--runs", "1", "--warmup", "0",
                    "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    (r,) = report["results"]
    assert report["config"]["dataset"] == "synthetic" and r["new_tokens"] is None
    assert 1 <= r["generated_tokens_mean"] <= 8  # natural stopping, capped by --new-tokens
    assert "synthetic:test" in capsys.readouterr().out  # the table names the documents timed
    assert run_cli(["bench", "t5-tiny", "--dataset", "synthetic", "--split", "nope", "--batch-sizes", "1",
                    "--runs", "1", "--json", str(tmp_path / "x.json")]) == 2


def test_the_checkpoints_generation_settings_are_not_inherited(bart_dir):
    """bart-large-cnn ships beams, no_repeat_ngram_size and length limits; the bench times greedy work."""
    from transformers import AutoModelForSeq2SeqLM
    model = AutoModelForSeq2SeqLM.from_pretrained(bart_dir)
    model.generation_config.update(num_beams=4, no_repeat_ngram_size=3, min_length=56, max_length=142,
                                   length_penalty=2.0, forced_eos_token_id=2, forced_bos_token_id=0)
    gen = explicit_generation_config(model)
    assert (gen.num_beams, gen.do_sample) == (1, False)
    # Unset (None) or off: generate() fills unset fields from model.generation_config, which the bench
    # replaces with this one, and then from transformers' global defaults (0, 1.0, no forced ids).
    assert not gen.no_repeat_ngram_size and not gen.min_length and gen.length_penalty in (None, 1.0)
    assert gen.forced_eos_token_id is None and gen.forced_bos_token_id is None and gen.max_length in (None, 20)
    assert (gen.decoder_start_token_id, gen.eos_token_id, gen.pad_token_id) == (
        model.generation_config.decoder_start_token_id, model.config.eos_token_id, model.config.pad_token_id)


def test_dataset_mode_tokenizes_each_batch_and_reports_gen_len(t5_dir, tmp_path):
    out = tmp_path / "r.json"
    assert run_cli(["bench", str(t5_dir), "--dataset", "synthetic", "--batch-sizes", "1,3", "--source-length", "64",
                    "--new-tokens", "5", "--runs", "1", "--warmup", "0", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["env"]["dataset"] == "synthetic" and report["env"]["new_tokens"] is None
    for r in report["results"]:
        assert r["new_tokens"] is None and 1 <= r["generated_tokens_mean"] <= r["decoder_steps_mean"] <= 5
        # Per step over the longest output of the batch, not over the mean output.
        assert r["decode_ms_per_token"] == pytest.approx((r["mean_ms"] - r["prefill_ms"])
                                                         / max(r["decoder_steps_mean"] - 1, 1))


def test_speedup_is_a_ratio_of_medians_with_an_interval_over_paired_rounds():
    base = [100.0, 101.0, 99.0, 100.0, 300.0, 100.0, 102.0, 98.0]   # one stalled round
    pruned = [50.0, 50.5, 49.5, 50.0, 150.0, 50.0, 51.0, 49.0]     # the stall hit it too
    assert speedup(base, pruned) == pytest.approx(2.0)
    ci = speedup_interval(base, pruned)
    assert ci["low"] <= 2.0 <= ci["high"] and ci["high"] - ci["low"] < 0.05 and ci["runs"] == 8
    assert speedup_interval(base, pruned[:7]) is None and speedup_interval(base[:2], pruned[:2]) is None
    assert speedup_text(2.0, ci["low"], ci["high"]).startswith("2.00× [")
    assert speedup_text(1.01, 0.97, 1.06) == "1.01× (no measurable speed-up) [0.97, 1.06]"
    assert speedup_text(1.3) == "1.30×" and speedup_text(float("nan")) == "–"
    # A whole interval below 1 is a measured slow-down; words only outside narrow tables.
    assert speedup_text(0.8, 0.75, 0.85) == "0.80× (slower) [0.75, 0.85]"
    assert speedup_text(0.8, 0.75, 0.85, short=True) == "0.80× [0.75, 0.85]"
    assert speedup_verdict(0.8, 0.75, 0.85) == "slower" and speedup_verdict(1.01, 0.97, 1.06) == "no measurable speed-up"
    assert speedup_verdict(1.3) == "faster" and speedup_verdict(0.9) == "slower"
