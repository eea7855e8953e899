"""A draft's domain vocabulary: the token ids a dataset split's targets use, for `--draft-vocab`.

    ids = draft_vocabulary("runs/tiny.en", "data/speech", DataConfig(), split="train")
    ids = write_draft_vocab("runs/tiny.en", "data/speech", Path("draft-vocab.json"))  # a JSON list of them

The ids are those the decoder writes for the split's targets (the family's labels: Whisper's prompt,
words and <|endoftext|>), plus every id the model's config and generation config name, which a draft
must still be able to propose. Only the output side matters: a draft's domain head restricts what it
proposes, never what it reads (asymprune.assist.domain_head).
"""

from __future__ import annotations

from pathlib import Path

CHUNK = 256


def draft_vocabulary(model_src: str, dataset: str, data=None, split: str = "train") -> list[int]:
    """Sorted ids of `split`'s targets, tokenized as `model_src`'s labels, and the ids its configs name."""
    from ..data import DataConfig, get_split, load_dataset_spec
    from ..errors import UsageError
    from ..models import family_for, load_config, require_processor
    from .model import model_required_ids
    from .reduce import load_generation_config

    config = load_config(model_src, presets=True)
    processor = require_processor(model_src, presets=True)
    rows = get_split(load_dataset_spec(dataset, data or DataConfig()), split, dataset)
    if len(rows) == 0:
        raise UsageError(f"split '{split}' of {dataset} has no rows; pass --split with a split that has targets")
    family, used = family_for(config), set()
    for start in range(0, len(rows), CHUNK):
        for ids in family.target_ids(processor, list(rows[start:start + CHUNK]["target"])):
            used.update(ids)
    generation_config = load_generation_config(model_src) if Path(model_src).is_dir() else None
    required = {i for i in model_required_ids(config, generation_config) if i < config.vocab_size}
    return sorted(used | required)


def write_draft_vocab(model_src: str, dataset: str, out: Path, data=None, split: str = "train",
                      overwrite: bool = False) -> list[int]:
    """`draft_vocabulary` written to OUT as a JSON list, whole or not at all (OUT checked first; an existing
    file is replaced only with `overwrite`); returns the ids."""
    import json

    from ..fsutil import atomic_file, check_writable_out
    check_writable_out(Path(out), overwrite, file=True, flag="OUT", inputs=[model_src, dataset])
    ids = draft_vocabulary(model_src, dataset, data, split)
    with atomic_file(Path(out), "w", encoding="utf-8") as f:
        f.write(json.dumps(ids) + "\n")
    return ids
