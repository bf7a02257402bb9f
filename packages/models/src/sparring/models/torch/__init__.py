"""The PyTorch side of sparring.models: the torch Backend, the Model wrapper, architectures."""

from .backend import TorchBackend, TorchKey
from .model import TorchModel

__all__ = ["TorchBackend", "TorchKey", "TorchModel"]
