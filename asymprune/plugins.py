"""Extensions from outside the package: modules that register families, metrics, backends, datasets or stages.

    ASYMPRUNE_PLUGINS=my_asr.family,my_asr.metric asymprune sweep spec.yaml
    # or, in an installed package's pyproject.toml:
    [project.entry-points."asymprune.plugins"]
    my_asr = "my_asr.register"

Every registry lookup (`family_for`, `backend_for`, `metric_for`, a dataset or stage name) loads them
first. That is how an extension reaches the processes asymprune starts itself (a bench's workers,
Ray tasks, torchrun ranks): each imports asymprune afresh and meets the same lookups, with the same
environment.
"""

from __future__ import annotations

import importlib
import os

from .errors import UsageError, first_line

ENV = "ASYMPRUNE_PLUGINS"
GROUP = "asymprune.plugins"
_loaded: set[str] = set()


def load_plugins() -> None:
    """Import every plugin named by ASYMPRUNE_PLUGINS and the `asymprune.plugins` entry points, once each."""
    wanted = [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]
    if GROUP not in _loaded:
        _loaded.add(GROUP)
        from importlib.metadata import entry_points
        for ep in entry_points(group=GROUP):
            _import(ep.value.split(":")[0], f"the entry point '{ep.name}' of group {GROUP}")
    for name in wanted:
        if name not in _loaded:
            _import(name, f"{ENV}")
            _loaded.add(name)


def _import(module: str, named_by: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as e:  # a plugin's own error, whatever its type: named, in one line
        raise UsageError(f"{named_by} names the module '{module}', which cannot be imported "
                         f"({first_line(e, typed=True)}); fix it or remove it from {named_by}") from None
