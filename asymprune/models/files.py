"""The files of a local model folder, each checked before any work: a damaged file is never taken as absent.

    check_files(Path("runs/d3"))   # UsageError naming the first damaged file and the fix, else the weights' keys
    has_tokenizer(Path("runs/d3"))  # whether any tokenizer file is there at all

Every file that asymprune, or transformers on its behalf, reads from a model folder is opened
and parsed here: a JSON file must parse to an object, a text file must be UTF-8 (a merges file
must hold pairs), a SentencePiece model must load, a safetensors file must have a readable
header. A file that is missing is fine (each command says what it does without it); a file that
is there and cannot be read stops the command in one line naming it, before anything is loaded
or written. Otherwise transformers would skip it quietly (a broken tokenizer_config.json reads
as "no tokenizer", a broken generation_config.json as the defaults) and the output would lose it.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError, first_line

MODEL_FIX = "re-download or re-save the model"
TOKENIZER_FIX = ("re-save the tokenizer into the folder (tokenizer.save_pretrained) or copy the file again from the "
                 "model it came from")
RECORD_FIX = "restore it from where the folder came from, or run the asymprune command that wrote the folder again"

# Each file asymprune reads, by name: (how it is checked, the fix a message offers).
FILES = {
    "config.json": ("json", MODEL_FIX),
    "generation_config.json": ("json", MODEL_FIX),
    "model.safetensors.index.json": ("json", MODEL_FIX),
    "preprocessor_config.json": ("json", MODEL_FIX),
    "processor_config.json": ("json", MODEL_FIX),
    "tokenizer.json": ("json", TOKENIZER_FIX),
    "tokenizer_config.json": ("json", TOKENIZER_FIX),
    "special_tokens_map.json": ("json", TOKENIZER_FIX),
    "added_tokens.json": ("json", TOKENIZER_FIX),
    "vocab.json": ("json", TOKENIZER_FIX),  # BPE vocabularies; also asymprune vocab's record (a JSON object too)
    "merges.txt": ("merges", TOKENIZER_FIX),
    "vocab.txt": ("text", TOKENIZER_FIX),
    "spiece.model": ("sentencepiece", TOKENIZER_FIX),             # T5, mT5, PEGASUS
    "sentencepiece.bpe.model": ("sentencepiece", TOKENIZER_FIX),  # mBART
    "source.spm": ("sentencepiece", TOKENIZER_FIX),               # Marian
    "target.spm": ("sentencepiece", TOKENIZER_FIX),
    "tokenizer.model": ("sentencepiece", TOKENIZER_FIX),
    "asymprune.json": ("json", RECORD_FIX),
    "train.json": ("json", RECORD_FIX),
    "README.md": ("text", "re-save it as UTF-8 text, or move it out of the folder"),  # the model card
}

# Every file of a tokenizer or a processor, and whether it alone makes a tokenizer (True) or only goes with
# one (False): a folder with none of the first kind has no tokenizer. The one list that loading, the
# CTranslate2 copy and its cache key, and the folder checks read.
TOKENIZER_FILES = {
    "tokenizer.json": True, "tokenizer_config.json": True, "spiece.model": True, "sentencepiece.bpe.model": True,
    "source.spm": True, "tokenizer.model": True, "vocab.json": True, "vocab.txt": True, "merges.txt": True,
    "target.spm": False, "special_tokens_map.json": False, "added_tokens.json": False,
    "preprocessor_config.json": False, "processor_config.json": False,  # a feature extractor (Whisper) and its processor
}


def has_tokenizer(folder: Path) -> bool:
    return any((Path(folder) / name).is_file() for name, alone in TOKENIZER_FILES.items() if alone)


def no_tokenizer_message(src: str) -> str:
    """What a command says when a folder has no tokenizer file at all: what was looked for, and the fix."""
    looked_for = ", ".join(name for name, alone in TOKENIZER_FILES.items() if alone)
    return (f"'{src}' has no tokenizer: none of {looked_for} is in the folder; save one into it "
            "(tokenizer.save_pretrained) or copy it from the model it came from")


def _damaged(path: Path, reason: str, fix: str) -> UsageError:
    return UsageError(f"{path} is damaged: {reason}; {fix}")


def _text(path: Path, fix: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise _damaged(path, f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at position {e.start})", fix) from None
    except OSError as e:
        raise _damaged(path, f"it cannot be read ({e.strerror or e})", fix) from None


def _json(path: Path, fix: str) -> None:
    text = _text(path, fix)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _damaged(path, f"not valid JSON ({e})"
                       + (", the file is empty" if not text.strip() else ""), fix) from None
    if not isinstance(data, dict):
        raise _damaged(path, f"it holds a JSON {type(data).__name__}, not an object", fix)


def _merges(path: Path, fix: str) -> None:
    lines = _text(path, fix).splitlines()
    for number, line in enumerate(lines, 1):
        if line.startswith("#version") or not line.strip():
            continue
        if len(line.split(" ")) != 2:
            raise _damaged(path, f"line {number} is not a merge of two tokens ({line[:40]!r})", fix)


def _sentencepiece(path: Path, fix: str) -> None:
    try:
        import sentencepiece
    except ImportError:  # nothing here reads it without the package either
        return
    try:
        sentencepiece.SentencePieceProcessor().LoadFromSerializedProto(path.read_bytes())
    except (RuntimeError, OSError) as e:
        raise _damaged(path, f"not a SentencePiece model ({first_line(e)[:80]})", fix) from None


def _safetensors_keys(path: Path) -> list[str]:
    """The tensor names in a safetensors file's header (no tensor is read)."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    except (SafetensorError, OSError) as e:
        reason = first_line(e)
        raise UsageError(f"{path} is truncated or corrupted ({reason}); {MODEL_FIX}") from None


CHECKS = {"json": _json, "text": lambda path, fix: _text(path, fix) and None, "merges": _merges,
          "sentencepiece": _sentencepiece}


def check_files(folder: Path) -> dict[str, list[str]]:
    """Check every file of `folder` that asymprune reads; return the tensor names of each safetensors file.

    Cheap: JSON and text are parsed, the weights' headers read, no tensor loaded.
    """
    folder = Path(folder)
    for name, (kind, fix) in FILES.items():
        path = folder / name
        if path.is_file():
            CHECKS[kind](path, fix)
        elif path.exists():
            raise _damaged(path, "it is not a file", fix)
    return {path.name: _safetensors_keys(path) for path in sorted(folder.glob("*.safetensors"))}
