"""asymprune: asymmetric structured layer pruning for encoder-decoder summarizers.

    from asymprune import prune_layers
    kept = prune_layers(model, decoder=2, strategy="paper")
"""

from .models import param_counts
from .prune import plan_pruning, prune_layers
from .version import __version__

__all__ = ["prune_layers", "plan_pruning", "param_counts", "__version__"]
