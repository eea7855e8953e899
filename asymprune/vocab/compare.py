"""Checking a rebuilt tokenizer against the original, on the domain's rows, in the original's ids.

    stats = compare_tokenization(tokenizer, new, kept_ids, rows, prefix="summarize: ")  # coverage, exactness
"""

from __future__ import annotations

CHUNK = 1000  # rows tokenized per batch


def compare_tokenization(old_tok, new_tok, kept: list[int], rows, prefix: str, progress=None,
                         label: str = "compare") -> dict:
    """Tokenize `rows` with both tokenizers and compare, in old ids.

    rows_changed: rows whose source or target tokenizes differently; tokens_outside: original
    tokens that are not kept; unk_before/unk_after: unknown tokens; chars_dropped: characters
    the original's tokens cover and no new token does (a BPE with no unknown token drops what
    it cannot encode); word_mismatches: words whose original tokens are all kept but that the
    new tokenizer splits differently (must be 0).
    """
    import numpy as np

    kept_arr = np.array(kept)
    is_kept = np.zeros(len(old_tok), dtype=bool)
    is_kept[kept_arr] = True
    stats = dict(rows=len(rows), rows_changed=0, tokens=0, tokens_outside=0, unk_before=0, unk_after=0,
                 chars_dropped=0, word_mismatches=0, first_mismatch=None)
    task = progress.add_task(label, total=len(rows)) if progress else None
    for start in range(0, len(rows), CHUNK):
        batch = rows[start:start + CHUNK]
        changed = np.zeros(len(batch["source"]), dtype=bool)
        for texts in ([prefix + s for s in batch["source"]], batch["target"]):
            # Whole texts, longer than the model's inputs: verbose=False spares the warning about it.
            old_enc, new_enc = (tok(texts, return_offsets_mapping=True, verbose=False) for tok in (old_tok, new_tok))
            for r, (old, new) in enumerate(zip(old_enc["input_ids"], new_enc["input_ids"])):
                old, mapped = np.array(old), kept_arr[np.array(new, dtype=np.int64)]
                stats["tokens"] += len(old)
                stats["unk_before"] += int((old == old_tok.unk_token_id).sum()) if old_tok.unk_token_id is not None else 0
                stats["unk_after"] += int((mapped == old_tok.unk_token_id).sum()) if old_tok.unk_token_id is not None else 0
                inside = is_kept[old]
                stats["tokens_outside"] += int((~inside).sum())
                if len(old) == len(mapped) and (old == mapped).all():
                    continue
                changed[r] = True
                stats["chars_dropped"] += _dropped(old_enc["offset_mapping"][r], new_enc["offset_mapping"][r],
                                                   len(texts[r]))
                _check_words(old, mapped, inside, old_enc.word_ids(r), new_enc.word_ids(r), texts[r], stats)
        stats["rows_changed"] += int(changed.sum())
        if progress:
            progress.advance(task, len(changed))
    return stats


def _dropped(old_spans, new_spans, length: int) -> int:
    """Characters that some (start, end) span of `old_spans` covers and none of `new_spans` does."""
    import numpy as np

    def covered(spans):
        edges = np.zeros(length + 1, dtype=np.int64)
        spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        np.add.at(edges, spans[:, 0], 1)
        np.add.at(edges, spans[:, 1], -1)
        return np.cumsum(edges)[:length] > 0
    return int((covered(old_spans) & ~covered(new_spans)).sum())


def _check_words(old, mapped, inside, old_words, new_words, text: str, stats: dict) -> None:
    """Count the words whose original tokens are all kept but whose new tokens differ."""
    def groups(ids, words):
        out: dict = {}
        for i, w in zip(ids.tolist(), words):
            out.setdefault(w, []).append(i)
        return out
    before, after = groups(old, old_words), groups(mapped, new_words)
    fully_kept = groups(inside, old_words)
    for w, tokens in before.items():
        if all(fully_kept[w]) and after.get(w) != tokens:
            stats["word_mismatches"] += 1
            if stats["first_mismatch"] is None:
                stats["first_mismatch"] = {"text": text[:200], "word": w, "before": tokens, "after": after.get(w)}
