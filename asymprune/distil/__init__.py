"""distil-whisper's training as separate steps: encoder outputs cached once, pseudo-labels, a decoder re-tune.

    from asymprune.distil import (DistilConfig, encoder_outputs, pseudo_label, write_pseudo_dataset,
                                  retune, score, load_whisper)
    cache = encoder_outputs(model, rows)                            # computed once, on disk, keyed by the encoder
    labelled = pseudo_label(teacher, tokenizer, rows, cache)        # the teacher's greedy transcripts
    record = retune("runs/tiny.en-4-2", Path("out"), splits, DistilConfig(distill_from="runs/tiny.en"))
    result = score(model, tokenizer, test_rows, cache, control=control_result)   # WER, paired interval

Operations level: imports only the ground (models, speech, wer, fsutil, errors).
"""

from .cache import EncoderCache, encoder_key, encoder_outputs, weights_digest
from .config import FROZEN, DistilConfig, check_config, freeze
from .decode import greedy_tokens, transcribe
from .prompt import decoder_prompt, text_tokens, training_pair
from .pseudo import cached_pseudo_labels, pseudo_label, write_pseudo_dataset
from .retune import load_whisper, retune
from .score import score
from .trainer import distil_loss

__all__ = ["EncoderCache", "encoder_key", "encoder_outputs", "weights_digest", "FROZEN", "DistilConfig",
           "check_config", "freeze", "greedy_tokens", "transcribe", "decoder_prompt", "text_tokens",
           "training_pair", "cached_pseudo_labels", "pseudo_label", "write_pseudo_dataset", "load_whisper",
           "retune", "score", "distil_loss"]
