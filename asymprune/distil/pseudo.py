"""distil-whisper's pseudo-labelling: the teacher's greedy transcripts become the training targets.

    tokens, path, computed = cached_pseudo_labels(teacher, rows, cache)   # one token list per row

Each row's tokens are what the teacher's own generate() writes for it (no prompt, no
<|endoftext|>), decoded from its cached encoder outputs. They are kept on disk, keyed by the
teacher's weights, the clips, the decoding settings and the encoder outputs they were decoded from, so every
re-tune of a sweep reuses them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError
from ..fsutil import atomic_file
from ..speech import SpeechRow
from ..speech.cache import cache_root, digest
from .cache import EncoderCache, audio_key, weights_digest
from .decode import MAX_NEW_TOKENS, greedy_tokens


def cached_pseudo_labels(teacher, rows: list[SpeechRow], cache: EncoderCache, *, cache_dir: Path | None = None,
                         max_new_tokens: int = MAX_NEW_TOKENS, **kwargs) -> tuple[list[list[int]], Path, bool]:
    """(the teacher's transcript tokens per row, the file holding them, whether they were computed now).
    Decoded in the teacher's own precision (float32), so the labels are the teacher's own transcripts: bfloat16
    autocast did not make tiny.en's decoding faster on CPU (400 utterances: 73 s in bfloat16 in one quiet demo
    run, 59 and 72 s in float32 in two others)."""
    keys = [audio_key(r) for r in rows]
    # cache.key: the encoder outputs decoded from (exact, or computed under a re-tune's autocast)
    key = digest({"teacher": weights_digest(teacher), "clips": keys, "max_new_tokens": max_new_tokens,
                  "encoder_outputs": cache.key})
    path = Path(cache_dir or cache_root()) / "distil" / "pseudo-labels" / f"{key[:24]}.jsonl"
    if path.exists():  # present but unreadable is damaged, never recomputed silently
        return _read_tokens(path, keys), path, False
    # Longest speech first: a batch's generate() runs until its longest transcript ends, so rows of like
    # duration share a batch (the labels are the same either way: every window is 1,500 frames, no padding)
    order = sorted(range(len(rows)), key=lambda i: -(rows[i].duration or rows[i].check()))
    decoded = greedy_tokens(teacher, cache, [rows[i].id for i in order], max_new_tokens=max_new_tokens, **kwargs)
    tokens = [None] * len(rows)
    for i, t in zip(order, decoded):
        tokens[i] = t
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w", encoding="utf-8") as f:
        for k, t in zip(keys, tokens):
            f.write(json.dumps({"audio": k, "tokens": t}) + "\n")
    return tokens, path, True


def _read_tokens(path: Path, keys: list[str]) -> list[list[int]]:
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if [r["audio"] for r in lines] != keys or not all(isinstance(r["tokens"], list) for r in lines):
            raise ValueError("its rows are not the clips it is named for")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"cached pseudo-labels {path} are damaged ({type(e).__name__}: {e}); delete the file "
                         "and run again") from None
    return [r["tokens"] for r in lines]
