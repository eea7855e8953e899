"""The model side of a domain vocabulary: fewer embedding and lm_head rows, renumbered config ids.

    required = model_required_ids(model.config, model.generation_config)   # ids the model needs
    tied = shrink_model(model, kept)          # in place; new id i is old id kept[i]

Rows are gathered, never recomputed, so the kept rows are the original's bit for bit.
"""

from __future__ import annotations

# Config / generation-config fields holding ids the model needs: always kept.
ID_FIELDS = ("pad_token_id", "eos_token_id", "bos_token_id", "decoder_start_token_id", "forced_bos_token_id",
             "forced_eos_token_id", "sep_token_id")
# Fields listing ids to suppress: entries for dropped tokens are moot and dropped too.
SUPPRESS_FIELDS = ("suppress_tokens", "begin_suppress_tokens")


def _ids(value) -> list[int]:
    """The ids in a config value: None, an int, or (nested) lists of ints."""
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [i for v in value for i in _ids(v)]


def model_required_ids(config, generation_config) -> set[int]:
    """The ids a config and generation config name (pad, eos, bos, decoder start, forced ids)."""
    ids = set()
    for source in (config, generation_config):
        if source is None:
            continue
        for field in ID_FIELDS:
            ids.update(_ids(getattr(source, field, None)))
        ids.update(_ids([pair[1] for pair in getattr(source, "forced_decoder_ids", None) or []]))
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
    """Renumber the token ids a config or generation config names."""
    def remap(value):
        return new_id[value] if isinstance(value, int) else [remap(v) for v in value]

    for field in ID_FIELDS:
        if getattr(source, field, None) is not None:
            setattr(source, field, remap(getattr(source, field)))
    for field in SUPPRESS_FIELDS:
        if getattr(source, field, None):
            setattr(source, field, [new_id[i] for i in getattr(source, field) if i in new_id])
    if getattr(source, "forced_decoder_ids", None):
        source.forced_decoder_ids = [[pos, new_id[i]] for pos, i in source.forced_decoder_ids]
    if getattr(source, "bad_words_ids", None):
        kept = [seq for seq in source.bad_words_ids if all(i in new_id for i in seq)]
        source.bad_words_ids = [[new_id[i] for i in seq] for seq in kept] or None
