"""sparring.models: the torch and JAX backends and the model architectures.

Importing this package imports no framework; ``sparring.models.torch`` and
``sparring.models.jax`` do. Build models by registry name::

    from sparring.models import build_model
    model = build_model("dense-mnist", backend="jax", seed=0)
"""

from .backends import get_backend
from .build import build_model

__all__ = ["build_model", "get_backend"]
