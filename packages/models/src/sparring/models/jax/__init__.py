"""The JAX side of sparring.models: the jax Backend, the flax.nnx Model wrapper, architectures."""

from .backend import JaxBackend
from .model import JaxModel

__all__ = ["JaxBackend", "JaxModel"]
