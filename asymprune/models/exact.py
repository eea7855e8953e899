"""A checkpoint loads exactly or not at all: never random layers presented as the checkpoint.

    check_matches_weights(folder, config, keys)   # before loading: layer counts and tensor shapes vs config.json
    check_loading_info(src, info)                 # after from_pretrained(..., output_loading_info=True)
    config_type_error(src, error)                 # a config.json value of the wrong type, in one line

transformers fills whatever a checkpoint lacks with random values and says so only in a log line:
a config.json without `num_layers` builds T5's default 6 layers per stack, and a 2-layer
checkpoint then runs with 4 random layers in each. These checks turn each such case into one
line naming the first tensors and the likely cause, before any work where the headers suffice.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UsageError
from .families import STACKS, family_for

SHOWN = 3  # tensor names quoted in a message


def _weights_name(keys: dict[str, list[str]]) -> str:
    return next(iter(keys)) if len(keys) == 1 else f"the {len(keys)} safetensors files"


def _layers_in_weights(family, keys: dict[str, list[str]]) -> dict[str, int]:
    """Distinct layer indices per stack among the tensor names (`encoder.block.3.` and the like)."""
    pattern = re.compile(rf"(?:^|\.)(encoder|decoder)\.{family.layers_attr}\.(\d+)\.")
    found = {s: set() for s in STACKS}
    for names in keys.values():
        for name in names:
            if m := pattern.search(name):
                found[m[1]].add(int(m[2]))
    return {s: len(found[s]) for s in STACKS}


def check_layer_counts(folder: Path, config, keys: dict[str, list[str]]) -> None:
    """config.json's layer counts against the layers the weights hold (their headers' tensor names)."""
    family = family_for(config)
    held = _layers_in_weights(family, keys)
    if not any(held.values()):
        return  # tensor names this check does not know: the loading check decides
    counts, raw = family.layer_counts(config), json.loads((Path(folder) / "config.json").read_text())
    weights = _weights_name(keys)
    problems, fixes = [], []
    for stack in STACKS:
        if held[stack] == counts[stack]:
            continue
        key = family.count_keys[stack]
        if key in raw:
            problems.append(f"config.json says {key} {raw[key]}, but {weights} holds {held[stack]} {stack} layers")
        else:
            problems.append(f"config.json has no {key}; transformers' default {counts[stack]} does not match the "
                            f"{held[stack]} {stack} layers in {weights}")
        fixes.append(f'"{key}": {held[stack]}')
    if problems:
        effect = " and ".join(([] if all(held[s] >= counts[s] for s in STACKS) else ["add random layers"])
                              + ([] if all(held[s] <= counts[s] for s in STACKS) else ["drop layers of the weights"]))
        raise UsageError(f"{folder}: {' and '.join(problems)}; loading it would {effect}. Set "
                         f"{' and '.join(fixes)} in config.json, or use the config these weights were saved with")


def check_shapes(folder: Path, config, keys: dict[str, list[str]]) -> None:
    """Each tensor of the weights against the shape the config gives it (on the meta device: no memory)."""
    import torch
    from safetensors import safe_open
    with torch.device("meta"):
        model = family_for(config).from_config(config)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    wrong = []
    for file, names in keys.items():
        with safe_open(str(Path(folder) / file), framework="pt") as f:
            for name in names:
                if name in expected and tuple(f.get_slice(name).get_shape()) != expected[name]:
                    wrong.append((name, tuple(f.get_slice(name).get_shape()), expected[name]))
    if wrong:
        name, held, made = wrong[0]
        more = f" (and {len(wrong) - 1} more tensors)" if len(wrong) > 1 else ""
        raise UsageError(f"{folder}: config.json does not match the weights: {name} is {list(held)} in "
                         f"{_weights_name(keys)} but {list(made)} by config.json{more}; fix the sizes in config.json "
                         f"({_size_hint(name)}) or use the config these weights were saved with")


def _size_hint(name: str) -> str:
    if any(part in name for part in ("shared", "embed_tokens", "lm_head", "final_logits_bias")):
        return "vocab_size, d_model"
    return "d_model, the attention heads and their size, the feed-forward size"


def check_matches_weights(folder: Path, config, keys: dict[str, list[str]]) -> None:
    """Layer counts, then tensor shapes: what a local folder's weights need from its config.json."""
    if keys:
        check_layer_counts(folder, config, keys)
        check_shapes(folder, config, keys)


def check_loading_info(src: str, info: dict) -> None:
    """Refuse a model that from_pretrained filled in (missing tensors) or cut down (unexpected ones)."""
    missing, unexpected = sorted(info.get("missing_keys") or ()), sorted(info.get("unexpected_keys") or ())
    mismatched = sorted(info.get("mismatched_keys") or ())
    fix = "use the config.json these weights were saved with, or re-save the model"
    if mismatched:
        name, held, made = mismatched[0][:3]
        raise UsageError(f"'{src}': config.json does not match the weights: {name} is {list(held)} in the "
                         f"checkpoint but {list(made)} by config.json; {fix}")
    if missing:
        raise UsageError(f"'{src}': the weights lack {len(missing)} tensors that config.json's model has "
                         f"({', '.join(missing[:SHOWN])}{', ...' if len(missing) > SHOWN else ''}); loading would "
                         f"fill them with random values; {fix}")
    if unexpected:
        raise UsageError(f"'{src}': the weights hold {len(unexpected)} tensors that config.json's model has no place "
                         f"for ({', '.join(unexpected[:SHOWN])}{', ...' if len(unexpected) > SHOWN else ''}); loading "
                         f"would drop them; {fix}")


def config_type_error(src: str, error) -> UsageError:
    """A config.json value that transformers' config class refuses (StrictDataclassFieldValidationError)."""
    cause = error.__cause__ or error
    reason = str(cause).strip().splitlines()[-1].strip() if str(cause).strip() else type(cause).__name__
    where = f"{src}/config.json" if Path(src).expanduser().is_dir() else f"the config.json of '{src}'"
    return UsageError(f"{where}: {reason}; write the value with the type transformers expects (a number without "
                      "quotes, true/false, ...)")
