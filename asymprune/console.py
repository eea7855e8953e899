"""Quiet logging from the libraries underneath, so that asymprune's own lines and bars are what show.

    quiet_transformers()   # the CLI, bench workers and Ray tasks call it first
    quiet_datasets()       # commands that read datasets: our one-line errors and rich bars instead
"""


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
