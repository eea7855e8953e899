"""distil-whisper's pseudo-labelling: the teacher's greedy transcripts become the training targets.

    rows = pseudo_label(teacher, tokenizer, splits["train"], cache)   # text = the teacher's transcript
    write_pseudo_dataset({"train": rows, "validation": val, "test": splits["test"]}, Path("pseudo/"))
    load_speech_dataset("pseudo/")                                     # reads it back, as any rows folder

Each labelled row keeps its audio and id; `text` becomes the teacher's transcript, and `info`
holds the teacher's exact token ids (`teacher_tokens`, so training needs no re-tokenisation) and
the original text (`reference`). Rows whose transcript is empty are left out (nothing to learn,
and a dataset row needs a text), and so are rows whose teacher WER against the reference exceeds
`max_wer` when given (distil-whisper's filter). `cached_pseudo_labels` keeps them on disk, keyed
by the teacher's weights, the clips and the decoding settings, so every re-tune of a sweep reuses them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..errors import UsageError
from ..fsutil import atomic_dir, atomic_file
from ..speech import SpeechRow
from ..speech.cache import cache_root, digest
from .cache import EncoderCache, audio_key, weights_digest
from .decode import MAX_NEW_TOKENS, greedy_tokens


def pseudo_label(teacher, tokenizer, rows: list[SpeechRow], cache: EncoderCache, *, batch_size: int = 16,
                 max_new_tokens: int = MAX_NEW_TOKENS, max_wer: float | None = None,
                 threads: int | None = None) -> list[SpeechRow]:
    """`rows` with the teacher's greedy transcripts as their text (empty ones, and any above `max_wer`, dropped)."""
    tokens = greedy_tokens(teacher, cache, [r.id for r in rows], batch_size=batch_size,
                           max_new_tokens=max_new_tokens, threads=threads)
    return _labelled(rows, tokens, tokenizer, max_wer)


def _labelled(rows, tokens, tokenizer, max_wer):
    from ..wer import wer_per_example
    texts = [t.strip() for t in tokenizer.batch_decode(tokens, skip_special_tokens=True)]
    out = []
    for row, toks, text in zip(rows, tokens, texts):
        if not text:
            continue
        if max_wer is not None:
            s = wer_per_example([text], [row.text])[0]
            if s["words"] and 100 * s["errors"] / s["words"] > max_wer:
                continue
        out.append(replace(row, text=text, info={**row.info, "teacher_tokens": toks, "reference": row.text}))
    return out


def cached_pseudo_labels(teacher, tokenizer, rows: list[SpeechRow], cache: EncoderCache, *,
                         cache_dir: Path | None = None, max_new_tokens: int = MAX_NEW_TOKENS,
                         max_wer: float | None = None, **kwargs) -> tuple[list[SpeechRow], Path, bool]:
    """(pseudo-labelled rows, the file holding the teacher's tokens, whether it was computed now)."""
    keys = [audio_key(r) for r in rows]
    key = digest({"teacher": weights_digest(teacher), "clips": keys, "max_new_tokens": max_new_tokens})
    path = Path(cache_dir or cache_root()) / "distil" / "pseudo-labels" / f"{key[:24]}.jsonl"
    if path.exists():
        tokens = _read_tokens(path, keys)
        return _labelled(rows, tokens, tokenizer, max_wer), path, False
    tokens = greedy_tokens(teacher, cache, [r.id for r in rows], max_new_tokens=max_new_tokens, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w", encoding="utf-8") as f:
        for k, t in zip(keys, tokens):
            f.write(json.dumps({"audio": k, "tokens": t}) + "\n")
    return _labelled(rows, tokens, tokenizer, max_wer), path, True


def _read_tokens(path: Path, keys: list[str]) -> list[list[int]]:
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if [r["audio"] for r in lines] != keys or not all(isinstance(r["tokens"], list) for r in lines):
            raise ValueError("its rows are not the clips it is named for")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"cached pseudo-labels {path} are damaged ({type(e).__name__}: {e}); delete the file "
                         "and run again") from None
    return [r["tokens"] for r in lines]


def write_pseudo_dataset(splits: dict[str, list[SpeechRow]], out: Path, overwrite: bool = False) -> Path:
    """A rows folder (`SPLIT.jsonl`: id, audio, text, reference, teacher_tokens) that load_speech_dataset reads.

    Give every split the dataset should have (test with its references, unlabelled): a rows folder
    missing a split gets one carved out of train when read.
    """
    if not splits or not any(splits.values()):
        raise UsageError("no rows to write; pseudo-label at least one split")
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        for split, rows in splits.items():
            with atomic_file(tmp / f"{split}.jsonl", "w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps({"id": row.id, "audio": str(Path(row.audio).resolve()), "text": row.text,
                                        **{k: v for k, v in row.info.items()}}) + "\n")
    return Path(out)
