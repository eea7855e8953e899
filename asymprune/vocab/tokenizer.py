"""Rebuild a tokenizer with only some of its tokens, so that it still tokenizes exactly.

    rt = RebuildableTokenizer(tokenizer)   # UsageError if its model type cannot be rebuilt exactly
    need = rt.required_ids()               # what the pipeline itself needs (unk, post-processor tokens, ...)
    rt.byte_ids()                          # byte-level BPE: its 256 byte tokens, so any text still encodes
    rt.char_ids(counts)                    # the single characters the data's tokens are made of
    extra = rt.ancestors(token_id)         # BPE: the tokens its merges pass through
    new = rt.rebuild(kept_ids)             # a transformers tokenizer; new id i is old id kept_ids[i]

`compare.py` checks the result against the original (`compare_tokenization`).

Works on the `tokenizers` JSON of a fast tokenizer; the normalizer, pre-tokenizer and decoder
are kept as they are, and every id (added tokens, post-processor, padding) is renumbered.

Why the result is exact on text whose original tokens are all kept:
- Unigram (T5, SentencePiece): the best segmentation of the original is still a candidate and
  the other candidates are a subset of the original's, with the same scores. Its unknown-token
  penalty is (lowest score - 10), so the lowest-scoring piece is always kept to keep it equal.
- BPE (BART's byte level, the presets' Metaspace BPE): merges apply in rank order, and a merge
  is kept only where both parts and the result are kept. Every kept token is kept with the
  tokens its merges pass through (`ancestors`), so the same merges fire in the same order.
Other model types (WordPiece, WordLevel, ...) get a one-line error.
"""

from __future__ import annotations

import json

from ..errors import UsageError

REBUILDABLE = ("BPE", "Unigram")
ROLE_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")
# Settings of the original tokenizer_config.json that carry over; the rest describe the old vocabulary.
CARRIED_SETTINGS = ("model_max_length", "padding_side", "truncation_side", "clean_up_tokenization_spaces",
                    "model_input_names", "split_special_tokens")


def _cannot(reason: str) -> UsageError:
    return UsageError(f"cannot rebuild this tokenizer exactly ({reason}); asymprune vocab supports fast "
                      f"tokenizers with a {' or '.join(REBUILDABLE)} model (T5, BART, the presets)")


class RebuildableTokenizer:
    """A fast tokenizer's `tokenizers` JSON, with what it takes to keep a subset of its ids."""

    def __init__(self, tokenizer):
        rust = getattr(tokenizer, "backend_tokenizer", None)
        if rust is None:
            raise _cannot(f"{type(tokenizer).__name__} has no tokenizer.json backend")
        self.hf = tokenizer
        self.data = json.loads(rust.to_str())
        model = self.data["model"]
        self.kind = model.get("type")
        if self.kind not in REBUILDABLE:
            raise _cannot(f"its model is {self.kind or 'of an unknown type'}")
        if self.kind == "BPE":
            self.tokens = {i: t for t, i in model["vocab"].items()}
        else:
            self.tokens = {i: piece for i, (piece, _) in enumerate(model["vocab"])}
        self.model_ids = set(self.tokens)
        self.ids = {t: i for i, t in self.tokens.items()}  # the model's own tokens: string -> id
        for added in self.data.get("added_tokens", []):
            self.tokens.setdefault(added["id"], added["content"])
        self.size = max(self.tokens) + 1
        self._producers: dict[str, list[tuple[str, str]]] | None = None  # BPE: merge result -> parts
        self._ancestors: dict[str, frozenset] = {}  # BPE: token -> the tokens its merges pass through

    # ------------------------------------------------------------------ what must be kept

    def required_ids(self) -> set[int]:
        """Ids the tokenizer's own pipeline needs: unk, role tokens, post-processor and padding tokens."""
        ids = set(_processor_ids(self.data.get("post_processor")))
        model = self.data["model"]
        if self.kind == "Unigram":
            if model.get("unk_id") is not None:
                ids.add(model["unk_id"])
            # The lowest score sets the unknown-token penalty; keeping it keeps segmentations equal.
            scores = [score for _, score in model["vocab"]]
            ids.add(min(range(len(scores)), key=scores.__getitem__))
        elif model.get("unk_token") is not None:
            ids.add(model["vocab"][model["unk_token"]])
        if self.data.get("padding"):
            ids.add(self.data["padding"]["pad_id"])
        for attr in ROLE_TOKENS:
            token_id = self._role_id(attr)
            if token_id is not None:
                ids.add(token_id)
        return ids

    def byte_ids(self) -> set[int]:
        """Tokens that let any text encode: a byte-level BPE's 256 byte characters (BART, RoBERTa,
        GPT-2), a byte-fallback model's <0x00>..<0xFF>. Byte level has no unknown token, so a text
        byte without its token would be dropped; these keep decode(encode(x)) == x."""
        ids = set()
        if _has_byte_level(self.data.get("pre_tokenizer")):
            from tokenizers.pre_tokenizers import ByteLevel
            ids |= {self.ids[c] for c in ByteLevel.alphabet() if c in self.ids}
        if self.data["model"].get("byte_fallback"):
            ids |= {self.ids[t] for t in (f"<0x{b:02X}>" for b in range(256)) if t in self.ids}
        return ids

    def char_ids(self, counts) -> list[int]:
        """The single-character tokens of the characters the used tokens (`counts` > 0) are made
        of, most frequent first: with them a new word of the same characters still tokenizes."""
        import numpy as np

        prefix = self.data["model"].get("continuing_subword_prefix") or ""
        special = {a["id"] for a in self.data.get("added_tokens", [])}
        freq: dict[int, int] = {}
        for i in np.flatnonzero(counts).tolist():
            if i not in self.model_ids or i in special:
                continue
            token, cont = self.tokens[i], False
            if prefix and token.startswith(prefix):
                token, cont = token[len(prefix):], True
            for k, c in enumerate(token):
                char_id = self.ids.get(prefix + c if prefix and (cont or k) else c)
                if char_id is not None:
                    freq[char_id] = freq.get(char_id, 0) + int(counts[i])
        return sorted(freq, key=lambda i: (-freq[i], i))

    def _role_id(self, attr: str) -> int | None:
        token = getattr(self.hf, attr, None)
        if token is None:
            return None
        token_id = self.hf.convert_tokens_to_ids(str(token))
        unk = self.hf.unk_token_id
        return None if token_id is None or (token_id == unk and attr != "unk_token") else token_id

    def extra_special_ids(self) -> set[int]:
        """Special tokens with no role (T5's sentinels <extra_id_N>, other additional special tokens)."""
        roles = {self._role_id(a) for a in ROLE_TOKENS}
        return {a["id"] for a in self.data.get("added_tokens", []) if a.get("special") and a["id"] not in roles}

    def ancestors(self, token_id: int) -> set[int]:
        """The ids that must be kept with `token_id` for the tokenizer to still produce it."""
        if self.kind != "BPE" or token_id not in self.model_ids:
            return {token_id}
        vocab = self.data["model"]["vocab"]
        return {token_id} | {vocab[t] for t in self._bpe_ancestors(self.tokens[token_id])}

    def fallback_order(self) -> list[int]:
        """Ids in the order to add them when the data has no preference: most useful first."""
        if self.kind == "Unigram":
            scores = self.data["model"]["vocab"]
            in_model = sorted(range(len(scores)), key=lambda i: (-scores[i][1], i))
            return in_model + sorted(set(self.tokens) - set(in_model))
        return sorted(self.tokens)  # BPE ids follow the merge order: earlier merges are more frequent

    # ------------------------------------------------------------------ BPE merges

    def _merge_parts(self, merge) -> tuple[str, str]:
        return tuple(merge.split(" ", 1)) if isinstance(merge, str) else tuple(merge)

    def _merge_result(self, left: str, right: str) -> str:
        prefix = self.data["model"].get("continuing_subword_prefix") or ""
        if prefix and right.startswith(prefix):
            right = right[len(prefix):]
        return left + right

    def _bpe_ancestors(self, token: str) -> set[str]:
        if self._producers is None:  # merge result -> its parts, built on first use
            self._producers = {}
            for merge in self.data["model"]["merges"]:
                left, right = self._merge_parts(merge)
                self._producers.setdefault(self._merge_result(left, right), []).append((left, right))
        if token not in self._ancestors:
            found = {token}
            for left, right in self._producers.get(token, ()):  # parts are shorter: no cycles
                found |= self._bpe_ancestors(left) | self._bpe_ancestors(right)
            vocab = self.data["model"]["vocab"]
            self._ancestors[token] = frozenset(t for t in found if t in vocab)
        return set(self._ancestors[token])

    # ------------------------------------------------------------------ rebuilding

    def rebuild_backend(self, kept: list[int]):
        """A `tokenizers.Tokenizer` holding only `kept` (sorted old ids), renumbered 0..len(kept)-1."""
        from tokenizers import Tokenizer

        new_id = {old: new for new, old in enumerate(kept)}
        data = json.loads(json.dumps(self.data))  # a deep copy
        model = data["model"]
        if self.kind == "BPE":
            kept_tokens = {self.tokens[i] for i in kept}
            model["vocab"] = {self.tokens[i]: new_id[i] for i in kept if i in self.model_ids}
            merges = []
            for merge in model["merges"]:
                left, right = self._merge_parts(merge)
                if left in kept_tokens and right in kept_tokens and self._merge_result(left, right) in kept_tokens:
                    merges.append(merge)
            model["merges"] = merges
        else:
            model["vocab"] = [self.data["model"]["vocab"][i] for i in kept if i in self.model_ids]
            if model.get("unk_id") is not None:
                model["unk_id"] = new_id[model["unk_id"]]
        data["added_tokens"] = [{**a, "id": new_id[a["id"]]} for a in data.get("added_tokens", []) if a["id"] in new_id]
        if data.get("post_processor"):
            _remap_processor(data["post_processor"], new_id)
        if data.get("padding"):
            data["padding"]["pad_id"] = new_id[data["padding"]["pad_id"]]
        return Tokenizer.from_str(json.dumps(data))

    def rebuild(self, kept: list[int]):
        """The transformers tokenizer for `kept`: the rebuilt backend and the original's special tokens."""
        from transformers import PreTrainedTokenizerFast

        backend = self.rebuild_backend(kept)
        kept_set = set(kept)
        roles = {attr: str(getattr(self.hf, attr)) for attr in ROLE_TOKENS
                 if self._role_id(attr) is not None and self._role_id(attr) in kept_set}
        extra = [self.tokens[i] for i in sorted(self.extra_special_ids() & kept_set)]
        settings = {k: self.hf.init_kwargs[k] for k in CARRIED_SETTINGS if k in self.hf.init_kwargs}
        settings.setdefault("model_max_length", self.hf.model_max_length)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **settings, **roles,
                                            **({"additional_special_tokens": extra} if extra else {}))
        for new, old in enumerate(kept):  # the renumbering the model's rows rely on
            if tokenizer.convert_ids_to_tokens(new) != self.tokens[old]:
                raise _cannot(f"token {self.tokens[old]!r} landed on id {new} as "
                              f"{tokenizer.convert_ids_to_tokens(new)!r}")
        if len(tokenizer) != len(kept):
            raise _cannot(f"the rebuilt tokenizer has {len(tokenizer)} tokens, not {len(kept)}")
        return tokenizer


def _has_byte_level(pre) -> bool:
    if not pre:
        return False
    if pre.get("type") == "Sequence":
        return any(_has_byte_level(p) for p in pre.get("pretokenizers", []))
    return pre.get("type") == "ByteLevel"


# ---------------------------------------------------------------------------------------------
# Post-processors: the ids they insert (e.g. T5's </s>, BART's <s> ... </s>)

def _processor_ids(proc) -> list[int]:
    if not proc:
        return []
    kind = proc.get("type")
    if kind == "TemplateProcessing":
        return [i for spec in proc.get("special_tokens", {}).values() for i in spec["ids"]]
    if kind in ("RobertaProcessing", "BertProcessing"):
        return [proc["sep"][1], proc["cls"][1]]
    if kind == "Sequence":
        return [i for p in proc["processors"] for i in _processor_ids(p)]
    if kind == "ByteLevel":
        return []
    raise _cannot(f"its post-processor is {kind}")


def _remap_processor(proc, new_id: dict[int, int]) -> None:
    kind = proc.get("type")
    if kind == "TemplateProcessing":
        for spec in proc.get("special_tokens", {}).values():
            spec["ids"] = [new_id[i] for i in spec["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            proc[key] = [proc[key][0], new_id[proc[key][1]]]
    elif kind == "Sequence":
        for p in proc["processors"]:
            _remap_processor(p, new_id)
