"""A draft that proposes only from a domain vocabulary: its own smaller output projection, in memory.

    ids = read_draft_vocab("draft-vocab.json")                 # checks.py: a JSON list of token ids; one-line errors
    head = use_domain_head(draft, draft_head_ids(ids, full.config, full.generation_config))
    draft = prepare_draft(full, draft, AssistConfig(share_encoder=True, draft_vocab="draft-vocab.json"))

Where a draft's step is mostly its output projection (Whisper tiny.en: a tied 51,864 x 384 head beside
2.4M parameters a decoder layer), dropping layers leaves most of the step in place. A domain head keeps
only the rows of the tokens a domain uses (the ids in the file, plus every id the model's config and
generation config name: end of text, the decoder prompt, ...) and scatters its logits back into the full
vocabulary's width, -inf elsewhere. transformers' candidate generator and the full model's verification
see the same shapes as before, and every token is still the full model's greedy choice: the output stays
exactly the full model's, only tokens outside the domain are never proposed (the full model then writes
them itself, a rejected round). Nothing is saved: the draft's folder stays a plain model.
"""

from __future__ import annotations

from ..errors import UsageError
from .checks import check_draft_vocab


def draft_head_ids(ids: list[int], config, generation_config=None) -> list[int]:
    """The rows a domain head keeps: `ids` and every id the config and generation config name (end of text,
    decoder start, pad, Whisper's prompt and timestamp ids ...), so that the draft can still propose them."""
    from ..vocab import model_required_ids
    required = {i for i in model_required_ids(config, generation_config) if i < config.vocab_size}
    return sorted(set(ids) | required)


class DomainHead:
    """Marker base; the module is built lazily so that importing asymprune.assist does not import torch."""


def _domain_head_class():
    import torch
    from torch import nn

    class _DomainHead(nn.Module, DomainHead):
        """An output projection with only rows `ids` of `head`, whose logits are scattered back into the full
        width (`head.out_features`), -inf at every other token."""

        def __init__(self, head: nn.Linear, ids: list[int]):
            super().__init__()
            index = torch.tensor(ids, dtype=torch.long, device=head.weight.device)
            self.register_buffer("ids", index, persistent=False)
            self.weight = nn.Parameter(head.weight.detach()[index].clone(), requires_grad=False)
            self.bias = None if head.bias is None else nn.Parameter(head.bias.detach()[index].clone(),
                                                                     requires_grad=False)
            self.in_features, self.out_features, self.vocab_size = head.in_features, len(ids), head.out_features

        def forward(self, hidden):
            logits = nn.functional.linear(hidden, self.weight, self.bias)
            full = logits.new_full((*logits.shape[:-1], self.vocab_size), float("-inf"))
            return full.index_copy_(-1, self.ids, logits)

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, rows={self.out_features} of {self.vocab_size}"

    return _DomainHead


def use_domain_head(model, ids: list[int]):
    """Replace `model`'s output projection, in memory, by a domain head of rows `ids`; return the head."""
    from torch import nn
    head = model.get_output_embeddings()
    if isinstance(head, DomainHead):
        raise UsageError("this draft already has a domain head; load it again to give it another vocabulary")
    if not isinstance(head, nn.Linear):
        raise UsageError(f"--draft-vocab: the draft's output projection is a {type(head).__name__}, not a linear "
                         "layer; leave --draft-vocab out for this model")
    domain = _domain_head_class()(head, ids)
    model.set_output_embeddings(domain)  # the input embeddings (tied or not) stay whole: the draft reads any token
    return domain


def prepare_draft(full, draft, config, name: str | None = None):
    """A loaded draft made ready for `config` (an AssistConfig), once before its documents: `--share-encoder`
    checked against the full model's encoder, and `--draft-vocab`'s domain head put in. Returns the draft."""
    from .checks import check_shared_encoder
    if config.share_encoder:
        check_shared_encoder(full, draft, name)
    if config.draft_vocab:
        ids = check_draft_vocab(config.draft_vocab, full.config)
        # the draft's own configs as loaded (the same special ids as the full model's: check_draft)
        use_domain_head(draft, draft_head_ids(ids, draft.config, draft.generation_config))
    return draft
