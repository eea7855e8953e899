"""Lossless draft-and-verify: the full model's own greedy tokens, counted drafts, a shared encoder,
`--assistant` on generate, evaluate and bench, `train --freeze-encoder`, and one-line errors."""

import copy
import json

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

from asymprune import prune_layers
from asymprune.assist import (AssistConfig, DraftStats, assisted_generate, encoders_equal,
                              expected_tokens_per_round, predicted_speedup)
from asymprune.data import DataConfig, load_dataset_spec
from asymprune.errors import UsageError
from asymprune.evaluate import EvalConfig, evaluate
from tests.helpers import run_cli

NEW = 8  # generated tokens: enough for several rounds, short enough for a shared 2-core machine


@pytest.fixture(scope="module")
def drafts(tmp_path_factory, t5_dir, bart_dir):
    """6/1 and 6/2 decoder-pruned copies of the tiny T5 and a 6/1 copy of the tiny BART."""
    root = tmp_path_factory.mktemp("drafts")
    dirs = {}
    for name, src, dec in (("t5-1", t5_dir, "1"), ("t5-2", t5_dir, "2"), ("bart-1", bart_dir, "1")):
        dirs[name] = root / name
        assert run_cli(["prune", str(src), str(dirs[name]), "--decoder-layers", dec]) == 0
    return dirs


def _inputs(model, length=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 400, (1, length), generator=gen)
    ids[0, -1] = model.config.eos_token_id
    return ids


def _greedy(model, new=NEW, forced=False):
    return GenerationConfig(max_new_tokens=new, min_new_tokens=new if forced else None, do_sample=False,
                            num_beams=1, decoder_start_token_id=model.config.decoder_start_token_id,
                            eos_token_id=model.config.eos_token_id, pad_token_id=model.config.pad_token_id)


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_assisted_tokens_are_the_full_models_greedy_tokens(family, t5_dir, bart_dir, drafts):
    full = AutoModelForSeq2SeqLM.from_pretrained(t5_dir if family == "t5" else bart_dir).eval()
    draft = AutoModelForSeq2SeqLM.from_pretrained(drafts[f"{family}-1"]).eval()
    forced = family == "bart"  # the random tiny BART would stop at once
    for seed in range(2):
        ids, gen = _inputs(full, seed=seed), _greedy(full, forced=forced)
        with torch.inference_mode():
            plain = full.generate(input_ids=ids, generation_config=gen)
        for config in (AssistConfig(), AssistConfig(draft_tokens=3, confidence=0.0, share_encoder=True)):
            out = assisted_generate(full, draft, ids, None, gen, config)
            assert torch.equal(out.sequences, plain), (seed, config)
            s = out.stats
            # Every round keeps the drafts it accepted plus the full model's own next token.
            assert s.generated == s.accepted + s.rounds == plain.shape[1] - 1
            assert 0 <= s.accepted <= s.proposed and len(s.per_round) == s.rounds and out.seconds > 0
            assert all(p <= config.draft_tokens for p, _ in s.per_round)


def test_an_identical_draft_is_always_accepted(t5_dir):
    full = AutoModelForSeq2SeqLM.from_pretrained(t5_dir).eval()
    twin = copy.deepcopy(full)
    ids, gen = _inputs(full), _greedy(full, new=10, forced=True)
    with torch.inference_mode():
        plain = full.generate(input_ids=ids, generation_config=gen)
    for share in (False, True):
        out = assisted_generate(full, twin, ids, None, gen, AssistConfig(draft_tokens=3, confidence=0.0,
                                                                        share_encoder=share))
        assert torch.equal(out.sequences, plain)
        # 10 tokens = rounds of 3 drafts + 1 own token, until the length limit cuts the drafts short.
        assert out.stats.acceptance_rate == 1.0 and out.stats.alpha == 1.0
        assert out.stats.per_round[:2] == [[3, 3], [3, 3]] and out.stats.tokens_per_round > 3
    # transformers' stock draft loop re-feeds an encoder-decoder draft's prefix on top of its cache:
    # still lossless, since the full model verifies every token.
    stock = assisted_generate(full, twin, ids, None, gen, AssistConfig(draft_tokens=3, fix_draft_cache=False))
    assert torch.equal(stock.sequences, plain)


def _demo_base():
    """The shipped converged t5-tiny: it stops by itself, so rounds can end on a drafted EOS."""
    from asymprune.models import load_model
    from asymprune.sweep.demo import DEMO_BASE
    return load_model(str(DEMO_BASE)).eval(), AutoTokenizer.from_pretrained(DEMO_BASE)


def _documents(tokenizer, n):
    from asymprune.data import load_rows
    return [tokenizer("summarize: " + text, return_tensors="pt").input_ids
            for text in load_rows("synthetic", "test", n)["source"]]


@pytest.mark.parametrize("g", [1, 5, 20])
def test_an_identical_draft_is_kept_in_full_at_natural_stopping(g):
    full, tokenizer = _demo_base()
    twin = copy.deepcopy(full)
    gen, drafted_eos = _greedy(full, new=64), 0
    for ids in _documents(tokenizer, 1):
        with torch.inference_mode():
            plain = full.generate(input_ids=ids, generation_config=gen)
        assert plain[0, -1] == full.config.eos_token_id and plain.shape[1] - 1 < 64  # stopped by itself
        out = assisted_generate(full, twin, ids, None, gen, AssistConfig(draft_tokens=g, confidence=0.0))
        s = out.stats
        assert torch.equal(out.sequences, plain)
        assert s.acceptance_rate == 1.0 and s.alpha == 1.0 and s.short_rounds == 0
        assert s.generated == plain.shape[1] - 1 and s.per_round[-1][0] == s.per_round[-1][1] <= g
        # A drafted EOS is kept too: that round ends on it, with no token of the full model's own.
        drafted_eos += s.accepted + s.rounds - s.generated
    assert drafted_eos >= 1


def test_counts_are_the_common_prefix_of_the_draft_and_the_appended_tokens():
    from asymprune.assist.generate import common_prefix
    assert common_prefix([4, 5, 1], [4, 5, 1]) == 3 and common_prefix([4, 5, 1], [4, 7]) == 1
    assert common_prefix([], [3]) == 0 and common_prefix([4, 5], [4]) == 1
    stats = DraftStats()
    stats.add_round(3, 3, generated=3)  # a round that ended on a kept EOS
    assert (stats.alpha, stats.tokens_per_round, stats.short_rounds) == (1.0, 3.0, 0)
    old = {"rounds": 2, "proposed": 6, "accepted": 4, "short_rounds": 1}  # a JSON written before `generated`
    assert DraftStats.from_dict(old).generated == 6


def test_the_confidence_threshold_adapts_as_in_stock_transformers(monkeypatch):
    """transformers adapts it only for exactly its AssistedCandidateGenerator: asymprune's counting
    must leave that type alone, so each round drafts what stock assisted generation drafts."""
    from transformers.generation.candidate_generator import AssistedCandidateGenerator
    from transformers.utils import is_sklearn_available

    from asymprune.assist import confidence_adapts
    full, tokenizer = _demo_base()
    draft = copy.deepcopy(full)
    prune_layers(draft, decoder=1, strategy="spread")  # not re-tuned: it drafts right and wrong
    rounds, stock_get = [], AssistedCandidateGenerator.get_candidates

    def recorded(self, input_ids, **kwargs):  # transformers' own method, its (length, threshold) noted
        candidates, logits = stock_get(self, input_ids, **kwargs)
        assert type(self) is AssistedCandidateGenerator
        rounds.append((candidates.shape[1] - input_ids.shape[1],
                       float(self.assistant_generation_config.assistant_confidence_threshold)))
        return candidates, logits
    monkeypatch.setattr(AssistedCandidateGenerator, "get_candidates", recorded)
    config = AssistConfig(draft_tokens=5, confidence=0.4, schedule="heuristic_transient", fix_draft_cache=False)
    (ids,) = _documents(tokenizer, 1)
    gen = _greedy(full, new=64)
    ours = assisted_generate(full, draft, ids, None, gen, config)
    counted, rounds[:] = list(rounds), []
    stock_draft = copy.deepcopy(draft)
    stock_draft.generation_config.update(num_assistant_tokens=5, assistant_confidence_threshold=0.4,
                                         num_assistant_tokens_schedule="heuristic_transient")
    with torch.inference_mode():
        stock = full.generate(input_ids=ids, generation_config=gen, assistant_model=stock_draft)
    assert torch.equal(ours.sequences, stock) and counted == rounds and len(rounds) > 6
    assert [p for p, _ in counted] == [p for p, _ in ours.stats.per_round]
    moved = {t for _, t in counted} != {0.4}
    assert moved == confidence_adapts(config) == is_sklearn_available()  # scikit-learn: a dev dependency
    assert not confidence_adapts(AssistConfig(confidence=0.0))


def test_a_shared_encoder_runs_the_encoder_once_per_document(t5_dir, drafts):
    full = AutoModelForSeq2SeqLM.from_pretrained(t5_dir).eval()
    draft = AutoModelForSeq2SeqLM.from_pretrained(drafts["t5-1"]).eval()
    calls = {"full": 0, "draft": 0}
    full.get_encoder().register_forward_hook(lambda *a: calls.__setitem__("full", calls["full"] + 1))
    draft.get_encoder().register_forward_hook(lambda *a: calls.__setitem__("draft", calls["draft"] + 1))
    ids, gen = _inputs(full), _greedy(full)
    assisted_generate(full, draft, ids, None, gen, AssistConfig())
    assert calls == {"full": 1, "draft": 1}
    assisted_generate(full, draft, ids, None, gen, AssistConfig(share_encoder=True))
    assert calls == {"full": 2, "draft": 1}
    assert encoders_equal(full, draft)  # decoder pruning leaves the encoder as it was
    assert "_get_candidate_generator" not in full.__dict__ and "get_encoder" not in draft.__dict__


def test_leviathan_prediction_and_the_per_token_estimate():
    assert expected_tokens_per_round(0.5, 2) == pytest.approx(1.75)  # 1 + 0.5 + 0.25
    assert expected_tokens_per_round(1.0, 4) == 5
    assert predicted_speedup(0.5, 2, 0.25) == pytest.approx(1.75 / 1.5)
    stats = DraftStats()
    for proposed, accepted in ([4, 4], [4, 1], [4, 0]):
        stats.add_round(proposed, accepted)
    assert stats.acceptance_rate == pytest.approx(5 / 12)
    assert stats.alpha == pytest.approx(5 / 7)  # 5 kept tokens, 2 rejections
    assert stats.tokens_per_round == pytest.approx(8 / 3)
    merged = DraftStats.from_dict(stats.to_dict()).merge(stats)
    assert (merged.rounds, merged.proposed, merged.accepted, merged.short_rounds) == (6, 24, 10, 4)


def test_library_checks(t5_dir, drafts):
    full = AutoModelForSeq2SeqLM.from_pretrained(t5_dir).eval()
    draft = AutoModelForSeq2SeqLM.from_pretrained(drafts["t5-1"]).eval()
    two = torch.cat([_inputs(full), _inputs(full, seed=1)])
    with pytest.raises(UsageError, match="runs one document at a time"):
        assisted_generate(full, draft, two, None, _greedy(full))
    beams = _greedy(full)
    beams.num_beams = 2
    with pytest.raises(UsageError, match="greedy decoding only"):
        assisted_generate(full, draft, _inputs(full), None, beams)
    with pytest.raises(UsageError, match="--draft-tokens must be at least 1"):
        assisted_generate(full, draft, _inputs(full), None, _greedy(full), AssistConfig(draft_tokens=0))


def test_cli_generate_with_an_assistant_prints_the_same_tokens(t5_dir, drafts, capsys):
    args = ["generate", str(t5_dir), "--max-new-tokens", str(NEW), "--show-ids"]
    assert run_cli(args) == 0
    plain = capsys.readouterr().out
    assert run_cli([*args, "--assistant", str(drafts["t5-2"]), "--draft-tokens", "4"]) == 0
    assisted = capsys.readouterr().out
    ids = [line for line in plain.splitlines() if line.startswith("ids: ")]
    assert len(ids) == 1 and ids == [line for line in assisted.splitlines() if line.startswith("ids: ")]
    assert "draft: acceptance rate" in assisted and "draft:" not in plain


def test_evaluate_with_an_assistant_has_the_full_models_predictions(t5_dir, drafts):
    ds = load_dataset_spec("synthetic", DataConfig(n=1))
    config = EvalConfig(max_samples=2, max_new_tokens=NEW, batch_size=1)
    plain = evaluate(str(t5_dir), ds, config)
    assisted = evaluate(str(t5_dir), ds, EvalConfig(**{**config.__dict__, "assistant": str(drafts["t5-1"])}))
    assert [p["prediction"] for p in assisted["predictions"]] == [p["prediction"] for p in plain["predictions"]]
    assert assisted["metrics"]["rouge2"] == plain["metrics"]["rouge2"]
    draft = assisted["metrics"]["assistant"]
    assert draft["model"] == str(drafts["t5-1"]) and draft["rounds"] > 0 and draft["settings"]["draft_tokens"] == 20
    assert draft["generated"] == sum(p["gen_len"] for p in plain["predictions"])


def test_evaluate_counts_an_identical_draft_as_always_kept(tmp_path):
    """The issue's probe: `evaluate --assistant` with the model as its own draft said 96.2%."""
    from asymprune.sweep.demo import DEMO_BASE
    assert run_cli(["evaluate", str(DEMO_BASE), "--dataset", "synthetic", "--max-samples", "2", "--max-new-tokens",
                    "64", "--out", str(tmp_path / "e"), "--assistant", str(DEMO_BASE), "--draft-confidence", "0"]) == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    draft = metrics["assistant"]
    assert draft["acceptance_rate"] == 1.0 and draft["alpha"] == 1.0 and draft["short_rounds"] == 0
    assert draft["generated"] == round(metrics["gen_len"] * 2) and draft["confidence_adapts"] is False


def test_bench_reports_acceptance_and_speedup_against_the_full_model(t5_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    # The model as its own draft: every draft token is kept.
    assert run_cli(["bench", str(t5_dir), "--assistant", str(t5_dir), "--batch-sizes", "1", "--source-length", "16",
                    "--new-tokens", "6", "--runs", "1", "--warmup", "0", "--draft-tokens", "3",
                    "--draft-confidence", "0", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    full, assisted = report["results"]
    assert full["model"] == str(t5_dir) and "acceptance_rate" not in full
    assert assisted["model"] == f"{t5_dir} assisted by {t5_dir}" and assisted["draft_layers"]["decoder"] == 6
    assert assisted["speedup"] == pytest.approx(full["mean_ms"] / assisted["mean_ms"])
    assert assisted["generated_tokens_mean"] == 6 == full["generated_tokens_mean"]
    # 6 tokens: the full model's prefill pass keeps 3 drafts + 1, the next one 1 draft + 1 (length limit).
    assert assisted["acceptance_rate"] == 1.0 and assisted["draft"]["rounds"] == 2
    assert assisted["draft_encoder_identical"] and assisted["weights_mb"] == pytest.approx(2 * full["weights_mb"])
    assert report["config"]["assistants"] == [str(t5_dir)] and report["config"]["assist"]["draft_tokens"] == 3
    assert "acceptance rate 100.0%" in text and f"over {t5_dir} alone at batch 1" in text
    assert assisted["inputs"] == "random ids, source 16" and "(random ids: the acceptance of a real text differs" in text
    # Draft-and-verify reads no fixed bytes per token: no ceiling, and the row says why
    assert full["fraction_of_ceiling"] > 0 and assisted["ceiling_ms_per_token"] is None
    assert assisted["fraction_of_ceiling"] is None and "assisted" in assisted["ceiling_note"]


def test_dataset_mode_bench_counts_an_identical_draft_over_real_documents(tmp_path, capsys):
    from asymprune.sweep.demo import DEMO_BASE
    out = tmp_path / "r.json"
    assert run_cli(["bench", str(DEMO_BASE), "--assistant", str(DEMO_BASE), "--dataset", "synthetic", "--bench-docs",
                    "2", "--batch-sizes", "1", "--source-length", "256", "--new-tokens", "64", "--runs", "1",
                    "--warmup", "0", "--draft-confidence", "0", "--json", str(out)]) == 0
    full, assisted = json.loads(out.read_text())["results"]
    assert assisted["inputs"] == "synthetic:test" and assisted["documents"] == full["documents"] == [0, 1]
    assert assisted["doc_lengths"] == full["doc_lengths"] and max(full["doc_lengths"]) < 64  # natural stopping
    draft = assisted["draft"]
    assert assisted["acceptance_rate"] == 1.0 and draft["alpha"] == 1.0 and draft["generated"] == sum(full["doc_lengths"])
    assert "(random ids)" not in capsys.readouterr().out


def test_freeze_encoder_trains_the_decoder_only(t5_dir, drafts, tmp_path):
    out = tmp_path / "ft"
    assert run_cli(["train", str(drafts["t5-1"]), str(out), "--dataset", "synthetic", "--n", "16", "--batch-size",
                    "4", "--eval-samples", "4", "--max-steps", "2", "--eval-steps", "2", "--learning-rate", "1e-2",
                    "--max-source-length", "64", "--max-target-length", "16", "--freeze-encoder"]) == 0
    full = AutoModelForSeq2SeqLM.from_pretrained(t5_dir)
    tuned = AutoModelForSeq2SeqLM.from_pretrained(out)
    assert encoders_equal(full, tuned)
    assert torch.equal(tuned.shared.weight, full.shared.weight)  # the embeddings the encoder reads
    assert not torch.equal(tuned.decoder.block[0].layer[0].SelfAttention.q.weight,
                           AutoModelForSeq2SeqLM.from_pretrained(drafts["t5-1"]).decoder.block[0]
                           .layer[0].SelfAttention.q.weight)
    record = json.loads((out / "train.json").read_text())
    assert record["frozen_params"] == sum(p.numel() for p in full.get_encoder().parameters())
    assert record["recipe"]["freeze_encoder"] is True


def test_bad_assistant_inputs_are_one_line(t5_dir, bart_dir, drafts, tmp_path, capsys):
    other_vocab = tmp_path / "other-vocab"
    model = AutoModelForSeq2SeqLM.from_pretrained(drafts["t5-1"])
    model.resize_token_embeddings(model.config.vocab_size + 8)
    model.save_pretrained(other_vocab)
    small = ["--source-length", "16", "--new-tokens", "4", "--runs", "1"]
    cases = [
        (["bench", str(t5_dir), "--assistant", str(drafts["t5-1"]), "--batch-sizes", "1,8", *small],
         "--batch-sizes 8: transformers' assisted generation (--assistant) runs one document at a time"),
        (["bench", str(t5_dir), "--assistant", str(bart_dir), "--batch-sizes", "1", *small],
         "is a bart model and"),
        (["bench", str(t5_dir), "--assistant", str(other_vocab), "--batch-sizes", "1", *small],
         "has a vocabulary of"),
        (["bench", str(t5_dir), "--assistant", str(drafts["t5-1"]), "--batch-sizes", "1", "--backend", "ct2", *small],
         "--assistant needs the hf backend"),
        (["bench", str(t5_dir), "--assistant", str(drafts["t5-1"]), "--batch-sizes", "1", "--compile", *small],
         "--compile and --assistant cannot be combined"),
        (["generate", str(t5_dir), "--assistant", str(bart_dir)], "the draft must be a pruned variant"),
        (["generate", str(t5_dir), "--assistant", str(drafts["t5-1"]), "--num-beams", "2"], "greedy decoding only"),
        (["generate", str(t5_dir), "--assistant", str(drafts["t5-1"]), "--draft-confidence", "1.5"],
         "--draft-confidence must be in [0, 1)"),
        (["evaluate", str(t5_dir), "--dataset", "synthetic", "--out", str(tmp_path / "e"), "--assistant",
          str(drafts["t5-1"]), "--batch-size", "4"], "--batch-size 4: transformers' assisted generation"),
    ]
    for argv, message in cases:
        code = run_cli(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, (argv, err)
    assert not (tmp_path / "e").exists()
