"""Model cards (issue 16): every folder asymprune writes has a README.md in the hub's format, later steps update it,
and a card the source already had is kept, never replaced."""

from __future__ import annotations

import json
import os
import shutil

from huggingface_hub import ModelCard

from tests.helpers import run_cli

TINY_TRAIN = ["--dataset", "synthetic", "--n", "32", "--batch-size", "4", "--max-steps", "2", "--eval-steps", "2",
              "--eval-samples", "4", "--max-source-length", "64", "--max-target-length", "16", "--learning-rate", "1e-3"]
TINY_EVAL = ["--dataset", "synthetic", "--max-samples", "4", "--max-new-tokens", "4", "--max-source-length", "64"]


def test_init_writes_a_card_of_random_weights(t5_dir):
    card = ModelCard.load(t5_dir / "README.md")
    assert card.data.library_name == "transformers" and {"asymprune", "t5", "random-weights"} <= set(card.data.tags)
    assert card.data.base_model is None and "the `t5-tiny` architecture with random weights (seed 1)" in card.text


def test_prune_train_evaluate_each_update_one_card(t5_dir, tmp_path, capsys):
    pruned, tuned = tmp_path / "p", tmp_path / "t"
    assert run_cli(["prune", str(t5_dir), str(pruned), "--decoder-layers", "1"]) == 0
    card = ModelCard.load(pruned / "README.md")
    assert card.data.base_model == str(t5_dir) and {"asymprune", "pruned"} <= set(card.data.tags)
    kept = json.loads((pruned / "asymprune.json").read_text())["kept"]["decoder"]
    assert f"| decoder | 6 → 1 | {', '.join(map(str, kept))} |" in card.text and "| encoder | 6 → 6 | all |" in card.text
    assert "| total | 3.79M |" in card.text  # parameters before and after

    assert run_cli(["train", str(pruned), str(tuned), *TINY_TRAIN]) == 0
    card = ModelCard.load(tuned / "README.md")
    assert card.data.base_model == str(pruned) and "pruned" in card.data.tags and card.data.datasets == ["synthetic"]
    assert "## Training" in card.text and "| learning rate | 0.001, constant schedule" in card.text
    assert "| effective batch | 4 = 4 per device × 1 accumulation steps" in card.text
    assert f"1. `{t5_dir}`: the `t5-tiny` architecture" in card.text  # the lineage, oldest first

    capsys.readouterr()
    for _ in range(2):  # evaluated again: the row is replaced, not repeated
        assert run_cli(["evaluate", str(tuned), *TINY_EVAL, "--out", str(tmp_path / "e"), "--overwrite"]) == 0
    assert f"the scores are in the model card {tuned / 'README.md'}" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    card = ModelCard.load(tuned / "README.md")
    assert card.text.count("| `synthetic` | test | 4 |") == 1
    assert f"| `synthetic` | test | 4 | {metrics['rouge1']:.2f} | {metrics['rouge2']:.2f} |" in card.text
    assert card.data.metrics == ["rouge"] and "## Training" in card.text  # the recipe is still there
    rouge2 = [r for r in card.data.eval_results if r.metric_name == "ROUGE-2"]
    assert len(rouge2) == 1 and rouge2[0].metric_value == round(metrics["rouge2"], 2)
    assert rouge2[0].dataset_split == "test"


def test_a_source_card_is_kept_below_and_carried_on(t5_dir, tmp_path, capsys):
    source = tmp_path / "mine"
    shutil.copytree(t5_dir, source, copy_function=os.link, ignore=shutil.ignore_patterns("README.md"))
    own = "---\nlicense: mit\nlanguage: en\ntags: [mine]\n---\n# My model\n\nHand-written notes about my data.\n"
    (source / "README.md").write_text(own)
    assert run_cli(["prune", str(source), str(tmp_path / "p1"), "--decoder-layers", "3"]) == 0
    assert run_cli(["prune", str(tmp_path / "p1"), str(tmp_path / "p2"), "--encoder-layers", "3"]) == 0
    for folder in ("p1", "p2"):
        card = ModelCard.load(tmp_path / folder / "README.md")
        assert card.data.license == "mit" and card.data.language == "en"  # what a derived model keeps
        head, kept = card.text.split("## The source's model card")
        assert "## Layers" in head and "Hand-written notes about my data." in kept and f"`{source}`" in kept
        assert "license: mit" in kept  # its metadata too, as it was
    assert (source / "README.md").read_text() == own
    # evaluate leaves a card asymprune did not write as it is.
    assert run_cli(["evaluate", str(source), *TINY_EVAL, "--out", str(tmp_path / "e")]) == 0
    assert (source / "README.md").read_text() == own
    assert "model card" not in capsys.readouterr().out


def test_a_hub_source_card_is_linked(tmp_path):
    from asymprune.models.card import write_card
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    write_card(tmp_path, "google/flan-t5-small", "m")
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.base_model == "google/flan-t5-small" and "https://huggingface.co/google/flan-t5-small" in card.text


def test_a_whisper_card_shows_wer_and_cer(tiny_en, clips, tmp_path):
    """The card's metrics come from the metric registry: WER and CER, lower is better, `wer` in the model-index."""
    from asymprune.metrics import metric_for
    from tests.speech import audiofolder
    folder = audiofolder(tmp_path / "clips", clips)
    pruned, base, out = tmp_path / "tiny-4-2", tmp_path / "base-eval", tmp_path / "eval"
    assert run_cli(["prune", str(tiny_en), str(pruned), "--decoder-layers", "2"]) == 0
    reading = ["--dataset", str(folder), "--split", "test", "--max-new-tokens", "8"]
    assert run_cli(["evaluate", str(tiny_en), *reading, "--out", str(base)]) == 0
    assert run_cli(["evaluate", str(pruned), *reading, "--out", str(out), "--baseline", str(base)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    card = ModelCard.load(pruned / "README.md")
    assert card.data.metrics == ["wer"] and card.data.pipeline_tag == "automatic-speech-recognition"
    assert {(r.task_type, r.metric_type, r.metric_name, r.metric_value, r.dataset_split)
            for r in card.data.eval_results} == {
        ("automatic-speech-recognition", "wer", "WER", round(metrics["wer"], 2), "test"),
        ("automatic-speech-recognition", "cer", "CER", round(metrics["cer"], 2), "test")}
    assert "| dataset | split | examples | WER | CER | GenL | WER vs baseline |" in card.text
    assert "lower is better" in card.text and "ROUGE" not in card.text
    ci = metrics["intervals"]["wer"]
    verdict = metric_for("wer").verdict(ci)
    assert (f"| `clips` | test | 2 | {metrics['wer']:.2f} | {metrics['cer']:.2f} | {metrics['gen_len']:.2f} | "
            f"{ci['delta']:+.2f} [{ci['low']:+.2f}, {ci['high']:+.2f}] vs `{base}`, {verdict} |") in card.text


def test_a_card_written_before_the_metric_registry_still_renders(tmp_path):
    """Evaluation rows of older cards name no metric and keep ROUGE-2's difference as rouge2_delta."""
    from asymprune.models.card import add_latency, write_card
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    write_card(tmp_path, None, "m")
    card = ModelCard.load(tmp_path / "README.md")
    old = {"dataset": "synthetic", "split": "test", "samples": 4, "rouge1": 30.0, "rouge2": 12.5, "rougeL": 25.0,
           "rougeLsum": 26.0, "gen_len": 9.0, "baseline": {"path": "b", "rouge2_delta": -0.5, "low": -1.5,
                                                            "high": 0.5}}
    card.data.asymprune["evaluations"] = [old]
    card.save(tmp_path / "README.md")
    env = {"device": "cpu", "backend": "hf", "dtype": "float32", "source_length": 8, "new_tokens": 4}
    assert add_latency(str(tmp_path), [{"batch_size": 1, "median_ms": 5.0}], env, tmp_path / "bench", "m")
    card = ModelCard.load(tmp_path / "README.md")  # re-rendered from the old row
    assert card.data.metrics == ["rouge"]
    assert "| `synthetic` | test | 4 | 30.00 | 12.50 | 25.00 | 26.00 | 9.00 | -0.50 [-1.50, +0.50] vs `b`, no measurable " \
           "loss |" in card.text
    assert {(r.task_type, r.metric_type, r.metric_name) for r in card.data.eval_results} >= {
        ("summarization", "rouge", "ROUGE-2")}
