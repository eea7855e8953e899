"""asymprune: asymmetric structured layer pruning for encoder-decoder summarizers.

    from asymprune import prune_layers
    kept = prune_layers(model, decoder=2, strategy="paper")
"""

from .prune import param_counts, plan_pruning, prune_layers

__version__ = "0.1.0"
__all__ = ["prune_layers", "plan_pruning", "param_counts", "__version__"]
