"""`asymprune bench` on Whisper: 30-second log-mel windows at fixed or natural lengths, on HF and CTranslate2.

Timings are never asserted: only what was timed, the tokens each backend really produced, and bad input.
"""

import pytest

from asymprune.bench import BenchConfig, Setup, check_bench, results_table, run_bench
from asymprune.errors import UsageError
from tests.helpers import run_cli

WINDOWS = "30-second log-mel windows of random features"
SMALL = dict(batch_sizes=[1, 2], new_tokens=3, runs=1, warmup=0, threads=1)


def _header(report) -> str:
    from rich.console import Console
    console = Console(width=400, record=True)
    console.print(results_table(report))
    return " ".join(console.export_text().split())  # the title wraps at the table's width


def test_the_decoder_prompt_counts_against_whisper_positions():
    """448 target positions hold <|startoftranscript|><|notimestamps|> and the new tokens: 446 fit, 447 do not."""
    check_bench(["whisper-tiny.en"], BenchConfig(new_tokens=446))
    with pytest.raises(UsageError, match="2-token prompt.*--new-tokens 446 or less"):
        check_bench(["whisper-tiny.en"], BenchConfig(new_tokens=447))


def test_ct2_whisper_new_tokens_are_capped_before_any_work(capsys):
    """CTranslate2's Whisper generates at most half its 448 positions: refused in one line, exit 2."""
    check_bench(["whisper-tiny.en"], BenchConfig(new_tokens=224, backend="ct2"))
    assert run_cli(["bench", "whisper-tiny.en", "--backend", "ct2", "--new-tokens", "225"]) == 2
    err = capsys.readouterr().err
    assert "error: --new-tokens 225 is over what CTranslate2's Whisper generates" in err
    assert "--new-tokens 224 or less" in err and "Traceback" not in err


def test_text_and_speech_models_are_not_timed_together(capsys):
    assert run_cli(["bench", "t5-tiny", "whisper-tiny.en", "--new-tokens", "2"]) == 2
    assert "take different inputs" in capsys.readouterr().err


def test_hf_times_mel_windows_and_reports_the_tokens_produced(tiny_en):
    report = run_bench([str(tiny_en)], BenchConfig(**SMALL))
    rows = report["results"]
    assert [r["batch_size"] for r in rows] == [1, 2]
    for r in rows:
        assert r["inputs"] == WINDOWS and r["source_tokens"] == [3000] * r["batch_size"]  # frames of one window
        assert r["new_tokens"] == 3 and r["generated_tokens_mean"] == 3 and r["decoder_steps_mean"] == 3
        # The ceiling's cross-attention cache: 1,500 encoder frames per window (not 3,000 mel frames), float32
        d, layers = 384, 4
        assert r["ceiling"]["bytes_by_part"]["cross-attention cache"] == r["batch_size"] * layers * 2 * d * 1500 * 4
        assert r["fraction_of_ceiling"] == pytest.approx(r["ceiling_ms_per_token"] / r["decode_ms_per_token"])
    assert report["env"]["inputs"] == WINDOWS
    header = _header(report)
    assert f"hf float32 on cpu, 1 threads, {WINDOWS}, 3 new tokens (EOS suppressed), 1 runs" in header
    assert "source 1024" not in header and "random ids" not in header


@pytest.mark.slow
def test_hf_and_ct2_int8_rows_report_the_tokens_each_really_produced(tiny_en, capfd):
    """One interleaved run, HF float32 beside CTranslate2 int8, fixed lengths (EOS suppressed): each row counts the
    tokens its backend returned (CTranslate2's Whisper returns half of max_length: asked right, that is 3)."""
    from asymprune.console import quiet_transformers
    quiet_transformers()  # as the CLI does; the processes the bench starts must be as quiet on their own
    report = run_bench([str(tiny_en), (str(tiny_en), Setup(backend="ct2", ct2_compute_type="int8"))],
                       BenchConfig(**SMALL))
    printed = capfd.readouterr()
    assert "Loading weights" not in printed.out + printed.err  # the conversion check's process prints no bars
    rows = {(r["backend"], r["batch_size"]): r for r in report["results"]}
    assert set(rows) == {("hf", 1), ("hf", 2), ("ct2", 1), ("ct2", 2)}
    for r in rows.values():
        assert r["generated_tokens_mean"] == 3 and r["decoder_steps_mean"] == 3 and r["inputs"] == WINDOWS
    assert rows[("ct2", 1)]["dtype"] == "ct2:int8" and rows[("ct2", 1)]["ct2_check"]["tokens_match"]


@pytest.mark.slow
def test_natural_stopping_on_synthetic_speech_counts_each_transcript(tiny_en):
    """Dataset mode: the same K documents for both backends; each document's count is its greedy transcript's
    tokens plus the end of sequence, as transformers' own generate() gives them."""
    import torch

    from asymprune.bench import explicit_generation_config
    from asymprune.data import load_rows
    from asymprune.models import family_for, load_model, load_processor
    cfg = BenchConfig(batch_sizes=[1], new_tokens=48, dataset="synthetic-speech", docs=2, runs=1, warmup=0,
                      threads=1)
    report = run_bench([str(tiny_en), (str(tiny_en), Setup(backend="ct2", ct2_compute_type="float32"))], cfg)
    hf, ct2 = report["results"]
    assert hf["inputs"] == ct2["inputs"] == "30-second log-mel windows of synthetic-speech:test"
    assert hf["documents"] == ct2["documents"] == [0, 1]
    model, processor = load_model(str(tiny_en)), load_processor(str(tiny_en))
    model.generation_config = explicit_generation_config(model)  # greedy, as the bench decodes
    family = family_for(model.config)
    want = []
    for source in load_rows("synthetic-speech", "test", 2)["source"]:
        with torch.inference_mode():
            ids = model.generate(family.batch_inputs(processor, [source])["input_features"], max_new_tokens=48)
        # one generate() call per window (the bench's config) returns the prompt and the end of sequence too
        prompt = family.decoder_prompt(model.generation_config, model.config)
        assert ids[0, :len(prompt)].tolist() == prompt and ids[0, -1].item() == model.config.eos_token_id
        want.append(ids.shape[1] - len(prompt))  # the transcript's tokens and its end of sequence
    assert hf["doc_lengths"] == ct2["doc_lengths"] == want and max(want) < 48
    assert "synthetic-speech:test" in _header(report) and "natural stopping" in _header(report)


def test_one_generate_call_per_window_even_when_a_decoder_writes_timestamp_pairs(tiny_en):
    """A pruned decoder that writes '<|0.00|><|0.00|>' made Whisper's generate() seek to that timestamp (0 frames)
    and decode the same window forever; asymprune's calls (bench and evaluate) make one call per 30-s window."""
    import torch
    from transformers import WhisperForConditionalGeneration

    from asymprune.evaluate import EvalConfig, generation_config
    from asymprune.models import family_for
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en).eval()
    for gen in (family_for(model.config).greedy_generation_config(model), generation_config(model, EvalConfig())):
        assert gen.force_unique_generate_call is True
    zero = 50363  # <|0.00|> (timestamp_begin of tiny.en)
    with torch.no_grad():  # make every step's best token <|0.00|>: a timestamp pair, the looping case
        model.proj_out.weight = torch.nn.Parameter(model.proj_out.weight.clone())
        model.proj_out.weight[zero] = model.proj_out.weight.mean(0) * 0 + 1e3 * torch.sign(model.model.decoder.layer_norm.bias)
    model.generation_config = family_for(model.config).greedy_generation_config(model)
    model.generation_config.suppress_tokens = []
    with torch.inference_mode():
        out = model.generate(torch.zeros(1, 80, 3000), max_new_tokens=8)
    assert out.shape[1] <= 12  # it returned: one call of at most 8 new tokens after the prompt
