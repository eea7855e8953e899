"""asymprune vocab: a domain vocabulary that keeps logits bit for bit over the kept tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from asymprune.data import DataConfig, load_dataset_spec
from tests.helpers import run_cli
from tests.vocab_models import bart_like, flan_like, wordpiece_t5

N_TRAIN = 300  # synthetic train rows that choose the tokens


@pytest.fixture(scope="module")
def trained_t5(tmp_path_factory) -> Path:
    """t5-tiny-2-2 trained a few steps on synthetic: its greedy output is in-domain text."""
    from asymprune.train import TrainConfig, train
    out = tmp_path_factory.mktemp("vocab") / "trained"
    config = TrainConfig(learning_rate=3e-3, batch_size=8, per_device_batch_size=8, max_steps=30, eval_steps=30,
                         eval_samples=8, max_source_length=96, max_target_length=48, seed=0)
    train("t5-tiny-2-2", out, "synthetic", config, data=DataConfig(n=240))
    return out


def _load(path: Path):
    return AutoModelForSeq2SeqLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def _test_rows(n: int = 8):
    return load_dataset_spec("synthetic", DataConfig(n=N_TRAIN))["test"][:n]


def _encode(tok, texts, max_length=128):
    return tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)


def _compare(orig_dir: Path, new_dir: Path, prefix: str, n_rows: int = 8, new_tokens: int = 32,
             min_new_tokens: int | None = None) -> dict:
    """Check the new model against the original on test rows whose tokens are all kept.

    Teacher forcing: the logits at the kept ids are equal (torch.equal). Greedy, batched: the
    new output, mapped to old ids, equals the original's up to the original's first token that
    is not kept. Returns counts of what was compared.
    """
    orig, tok_o = _load(orig_dir)
    new, tok_n = _load(new_dir)
    kept = torch.tensor(json.loads((new_dir / "vocab.json").read_text())["kept_ids"])
    rows = _test_rows(n_rows)
    sources = [prefix + s for s in rows["source"]]
    enc_o, enc_n = _encode(tok_o, sources), _encode(tok_n, sources)
    lab_o, lab_n = _encode(tok_o, rows["target"], 48).input_ids, _encode(tok_n, rows["target"], 48).input_ids
    # The rebuilt tokenizer gives exactly the mapped ids of the original (every token here is kept).
    assert torch.equal(kept[enc_n.input_ids], enc_o.input_ids) and torch.equal(kept[lab_n], lab_o)
    with torch.inference_mode():
        logits_o = orig(**enc_o, labels=lab_o).logits
        logits_n = new(**enc_n, labels=lab_n).logits
        assert logits_n.shape[-1] == len(kept)
        assert torch.equal(logits_o[..., kept], logits_n)
        settings = dict(max_new_tokens=new_tokens, min_new_tokens=min_new_tokens, do_sample=False, num_beams=1)
        out_o = orig.generate(**enc_o, **settings)
        out_n = kept[new.generate(**enc_n, **settings)]
    is_kept = torch.zeros(orig.config.vocab_size, dtype=torch.bool)
    is_kept[kept] = True
    compared = whole = 0
    for o, n in zip(out_o.tolist(), out_n.tolist()):
        stop = next((i for i, t in enumerate(o) if not is_kept[t]), len(o))
        assert n[:stop] == o[:stop]
        compared += stop
        whole += stop == len(o)
    return {"compared_tokens": compared, "rows_whole": whole, "rows": len(out_o), "length": out_o.shape[1]}


def test_vocab_keeps_logits_bit_for_bit_and_greedy_output(trained_t5, tmp_path, capsys):
    out = tmp_path / "v"
    assert run_cli(["vocab", str(trained_t5), str(out), "--dataset", "synthetic", "--n", str(N_TRAIN)]) == 0
    text = capsys.readouterr().out
    assert "tokens kept" in text and "rows tokenized differently" in text and "parameters" in text
    record = json.loads((out / "vocab.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == record["kept"] == len(record["kept_ids"]) < record["original_rows"]
    assert config["tie_word_embeddings"] is False and record["tied_lm_head"] is False
    assert record["kept_ids"][:3] == [0, 1, 2]  # <pad> </s> <unk> keep their ids: no config id moves
    assert record["used_kept"] == record["used"] and record["verified"]["word_mismatches"] == 0
    assert record["coverage"]["rows_changed"] == 0 and record["coverage"]["unk_after"] == 0
    assert record["params_after"]["total"] < record["params_before"]["total"]
    assert record["params_after"]["decoder"] == record["params_before"]["decoder"]
    # The rows are the original's; lm_head stays its own tensor.
    orig, new = _load(trained_t5)[0], _load(out)[0]
    kept = record["kept_ids"]
    assert torch.equal(new.shared.weight, orig.shared.weight[kept])
    assert torch.equal(new.lm_head.weight, orig.lm_head.weight[kept])
    assert not torch.equal(new.lm_head.weight, new.shared.weight)
    seen = _compare(trained_t5, out, "summarize: ")
    assert seen["rows_whole"] == seen["rows"]  # a trained model writes in-domain tokens only
    assert seen["compared_tokens"] == seen["rows"] * seen["length"] > seen["rows"] * 8


def _at_address_of(src: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A copy of `src` whose data starts at the same address as `like`'s, modulo 64 bytes.

    MKL's one-row matrix-vector kernel (AVX-512) sums a row in an order that depends on where
    the matrix starts in memory (measured: its address mod 16 bytes). A weight loaded from
    model.safetensors starts wherever the file's header puts it (here 56 mod 64); a fresh
    tensor (a gather, a clone) starts 64-byte aligned.
    """
    pad = 64 // src.element_size()
    buffer = torch.empty(src.numel() + pad, dtype=src.dtype)
    start = ((like.data_ptr() - buffer.data_ptr()) % 64) // src.element_size()
    out = buffer[start:start + src.numel()].view_as(src)
    out.copy_(src)
    assert out.data_ptr() % 64 == like.data_ptr() % 64
    return out


def test_batch_one_decoding_differs_only_by_the_kernel(trained_t5, tmp_path):
    """One query row goes through MKL's matrix-vector product, whose sum for a row depends on
    where the row falls in the matrix and where the matrix starts in memory; with the same
    rows at the same address the logits are equal. Eight rows go through the matrix-matrix
    product, whose sum for a row depends on neither (on AVX-512, 1 to 3 rows still take the
    small-matrix kernels)."""
    out = tmp_path / "v"
    assert run_cli(["vocab", str(trained_t5), str(out), "--dataset", "synthetic", "--n", str(N_TRAIN)]) == 0
    (orig, tok_o), (new, tok_n) = _load(trained_t5), _load(out)
    kept = torch.tensor(json.loads((out / "vocab.json").read_text())["kept_ids"])
    source = ["summarize: " + _test_rows(1)["source"][0]]
    linear = torch.nn.functional.linear
    with torch.inference_mode():
        args = dict(decoder_input_ids=torch.tensor([[0]]), output_hidden_states=True)
        step_o = orig(**_encode(tok_o, source), **args)
        step_n = new(**_encode(tok_n, source), **args)
        hidden = step_o.decoder_hidden_states[-1]
        assert torch.equal(hidden, step_n.decoder_hidden_states[-1])  # everything before lm_head is identical
        same_rows = _at_address_of(orig.lm_head.weight[kept], new.lm_head.weight)
        assert torch.equal(step_n.logits, linear(hidden, same_rows))  # same rows, same address, same path
        others = torch.randn(7, *hidden.shape[1:], generator=torch.Generator().manual_seed(0))
        batch = torch.cat([hidden, others])  # the matrix-matrix path: a row's sum does not depend on the others
        assert torch.equal(linear(batch, orig.lm_head.weight)[..., kept], linear(batch, new.lm_head.weight))


def _write_jsonl(path: Path, rows: int = 60) -> Path:
    import random
    rng = random.Random(0)
    cities, skies = ["Oslo", "Lima", "Perth", "Quito", "Riga"], ["sunny", "rainy", "cloudy", "windy"]
    with open(path, "w") as f:
        for i in range(rows):
            city, sky, temp = rng.choice(cities), rng.choice(skies), rng.randint(-5, 35)
            doc = f"Weather in {city}: it will be {sky} today with {temp} degrees. Report number {i}."
            f.write(json.dumps({"document": doc, "summary": f"{city}: {sky}, {temp} degrees."}) + "\n")
    return path


def test_size_keeps_that_many_on_a_jsonl_file(t5_dir, tmp_path):
    data = _write_jsonl(tmp_path / "weather.jsonl")
    assert run_cli(["vocab", str(t5_dir), str(tmp_path / "all"), "--dataset", str(data)]) == 0
    needed = json.loads((tmp_path / "all" / "vocab.json").read_text())["kept"]  # the data's tokens and their merges
    out = tmp_path / "v"
    assert run_cli(["vocab", str(t5_dir), str(out), "--dataset", str(data), "--size", str(needed + 40)]) == 0
    record = json.loads((out / "vocab.json").read_text())
    assert record["kept"] == needed + 40 == len(json.loads((out / "tokenizer.json").read_text())["model"]["vocab"])
    assert record["used_kept"] == record["used"]  # the tokenizer's most frequent others fill up the rest
    model, tok = _load(out)
    ids = _encode(tok, ["summarize: Weather in Oslo: it will be sunny today."])
    assert kept_ids_of(out)[tok("Weather")["input_ids"][0]] == AutoTokenizer.from_pretrained(t5_dir)("Weather")["input_ids"][0]
    generated = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert generated.max() < needed + 40
    # Fewer than the data needs: the most frequent are kept, and every kept word still tokenizes exactly.
    small = tmp_path / "small"
    assert run_cli(["vocab", str(t5_dir), str(small), "--dataset", str(data), "--size", "40"]) == 0
    record = json.loads((small / "vocab.json").read_text())
    assert record["kept"] == 40 and record["used_kept"] < record["used"]
    assert record["verified"]["word_mismatches"] == 0 and record["verified"]["rows"] == 48


def kept_ids_of(folder: Path) -> list[int]:
    return json.loads((folder / "vocab.json").read_text())["kept_ids"]


def test_flan_like_unigram_tokenizer(tmp_path):
    src = flan_like(tmp_path / "flan")
    out = tmp_path / "v"
    assert run_cli(["vocab", str(src), str(out), "--dataset", "synthetic", "--n", str(N_TRAIN)]) == 0
    record = json.loads((out / "vocab.json").read_text())
    assert record["tokenizer_model"] == "Unigram" and record["original_rows"] == record["original_tokens"] + 28
    # Scores as the tokenizers library holds them (its JSON float parsing is not exact, so the
    # files' digits may differ while the loaded values are equal).
    old_model, new_model = (json.loads(Tokenizer.from_file(str(d / "tokenizer.json")).to_str())["model"]
                            for d in (src, out))
    assert new_model["type"] == "Unigram" and new_model["unk_id"] == 2
    old_scores = dict(map(tuple, old_model["vocab"]))
    assert all(old_scores[piece] == score for piece, score in new_model["vocab"])  # scores carried over
    lowest = min(old_model["vocab"], key=lambda piece: piece[1])[0]
    assert lowest in dict(map(tuple, new_model["vocab"]))  # it sets the unknown-token penalty
    tok = AutoTokenizer.from_pretrained(out)
    assert "<extra_id_0>" not in tok.get_vocab()  # sentinels: span corruption only, dropped by default
    seen = _compare(src, out, "summarize: ", new_tokens=12, min_new_tokens=12)  # EOS suppressed: full length
    assert seen["rows_whole"] == seen["rows"] and seen["length"] == 13
    assert seen["compared_tokens"] >= seen["rows"]
    keep = tmp_path / "keep"
    assert run_cli(["vocab", str(src), str(keep), "--dataset", "synthetic", "--n", str(N_TRAIN),
                    "--keep-sentinels"]) == 0
    tok = AutoTokenizer.from_pretrained(keep)
    assert all(f"<extra_id_{i}>" in tok.get_vocab() for i in range(100))
    assert tok.convert_tokens_to_ids("<extra_id_7>") in tok.all_special_ids
    assert json.loads((keep / "vocab.json").read_text())["kept"] == record["kept"] + 100


def test_bart_like_byte_level_bpe(tmp_path):
    src = bart_like(tmp_path / "bart")
    out = tmp_path / "v"
    assert run_cli(["vocab", str(src), str(out), "--dataset", "synthetic", "--n", str(N_TRAIN)]) == 0
    record = json.loads((out / "vocab.json").read_text())
    assert record["tokenizer_model"] == "BPE" and record["tied_lm_head"] is True
    model = json.loads((out / "tokenizer.json").read_text())["model"]
    for left, right in model["merges"]:  # merges only where both parts and the result are kept
        assert left in model["vocab"] and right in model["vocab"] and left + right in model["vocab"]
    orig, new = _load(src)[0], _load(out)[0]
    kept = record["kept_ids"]
    assert new.lm_head.weight.data_ptr() == new.model.shared.weight.data_ptr()
    assert torch.equal(new.final_logits_bias, orig.final_logits_bias[:, kept])
    assert new.config.forced_eos_token_id == kept.index(orig.config.forced_eos_token_id)
    seen = _compare(src, out, "", new_tokens=12, min_new_tokens=12)
    assert seen["rows_whole"] == seen["rows"] and seen["length"] == 13
    assert seen["compared_tokens"] >= seen["rows"]


def test_byte_level_bpe_keeps_every_byte_so_any_text_round_trips(tmp_path):
    """A byte-level BPE has no <unk>: a byte whose token was dropped would vanish from the text."""
    src = bart_like(tmp_path / "bart")
    out = tmp_path / "v"
    assert run_cli(["vocab", str(src), str(out), "--dataset", "synthetic", "--n", str(N_TRAIN), "--size", "400"]) == 0
    record = json.loads((out / "vocab.json").read_text())
    assert record["kept"] == 400 and record["byte_tokens"] == 256 and record["special"] == 5
    old, new = AutoTokenizer.from_pretrained(src), AutoTokenizer.from_pretrained(out)
    for text in ["Ærøskøbing's café costs 3½ €", "the café cat costs 5€", "日本語 ✓ \t tabs\nand lines"]:
        ids = new(text, add_special_tokens=False)["input_ids"]
        assert new.decode(ids) == text
        assert len(ids) >= len(old(text, add_special_tokens=False)["input_ids"])  # longer, never lossy
    # Test text outside the kept set: more tokens, no <unk>, nothing dropped.
    cover = record["coverage"]
    assert cover["tokens_outside"] > 0 and cover["rows_changed"] > 0
    assert cover["unk_after"] == cover["chars_dropped"] == 0
    assert run_cli(["vocab", str(src), str(tmp_path / "small"), "--dataset", "synthetic", "--size", "100"]) == 2


def test_coverage_counts_what_a_bpe_without_unk_drops(tmp_path):
    """Without some byte tokens a byte-level BPE silently drops text: the report must count it."""
    from datasets import Dataset
    from transformers import PreTrainedTokenizerFast

    from asymprune.vocab import RebuildableTokenizer, compare_tokenization
    tok = AutoTokenizer.from_pretrained(bart_like(tmp_path / "bart"))
    rt = RebuildableTokenizer(tok)
    gone = set("".join(piece for piece, _ in tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str("é€")))
    kept = [i for i in sorted(rt.tokens) if not gone & set(rt.tokens[i])]
    broken = PreTrainedTokenizerFast(tokenizer_object=rt.rebuild_backend(kept))
    rows = Dataset.from_dict({"source": ["the café cat costs 5€"], "target": ["a cat"]})
    stats = compare_tokenization(tok, broken, kept, rows, "")
    assert stats["unk_after"] == 0 and stats["chars_dropped"] == 2  # é and €, with no <unk> to show for them
    assert stats["rows_changed"] == 1 and stats["word_mismatches"] == 0


def _write_split_folder(folder: Path) -> Path:
    """train.jsonl in words without the letters j, q, x; test.jsonl with them, and with the
    kind of text no train row has (Ærøskøbing's café, 3½ €)."""
    folder.mkdir()
    words = ["the", "city", "council", "met", "on", "day", "and", "voted", "harbour", "budget", "for", "new",
             "roads", "parks", "schools", "with", "members", "present", "after", "long", "debate"]
    rng = __import__("random").Random(0)
    with open(folder / "train.jsonl", "w", encoding="utf-8") as f:
        for i in range(60):
            doc = " ".join(rng.choice(words) for _ in range(14)) + "."
            f.write(json.dumps({"document": doc, "summary": " ".join(doc.split()[:5]) + "."}) + "\n")
    with open(folder / "test.jsonl", "w", encoding="utf-8") as f:
        for i in range(6):
            doc = f"The quiz jury in Ærøskøbing's café fixed {i} jukebox taxes: 3½ million €."
            f.write(json.dumps({"document": doc, "summary": "A quiz jury fixed jukebox taxes."}, ensure_ascii=False)
                    + "\n")
    return folder


def test_unigram_size_keeps_the_data_characters_and_counts_unknowns(tmp_path):
    src = flan_like(tmp_path / "flan")
    data = _write_split_folder(tmp_path / "news")
    out = tmp_path / "v"
    assert run_cli(["vocab", str(src), str(out), "--dataset", str(data), "--size", "30"]) == 0
    record = json.loads((out / "vocab.json").read_text())
    assert record["kept"] == 30 and record["byte_tokens"] == 0 and record["used_kept"] < record["used"]
    old, new = AutoTokenizer.from_pretrained(src), AutoTokenizer.from_pretrained(out)
    # Every single character the train rows are made of is kept, before any longer token.
    splits = load_dataset_spec(str(data), DataConfig())
    train_texts = ["summarize: " + s for s in splits["train"]["source"]] + list(splits["train"]["target"])
    pieces = {p for ids in old(train_texts)["input_ids"] for p in old.convert_ids_to_tokens(ids)}
    chars = {c for p in pieces if p not in old.all_special_tokens for c in p} & set(old.get_vocab())
    assert len(chars) > 15 and chars <= set(new.get_vocab())
    assert not {"j", "q", "x"} & set(new.get_vocab()) and {"j", "q", "x"} <= set(old.get_vocab())
    # Test text outside the kept set: its new characters become <unk>, and the report counts them.
    texts = ["summarize: " + s for s in splits["test"]["source"]] + list(splits["test"]["target"])
    unk_after = sum(ids.count(new.unk_token_id) for ids in new(texts)["input_ids"])
    unk_before = sum(ids.count(old.unk_token_id) for ids in old(texts)["input_ids"])
    cover = record["coverage"]
    assert cover["unk_after"] == unk_after > cover["unk_before"] == unk_before
    assert cover["chars_dropped"] == 0 and cover["rows_changed"] == cover["rows"] == 6
    # Beyond the tokenizer, or beyond it without the sentinels: one line, exit 2, nothing written.
    for size in ("100000", "701"):  # 800 tokens, 100 of them sentinels
        bad = tmp_path / f"bad-{size}"
        assert run_cli(["vocab", str(src), str(bad), "--dataset", str(data), "--size", size]) == 2
        assert not bad.exists()


def test_generation_config_ids_are_renumbered_or_dropped(t5_dir, tmp_path):
    """Every id field of generation_config.json: kept ones renumbered, moot ones (a dropped token
    that is suppressed, banned or biased) removed, required ones (forced, eos lists) kept."""
    import shutil

    from transformers import GenerationConfig
    src = tmp_path / "m"
    shutil.copytree(t5_dir, src)
    gen = json.loads((src / "generation_config.json").read_text())
    del gen["_from_model_config"]  # a config the user wrote: transformers keeps its other keys
    tok = AutoTokenizer.from_pretrained(src)
    a, b = tok.convert_tokens_to_ids("▁the"), len(tok) - 1  # used by the data; a late merge it never uses
    extra = {"eos_token_id": [1, b - 1], "forced_bos_token_id": b - 2, "suppress_tokens": [a, b],
             "begin_suppress_tokens": [b, a], "bad_words_ids": [[a], [b], [a, b]],
             "sequence_bias": {str((a,)): -1.0, str((b,)): 2.0}, "force_words_ids": [[b - 3]],
             "forced_decoder_ids": [[1, None], [2, b - 4]], "no_timestamps_token_id": b - 5,
             "lang_to_id": {"<|xx|>": b - 6}}
    (src / "generation_config.json").write_text(json.dumps({**gen, **extra}))
    out = tmp_path / "v"
    assert run_cli(["vocab", str(src), str(out), "--dataset", "synthetic", "--n", "40", "--size", "300"]) == 0
    kept = kept_ids_of(out)
    assert a in kept and b not in kept  # the fields hold a kept and a dropped token
    new = {old: i for i, old in enumerate(kept)}
    saved = json.loads((out / "generation_config.json").read_text())
    assert saved["eos_token_id"] == [new[1], new[b - 1]] and saved["forced_bos_token_id"] == new[b - 2]
    assert saved["suppress_tokens"] == saved["begin_suppress_tokens"] == [new[a]]
    assert saved["bad_words_ids"] == [[new[a]]] and saved["sequence_bias"] == {str((new[a],)): -1.0}
    assert saved["force_words_ids"] == [[new[b - 3]]] and saved["forced_decoder_ids"] == [[1, None], [2, new[b - 4]]]
    assert saved["no_timestamps_token_id"] == new[b - 5] and saved["lang_to_id"] == {"<|xx|>": new[b - 6]}
    assert saved["pad_token_id"] == new[gen["pad_token_id"]] and saved["decoder_start_token_id"] == new[0]
    assert GenerationConfig.from_pretrained(out).eos_token_id == [new[1], new[b - 1]]  # transformers reads it
    # A watermark is computed over every id: refused before any work.
    (src / "generation_config.json").write_text(json.dumps({**gen, "watermarking_config": {"greenlist_ratio": 0.25}}))
    assert run_cli(["vocab", str(src), str(tmp_path / "w"), "--dataset", "synthetic", "--n", "40"]) == 2
    assert not (tmp_path / "w").exists()


def test_the_tokenizer_check_catches_a_wrong_rebuild(t5_dir):
    """Without its merges a BPE splits in-domain words differently: the check must say so."""
    from transformers import PreTrainedTokenizerFast

    from asymprune.vocab import RebuildableTokenizer, compare_tokenization
    tok = AutoTokenizer.from_pretrained(t5_dir)
    rt = RebuildableTokenizer(tok)
    kept = list(range(len(tok)))
    rows = load_dataset_spec("synthetic", DataConfig(n=20))["train"]
    assert compare_tokenization(tok, rt.rebuild(kept), kept, rows, "summarize: ")["word_mismatches"] == 0
    data = json.loads(rt.rebuild_backend(kept).to_str())
    data["model"]["merges"] = data["model"]["merges"][:-50]  # the last merges make whole words
    broken = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(data)))
    stats = compare_tokenization(tok, broken, kept, rows, "summarize: ")
    assert stats["word_mismatches"] > 0 and stats["rows_changed"] > 0 and stats["first_mismatch"]["before"]


@pytest.mark.parametrize("case", ["size", "wordpiece", "exists", "dataset", "vmap-size"])
def test_bad_input_is_one_line_exit_2(case, t5_dir, tmp_path, capsys):
    out = tmp_path / "v"
    argv = ["vocab", str(t5_dir), str(out), "--dataset", "synthetic", "--n", "20"]
    expected = {"size": "--size 2 is smaller than the 3 special tokens this model needs (pad, eos, unk, ...)",
                "wordpiece": "cannot rebuild this tokenizer exactly (its model is WordPiece)",
                "exists": "already exists; pass --overwrite",
                "dataset": "dataset file 'missing.jsonl' not found",
                "vmap-size": "--vmap-size needs --vmap SPEC"}[case]
    if case == "size":
        argv += ["--size", "2"]
    elif case == "wordpiece":
        argv[1] = str(wordpiece_t5(tmp_path / "wp"))
    elif case == "exists":
        out.mkdir()
    elif case == "dataset":
        argv[4] = "missing.jsonl"
    else:
        argv = ["export", str(t5_dir), str(out), "--vmap-size", "10"]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and len(err.strip().splitlines()) == 1
    assert case == "exists" or not out.exists()


def test_ct2_export_carries_the_smaller_vocabulary_and_vmap(trained_t5, tmp_path):
    import ctranslate2

    from asymprune.ct2 import compare_with_hf, vocabulary
    small = tmp_path / "v"
    assert run_cli(["vocab", str(trained_t5), str(small), "--dataset", "synthetic", "--n", str(N_TRAIN)]) == 0
    kept = json.loads((small / "vocab.json").read_text())["kept"]
    ct2_dir = tmp_path / "ct2"
    assert run_cli(["export", str(small), str(ct2_dir), "--format", "ct2"]) == 0
    assert len(vocabulary(ct2_dir)) == kept
    assert compare_with_hf(small, ct2_dir)["tokens_match"]
    # A test document translates to the reduced HF model's greedy tokens.
    model, tok = _load(small)
    ids = _encode(tok, ["summarize: " + _test_rows(1)["source"][0]])
    hf = model.generate(**ids, max_new_tokens=16, min_new_tokens=16, do_sample=False)[0, 1:].tolist()
    translator = ctranslate2.Translator(str(ct2_dir), compute_type="float32")
    source = tok.convert_ids_to_tokens(ids.input_ids[0].tolist())
    hyp = translator.translate_batch([source], beam_size=1, max_decoding_length=16, min_decoding_length=16)
    assert tok.convert_tokens_to_ids(hyp[0].hypotheses[0]) == hf
    # The alternative: the full model with CTranslate2's vocabulary map of the same data.
    mapped = tmp_path / "vmap"
    assert run_cli(["export", str(trained_t5), str(mapped), "--vmap", "synthetic", "--vmap-size", "200"]) == 0
    allowed = set((mapped / "vmap.txt").read_text().split())
    assert len(allowed) == 200 and len(vocabulary(mapped)) == json.loads((trained_t5 / "config.json").read_text())["vocab_size"]
    translator = ctranslate2.Translator(str(mapped), compute_type="float32")
    random_source = [["▁Vera", "▁Quinn", "ton", "qu", "▁Aug", "</s>"]]
    hyp = translator.translate_batch(random_source, beam_size=1, max_decoding_length=20, use_vmap=True)
    assert set(hyp[0].hypotheses[0]) <= allowed | {"</s>", "<unk>"}


@pytest.mark.slow  # four worker processes (two per backend): about 20 s on 2 idle cores
def test_benchmark_script_smoke(tmp_path):
    import subprocess
    import sys
    out = tmp_path / "vocab.md"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "vocab.py"
    proc = subprocess.run([sys.executable, str(script), "--smoke", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert "## HF float32, batch 1" in text and "## CTranslate2 int8, batch 1" in text
    assert "| t5-tiny-2-2 | 2/1 | " in text and "| 946 | 300 |" in text
    runs = json.loads(out.with_suffix(".json").read_text())
    assert sorted(runs) == ["ct2-int8/all", "hf-fp32/all"]
    assert all(sorted(r["rows"] for r in rep["results"]) == [300, 946] for rep in runs.values())
