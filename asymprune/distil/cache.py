"""The frozen encoder's outputs, computed once per utterance and kept on disk.

    cache = encoder_outputs(model, rows)               # encodes only what is not cached yet
    cache.stack([r.id for r in rows[:16]])             # (16, 1500, d_model) float32, each file checked once
    cache.key                                          # what the outputs depend on (encoder weights, features, dtype)

With a frozen encoder, distil-whisper's re-tune only ever reads the encoder's last hidden state,
and every 30-second window costs the encoder the same whatever the clip's length: computing it
once per utterance, and sharing it between every model with the same encoder (the control and
all decoder-pruned variants), removes most of the cost of training and evaluation.

One safetensors file per utterance, under CACHE/distil/encoder-outputs/ENCODER_KEY/, named by
the sha256 of the audio file. ENCODER_KEY hashes the encoder's weights (every tensor of
`model.get_encoder()`), the feature extractor's settings and the stored dtype, so an encoder-pruned
variant gets its own folder and a changed encoder never reads stale outputs. Each file carries
the sha256 of its tensor bytes; a file that does not parse or whose bytes disagree is one line
naming it, never used. Files are written to a temporary name and renamed, so a run that dies
leaves none half-written. float32 is exact; float16 halves disk and reading (2.3 MB -> 1.15 MB an
utterance for tiny.en) and is widened to float32 when read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UsageError
from ..fsutil import atomic_file
from ..speech import SpeechRow, feature_batches, feature_extractor
from ..speech.cache import cache_root, digest, file_sha256
from .threads import AUTOCAST, mixed_precision, torch_threads

CACHE_FORMAT = 1
DTYPES = ("float32", "float16")
TENSOR = "last_hidden_state"


def weights_digest(module) -> str:
    """sha256 over every tensor of `module` (name, dtype, shape and bytes), in name order."""
    import torch
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def features_digest(extractor) -> str:
    """What the log-mel features depend on: the extractor's settings (its class name and filters included)."""
    settings = {k: v for k, v in extractor.to_dict().items() if k not in ("processor_class", "mel_filters")}
    return digest({"class": type(extractor).__name__, **json.loads(json.dumps(settings, default=str))})


def encoder_key(model, extractor, dtype: str = "float32", autocast: str | None = None) -> str:
    """The key of a model's encoder outputs: its encoder's weights, the features, the stored dtype and the
    autocast precision they were computed in (None: the weights' own)."""
    what = {"format": CACHE_FORMAT, "encoder": weights_digest(model.get_encoder()),
            "features": features_digest(extractor), "dtype": dtype}
    return digest({**what, "autocast": autocast} if autocast else what)  # keys of exact outputs stay as they were


def audio_key(row: SpeechRow) -> str:
    """The sha256 of a row's audio file: outputs are shared by every row (and dataset) with the same clip."""
    return file_sha256(row.audio)


def damaged(path: Path, why: str) -> UsageError:
    return UsageError(f"cached encoder outputs {path} are damaged ({why}); delete the file and run again "
                      "to compute it anew")


@dataclass
class EncoderCache:
    """Encoder outputs of a set of rows: which file holds each row's, read and checked on demand."""
    folder: Path                               # CACHE/distil/encoder-outputs/KEY
    key: str                                   # encoder_key(...)
    dtype: str                                 # as stored: float32 or float16
    files: dict[str, Path]                     # row id -> its file
    encoded: int = 0                           # utterances computed by the call that made this (0: all cached)
    seconds: float = 0.0                       # time that call spent computing (features and encoder)
    _checked: set = field(default_factory=set, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, row_id: str):
        """(frames, d_model) float32 outputs of one row; its checksum is verified the first time it is read."""
        import torch
        from safetensors.torch import load as load_bytes
        try:
            path = self.files[row_id]
        except KeyError:
            raise UsageError(f"row '{row_id}' has no cached encoder outputs in {self.folder}; compute them with "
                             "encoder_outputs(model, rows) for these rows") from None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"cached encoder outputs {path} disappeared while in use; run again to compute "
                             "them anew") from None
        try:
            tensors = load_bytes(data)
            meta = _metadata(data)
        except Exception as e:  # safetensors: truncated header, sizes that do not add up, bad JSON
            raise damaged(path, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
        tensor = tensors.get(TENSOR)
        if tensor is None or meta.get("encoder") != self.key:
            raise damaged(path, "not the outputs of this encoder")
        if path not in self._checked:
            if hashlib.sha256(tensor.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest() != meta.get("sha256"):
                raise damaged(path, "its bytes do not match their checksum")
            self._checked.add(path)
        return tensor.float()

    def stack(self, ids: list[str]):
        """(len(ids), frames, d_model) float32."""
        import torch
        return torch.stack([self.load(i) for i in ids])


def _metadata(data: bytes) -> dict:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]).get("__metadata__", {})


def _write(path: Path, tensor, key: str, audio: str) -> None:
    import torch
    from safetensors.torch import save
    tensor = tensor.contiguous()
    checksum = hashlib.sha256(tensor.view(torch.uint8).numpy().tobytes()).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f:
        f.write(save({TENSOR: tensor}, metadata={"format": str(CACHE_FORMAT), "encoder": key, "audio": audio,
                                                 "sha256": checksum}))


def _describe(folder: Path, model, key: str, dtype: str) -> None:
    """encoder.json: what the folder holds, for people looking at the cache; checked if present."""
    path = folder / "encoder.json"
    if path.exists():
        try:
            if json.loads(path.read_text()).get("key") != key:
                raise ValueError("another key")
        except (OSError, ValueError) as e:
            raise UsageError(f"{path} is damaged ({e}); delete {folder} and run again") from None
        return
    folder.mkdir(parents=True, exist_ok=True)
    config = model.config
    with atomic_file(path) as f:
        json.dump({"key": key, "format": CACHE_FORMAT, "dtype": dtype, "model_type": config.model_type,
                   "encoder_layers": getattr(config, "encoder_layers", None),
                   "d_model": getattr(config, "d_model", None), "source": getattr(config, "_name_or_path", "")}, f,
                  indent=2)


def encoder_outputs(model, rows: list[SpeechRow], *, extractor=None, cache_dir: Path | None = None,
                    dtype: str = "float32", batch_size: int = 8, threads: int | None = None,
                    autocast: str | None = None,
                    progress: Callable[[int, int], None] | None = None) -> EncoderCache:
    """The encoder outputs of `rows` for `model`'s encoder: cached ones reused, the others computed in
    batches (torch threads = `threads`; None keeps torch's, one per core by default) and written one file per utterance.
    `autocast` ("bfloat16" or "float16"): computed under torch.autocast at that precision, as a mixed-precision
    re-tune computes everything else (tiny.en on a CPU with native bfloat16: 0.6x the time, outputs within
    about 1% relative); None: exact, in the weights' dtype, as generate() computes them."""
    import time

    import torch
    if dtype not in DTYPES:
        raise UsageError(f"encoder cache dtype '{dtype}': choose {' or '.join(DTYPES)}")
    if autocast not in AUTOCAST:
        raise UsageError(f"encoder cache autocast '{autocast}': choose bfloat16, float16 or none")
    if batch_size < 1:
        raise UsageError(f"encoder batch size {batch_size}: pass 1 or more")
    extractor = extractor or feature_extractor()
    key = encoder_key(model, extractor, dtype, autocast)
    folder = Path(cache_dir or cache_root()) / "distil" / "encoder-outputs" / key[:20]
    _describe(folder, model, key, dtype)
    keys = {row.id: audio_key(row) for row in rows}
    files = {rid: folder / k[:2] / f"{k}.safetensors" for rid, k in keys.items()}
    todo, seen = [], set()
    for row in rows:
        if not files[row.id].exists() and keys[row.id] not in seen:
            todo.append(row)
            seen.add(keys[row.id])
    started, done = time.perf_counter(), 0
    if todo:
        encoder = model.get_encoder()
        device = next(encoder.parameters()).device.type
        with torch_threads(threads), torch.inference_mode():
            for batch, x in feature_batches(todo, batch_size, extractor):
                with mixed_precision(autocast, device):  # the encoder only: the log-mel features stay float32
                    hidden = encoder(x.to(encoder.dtype)).last_hidden_state
                hidden = hidden.to(getattr(torch, dtype))
                for row, h in zip(batch, hidden):
                    _write(files[row.id], h, key, keys[row.id])
                done += len(batch)
                if progress:
                    progress(done, len(todo))
    return EncoderCache(folder, key, dtype, files, encoded=done, seconds=time.perf_counter() - started)
