"""Tiny models whose tokenizers are built like the real ones, for `asymprune vocab` tests.

    flan_like(tmp / "flan")   # T5Tokenizer over a Unigram with scores and 100 sentinels; 28 spare rows
    bart_like(tmp / "bart")   # byte-level BPE saved as BART's tokenizer (RobertaTokenizer), tied lm_head
    wordpiece_t5(tmp / "wp")  # a T5 model with a WordPiece tokenizer: vocab cannot rebuild it

The tokenizers are trained with `tokenizers` on the project's synthetic text (no download).
"""

from __future__ import annotations

import json
from pathlib import Path


def _texts():
    from asymprune.synthetic import tokenizer_training_text
    return tokenizer_training_text()


def _unused_ids(tokenizer) -> list[int]:
    """Ids the project's text never tokenizes to: a trained summarizer would not write them either."""
    used = {i for ids in tokenizer(list(_texts()))["input_ids"] for i in ids}
    return [i for i in range(len(tokenizer)) if i not in used]


def _t5_model(vocab_size: int, seed: int = 0):
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from asymprune.models.presets import preset_config
    config, _ = preset_config("t5-tiny-2-2")
    config.vocab_size = vocab_size
    torch.manual_seed(seed)
    model = AutoModelForSeq2SeqLM.from_config(config)
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))  # untied, as in FLAN-T5
    model.config.tie_word_embeddings = False
    return model


def flan_like(out: Path, pieces: int = 700, spare_rows: int = 28) -> Path:
    """Like google/flan-t5-*: <pad> </s> <unk> = 0, 1, 2, scored pieces, <extra_id_99..0> last, spare rows."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
    trainer = trainers.UnigramTrainer(vocab_size=pieces, special_tokens=["<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(_texts(), trainer)
    vocab = [tuple(v) for v in json.loads(tok.to_str())["model"]["vocab"]]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=100, model_max_length=512)
    model = _t5_model(len(tokenizer) + spare_rows)
    with torch.no_grad():  # random weights that still write in-domain tokens, as a fine-tuned model would
        model.lm_head.weight[_unused_ids(tokenizer) + list(range(len(tokenizer), model.config.vocab_size))] = 0
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def bart_like(out: Path, size: int = 1200) -> Path:
    """Like facebook/bart-*: byte-level BPE, <s> <pad> </s> <unk> = 0-3, <mask> last, tied lm_head."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, RobertaTokenizer

    from asymprune.models.presets import get_preset
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_texts(), trainer)
    model_json = json.loads(tok.to_str())["model"]
    vocab = dict(model_json["vocab"])
    vocab["<mask>"] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_json["merges"]]
    tokenizer = RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=1024)
    config = AutoConfig.for_model("bart", vocab_size=len(tokenizer), pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                  decoder_start_token_id=2, forced_eos_token_id=2, **get_preset("bart-tiny").config)
    torch.manual_seed(0)
    model = AutoModelForSeq2SeqLM.from_config(config)
    with torch.no_grad():  # nonzero, so slicing it is checked; in-domain tokens favoured, as after fine-tuning
        torch.nn.init.normal_(model.final_logits_bias, std=0.1)
        model.final_logits_bias[0, _unused_ids(tokenizer)] -= 10
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def wordpiece_t5(out: Path) -> Path:
    """A T5 model whose tokenizer is WordPiece: a model type vocab cannot rebuild."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(_texts(), trainers.WordPieceTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"],
                                                                show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    model = _t5_model(len(tokenizer))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
