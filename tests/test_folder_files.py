"""No file of a model folder is taken as absent (issue 16): each file of a saved folder, damaged, through every
command that reads a model folder: exit 2, one `error:` line naming the file, nothing written.

The folder holds every kind of file asymprune reads: the config, generation config, weights, tokenizer files
(tokenizer.json, tokenizer_config.json, special_tokens_map.json, a SentencePiece model, vocab.json and
merges.txt), a preprocessor config, asymprune.json and the model card. Each is damaged in two ways: cut to
half its bytes (for text files, in the middle of a line) and replaced with bytes that are not UTF-8. The checks
run before any model loads, so each case is cheap.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from asymprune.models.files import FILES, check_files
from asymprune.models.loading import load_config, load_tokenizer
from tests.helpers import run_cli

COMMANDS = {
    "prune": lambda m, out: ["prune", m, out, "--decoder-layers", "2"],
    "train": lambda m, out: ["train", m, out, "--dataset", "synthetic", "--max-steps", "1"],
    "evaluate": lambda m, out: ["evaluate", m, "--dataset", "synthetic", "--out", out],
    "bench": lambda m, out: ["bench", m, "--json", out + ".json", "--runs", "1", "--batch-sizes", "1"],
    "export": lambda m, out: ["export", m, out],
    "vocab": lambda m, out: ["vocab", m, out, "--dataset", "synthetic"],
}
DAMAGED_FILES = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json", "spiece.model", "vocab.json", "merges.txt",
                 "preprocessor_config.json", "asymprune.json", "README.md"]


def _sentencepiece_model() -> bytes:
    import sentencepiece

    from asymprune.synthetic import tokenizer_training_text
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(list(tokenizer_training_text())[:300]), model_writer=model, vocab_size=100,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    return model.getvalue()


@pytest.fixture(scope="module")
def full_folder(t5_dir, tmp_path_factory) -> Path:
    """A pruned tiny T5 (asymprune.json, the model card) with every other kind of file asymprune reads."""
    from transformers import WhisperFeatureExtractor

    folder = tmp_path_factory.mktemp("full") / "model"
    assert run_cli(["prune", str(t5_dir), str(folder), "--decoder-layers", "3"]) == 0
    bpe = json.loads((folder / "tokenizer.json").read_text())["model"]
    (folder / "vocab.json").write_text(json.dumps(bpe["vocab"]))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(
        (m if isinstance(m, str) else " ".join(m)) + "\n" for m in bpe["merges"]))
    (folder / "special_tokens_map.json").write_text(json.dumps({"eos_token": "</s>", "pad_token": "<pad>",
                                                                "unk_token": "<unk>"}))
    (folder / "spiece.model").write_bytes(_sentencepiece_model())
    WhisperFeatureExtractor().save_pretrained(folder)
    return folder


def _cut(path: Path) -> None:
    """Truncate as an interrupted copy would: half the bytes; a text file in the middle of a line."""
    data = path.read_bytes()
    cut = len(data) // 2
    if FILES.get(path.name, ("",))[0] in ("merges", "text"):
        line_start = data.rfind(b"\n", 0, cut) + 1
        cut = data.index(b" ", line_start)  # the first token of a merge line, without its pair
    path.write_bytes(data[:cut])


def _garble(path: Path) -> None:
    path.write_bytes(b"\xff\xfe\x00 not what this file should hold {\x80")


DAMAGE = {"truncated": _cut, "invalid-bytes": _garble}
# A card cut short is still a readable card: only bytes that are not text damage it.
CASES = [(f, d) for f in DAMAGED_FILES for d in DAMAGE if not (f == "README.md" and d == "truncated")]


@pytest.fixture(scope="module")
def damaged(full_folder, tmp_path_factory):
    """(file, damage) -> a copy of the full folder with that one file damaged (the others hard-linked)."""
    root = tmp_path_factory.mktemp("damaged")
    made = {}
    for name, how in CASES:
        folder = root / f"{name}-{how}"
        shutil.copytree(full_folder, folder, copy_function=os.link)
        path = folder / name
        data = path.read_bytes()
        path.unlink()  # a file of its own, not the shared link
        path.write_bytes(data)
        DAMAGE[how](path)
        made[(name, how)] = folder
    return made


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")}


def test_the_full_folder_passes_every_check(full_folder):
    keys = check_files(full_folder)
    assert list(keys) == ["model.safetensors"] and any(k.startswith("decoder.block.2.") for k in keys["model.safetensors"])
    assert load_config(str(full_folder)).num_decoder_layers == 3
    assert load_tokenizer(str(full_folder)).eos_token_id == 1
    assert {f for f in DAMAGED_FILES} <= {p.name for p in full_folder.iterdir()}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name,how", CASES)
def test_a_damaged_file_is_one_line_naming_it_and_nothing_is_written(name, how, command, damaged, tmp_path, capsys):
    folder = damaged[(name, how)]
    argv = COMMANDS[command](str(folder), str(tmp_path / "out"))
    before, inside = _snapshot(tmp_path), _snapshot(folder)
    capsys.readouterr()
    code = run_cli(argv)
    printed = capsys.readouterr()
    lines = printed.err.splitlines()
    assert code == 2, (argv, printed)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in printed.err, printed.err
    assert f"{folder / name} is " in lines[0], lines[0]  # names the file itself
    assert ("truncated or corrupted" if name.endswith(".safetensors") else "is damaged") in lines[0], lines[0]
    assert printed.out == ""
    assert _snapshot(tmp_path) == before and _snapshot(folder) == inside  # nothing written, the source untouched


def test_the_table_covers_every_command_and_file():
    assert len(CASES) * len(COMMANDS) == 138  # quoted in the README and the closing note


def test_no_tokenizer_only_when_there_is_no_tokenizer_file_at_all(full_folder, tmp_path, capsys):
    """A folder without any tokenizer file says so and what was looked for; a tokenizer that is there is used."""
    bare = tmp_path / "bare"
    shutil.copytree(full_folder, bare, copy_function=os.link,
                    ignore=shutil.ignore_patterns("tokenizer*", "special_tokens_map.json", "spiece.model", "vocab.json",
                                                  "merges.txt"))
    assert run_cli(["evaluate", str(bare), "--dataset", "synthetic", "--out", str(tmp_path / "ev")]) == 2
    line = capsys.readouterr().err.strip()
    assert "has no tokenizer: none of tokenizer.json, tokenizer_config.json, spiece.model" in line
    # prune goes on without one, and says what it looked for.
    assert run_cli(["prune", str(bare), str(tmp_path / "p"), "--decoder-layers", "1"]) == 0
    assert "has no tokenizer: none of tokenizer.json" in capsys.readouterr().out
    assert not (tmp_path / "p" / "tokenizer.json").exists()
