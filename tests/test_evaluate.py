"""ROUGE equals rouge-score on hand-checked pairs; evaluate writes honest metrics and predictions."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from rouge_score import rouge_scorer

from asymprune.data import DataConfig, load_dataset_spec
from asymprune.evaluate import EvalConfig, evaluate, generation_config
from asymprune.models import build_preset
from asymprune.rouge import ROUGE_KEYS, impact, lead, lead_baseline, rouge, rouge_per_example, split_sentences
from tests.helpers import run_cli

PAIRS = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "rouge_pairs.jsonl").open()]


@pytest.mark.parametrize("pair", PAIRS, ids=[p["why"][:40] for p in PAIRS])
def test_rouge_matches_hand_checked_pairs_and_rouge_score(pair):
    ours = rouge_per_example([pair["prediction"]], [pair["reference"]])[0]
    assert ours == pytest.approx({k: pair[k] for k in ROUGE_KEYS}, abs=1e-5)
    # The library itself, stemmer on, rougeLsum on newline-separated sentences.
    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    direct = scorer.score("\n".join(split_sentences(pair["reference"])), "\n".join(split_sentences(pair["prediction"])))
    assert ours == pytest.approx({k: 100 * direct[k].fmeasure for k in ROUGE_KEYS}, abs=1e-9)


def test_rouge_is_the_plain_mean_of_the_pairs():
    means = rouge([p["prediction"] for p in PAIRS], [p["reference"] for p in PAIRS])
    for key in ROUGE_KEYS:
        assert means[key] == pytest.approx(sum(p[key] for p in PAIRS) / len(PAIRS), abs=1e-5)


def test_sentences_lead_and_impact():
    assert split_sentences("Alice won. Bob lost!  Is it? yes\nNew line") == ["Alice won.", "Bob lost!", "Is it?",
                                                                             "yes", "New line"]
    assert split_sentences("  ") == []
    assert lead("One. Two. Three. Four.", 3) == "One. Two. Three."
    got = impact({"rouge1": 30.0, "rouge2": 9.0, "rougeL": 20.0, "rougeLsum": 25.0, "gen_len": 50.0},
                 {"rouge1": 40.0, "rouge2": 10.0, "rougeL": 20.0, "rougeLsum": 0.0, "gen_len": 40.0})
    assert got == {"rouge1": -25.0, "rouge2": -10.0, "rougeL": 0.0, "rougeLsum": None, "gen_len": 25.0}


def test_synthetic_lead_baselines_are_low():
    # The key facts never open a document, so copying the lead sentence scores almost nothing.
    test = load_dataset_spec("synthetic", DataConfig(n=1))["test"]
    assert lead_baseline(test, 1)["rouge2"] < 3 < lead_baseline(test, 3)["rouge2"] < 15


def test_default_generation_length_is_256_not_20(t5_dir):
    model, _ = build_preset("t5-tiny")
    gen = generation_config(model, EvalConfig())
    assert gen.max_new_tokens == 256 and gen.max_length is None
    assert model.generation_config.max_new_tokens is None  # the model's own config is left alone
    assert generation_config(model, EvalConfig(num_beams=3)).num_beams == 3


def test_gen_len_counts_generated_tokens_past_20(t5_dir):
    # A random model forced to 30 tokens: GenL is 30 exactly (transformers' default would stop at 20).
    ds = load_dataset_spec("synthetic", DataConfig(n=1))
    result = evaluate(str(t5_dir), ds, EvalConfig(max_samples=3, min_new_tokens=30, max_new_tokens=30, batch_size=2))
    assert result["metrics"]["gen_len"] == 30
    assert [p["gen_len"] for p in result["predictions"]] == [30, 30, 30]


def test_predictions_are_batched_generate_in_input_order(t5_dir):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    ds = load_dataset_spec("synthetic", DataConfig(n=1))
    result = evaluate(str(t5_dir), ds, EvalConfig(max_samples=4, max_new_tokens=8, batch_size=3))
    model, tok = AutoModelForSeq2SeqLM.from_pretrained(t5_dir), AutoTokenizer.from_pretrained(t5_dir)
    for row, pred in zip(ds["test"].select(range(4)), result["predictions"]):
        ids = tok(["summarize: " + row["source"]], return_tensors="pt").input_ids
        with torch.inference_mode():
            out = model.generate(input_ids=ids, max_new_tokens=8, do_sample=False)
        assert pred["prediction"] == tok.decode(out[0], skip_special_tokens=True).strip()
        assert pred["gen_len"] == int((out[0, 1:] != tok.pad_token_id).sum())
        assert pred["reference"] == row["target"]


def test_cli_evaluate_writes_metrics_predictions_and_impact(t5_dir, bart_dir, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(t5_dir, model)  # the default results folder goes inside the model directory
    args = ["--dataset", "synthetic", "--n", "1", "--max-samples", "4", "--max-new-tokens", "6"]
    assert run_cli(["evaluate", str(model), *args]) == 0
    default = model / "eval-synthetic-test"
    metrics = json.loads((default / "metrics.json").read_text())
    assert metrics["samples"] == 4 and metrics["split"] == "test" and metrics["generation"]["max_new_tokens"] == 6
    assert set(ROUGE_KEYS) <= metrics.keys() and 0 < metrics["gen_len"] <= 6 and metrics["metric"] == "rouge"
    rows = [json.loads(line) for line in (default / "predictions.jsonl").open()]
    assert len(rows) == 4 and {"prediction", "reference", "gen_len", "rouge2"} <= rows[0].keys()
    out = capsys.readouterr().out
    assert all(name in out for name in ("ROUGE-1", "ROUGE-2", "ROUGE-L", "ROUGE-Lsum", "GenL"))

    assert run_cli(["evaluate", str(model), *args]) == 2  # results are not overwritten silently
    assert "already exists; pass --overwrite" in capsys.readouterr().err

    # BART gets no prefix; its impact against the T5 baseline is the paper's relative change. The baseline
    # is the T5 evaluation as asymprune wrote it before metrics had names: no "metric", so ROUGE.
    old = tmp_path / "old-eval"
    shutil.copytree(default, old)
    (old / "metrics.json").write_text(json.dumps({k: v for k, v in metrics.items() if k != "metric"}))
    out_dir = tmp_path / "bart-eval"
    assert run_cli(["evaluate", str(bart_dir), *args, "--out", str(out_dir),
                    "--baseline", str(old / "metrics.json")]) == 0
    bart = json.loads((out_dir / "metrics.json").read_text())
    assert bart["metric"] == "rouge" and set(bart["intervals"]) == set(ROUGE_KEYS)
    assert bart["generation"]["prefix"] == ""
    assert bart["baseline"]["gen_len"] == metrics["gen_len"]
    assert bart["impact"]["gen_len"] == pytest.approx(100 * (bart["gen_len"] - metrics["gen_len"]) / metrics["gen_len"])
    assert "impact %" in capsys.readouterr().out


def test_bad_evaluate_inputs_are_one_line(t5_dir, tmp_path, capsys):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    partial = tmp_path / "partial.json"
    partial.write_text('{"rouge1": 1.0}')
    speech, unknown = tmp_path / "speech.json", tmp_path / "unknown.json"
    speech.write_text('{"metric": "wer", "wer": 10.0, "cer": 5.0, "gen_len": 9.0}')
    unknown.write_text('{"metric": "bleu", "bleu": 30.0}')
    cases = [
        (["--max-samples", "0"], "--max-samples 0: evaluate at least 1 sample, or leave the flag out"),
        (["--split", "dev"], "synthetic has no split 'dev'; choose one of: train, validation, test"),
        (["--baseline", str(tmp_path / "none.json")], "none.json not found; pass the metrics.json of an earlier"),
        (["--baseline", str(bad_json)], "is not valid JSON"),
        (["--baseline", str(partial)], "has no rouge2, rougeL, rougeLsum, gen_len"),
        (["--baseline", str(speech)], "speech.json is scored with wer, this evaluation with rouge; pass the metrics.json"),
        (["--baseline", str(unknown)], "unknown.json: unknown metric 'bleu'; asymprune knows rouge, wer"),
        (["--num-beams", "0"], "--num-beams must be at least 1"),
    ]
    for extra, message in cases:
        code = run_cli(["evaluate", str(t5_dir), "--dataset", "synthetic", "--n", "1", "--out", str(tmp_path / "e"),
                        *extra])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, (extra, err)
        assert not (tmp_path / "e").exists()
    assert run_cli(["evaluate", "t5-tiny", "--dataset", "synthetic"]) == 2
    assert "is not a local directory, so results have no default place; pass --out DIR" in capsys.readouterr().err
