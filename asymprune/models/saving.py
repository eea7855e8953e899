"""Save a model so that every reader sees the weights it was saved with.

    save_model(model, out_dir, tokenizer)   # save_pretrained + tokenizer + a faithful config.json

transformers 5 forces `tie_word_embeddings=True` on T5 configs in memory, even for FLAN-T5
(T5 v1.1), whose lm_head is its own matrix, and save_pretrained writes that back. Readers that
trust the file (CTranslate2, transformers 4) then tie the head to the embeddings and rescale
the logits. `save_model` writes `"tie_word_embeddings": false` whenever the head is its own
tensor. Use it for every model asymprune writes.
"""

from __future__ import annotations

import json
from pathlib import Path


def has_own_lm_head(model) -> bool:
    """True when the output projection is a tensor of its own, not the input embeddings."""
    head, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or embeddings is None:
        return False
    return head.weight is not embeddings.weight and head.weight.data_ptr() != embeddings.weight.data_ptr()


def save_model(model, out: Path, tokenizer=None) -> None:
    """model.save_pretrained(out) (safetensors), the tokenizer (or processor) if given, and a config.json that
    says `tie_word_embeddings: false` when the lm_head is its own tensor."""
    from .families import family_for
    out = Path(out)
    model.save_pretrained(out)
    if tokenizer is not None:
        family_for(model.config).save_processor(tokenizer, out)  # a processor writes more than its tokenizer
    config_path = out / "config.json"
    if has_own_lm_head(model) and config_path.is_file():
        config = json.loads(config_path.read_text())
        if config.get("tie_word_embeddings") is not False:
            config["tie_word_embeddings"] = False
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
