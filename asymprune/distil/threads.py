"""torch's thread count (and autocast precision) for one block of work, restored after.

    with torch_threads(2):      # encoder, decoding, training
        ...
    with torch_threads(None):   # torch's own setting: one thread per physical core unless changed
    with mixed_precision("bfloat16", "cpu"):   # torch.autocast at that precision; None: a no-op

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


AUTOCAST = (None, "bfloat16", "float16")  # what a cache's `autocast` may be: exact, or a mixed-precision re-tune's


def mixed_precision(autocast: str | None, device: str = "cpu"):
    """torch.autocast at `autocast` ("bfloat16"/"float16") on `device`'s type, or a no-op for None. A cached
    result computed under it is keyed by it: the same work in the re-tune's own precision, not exact."""
    from contextlib import nullcontext

    import torch
    return torch.autocast(device, dtype=getattr(torch, autocast)) if autocast else nullcontext()
