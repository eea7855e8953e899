"""A draft with a domain head (--draft-vocab) on the real Whisper tiny.en: the full model's transcripts exactly, a head of
N rows while drafting, logits scattered back to the full width, acceptance counted, one-line refusals of bad files.

- tiny.en as its own draft, its head cut to the tokens of the clip's own transcript (and the ids the configs name): every
  drafted token is kept; cut to a domain without one of them: the same transcript, that token rejected and written by
  the full model;
- `draft-vocab` on an audiofolder, then `generate --assistant D --share-encoder --draft-vocab FILE` (D: tiny.en pruned
  to 2 decoder layers) prints the transcript and ids of `generate` alone;
- a missing, damaged, malformed or out-of-range file is one line and exit 2, naming the file.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

from asymprune.assist import AssistConfig, assisted_generate, draft_head_ids, prepare_draft
from asymprune.models import family_of_type
from tests.helpers import run_cli

WHISPER = family_of_type("whisper")


def _drafting_widths(head):
    """(rows of the head, width of its logits) at each call: recorded by a forward hook."""
    seen = []
    head.register_forward_hook(lambda module, args, out: seen.append((module.weight.shape[0], out.shape[-1])))
    return seen


def test_a_domain_head_keeps_the_transcript_and_has_its_rows_while_drafting(tiny_en_greedy, clips, tmp_path):
    model, processor, gen = tiny_en_greedy
    inputs = {"input_features": WHISPER.batch_inputs(processor, [str(clips[0])])["input_features"]}
    with torch.inference_mode():
        plain = model.generate(**inputs, generation_config=copy.deepcopy(gen))
    words = sorted(set(plain[0].tolist()) - set(draft_head_ids([], model.config, model.generation_config)))
    assert len(words) >= 3  # the clip's own word tokens
    first = plain[0, 0].item()  # the transcript's first token: the first a draft proposes
    assert first in words
    for domain, kept_all in ((words, True), ([w for w in words if w != first], False)):
        path = tmp_path / f"vocab-{len(domain)}.json"
        path.write_text(json.dumps(domain))
        draft = prepare_draft(model, copy.deepcopy(model), AssistConfig(draft_vocab=str(path)))
        head = draft.get_output_embeddings()
        rows = len(draft_head_ids(domain, model.config, model.generation_config))
        assert head.weight.shape == (rows, model.config.d_model) and rows < 200
        assert model.get_output_embeddings().weight.shape[0] == model.config.vocab_size  # the full model's is whole
        seen = _drafting_widths(head)
        out = assisted_generate(model, draft, inputs, None, gen, AssistConfig(draft_tokens=4, confidence=0.0))
        assert torch.equal(out.sequences, plain), domain
        assert seen and set(seen) == {(rows, model.config.vocab_size)}  # N rows read, the full width handed on
        s = out.stats
        assert s.proposed > 0 and s.generated == plain.shape[1] + 1
        if kept_all:
            assert s.acceptance_rate == 1.0 and s.short_rounds == 0, s.per_round
        else:  # the missing word is never proposed: its round ends short, and the full model writes it
            assert s.acceptance_rate < 1.0 and s.short_rounds >= 1 and s.alpha < 1.0


def test_cli_draft_vocab_from_a_dataset_then_generate_prints_the_same_transcript(tiny_en, clips, tmp_path, capsys):
    from tests.speech import audiofolder
    folder = audiofolder(tmp_path / "clips", clips)  # a test split: the one such a folder of 2 clips has
    vocab = tmp_path / "draft-vocab.json"
    make = ["draft-vocab", str(tiny_en), str(vocab), "--dataset", str(folder), "--split", "test"]
    assert run_cli(make) == 0
    ids = json.loads(vocab.read_text())
    assert ids == sorted(set(ids)) and 10 < len(ids) < 300 and 50256 in ids  # the words, <|endoftext|>, the prompt
    assert run_cli(make) == 2  # exists: --overwrite to replace it
    draft = tmp_path / "tiny-4-2"
    assert run_cli(["prune", str(tiny_en), str(draft), "--decoder-layers", "2"]) == 0
    capsys.readouterr()
    args = ["generate", str(tiny_en), "--audio", str(clips[1]), "--show-ids"]
    assert run_cli(args) == 0
    plain = capsys.readouterr().out
    assert run_cli([*args, "--assistant", str(draft), "--share-encoder", "--draft-vocab", str(vocab)]) == 0
    assisted = capsys.readouterr().out

    def lines(out):
        return [line for line in out.splitlines() if line.startswith(("output: ", "ids: "))]
    assert len(lines(plain)) == 2 and lines(assisted) == lines(plain)
    assert "draft: acceptance rate" in assisted
    assert json.loads((draft / "config.json").read_text())["vocab_size"] == 51864  # nothing on disk changed


def test_bad_draft_vocab_files_are_one_line(tiny_en, clips, tmp_path, capsys):
    damaged, not_ids, too_big = tmp_path / "damaged.json", tmp_path / "dict.json", tmp_path / "big.json"
    damaged.write_text("[1, 2,")
    not_ids.write_text(json.dumps({"ids": [1, 2]}))
    too_big.write_text(json.dumps([1, 51864]))
    generate = ["generate", str(tiny_en), "--audio", str(clips[1]), "--assistant", str(tiny_en), "--draft-vocab"]
    cases = [(tmp_path / "absent.json", "no such file"), (damaged, "cannot be read"),
             (not_ids, "is not a non-empty JSON list of token ids"), (too_big, "names token id 51864, beyond")]
    for path, message in cases:
        code = run_cli([*generate, str(path)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err and str(path) in err, (path, err)
