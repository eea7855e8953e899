"""What asymprune writes is faithful: the user's umask, an honest tie_word_embeddings, target-side labels."""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from tests.helpers import run_cli
from tests.results_db import make_results_db

TRAIN_ONE_STEP = ["--dataset", "synthetic", "--n", "16", "--max-steps", "1", "--batch-size", "8", "--eval-steps", "1",
                  "--eval-samples", "4", "--max-source-length", "64", "--max-target-length", "16"]


def _modes(root):
    """{relative path: permission bits} of root and everything under it."""
    return {str(p.relative_to(root.parent)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert run_cli(["init", "t5-tiny-2-2", str(tmp_path / "m")]) == 0
        assert run_cli(["prune", str(tmp_path / "m"), str(tmp_path / "p"), "--decoder-layers", "1"]) == 0
        assert run_cli(["evaluate", str(tmp_path / "p"), "--dataset", "synthetic", "--max-samples", "2",
                        "--max-new-tokens", "2", "--out", str(tmp_path / "ev")]) == 0
        assert run_cli(["results", str(make_results_db(tmp_path / "results.db")), "--csv",
                        str(tmp_path / "runs.csv")]) == 0
    finally:
        os.umask(old)
    for out in ("m", "p", "ev", "runs.csv"):
        modes = _modes(tmp_path / out)
        want = {k: 0o750 if (tmp_path / k).is_dir() else 0o640 for k in modes}
        assert modes == want, out  # not mkdtemp's 0700 / mkstemp's and safetensors' 0600
    assert "model.safetensors" in {p.name for p in (tmp_path / "p").iterdir()}


def _tie(folder) -> bool | None:
    return json.loads((folder / "config.json").read_text()).get("tie_word_embeddings")


def test_saved_configs_say_the_lm_head_is_untied_when_it_is(tmp_path, bart_dir):
    m, p, t = tmp_path / "m", tmp_path / "p", tmp_path / "t"
    assert run_cli(["init", "t5-tiny-2-2", str(m)]) == 0
    assert run_cli(["prune", str(m), str(p), "--decoder-layers", "1"]) == 0
    # train loads the model (transformers 5 then sets tie_word_embeddings=True in memory) and saves it again
    assert run_cli(["train", str(p), str(t), *TRAIN_ONE_STEP]) == 0
    assert (_tie(m), _tie(p), _tie(t)) == (False, False, False)
    model = AutoModelForSeq2SeqLM.from_pretrained(t)
    assert not torch.equal(model.lm_head.weight, model.shared.weight)  # the head really is its own matrix
    # BART's head is the embedding matrix: its config keeps saying so.
    assert run_cli(["prune", str(bart_dir), str(tmp_path / "b"), "--decoder-layers", "2"]) == 0
    assert _tie(tmp_path / "b") is not False
    bart = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "b")
    assert bart.lm_head.weight.data_ptr() == bart.get_input_embeddings().weight.data_ptr()


@pytest.fixture(scope="module")
def marian_tokenizer(tmp_path_factory):
    """A Marian tokenizer whose source and target sides have different sentencepiece vocabularies."""
    import sentencepiece as spm
    from transformers import MarianTokenizer

    from asymprune.synthetic import make_examples
    root = tmp_path_factory.mktemp("marian")
    rows = make_examples(200, seed=1)
    vocab = {"</s>": 0, "<unk>": 1, "<pad>": 2}
    for side, texts in (("source", [r["document"] for r in rows]), ("target", [r["summary"].upper() for r in rows])):
        (root / f"{side}.txt").write_text("\n".join(texts))
        spm.SentencePieceTrainer.train(input=str(root / f"{side}.txt"), model_prefix=str(root / side),
                                       vocab_size=200, model_type="unigram", character_coverage=1.0, pad_id=-1,
                                       bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2)
        processor = spm.SentencePieceProcessor(model_file=str(root / f"{side}.model"))
        for i in range(processor.get_piece_size()):
            vocab.setdefault(processor.id_to_piece(i), len(vocab))
    (root / "vocab.json").write_text(json.dumps(vocab))
    return MarianTokenizer(str(root / "source.model"), str(root / "target.model"), str(root / "vocab.json"))


@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
def test_targets_are_tokenized_on_the_target_side(marian_tokenizer):
    from datasets import Dataset

    from asymprune.data import tokenize
    target = "THE COUNCIL APPROVED 42 NEW HOMES."
    rows = Dataset.from_list([{"source": "The council met on Tuesday.", "target": target}])
    tokenized, report = tokenize(rows, marian_tokenizer, max_source_length=64, max_target_length=6)
    as_target = marian_tokenizer(text_target=target)["input_ids"]
    assert as_target != marian_tokenizer(target)["input_ids"]  # the two sides really differ
    assert tokenized[0]["labels"] == marian_tokenizer(text_target=target, max_length=6, truncation=True)["input_ids"]
    assert tokenized[0]["input_ids"] == marian_tokenizer("The council met on Tuesday.")["input_ids"]
    assert report["targets_truncated"] == (len(as_target) > 6)
