"""A metric registered from outside the package, as a plugin would: errors per example, lower is better."""

from asymprune.metrics import Metric


class ToyErrors(Metric):
    """Errors per example, the corpus score their plain mean (the default ratio); lower is better."""
    name = "toyerr"
    keys = ("err",)
    headline = "err"
    higher_is_better = False
    label = "ERR"

    def per_example(self, predictions, references):
        return [{"err": float(p != r)} for p, r in zip(predictions, references)]
