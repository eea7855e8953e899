"""torch's thread count for one block of work, restored after.

    with torch_threads(2):      # encoder, decoding, training
        ...
    with torch_threads(None):   # torch's own setting: one thread per physical core unless changed

On a machine shared with other busy processes, fewer threads than cores can be much faster:
an OpenMP parallel region waits for its slowest thread, and a thread that loses its core to
another process holds up every operation (measured here: torch.isin over Whisper's vocabulary
took 2 ms on one thread and 1.3 s on two while another process kept one core busy).
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def torch_threads(threads: int | None):
    """torch's intra-op threads set to `threads` for the block (None: unchanged), then restored."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)
