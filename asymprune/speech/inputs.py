"""A speech split as model inputs: log-mel windows made when a row is read, labels padded into batches.

    inputs = SpeechInputs(["clips/a.wav", ...], extractor, labels=[[50362, 383, ...], ...])
    inputs[0]                          # {"input_features": (80, 3000) float32, "labels": [...]}
    batch = SpeechCollator()([inputs[0], inputs[1]])   # input_features (2, 80, 3000), labels padded with -100

A window is 80 x 3,000 float32 (960 kB), so a split's windows are not held in memory: each is
computed from its audio file when the row is read (70-105 ms on 2 cores), as a torch-style
dataset that the evaluation loop, the Trainer and the calibration batches all index. The audio
itself was checked when the dataset was loaded (audio.check_audio).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .audio import read_audio
from .features import input_features


class SpeechInputs:
    """Model inputs of a speech split, by index: {"input_features": (n_mels, 3000)[, "labels": ids]}."""

    def __init__(self, audio: list[str | Path], extractor, labels: list[list[int]] | None = None,
                 where: list[str] | None = None):
        self.audio, self.extractor, self.labels = list(audio), extractor, labels
        self.where = [str(w) for w in where] if where is not None else [str(a) for a in self.audio]

    def __len__(self) -> int:
        return len(self.audio)

    def __getitem__(self, i: int) -> dict:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        features = input_features([read_audio(Path(self.audio[i]), self.where[i])], self.extractor, [self.where[i]])[0]
        return {"input_features": features} if self.labels is None else \
            {"input_features": features, "labels": list(self.labels[i])}


@dataclass
class SpeechCollator:
    """Stacks log-mel windows; pads labels with -100 (ignored by the loss) to the longest in the batch."""
    label_pad: int = -100  # what padded label positions hold

    def __call__(self, rows: list[dict]) -> dict:
        import torch
        batch = {"input_features": torch.stack([torch.as_tensor(r["input_features"]) for r in rows])}
        if rows and "labels" in rows[0]:
            width = max(len(r["labels"]) for r in rows)
            batch["labels"] = torch.tensor([list(r["labels"]) + [self.label_pad] * (width - len(r["labels"]))
                                            for r in rows], dtype=torch.long)
        return batch
