"""Train a small tokenizer with `tokenizers` on text the project generates (no download).

    tok = train_tokenizer("t5")    # <pad>=0, </s>=1, <unk>=2, appends </s>
    tok = train_tokenizer("bart")  # <s>=0, <pad>=1, </s>=2, <unk>=3, wraps in <s> ... </s>
"""

from __future__ import annotations

from functools import lru_cache

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from ..synthetic import tokenizer_training_text

# Special tokens in id order, per style; the ids match the real T5 and BART vocabularies.
SPECIALS = {
    "t5": {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"},
    "bart": {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
             "mask_token": "<mask>"},
}


@lru_cache(maxsize=None)
def _train(style: str, vocab_size: int) -> str:
    specials = SPECIALS[style]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    # Punctuation split apart, so "42." is the number 42 and a full stop.
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation("isolated")])
    tok.decoder = decoders.Metaspace()
    # Characters outside the corpus still get tokens, so user text rarely maps to <unk>.
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()-/%$&")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(specials.values()),
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(tokenizer_training_text(), trainer)
    eos = ("</s>", tok.token_to_id("</s>"))
    if style == "t5":
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                           special_tokens=[eos])
    else:
        bos = ("<s>", tok.token_to_id("<s>"))
        tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                           special_tokens=[bos, eos])
    return tok.to_str()


def train_tokenizer(style: str, vocab_size: int = 1024, model_max_length: int = 1024) -> PreTrainedTokenizerFast:
    """A fresh, deterministic tokenizer in the given special-token style ("t5" or "bart")."""
    tok = Tokenizer.from_str(_train(style, vocab_size))
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length, **SPECIALS[style])
