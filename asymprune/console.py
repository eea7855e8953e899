"""Quiet logging from the libraries underneath, so that asymprune's own lines and bars are what show.

    quiet_transformers()   # the CLI, bench workers and Ray tasks call it first
    quiet_datasets()       # commands that read datasets: our one-line errors and rich bars instead
    display_names(["/data/runs/t5-tiny-synthetic", "google/flan-t5-small"])  # how tables and lines name models
"""

from pathlib import Path


def quiet_transformers() -> None:
    """Errors only from transformers' logger, and no tqdm bars of its own."""
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def quiet_datasets() -> None:
    """No log lines and no tqdm bars from datasets: our own one-line errors and rich bars replace them."""
    import datasets
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)


def display_names(models) -> dict[str, str]:
    """How tables and progress lines name each model: a local folder by its last part
    ('/data/runs/t5-tiny-synthetic' -> 't5-tiny-synthetic') where that stays unambiguous among
    `models`; hub ids ('google/flan-t5-small') and presets as they are."""
    def short(m: str) -> str:
        return Path(m).name if "/" in m and (m.startswith(("/", ".", "~")) or Path(m).exists()) else m
    models = list(dict.fromkeys(models))
    shorts = [short(m) for m in models]
    return {m: s if shorts.count(s) == 1 else m for m, s in zip(models, shorts)}
