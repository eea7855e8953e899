"""`Metric`: what asymprune knows about one quality metric, and the registry that names them.

    metric = metric_for("rouge")          # the registered record, or a one-line UsageError
    metric.per_example(preds, refs)       # statistics of each example: [{"rouge1": 41.2, ...}, ...]
    metric.aggregate(rows)                # corpus scores: {"rouge1": 38.0, "rouge2": 17.1, ...}
    metric.loss(value, reference)         # points worse than the reference, whichever the direction
    owner_of("wer")                       # the metric a stored key belongs to (None: gen_len, n_samples)

A metric is one registered class (`@register_metric`); every hook has a default here, so an entry
states its keys and direction and overrides only what differs. Each key of a metric is a ratio of
per-example sums (`Ratio`): a mean (ROUGE: the sum of the scores over the number of examples) or a
corpus rate (WER: the sum of errors over the sum of reference words). That is how the paired
bootstrap (metrics/bootstrap.py) re-aggregates a resample of examples.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import UsageError
from ..plugins import load_plugins
from ..intervals import difference_text, verdict

METRICS: dict[str, "Metric"] = {}
# Statistics of generation, not of a metric: every evaluation has them, whatever its metric.
GENERATION_KEYS = ("gen_len", "n_samples", "samples")


class Ratio(NamedTuple):
    """A corpus score as `scale` x sum(numerator) / sum(denominator) over the examples."""
    numerator: str                 # per-example statistic summed over the examples
    denominator: str | None = None  # per-example statistic summed likewise; None: the number of examples (a mean)
    scale: float = 1.0             # 100 for a percentage of counts; 1 when the per-example values are points


class Metric:
    """One quality metric. Entries set the class attributes and override the hooks that differ."""

    name: str                      # what metrics.json, --max-loss and a dataset kind call it: "rouge"
    keys: tuple[str, ...]          # the corpus scores aggregate() returns, in table order
    headline: str                  # the key that ranks variants: Pareto, budgets, verdicts, recommendation
    higher_is_better: bool         # the direction of every key
    label: str                     # the headline as people write it: "ROUGE-2"
    short: str = ""                # the headline's column header in tables ("R-2"); "" : the label
    labels: dict[str, str] = {}    # how each key is written in tables; a key not here is shown as is
    unit: str = "points"           # what a difference is counted in
    loss_noun: str = "loss"        # what a change for the worse is called: "a 2.0-point WER increase"
    budget_flag: str = ""          # the `report` flag that is `--max-loss HEADLINE=X` ("--max-wer-increase")
    about: str = ""                # one sentence for model cards: what the scores are and how they were made
    hub_types: dict[str, str] = {}  # a key's metric `type` in a card's model-index (the `evaluate` id); else the name

    # ------------------------------------------------------------ scoring

    def normalize(self, text: str) -> str:
        """What a text becomes before it is scored; per_example applies it. Default: unchanged."""
        return text

    def per_example(self, predictions: list[str], references: list[str]) -> list[dict[str, float]]:
        """Statistics of each (prediction, reference) pair: what aggregate() and the bootstrap sum."""
        raise NotImplementedError(f"metric '{self.name}' does not say how to score an example")

    def ratios(self) -> dict[str, Ratio]:
        """Each key as a ratio of per-example sums. Default: the mean of the per-example value of the same name."""
        return {key: Ratio(key) for key in self.keys}

    def aggregate(self, rows: list[dict[str, float]]) -> dict[str, float]:
        """Corpus scores from per-example statistics (at least every key). Default: each key's ratio."""
        if not rows:
            raise ValueError(f"no examples to score with {self.name}")
        out = {}
        for key, (num, den, scale) in self.ratios().items():
            total = len(rows) if den is None else sum(r[den] for r in rows)
            out[key] = scale * sum(r[num] for r in rows) / total if total else float("nan")
        return out

    # ------------------------------------------------------------ direction and words

    def loss(self, value, reference):
        """How much worse `value` is than `reference` (negative: better): reference - value when higher
        is better, value - reference when lower is better. Works on numbers and pandas Series alike."""
        return reference - value if self.higher_is_better else value - reference

    def at_least_as_good(self, a, b):
        return a >= b if self.higher_is_better else a <= b

    def better(self, a, b):
        return a > b if self.higher_is_better else a < b

    def key_label(self, key: str) -> str:
        return self.labels.get(key, key)

    def hub_type(self, key: str) -> str:
        """What a model card's model-index calls the metric of `key` ("rouge" for every ROUGE key, "cer")."""
        return self.hub_types.get(key, self.name)

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def budget_keyword(self) -> str:
        """`budget_flag` as a Python keyword of check_budget/recommend/write_report: "max_wer_increase"."""
        return self.budget_flag.lstrip("-").replace("-", "_")

    @property
    def column(self) -> str:
        """The headline's table header."""
        return self.short or self.label

    def worse_word(self) -> str:
        """Which way a loss goes: 'below' a reference when higher is better, else 'above'."""
        return "below" if self.higher_is_better else "above"

    def delta_note(self) -> str:
        """How to read a difference value - reference: 'WER: lower is better, so a positive Δ is a loss'."""
        return f"{self.label}: {self.direction}, so a {'negative' if self.higher_is_better else 'positive'} Δ is a loss"

    def verdict(self, interval: dict) -> str:
        return verdict(interval, self.higher_is_better)

    def difference_text(self, interval: dict, digits: int = 2) -> str:
        return difference_text(interval, self.higher_is_better, digits)


def register_metric(cls):
    """Class decorator: make a Metric available to `metric_for` (a later one of the same name replaces it).

    A key belongs to one metric only, so that a stored score says which metric it is."""
    metric = cls()
    if metric.headline not in metric.keys:
        raise ValueError(f"metric '{metric.name}': headline '{metric.headline}' is not one of its keys {metric.keys}")
    unknown = set(metric.ratios()) - set(metric.keys)
    if unknown:
        raise ValueError(f"metric '{metric.name}': ratios for {sorted(unknown)}, which are not its keys")
    for key in metric.keys:
        other = owner_of(key)
        if key in GENERATION_KEYS or (other is not None and other.name != metric.name):
            raise ValueError(f"metric '{metric.name}': key '{key}' already belongs to "
                             f"{'every evaluation' if other is None else repr(other.name)}; name it differently")
    if metric.budget_flag:
        twin = next((m for m in METRICS.values() if m.budget_flag == metric.budget_flag and m.name != metric.name), None)
        if twin is not None:
            raise ValueError(f"metric '{metric.name}': budget flag {metric.budget_flag} already belongs to "
                             f"'{twin.name}'; name it differently")
        if not metric.budget_flag.startswith("--"):
            raise ValueError(f"metric '{metric.name}': budget flag '{metric.budget_flag}' must start with '--'")
    METRICS[metric.name] = metric
    return cls


def unregister_metric(name: str) -> None:
    """Remove a metric (a test's or a plugin's) from the registry."""
    METRICS.pop(name, None)


def metric_names() -> str:
    load_plugins()
    return ", ".join(METRICS)


def metric_for(name: str) -> Metric:
    """The registered metric called `name`, or a one-line UsageError naming the known ones."""
    load_plugins()
    metric = METRICS.get(name)
    if metric is None:
        raise UsageError(f"unknown metric '{name}'; asymprune knows {metric_names()}")
    return metric


def budget_metric(keyword: str) -> Metric:
    """The metric whose budget flag `keyword` is ("max_wer_increase": wer); a TypeError for any other word,
    as for an unknown keyword argument."""
    load_plugins()
    metric = next((m for m in METRICS.values() if m.budget_flag and m.budget_keyword == keyword), None)
    if metric is None:
        flags = ", ".join(m.budget_keyword for m in METRICS.values() if m.budget_flag)
        raise TypeError(f"unexpected budget keyword '{keyword}'; the metrics' budget keywords are {flags}")
    return metric


def owner_of(key: str) -> Metric | None:
    """The registered metric that `key` is a score of (None: not a metric's key, e.g. gen_len)."""
    load_plugins()
    return next((m for m in METRICS.values() if key in m.keys), None)


def headline_metric(key: str) -> Metric:
    """The metric whose headline is `key` (what a budget names), or a one-line UsageError."""
    metric = owner_of(key)
    if metric is None:
        headlines = ", ".join(f"{m.headline} ({m.label})" for m in METRICS.values())
        raise UsageError(f"no metric has a score called '{key}'; name a metric's headline: {headlines}")
    if key != metric.headline:
        raise UsageError(f"'{key}' is not the headline of {metric.name}; budgets are on "
                         f"{metric.headline} ({metric.label})")
    return metric
