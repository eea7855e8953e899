"""Model families: one registered `Family` per architecture family holds all asymprune knows of it.

    base.py  Family (every hook, with a text encoder-decoder's defaults), the registry, family_for, param_counts
    t5.py    T5, T5 v1.1, FLAN-T5, mT5
    bart.py  BART, mBART, PEGASUS, Marian
    whisper.py  Whisper (speech in, text out)

Adding a family is one class (see the README's "Extending"):

    @register_family
    class MyFamily(Family):
        name = "my"
        model_types = ("my-model",)
        layers_attr = "layers"
        count_keys = {"encoder": "encoder_layers", "decoder": "decoder_layers"}
"""

from . import t5  # noqa: F401  (registers the built-in families, in this order)
from . import bart  # noqa: F401
from . import whisper  # noqa: F401
from .base import FAMILIES, STACKS, Family, family_for, family_of_type, param_counts, register_family, supported_types

__all__ = ["FAMILIES", "STACKS", "Family", "family_for", "family_of_type", "param_counts", "register_family",
           "supported_types"]
