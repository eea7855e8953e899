"""Safe loading of a model given as a hub id, a local directory, or (where allowed) a preset name.

    config = load_config("google/flan-t5-small")   # cheap: validate before loading weights
    model = load_model("runs/base")                 # safetensors only, no remote code
    model = load_model("flan-t5-small", presets=True)  # random weights, built on the fly

Remote code is off unless asked for, and pickle checkpoints (pytorch_model.bin) need
an explicit `allow_pickle=True`: unpickling runs code. A local folder's files are all checked
first (`files.check_files`: a damaged one is named, never taken as absent), and a checkpoint
loads exactly or not at all (`exact`: no layer or tensor filled in with random values).
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from pathlib import Path

from transformers import AutoConfig

from huggingface_hub.errors import StrictDataclassError

from ..errors import UsageError, first_line
from ..plugins import load_plugins
from .exact import check_loading_info, check_matches_weights, config_type_error
from .families import Family, family_for
from .files import TOKENIZER_FILES, check_files, has_tokenizer, no_tokenizer_message
from .presets import PRESETS, build_preset, preset_config

__all__ = ["TOKENIZER_FILES", "check_weights", "family_of", "hub_reachable", "is_preset", "load_config", "load_model",
           "load_processor", "load_tokenizer", "no_tokenizer_message", "require_processor", "require_tokenizer",
           "check_has_tokenizer", "load_generation_config"]


def _looks_local(src: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else path-like is a local path.
    return (Path(src).exists() or src.startswith((".", "/", "~")) or src.count("/") > 1
            or os.sep != "/" and os.sep in src)


def _check_local(src: str) -> None:
    path = Path(src).expanduser()
    if not path.exists():
        raise UsageError(f"model '{src}' not found; pass an existing model directory or a hub id like google/flan-t5-small")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise UsageError(f"'{src}' is not a model directory (no config.json); pass a directory written by "
                         "save_pretrained, asymprune init or asymprune prune")


def is_preset(src: str, presets: bool) -> bool:
    return presets and src in PRESETS and not Path(src).exists()


def check_weights(folder: Path) -> dict[str, list[str]]:
    """Check every file of `folder` that asymprune reads (`files.check_files`): a truncated or
    corrupted one (an interrupted download or copy) fails here, named, before any work, instead
    of as a traceback from deep inside from_pretrained or, worse, as a file quietly skipped.
    Returns the tensor names of each safetensors file."""
    return check_files(folder)


def _suggestion(src: str, presets: bool) -> str:
    """'; did you mean ...?' naming the closest preset (where presets are accepted) or local folder."""
    names = list(PRESETS) if presets else []
    parent = Path(src).expanduser().parent
    if str(parent) not in ("", ".") and parent.is_dir():
        names += [str(parent / p.name) for p in parent.iterdir() if p.is_dir()]
    close = difflib.get_close_matches(src, names, n=1, cutoff=0.6)
    if not close:
        return ""
    kind = "preset" if close[0] in PRESETS and presets else "folder"
    return f"; did you mean the {kind} '{close[0]}'?"


@lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """Whether the Hugging Face hub answers, asked once per process with a short timeout (no retries)."""
    from huggingface_hub import constants, get_session
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        return False
    try:
        get_session().head(constants.ENDPOINT, timeout=3)
    except Exception:  # DNS, refused, timeout, proxy: any failure means not reachable now
        return False
    return True


def _cache_only(src: str) -> bool:
    """A hub id while the hub is unreachable: read the local cache only, instead of retrying for half a minute."""
    return not Path(src).expanduser().exists() and not hub_reachable()


def _hub_config(src: str, trust_remote_code: bool, presets: bool):
    """AutoConfig for a hub id: from the local cache, else from the hub, failing fast when it is unreachable."""
    load_plugins()  # a model type registered from outside the package (AutoConfig.register) is known first
    try:
        return AutoConfig.from_pretrained(src, trust_remote_code=trust_remote_code, local_files_only=True)
    except StrictDataclassError as e:
        raise config_type_error(src, e) from None
    except (OSError, ValueError):
        pass
    hint = _suggestion(src, presets)
    what = "a local folder or a preset" if presets else "a local folder"
    if not hub_reachable():
        raise UsageError(f"'{src}' is not {what}, and the Hugging Face hub cannot be reached to look it up{hint}"
                         f"{'' if hint else '; pass a model directory' + (' or a preset (asymprune presets)' if presets else '')}")
    try:
        return AutoConfig.from_pretrained(src, trust_remote_code=trust_remote_code)
    except StrictDataclassError as e:
        raise config_type_error(src, e) from None
    except (OSError, ValueError) as e:
        first = first_line(e)
        raise UsageError(f"could not load a model config from '{src}' ({first}){hint or '; check the path or hub id'}") \
            from None


def load_config(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """The model's config, checked to be an encoder-decoder of a supported family.

    A local folder is checked whole before any work: every file asymprune reads (a damaged one
    is named), a config value of the wrong type, and the config against the weights (layer
    counts and tensor shapes, from the safetensors headers).
    """
    if is_preset(src, presets):
        return preset_config(src)[0]
    if _looks_local(src) or Path(src).expanduser().is_dir():
        _check_local(src)
        folder = Path(src).expanduser()
        keys = check_weights(folder)
        config = _local_config(src, trust_remote_code)
        family_for(config)
        check_matches_weights(folder, config, keys)
        return config
    config = _hub_config(src, trust_remote_code, presets)
    family_for(config)
    return config


def _local_config(src: str, trust_remote_code: bool):
    """A local folder's config.json, read by transformers (its files checked before), errors in one line."""
    load_plugins()
    try:
        return AutoConfig.from_pretrained(src, trust_remote_code=trust_remote_code)
    except StrictDataclassError as e:
        raise config_type_error(src, e) from None
    except (OSError, ValueError) as e:
        raise UsageError(f"could not load a model config from '{src}' ({first_line(e)}); check config.json") from None


def family_of(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """The family of a model source, from its config alone (no weight checks: `load_config` does those)."""
    if is_preset(src, presets):
        return family_for(preset_config(src)[0])
    if Path(src).expanduser().is_dir():
        _check_local(src)
        return family_for(_local_config(src, trust_remote_code))
    return family_for(_hub_config(src, trust_remote_code, presets))


def load_model(src: str, *, trust_remote_code: bool = False, allow_pickle: bool = False,
               presets: bool = False, dtype=None, seed: int = 0):
    """The model of a hub id or directory (or a preset when `presets`), by its family's class
    (AutoModelForSeq2SeqLM for text families)."""
    if is_preset(src, presets):
        model = build_preset(src, seed=seed)[0]
        return model.to(dtype) if dtype is not None else model
    from safetensors import SafetensorError
    family = family_for(load_config(src, trust_remote_code=trust_remote_code, presets=presets))
    local = Path(src).expanduser()
    if local.is_dir() and not allow_pickle and not any(local.glob("*.safetensors")):
        raise UsageError(f"'{src}' has no .safetensors weights, only a pickle checkpoint; re-save it with "
                         "safetensors or pass --allow-pickle if you trust its origin")
    try:
        model, info = family.auto_class.from_pretrained(
            src, trust_remote_code=trust_remote_code, use_safetensors=None if allow_pickle else True,
            dtype=dtype, local_files_only=_cache_only(src), output_loading_info=True,
        )
    except StrictDataclassError as e:
        raise config_type_error(src, e) from None
    except RuntimeError as e:
        if "ignore_mismatched_sizes" not in str(e):  # transformers' way of saying a shape differs
            raise
        raise UsageError(f"'{src}': config.json does not match the weights (a tensor has another shape than the "
                         "config gives it); use the config.json these weights were saved with") from None
    except SafetensorError as e:  # a corrupted file in the hub cache (local folders are checked above)
        raise UsageError(f"the weights of '{src}' are truncated or corrupted ({str(e).strip()}); re-download or "
                         "re-save the model") from None
    except (OSError, ValueError) as e:
        first = first_line(e)
        raise UsageError(f"could not load model weights from '{src}' ({first}); pass --allow-pickle for "
                         "pickle-only checkpoints, or check the path") from None
    check_loading_info(src, info)
    model.eval()
    return model


def load_generation_config(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """The generation config a model's generate() starts from, without its weights: a preset's as it is built, a
    folder's or the hub's generation_config.json, else the one transformers derives from config.json (as
    from_pretrained does for a checkpoint without the file). A file that exists but cannot be read is an error."""
    from transformers import GenerationConfig
    config = load_config(src, trust_remote_code=trust_remote_code, presets=presets)
    if is_preset(src, presets):
        return family_for(config).preset_generation_config(config)
    local = Path(src).expanduser()
    if local.is_dir() and not (local / "generation_config.json").is_file():
        return GenerationConfig.from_model_config(config)
    try:
        return GenerationConfig.from_pretrained(src, local_files_only=_cache_only(src))
    except (OSError, ValueError) as e:
        if local.is_dir():
            raise UsageError(f"could not read {local / 'generation_config.json'} ({first_line(e)}); fix or delete "
                             "it") from None
        return GenerationConfig.from_model_config(config)  # a hub checkpoint without the file


def load_processor(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """The model's processor, by its family (a text family's is its tokenizer), or None when the source has no
    tokenizer file at all.

    A tokenizer file that is there but cannot be loaded is a UsageError, never None: the files
    are checked by `load_config`, and what transformers still refuses is named here.
    """
    if is_preset(src, presets):
        return build_preset(src)[1]
    local = Path(src).expanduser()
    if local.is_dir():
        if not has_tokenizer(local):
            return None  # transformers 5 would build an empty tokenizer from the config alone
        check_files(local)
    family = _processor_family(src, trust_remote_code)
    try:
        # local_files_only only for hub ids: transformers writes the flag into a saved tokenizer_config.json
        return family.load_processor(src, trust_remote_code=trust_remote_code,
                                     **({} if local.is_dir() else {"local_files_only": _cache_only(src)}))
    except OSError:
        if not local.is_dir():
            return None  # a hub repository without a tokenizer
        raise UsageError(f"the tokenizer files of '{src}' are incomplete (transformers found none it can load); "
                         "re-save the tokenizer into the folder (tokenizer.save_pretrained)") from None
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise UsageError(f"the tokenizer of '{src}' cannot be loaded ({first_line(e)}); re-save it into the folder "
                         "(tokenizer.save_pretrained) or copy it from the model it came from") from None


def load_tokenizer(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """The model's tokenizer (inside its processor, for families that have one), or None when it has none."""
    processor = load_processor(src, trust_remote_code=trust_remote_code, presets=presets)
    if processor is None:
        return None
    return _processor_family(src, trust_remote_code, presets).tokenizer_of(processor)


def _processor_family(src: str, trust_remote_code: bool, presets: bool = False):
    """The family whose processor a source holds; a folder of tokenizer files alone (no config.json, e.g.
    one being written) holds a text tokenizer: the base family's defaults."""
    local = Path(src).expanduser()
    if local.is_dir() and not (local / "config.json").is_file():
        return Family()
    return family_of(src, trust_remote_code=trust_remote_code, presets=presets)


def check_has_tokenizer(src: str, *, presets: bool = False) -> None:
    """Cheap, before any work: a local folder without any tokenizer file is a UsageError that says
    what was looked for (the files themselves are checked by `load_config`)."""
    local = Path(src).expanduser()
    if not is_preset(src, presets) and local.is_dir() and not has_tokenizer(local):
        raise UsageError(no_tokenizer_message(src))


def require_processor(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """`load_processor`, for commands that cannot work without one: a folder without any
    tokenizer file is a UsageError that says what was looked for."""
    processor = load_processor(src, trust_remote_code=trust_remote_code, presets=presets)
    if processor is None:
        raise UsageError(no_tokenizer_message(src))
    return processor


def require_tokenizer(src: str, *, trust_remote_code: bool = False, presets: bool = False):
    """`load_tokenizer`, for commands that cannot work without one (see `require_processor`)."""
    tokenizer = load_tokenizer(src, trust_remote_code=trust_remote_code, presets=presets)
    if tokenizer is None:
        raise UsageError(no_tokenizer_message(src))
    return tokenizer
