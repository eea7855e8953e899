"""Whisper's first-token suppression pinned to one position, for generate() with a draft (lossless mode).

    processors = LogitsProcessorList([FirstTokenSuppression([220, 50256], begin_index=2)])

Whisper's generate() suppresses `begin_suppress_tokens` (a blank, <|endoftext|>) as the first generated
token, and calls `set_begin_index(input length)` on every processor it is handed. A draft's generate()
calls start mid-sequence, each round, with the full model's processors: this one ignores the call, so
it suppresses at the first generated position of the output, in the full model and the draft alike.
"""

from __future__ import annotations

from transformers import SuppressTokensAtBeginLogitsProcessor


class FirstTokenSuppression(SuppressTokensAtBeginLogitsProcessor):
    """`SuppressTokensAtBeginLogitsProcessor` at a fixed position (the decoder prompt's length)."""

    def set_begin_index(self, begin_index):
        pass  # the position is the output's first generated token, not the start of a draft's call
