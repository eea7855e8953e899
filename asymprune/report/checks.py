"""What a sweep's re-tuned control says about its own bench.

    control_speed_checks(done)   # ['whisper-tiny.en · synthetic-speech, batch size 8: the re-tuned control ...']

The control has the full model's layers and does the same work per call, so its true speed-up is 1.
Where its interval lies wholly off 1, the interleaved run carried an offset that its rounds did not
cancel (a worker that stayed faster or slower all run: the speech demo's control read 0.94x at batch 8 in
one run and 1.15x in the next), and every speed-up at that batch size is only measured beyond it.
"""

from __future__ import annotations

import pandas as pd

from ..bench.speedup import speedup_text
from .load import batch_sizes


def control_speed_checks(done: pd.DataFrame) -> list[str]:
    """One line per (model, dataset, batch size) whose control's speed-up interval excludes 1."""
    lines = []
    controls = done[done.kind == "control"].drop_duplicates(["who", "dataset"])
    for _, row in controls.iterrows():
        for bs in batch_sizes(done):
            value, low, high = (row.get(f"{c}_bs{bs}") for c in ("speedup", "speedup_low", "speedup_high"))
            if any(x is None or pd.isna(x) for x in (value, low, high)) or low <= 1 <= high:
                continue
            far = max(high, 1 / low)  # the end of its interval farthest from 1
            lines.append(f"{row.who} · {row.dataset}, batch size {bs}: the re-tuned control, which has the full "
                         f"model's layers and does the same work, measured {speedup_text(value, low, high)} against "
                         f"it: this run's bench carries an offset its rounds did not cancel, so speed-ups at batch "
                         f"size {bs} between {1 / far:.2f}× and {far:.2f}× are within it, not measured gains or losses")
    return lines
