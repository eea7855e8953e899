"""The model side of a domain vocabulary: fewer embedding and lm_head rows, renumbered config ids.

    required = model_required_ids(model.config, model.generation_config)   # ids the model needs
    tied = shrink_model(model, kept)          # in place; new id i is old id kept[i]

Rows are gathered, never recomputed, so the kept rows are the original's bit for bit.
"""

from __future__ import annotations

from ..errors import UsageError

# Token ids in a config or generation config, by field. Named ids (every `*_token_id(s)`: pad,
# eos (an int or a list), bos, decoder start, forced bos/eos, sep, Whisper's no-timestamps ...),
# forced decoder ids, forced words and `*_to_id` maps (Whisper's lang_to_id) are kept and
# renumbered. Suppressed tokens, banned and biased sequences that hold a dropped token can
# never be generated, so they are moot and dropped.
NAMED_IDS = ("pad_token_id", "eos_token_id", "bos_token_id", "decoder_start_token_id", "forced_bos_token_id",
             "forced_eos_token_id", "sep_token_id")  # and any other field named *_token_id or *_token_ids
SUPPRESS_FIELDS = ("suppress_tokens", "begin_suppress_tokens")
SEQUENCE_FIELDS = ("bad_words_ids", "sequence_bias")
# Settings computed over the whole vocabulary's ids: they cannot be carried over to fewer ids.
REFUSED_FIELDS = ("watermarking_config",)


def _ids(value) -> list[int]:
    """The token ids in a config value: None, an int, or (nested) lists of ints; negative ones mean none."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [value] if value >= 0 else []
    if isinstance(value, (list, tuple)):
        return [i for v in value for i in _ids(v)]
    return []


def _fields(source) -> dict:
    """The config's fields, with the named id fields even where transformers keeps them elsewhere."""
    fields = {k: v for k, v in vars(source).items() if not k.startswith("_")}
    fields.update({k: getattr(source, k, None) for k in NAMED_IDS})
    return {k: v for k, v in fields.items() if v is not None}


def _is_named_id(name: str) -> bool:
    return name in NAMED_IDS or name.endswith(("_token_id", "_token_ids"))


def _kept_ids(name: str, value) -> list[int]:
    """The ids a field names that must stay (empty for moot lists and other settings)."""
    if _is_named_id(name) or name == "force_words_ids":
        return _ids(value)
    if name == "forced_decoder_ids":  # [[position, id or None], ...]
        return _ids([pair[1] for pair in value])
    if name.endswith("_to_id") and isinstance(value, dict):
        return _ids(list(value.values()))
    return []


def model_required_ids(config, generation_config) -> set[int]:
    """The ids a config and generation config name (pad, eos, bos, decoder start, forced ids, ...)."""
    ids = set()
    for source in (config, generation_config):
        if source is None:
            continue
        for name, value in _fields(source).items():
            if name in REFUSED_FIELDS:
                raise UsageError(f"the generation config's {name} is computed over every token id and cannot be "
                                 "carried to a smaller vocabulary; remove it from generation_config.json first")
            ids.update(_kept_ids(name, value))
    return ids


def shrink_model(model, kept: list[int]) -> bool:
    """Keep only rows `kept` of the shared embedding and lm_head, in place; True if they stay tied."""
    import torch
    from torch import nn

    index = torch.tensor(kept)
    new_id = {old: new for new, old in enumerate(kept)}
    old = model.get_input_embeddings().weight
    new = nn.Parameter(old.detach()[index].clone(), requires_grad=old.requires_grad)
    for module in model.modules():  # the shared table and every stack's reference to it
        if isinstance(module, nn.Embedding) and module.weight is old:
            module.weight, module.num_embeddings = new, len(kept)
            if module.padding_idx is not None:
                module.padding_idx = new_id.get(module.padding_idx)
    for name, module in model.named_modules():  # e.g. Marian with separate source and target vocabularies
        if isinstance(module, nn.Embedding) and module.weight is not new and module.weight.shape == old.shape:
            raise UsageError(f"{name} is a second token embedding, not the model's shared one; asymprune vocab "
                             "supports models with one vocabulary shared by encoder and decoder")
    head = model.get_output_embeddings()
    tied = head.weight is old
    head.weight = new if tied else nn.Parameter(head.weight.detach()[index].clone())
    if head.bias is not None:
        head.bias = nn.Parameter(head.bias.detach()[index].clone())
    head.out_features = len(kept)
    if getattr(model, "final_logits_bias", None) is not None:  # BART's buffer, one entry per token
        model.final_logits_bias = model.final_logits_bias[:, index].clone()
    model.config.vocab_size = len(kept)
    # transformers 5 reads T5 configs as tied whatever they say; the saved file must be right.
    model.config.tie_word_embeddings = tied
    for source in (model.config, getattr(model, "generation_config", None)):
        if source is not None:
            remap_config_ids(source, new_id)
    return tied


def remap_config_ids(source, new_id: dict[int, int]) -> None:
    """Renumber the token ids a config or generation config names; drop moot suppressions and sequences."""
    def remap(value):
        if isinstance(value, bool) or value is None or (isinstance(value, int) and value < 0):
            return value
        return new_id[value] if isinstance(value, int) else [remap(v) for v in value]

    for name, value in _fields(source).items():
        if _is_named_id(name) or name == "force_words_ids":
            setattr(source, name, remap(value))
        elif name == "forced_decoder_ids":
            setattr(source, name, [[pos, remap(i)] for pos, i in value])
        elif name.endswith("_to_id") and isinstance(value, dict):
            setattr(source, name, {k: remap(v) for k, v in value.items()})
        elif name in SUPPRESS_FIELDS:
            setattr(source, name, [new_id[i] for i in value if i in new_id])
        elif name == "bad_words_ids":
            setattr(source, name, [remap(seq) for seq in value if all(i in new_id for i in seq)] or None)
        elif name == "sequence_bias":
            setattr(source, name, _remap_bias(value, new_id))


def _remap_bias(bias, new_id: dict[int, int]):
    """sequence_bias as transformers holds it: {(ids): bias}, {"(ids)": bias} once saved, or [[ids, bias], ...]."""
    import ast

    if isinstance(bias, dict):
        out = {}
        for key, value in bias.items():
            seq = ast.literal_eval(key) if isinstance(key, str) else key
            seq = (seq,) if isinstance(seq, int) else tuple(seq)
            if all(i in new_id for i in seq):
                new = tuple(new_id[i] for i in seq)
                out[str(new) if isinstance(key, str) else new] = value
        return out or None
    kept = [[[new_id[i] for i in seq], value] for seq, value in bias if all(i in new_id for i in seq)]
    return kept or None
