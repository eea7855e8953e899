"""Read a CTranslate2 model.bin: its spec name, revision, variables (as torch tensors) and aliases.

    model = read_ct2_model(Path("whisper-ct2/model.bin"))
    model.spec                                      # "WhisperSpec"
    model.tensor("decoder/projection/weight")       # aliases resolve: decoder/embeddings/weight

The layout is what ctranslate2/specs/model_spec.py `_serialize` writes (binary version 6),
little-endian: uint32 version; the spec name; uint32 revision; uint32 variable count; per
variable its name, uint8 rank, rank × uint32 dims, uint8 dtype, uint32 byte count, the bytes;
then uint32 alias count and (alias, target) name pairs. A string is a uint16 length that counts
a trailing NUL, then the bytes. ctranslate2 itself has no reader for it in Python.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UsageError

BINARY_VERSION = 6
# The dtype byte indexes this tuple (model_spec._dtype_to_type_id).
DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
TORCH_DTYPES = {"float32": torch.float32, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
                "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class CT2Model:
    spec: str                        # the spec class's name, e.g. "WhisperSpec"
    revision: int                    # the spec's revision (WhisperSpec: 3)
    variables: dict[str, torch.Tensor]  # name -> tensor in its stored dtype; scalars have shape ()
    aliases: dict[str, str]          # alias -> the variable it names, e.g. the tied output projection
    path: Path                       # the file read

    def tensor(self, name: str) -> torch.Tensor:
        """The variable `name`, through an alias if it is one; KeyError if the file has neither."""
        return self.variables[self.aliases.get(name, name)]

    def scalar(self, name: str) -> int:
        return int(self.tensor(name).item())

    def weight_dtypes(self) -> set[str]:
        """The dtypes of the variables that are not scalars (flags and counts are stored as ints)."""
        return {str(t.dtype).removeprefix("torch.") for t in self.variables.values() if t.dim() > 0}


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.at = memoryview(data), path, 0

    def take(self, n: int) -> memoryview:
        if self.at + n > len(self.data):
            raise UsageError(f"{self.path} is damaged: it ends at byte {len(self.data):,} in the middle of its "
                             f"contents (truncated?); reinstall or re-convert the model")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def unpack(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = bytes(self.take(self.unpack("H")))
        if not raw.endswith(b"\0"):
            raise UsageError(f"{self.path} is damaged: a name at byte {self.at:,} does not end with NUL; "
                             "reinstall or re-convert the model")
        return raw[:-1].decode("utf-8", errors="replace")


def read_ct2_model(path: Path) -> CT2Model:
    """Every variable and alias of a CTranslate2 model.bin; a damaged file is a UsageError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    r = _Reader(data, path)
    version = r.unpack("I")
    if version != BINARY_VERSION:
        raise UsageError(f"{path}: CTranslate2 binary version {version}; asymprune reads version {BINARY_VERSION} "
                         "(re-convert the model with ctranslate2>=3)")
    spec, revision, count = r.string(), r.unpack("I"), r.unpack("I")
    variables = {}
    for _ in range(count):
        name = r.string()
        shape = [r.unpack("I") for _ in range(r.unpack("B"))]
        type_id = r.unpack("B")
        if type_id >= len(DTYPES):
            raise UsageError(f"{path} is damaged: variable {name} has an unknown dtype id {type_id}")
        dtype = TORCH_DTYPES[DTYPES[type_id]]
        raw = r.take(r.unpack("I"))
        expected = torch.Size(shape).numel() * dtype.itemsize
        if len(raw) != expected:
            raise UsageError(f"{path} is damaged: variable {name} {shape} has {len(raw):,} bytes, "
                             f"not {expected:,}; reinstall or re-convert the model")
        # bytearray: a writable copy, so the tensor owns its memory and torch does not warn
        variables[name] = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape) if expected else \
            torch.zeros(shape, dtype=dtype)
    aliases = {}
    for _ in range(r.unpack("I")):
        alias = r.string()
        aliases[alias] = r.string()
    if r.at != len(data):
        raise UsageError(f"{path} is damaged: {len(data) - r.at:,} bytes follow its last entry; "
                         "reinstall or re-convert the model")
    missing = sorted(a for a, target in aliases.items() if target not in variables)
    if missing:
        raise UsageError(f"{path} is damaged: alias {missing[0]} names no variable")
    return CT2Model(spec, revision, variables, aliases, path)
