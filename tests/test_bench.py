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
        assert r["prefill_calls"] == 2  # one per round and call


def test_the_prefill_is_timed_in_as_many_rounds_as_asked(tmp_path):
    out = tmp_path / "r.json"
    assert run_cli(["bench", "t5-tiny", "--batch-sizes", "1", "--source-length", "24", "--new-tokens", "6",
                    "--runs", "3", "--warmup", "0", "--prefill-runs", "1", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert len(row["runs_ms"]) == 3 and row["prefill_calls"] == 1 and row["prefill_ms"] > 0
    assert row["decode_ms_per_token"] == pytest.approx((row["mean_ms"] - row["prefill_ms"]) / 5)


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
        (["t5-tiny", "--bench-docs", "0", "--dataset", "synthetic"], "--bench-docs must be at least 1 (got 0)"),
        (["t5-tiny", "--runs", "2", "--prefill-runs", "3"], "--prefill-runs 3: time the prefill in 1 to --runs (2)"),
        # Estimated from the config before anything loads: the batch's source ids alone would not fit.
        (["t5-tiny", "--batch-sizes", "1,100000000"], "--batch-sizes 100000000: the bench needs about "),
        (["t5-tiny", "--batch-sizes", "1", "--source-length", "100000000", "--new-tokens", "8"],
         "not even batch 1 fits: pass a smaller --source-length or --new-tokens, or fewer models"),
    ]
    for args, message in cases:
        assert run_cli(["bench", *args, "--json", str(tmp_path / "r.json")]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, (args, err)
        assert not (tmp_path / "r.json").exists()


def test_memory_estimate_counts_weights_exactly_and_grows_with_the_batch(t5_dir, bart_dir):
    from transformers import AutoModelForSeq2SeqLM

    from asymprune.bench import BenchConfig
    from asymprune.bench.memory import check_memory, estimate_mb, parameters
    from asymprune.models import build_preset, load_config
    for path in (t5_dir, bart_dir):  # a local checkpoint: its tensors, from the safetensors headers
        tensors = {t.data_ptr(): t.numel() for t in AutoModelForSeq2SeqLM.from_pretrained(path).state_dict().values()}
        assert parameters(load_config(str(path))) == sum(tensors.values())  # tied weights once, buffers too
    preset = sum(p.numel() for p in build_preset("t5-tiny")[0].parameters())
    assert 0.95 * preset < parameters(load_config("t5-tiny", presets=True)) <= preset  # built on the meta device
    config = load_config(str(t5_dir))
    cfg = BenchConfig(source_length=64, new_tokens=8)
    one, eight = estimate_mb(config, cfg, 1), estimate_mb(config, cfg, 8)
    assert one["weights"] == eight["weights"] > 0 and eight["cache"] == 8 * one["cache"] > 0
    assert eight["activations"] == pytest.approx(8 * one["activations"])
    half = estimate_mb(config, BenchConfig(source_length=64, new_tokens=8, dtype="bfloat16"), 1)
    assert half["weights"] == one["weights"] / 2
    check_memory([config, config], BenchConfig(batch_sizes=[1, 8, 16], source_length=64, new_tokens=8))  # fits


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
    # The defaults: 16 calls per round, here of one document each.
    assert run_cli(["bench", "t5-tiny", "--dataset", "synthetic", "--split", "test", "--batch-sizes", "1",
                    "--source-length", "64", "--new-tokens", "3", "--runs", "1", "--warmup", "0",
                    "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    (r,) = report["results"]
    assert report["config"]["dataset"] == "synthetic" and r["new_tokens"] is None
    assert r["bench_docs"] == 16 and r["documents"] == list(range(16)) and r["inputs"] == "synthetic:test"
    assert len(r["calls_ms"]) == 1 and len(r["calls_ms"][0]) == 16 and r["runs_ms"] == [sum(r["calls_ms"][0]) / 16]
    assert len(r["doc_lengths"]) == len(r["source_tokens"]) == 16 and all(1 <= n <= 3 for n in r["doc_lengths"])
    assert r["generated_tokens_mean"] == sum(r["doc_lengths"]) / 16  # natural stopping, capped by --new-tokens
    assert report["env"]["bench_docs"] == 16
    assert "synthetic:test, 16 calls per" in capsys.readouterr().out  # the table names the documents
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


def test_dataset_mode_times_the_same_documents_for_every_model_at_every_batch_size(t5_dir, models, tmp_path):
    out = tmp_path / "r.json"
    assert run_cli(["bench", str(t5_dir), str(models["t5-pruned"]), "--dataset", "synthetic", "--batch-sizes", "1,3",
                    "--bench-docs", "5", "--source-length", "64", "--new-tokens", "5", "--runs", "2", "--warmup", "0",
                    "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["env"]["dataset"] == "synthetic" and report["env"]["new_tokens"] is None
    by = {(r["model"], r["batch_size"]): r for r in report["results"]}
    for bs in (1, 3):
        full, pruned = by[(str(t5_dir), bs)], by[(str(models["t5-pruned"]), bs)]
        assert full["documents"] == pruned["documents"] == list(range(5 * bs))  # K·b documents, the same for both
        assert full["source_tokens"] == pruned["source_tokens"]  # one tokenizer: the same sources
        assert len(full["calls_ms"]) == 2 and {len(c) for c in full["calls_ms"]} == {5}
        # 2 rounds x 5 calls: the interval resamples documents as well as rounds.
        assert pruned["speedup_low"] is not None and pruned["speedup_low"] <= pruned["speedup"] <= pruned["speedup_high"]
    for r in report["results"]:
        assert r["new_tokens"] is None and 1 <= r["generated_tokens_mean"] <= r["decoder_steps_mean"] <= 5
        # Per step over the longest output of the batch, not over the mean output.
        assert r["decode_ms_per_token"] == pytest.approx((r["mean_ms"] - r["prefill_ms"])
                                                         / max(r["decoder_steps_mean"] - 1, 1))


def test_documents_of_each_call_and_the_interval_over_them():
    from asymprune.bench.documents import document_calls, ids_text, speedup_interval_over_documents
    assert document_calls(rows=5, docs=3, batch_size=2) == [[0, 1], [2, 3], [4, 0]]  # a short split cycles
    assert document_calls(rows=100, docs=2, batch_size=1) == [[0], [1]]
    assert ids_text(list(range(16))) == "0–15" and ids_text([0, 1, 2, 3, 4, 0]) == "0–4 cycled to 6"
    assert ids_text([3, 9]) == "3, 9" and ids_text([7]) == "7"
    base = [[10.0, 40.0, 20.0, 30.0, 50.0]] * 4
    # The pruned model gains much more on some documents than on others; the rounds agree exactly.
    pruned = [[5.0, 35.0, 10.0, 25.0, 20.0]] * 4
    ci = speedup_interval_over_documents(base, pruned)
    assert ci["speedup"] == pytest.approx(150 / 95) and ci["calls"] == 5 and ci["runs"] == 4
    assert ci["low"] < ci["speedup"] < ci["high"] and ci["high"] - ci["low"] > 0.1  # the documents' spread
    rounds_only = speedup_interval([30.0] * 5, [19.0] * 5)  # the per-round means alone hide the documents
    assert rounds_only["low"] == rounds_only["high"] == pytest.approx(150 / 95)
    assert speedup_interval_over_documents([[1.0, 2.0]] * 2, [[1.0, 2.0]] * 2) is None  # 2 rounds x 2 calls
    assert speedup_interval_over_documents(base, pruned[:3]) is None  # not one interleaved run


def test_speedup_is_a_ratio_of_medians_with_an_interval_over_paired_rounds():
    base = [100.0, 101.0, 99.0, 100.0, 300.0, 100.0, 102.0, 98.0]   # one stalled round
    pruned = [50.0, 50.5, 49.5, 50.0, 150.0, 50.0, 51.0, 49.0]     # the stall hit it too
    assert speedup(base, pruned) == pytest.approx(2.0)
    ci = speedup_interval(base, pruned)
    assert ci["low"] <= 2.0 <= ci["high"] and ci["high"] - ci["low"] < 0.05 and ci["runs"] == 8
    assert speedup_interval(base, pruned[:7]) is None and speedup_interval(base[:2], pruned[:2]) is None
    # 4 rounds that all lean one way: chance does that 1 time in 8, so no interval (MIN_ROUNDS is 5)
    assert speedup_interval([100.0] * 4, [101.0, 102.0, 101.5, 103.0]) is None
    assert speedup_interval([100.0] * 5, [101.0, 102.0, 101.5, 103.0, 100.5])["high"] < 1
    assert speedup_text(2.0, ci["low"], ci["high"]).startswith("2.00× [")
    assert speedup_text(1.01, 0.97, 1.06) == "1.01× (no measurable speed-up) [0.97, 1.06]"
    assert speedup_text(1.3) == "1.30×" and speedup_text(float("nan")) == "–"
    # A whole interval below 1 is a measured slow-down; words only outside narrow tables.
    assert speedup_text(0.8, 0.75, 0.85) == "0.80× (slower) [0.75, 0.85]"
    assert speedup_text(0.8, 0.75, 0.85, short=True) == "0.80× [0.75, 0.85]"
    assert speedup_verdict(0.8, 0.75, 0.85) == "slower" and speedup_verdict(1.01, 0.97, 1.06) == "no measurable speed-up"
    assert speedup_verdict(1.3) == "faster" and speedup_verdict(0.9) == "slower"


def test_a_damaged_generation_config_is_named_not_taken_as_absent(t5_dir, tmp_path, capsys):
    """The bench reads the decoder prompt from generation_config.json: a file that exists but cannot be read is
    one line naming it, exit 2 (never the defaults)."""
    model = tmp_path / "m"
    shutil.copytree(t5_dir, model)
    (model / "generation_config.json").write_text("{not json")
    assert run_cli(["bench", str(model), "--new-tokens", "2", "--runs", "1"]) == 2
    err = capsys.readouterr().err
    assert "generation_config.json" in err and err.startswith("error: ") and "Traceback" not in err
