"""Lossless draft-and-verify: a pruned variant drafts tokens, its full model verifies them.

    from asymprune.assist import AssistConfig, assisted_generate
    out = assisted_generate(full, draft, input_ids, attention_mask, generation_config,
                            AssistConfig(draft_tokens=5))
    out = assisted_generate(whisper, draft, {"input_features": features})   # a family's own model inputs
    out.sequences               # token for token full.generate(...)'s greedy output
    out.stats.acceptance_rate   # draft tokens kept / draft tokens proposed
    out.seconds                 # wall time of the call

This is transformers' assisted generation (`generate(assistant_model=draft)`), greedy and batch 1
only, as transformers has it. Two things are added without forking transformers:

- Counting. `DraftStats` gets, per verification round, how many tokens the draft proposed and
  how many the full model kept: the common prefix of the proposal and what the full model
  appended, EOS included. transformers has no public hook that picks the candidate generator, so
  for the length of one call the full model's `_get_candidate_generator` is shadowed on the
  instance; it builds transformers' own `AssistedCandidateGenerator` (so the confidence threshold
  adapts exactly as in stock transformers) and wraps two methods of that one object.
- A shared encoder (`share_encoder=True`). transformers runs the draft's own encoder once per
  document. With the option, the draft reads the full model's encoder output instead: the
  encoder runs once per document. The draft's encoder must equal the full model's (a draft pruned
  in the decoder only; `asymprune train --freeze-encoder` re-tunes it that way): otherwise the
  draft that ran would not be the one named, and it is refused in one line.

- A domain head (`draft_vocab`: a JSON file of token ids). The draft's output projection is replaced in
  memory by one with only those rows (and every id the config names), its logits scattered back into
  the full width, -inf elsewhere: a draft step reads far fewer head rows, the output stays the full
  model's (domain_head.py).

A family's own generate() can need more (Whisper's suppresses blanks and <|endoftext|> as the first
token, which transformers turns off when a draft assists): its `prepare_assisted` hook.

Expected speed-up (Leviathan et al., 2023): with per-token acceptance probability a, g draft
tokens per round and cost ratio c (a draft step's time over a full step's), a round yields
(1 - a^(g+1)) / (1 - a) tokens on average for the price of g*c + 1 full steps:
`predicted_speedup(a, g, c)`.

    config.py    AssistConfig, DraftStats, predicted_speedup, confidence_adapts, stats_summary
    checks.py    check_draft(_sources), check_shared_encoder, read_draft_vocab, check_draft_vocab,
                 check_batch_size, check_greedy, encoders_equal,
                 freeze_encoder
    generate.py  assisted_generate, generate_one_by_one
    domain_head.py  draft_head_ids, use_domain_head, prepare_draft (the file's checks: checks.py)
"""

from .checks import (check_batch_size, check_draft, check_draft_sources, check_draft_vocab, check_greedy,
                     check_shared_encoder, encoders_equal, freeze_encoder, read_draft_vocab)
from .domain_head import draft_head_ids, prepare_draft, use_domain_head
from .config import (SCHEDULES, AssistConfig, AssistedOutput, DraftStats, confidence_adapts,
                     expected_tokens_per_round, predicted_speedup, stats_summary)
from .generate import assisted_generate, generate_one_by_one

__all__ = ["check_batch_size", "check_draft", "check_draft_sources", "check_greedy", "check_shared_encoder",
           "encoders_equal", "freeze_encoder", "SCHEDULES", "AssistConfig", "AssistedOutput", "DraftStats",
           "confidence_adapts", "expected_tokens_per_round", "predicted_speedup", "stats_summary", "assisted_generate",
           "generate_one_by_one", "check_draft_vocab", "draft_head_ids", "prepare_draft", "read_draft_vocab",
           "use_domain_head"]
