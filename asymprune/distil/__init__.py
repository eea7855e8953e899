"""distil-whisper's ground work for frozen-encoder training: encoder outputs cached once, pseudo-labels.

    from asymprune.distil import cached_pseudo_labels, encoder_outputs, greedy_tokens
    cache = encoder_outputs(model, rows)                             # computed once, on disk, keyed by the encoder
    tokens = greedy_tokens(teacher, cache, [r.id for r in rows])     # generate() on cached outputs
    tokens, path, computed = cached_pseudo_labels(teacher, rows, cache)  # the teacher's transcripts, kept on disk
    logits, path, computed, s = cached_teacher_logits(teacher, cache, ids, labels)  # its logits on them, once

`asymprune train --freeze-encoder` uses them (asymprune.train.cached). Operations level: imports only
the ground (models, speech, fsutil, errors).
"""

from .cache import EncoderCache, encoder_key, encoder_outputs, weights_digest
from .decode import greedy_tokens
from .pseudo import cached_pseudo_labels
from .teacher_logits import TeacherLogits, cached_teacher_logits
from .threads import torch_threads

__all__ = ["EncoderCache", "encoder_key", "encoder_outputs", "weights_digest", "greedy_tokens",
           "cached_pseudo_labels", "TeacherLogits", "cached_teacher_logits", "torch_threads"]
