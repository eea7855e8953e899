"""Can this draft verify losslessly against this model? One-line errors before any weights load.

    check_draft_sources("runs/base", "runs/d1-ft")   # same family, vocabulary, special tokens, tokenizer
    check_shared_encoder(full, draft)                # --share-encoder: the draft's encoder is the full model's
    check_batch_size(8, "--batch-sizes")             # transformers' assisted generation runs batch 1 only
    freeze_encoder(model)                            # re-tune a draft whose encoder stays the full model's
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError

def check_draft(full_config, draft_config, full: str = "the full model", draft: str = "the draft",
                full_tokenizer=None, draft_tokenizer=None, share_encoder: bool = False) -> None:
    """One-line errors for a draft that cannot verify losslessly against `full` (configs, tokenizers)."""
    if type(full_config) is not type(draft_config):  # one transformers config class per model type
        raise UsageError(f"draft {draft} is a {draft_config.model_type} model and {full} a {full_config.model_type} "
                         "model; the draft must be a pruned variant of the same model")
    if full_config.vocab_size != draft_config.vocab_size:
        raise UsageError(f"draft {draft} has a vocabulary of {draft_config.vocab_size} tokens and {full} "
                         f"{full_config.vocab_size}; the draft must use the full model's tokenizer")
    for name in ("decoder_start_token_id", "eos_token_id", "pad_token_id"):
        if getattr(full_config, name, None) != getattr(draft_config, name, None):
            raise UsageError(f"draft {draft} has {name} {getattr(draft_config, name, None)} and {full} "
                             f"{getattr(full_config, name, None)}; the draft must use the full model's tokenizer")
    if full_tokenizer is not None and draft_tokenizer is not None \
            and full_tokenizer.get_vocab() != draft_tokenizer.get_vocab():
        raise UsageError(f"draft {draft} has a different tokenizer vocabulary than {full}; use a draft pruned from "
                         "the full model, with its tokenizer")
    if share_encoder and getattr(full_config, "d_model", None) != getattr(draft_config, "d_model", None):
        raise UsageError(f"--share-encoder: draft {draft} has d_model {draft_config.d_model} and {full} "
                         f"{full_config.d_model}; the draft must read the full model's encoder output")
    if share_encoder:
        from ..models import family_for
        family = family_for(full_config)
        ours, theirs = family.layer_counts(full_config)["encoder"], family.layer_counts(draft_config)["encoder"]
        if ours != theirs:
            raise UsageError(f"--share-encoder: draft {draft} has {theirs} encoder layers and {full} {ours}; "
                             f"{SHARED_ENCODER_FIX}")


def check_draft_sources(full: str, draft: str, share_encoder: bool = False, draft_vocab: str | None = None) -> None:
    """`check_draft` on two MODEL arguments (hub ids, directories or presets), and the --draft-vocab file against
    the full model's vocabulary, before loading weights."""
    from ..models import family_for, load_config, load_tokenizer
    full_config = load_config(full, presets=True)
    family = family_for(full_config)
    if not family.assisted:
        raise UsageError(f"--assistant: draft-and-verify does not run {family.name} models yet; leave --assistant out")
    check_draft(full_config, load_config(draft, presets=True), full, draft,
                load_tokenizer(full, presets=True), load_tokenizer(draft, presets=True), share_encoder)
    if draft_vocab is not None:
        check_draft_vocab(draft_vocab, full_config)


SHARED_ENCODER_FIX = ("the draft would read an encoder output it was not made for; use a draft pruned in the "
                      "decoder only (re-tuned with train --freeze-encoder), or leave --share-encoder out")


def check_shared_encoder(full, draft, name: str | None = None) -> None:
    """`--share-encoder` replaces the draft's encoder by the full model's: refused unless they are the same weights,
    so that the draft that runs is the one named (`name`: how to call it; default its folder)."""
    if not encoders_equal(full, draft):
        name = name or getattr(draft.config, "_name_or_path", "") or "the draft"
        raise UsageError(f"--share-encoder: the encoder of draft {name} differs from the full model's; "
                         f"{SHARED_ENCODER_FIX}")


def check_batch_size(batch_size: int, flag: str = "--batch-size") -> None:
    if batch_size > 1:
        raise UsageError(f"{flag} {batch_size}: transformers' assisted generation (--assistant) runs one document "
                         f"at a time; pass {flag} 1")


def check_greedy(generation_config) -> None:
    if (generation_config.num_beams or 1) > 1 or generation_config.do_sample:
        raise UsageError("--assistant verifies greedy decoding only; pass --num-beams 1 (and no sampling)")


def encoders_equal(full, draft) -> bool:
    """Whether the draft's encoder (embeddings included) has exactly the full model's weights."""
    import torch
    a, b = full.get_encoder().state_dict(), draft.get_encoder().state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].to(a[k].device)) for k in a)


def freeze_encoder(model) -> int:
    """Stop training the encoder, and the embeddings it reads (shared with the decoder in T5 and BART).

    Re-tuning a decoder-pruned draft this way keeps its encoder equal to its full model's, so the
    draft can read the full model's encoder output (`share_encoder`). Returns the frozen count.
    """
    params = list(model.get_encoder().parameters())  # a shared embedding is the same Parameter object
    for p in params:
        p.requires_grad_(False)
    return sum(p.numel() for p in params)


def read_draft_vocab(path: str | Path) -> list[int]:
    """The sorted, distinct token ids of a --draft-vocab file (a JSON list of ints); a missing, damaged or
    malformed file is one line naming it."""
    path = Path(path)
    fix = "write a JSON list of token ids, e.g. with `asymprune draft-vocab MODEL OUT.json --dataset D`"
    if not path.is_file():
        raise UsageError(f"--draft-vocab {path}: no such file; {fix}")
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"--draft-vocab {path} cannot be read ({str(e)[:100]}); {fix}") from None
    if not isinstance(ids, list) or not ids \
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
        raise UsageError(f"--draft-vocab {path} is not a non-empty JSON list of token ids (integers from 0); {fix}")
    return sorted(set(ids))


def check_draft_vocab(path: str | Path, full_config) -> list[int]:
    """The file's ids, checked against the full model's vocabulary before any weights load."""
    ids = read_draft_vocab(path)
    if ids[-1] >= full_config.vocab_size:
        raise UsageError(f"--draft-vocab {path} names token id {ids[-1]}, beyond the model's {full_config.vocab_size} "
                         "tokens; make the file from this model's tokenizer")
    return ids
