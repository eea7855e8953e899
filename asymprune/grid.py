"""Grid notation: the paper's 16 variants in sixths, layer counts, and the kind of a variant.

    parse_variant("6/3", "grid")                         # Variant('6/3', encoder='6/6', decoder='3/6')
    parse_variant({"encoder": 8, "decoder": 2}, "grid")  # Variant('8L/2L', encoder=8, decoder=2)
    parse_count("2/6", 24, "decoder")                    # 8: a sixth keeps floor(24 * 2 / 6) layers
    parse_grid("6/3,8L/2L", "t5-tiny", {"encoder": 6, "decoder": 6})   # [('6/3', 6, 3), ('8L/2L', ...)]
    kind_of({"encoder": [0, 5], "decoder": [0, 1, 2, 3, 4, 5]}, {"encoder": 6, "decoder": 6})  # 'encoder'

A variant names the layers it keeps as ENC/DEC: in sixths of each stack ("6/3", the paper's
notation, 1 to 6) or as layer counts ("8L/2L"). The sweep's grid and the planner's `--grid`
use this one notation, and so does the database's `variant` column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError

# The paper's 16 (encoder, decoder) variants, in sixths of each stack.
PAPER_GRID = ["6/6", "6/5", "6/4", "6/3", "6/2", "6/1", "5/6", "4/6", "3/6", "2/6", "1/6",
              "5/5", "4/4", "3/3", "2/2", "1/1"]


@dataclass
class Variant:
    label: str                 # "6/3" (sixths) or "8L/2L" (layer counts) as the database names it
    encoder: str | int         # selection passed to prune: "6/6"-style fraction or a count
    decoder: str | int


def parse_variant(entry, where: str) -> Variant:
    """A grid entry: "E/D" or [E, D] in sixths (1-6), or {encoder: N, decoder: M} layer counts."""
    if isinstance(entry, (list, tuple)) and len(entry) == 2:
        entry = f"{entry[0]}/{entry[1]}"
    if isinstance(entry, str):
        parts = entry.split("/")
        if len(parts) == 2 and all(p.strip().isdigit() and 1 <= int(p) <= 6 for p in parts):
            e, d = (int(p) for p in parts)
            return Variant(f"{e}/{d}", f"{e}/6", f"{d}/6")
    if isinstance(entry, dict) and set(entry) == {"encoder", "decoder"} and \
            all(isinstance(v, int) and not isinstance(v, bool) for v in entry.values()):
        return Variant(f"{entry['encoder']}L/{entry['decoder']}L", entry["encoder"], entry["decoder"])
    raise UsageError(f"{where}: grid entry {entry!r} is not a variant; use sixths like '6/3' (encoder/decoder, 1-6) "
                     "or layer counts like {encoder: 8, decoder: 2}")


def parse_count(value: int | str, num_layers: int, stack: str) -> int:
    """A layer count: "N", or the paper's sixths "a/b" meaning floor(num_layers * a / b)."""
    text = str(value).strip()
    if m := re.fullmatch(r"(\d+)\s*/\s*(\d+)", text):
        a, b = int(m[1]), int(m[2])
        if b == 0 or a > b:
            raise UsageError(f"--{stack}-layers {text}: a fraction must be a/b with 0 < a <= b, e.g. 2/6")
        count = num_layers * a // b
    elif re.fullmatch(r"\d+", text):
        count = int(text)
    else:
        raise UsageError(f"--{stack}-layers {text!r} is not a count; pass a number like 4 or a fraction like 2/6")
    if count < 1:
        raise UsageError(f"--{stack}-layers {text} keeps 0 of {num_layers} {stack} layers; keep at least 1")
    if count > num_layers:
        raise UsageError(f"--{stack}-layers {text}: the {stack} has only {num_layers} layers; pass at most {num_layers}")
    return count


def parse_grid(text: str, model: str, depths: dict[str, int]) -> list[tuple[str, int, int]]:
    """(label, encoder layers, decoder layers) per entry of the planner's `--grid`, as the sweep labels them.

    "paper": the paper's 16 variants in sixths; "all": every count pair; otherwise
    comma-separated sixths like 6/3 (a sixth keeps floor(L·a/6) layers, as prune does) or
    layer counts like 8L/2L. An entry the model cannot have is an error naming it.
    """
    E, D = depths["encoder"], depths["decoder"]
    if text.strip() == "all":
        return [(f"{e}L/{d}L", e, d) for e in range(E, 0, -1) for d in range(D, 0, -1)]
    entries = PAPER_GRID if text.strip() == "paper" else [t.strip() for t in text.split(",") if t.strip()]
    if not entries:
        raise UsageError("--grid is empty; pass paper, all, or entries like 6/3,3/3")
    shapes = []
    for entry in entries:
        counts = entry.upper().removesuffix("L").split("L/")
        if len(counts) == 2 and all(c.isdigit() for c in counts):  # 8L/2L: layer counts
            entry = {"encoder": int(counts[0]), "decoder": int(counts[1])}
        try:
            v = parse_variant(entry, "--grid")
        except UsageError:
            raise UsageError(f"--grid entry {entry!r} is not a variant; use sixths like 6/3 (encoder/decoder, "
                             "1-6), layer counts like 8L/2L, paper or all") from None
        kept = []
        for stack, value, depth in (("encoder", v.encoder, E), ("decoder", v.decoder, D)):
            try:
                kept.append(parse_count(value, depth, stack))
            except UsageError:
                want = f"{depth * int(value[0]) // 6} ({value} of {depth})" if isinstance(value, str) else value
                raise UsageError(f"--grid entry '{v.label}' asks for {want} {stack} layers; {model} has "
                                 f"{E} encoder and {D} decoder layers, so each stack keeps 1 to its depth "
                                 f"(or use --grid all)") from None
        if v.label not in [s[0] for s in shapes]:
            shapes.append((v.label, *kept))
    return shapes


def variant_kind(encoder_cut: bool, decoder_cut: bool) -> str:
    """full, encoder, decoder or both: which stacks a variant prunes."""
    return {(False, False): "full", (True, False): "encoder", (False, True): "decoder"}.get((encoder_cut, decoder_cut),
                                                                                          "both")


def kind_of(keep: dict, totals: dict) -> str:
    """The kind of a variant from its kept indices per stack and the stacks' depths."""
    return variant_kind(len(keep["encoder"]) < totals["encoder"], len(keep["decoder"]) < totals["decoder"])
