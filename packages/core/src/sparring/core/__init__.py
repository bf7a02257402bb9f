"""sparring.core: protocols, records, hook specifications, the plugin registry, errors.

Depends on pluggy and numpy only; importing it never imports torch or jax.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import errors
from .errors import SparringError
from .hookspecs import hookimpl
from .modes import evaluating
from .protocols import Array, Attack, Backend, Dataset, DatasetInfo, Defense, Key, Model
from .records import (
    AttackResult,
    AttackSpec,
    BackendSpec,
    DatasetSpec,
    DefenseSpec,
    ModelSpec,
    PipelineSpec,
    PluginSpec,
)
from .registry import PluginInfo, Registry, get_registry, reset_registry

try:
    __version__ = version("sparring-core")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "Array",
    "Attack",
    "AttackResult",
    "AttackSpec",
    "Backend",
    "BackendSpec",
    "Dataset",
    "DatasetInfo",
    "DatasetSpec",
    "Defense",
    "DefenseSpec",
    "Key",
    "Model",
    "ModelSpec",
    "PipelineSpec",
    "PluginInfo",
    "PluginSpec",
    "Registry",
    "SparringError",
    "errors",
    "evaluating",
    "get_registry",
    "hookimpl",
    "reset_registry",
]
