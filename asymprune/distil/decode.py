"""Batched greedy transcription on cached encoder outputs: Whisper's own generate(), minus the encoder.

    tokens = greedy_tokens(model, cache, [r.id for r in rows], batch_size=16)   # one token list per row

generate() takes the cached last hidden state as `encoder_outputs`, so the suppression rules, the
prompt and the stopping are exactly those of generate() on the audio. Every window is 1,500
frames, so batching needs no encoder padding. Returned lists stop before <|endoftext|>.
"""

from __future__ import annotations

from .cache import EncoderCache
from .threads import torch_threads

MAX_NEW_TOKENS = 128  # ~90 words; a 30-second window rarely holds more


def greedy_tokens(model, cache: EncoderCache, ids: list[str], *, batch_size: int = 16,
                  max_new_tokens: int = MAX_NEW_TOKENS, threads: int | None = None) -> list[list[int]]:
    """Greedy transcripts (token ids, no prompt, no <|endoftext|>) of rows `ids`, `batch_size` at a time."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput
    from ..models import family_for
    # generate() refuses a prompt plus new tokens beyond the decoder's positions (448 for tiny.en)
    prompt = family_for(model.config).decoder_prompt(model.generation_config, model.config)
    max_new_tokens = min(max_new_tokens, model.config.max_target_positions - len(prompt))
    eos = model.generation_config.eos_token_id
    stops = set(eos if isinstance(eos, list) else [eos]) | {model.generation_config.pad_token_id}
    out = []
    model.eval()
    with torch_threads(threads), torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            hidden = cache.stack(ids[start:start + batch_size]).to(model.dtype)
            sequences = model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
                                       max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
            for seq in sequences.tolist():
                cut = next((i for i, t in enumerate(seq) if t in stops), len(seq))
                out.append(seq[:cut])
    return out

