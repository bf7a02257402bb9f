"""sparring.core: protocols, records, hook specifications, the plugin registry, errors.

Depends on pluggy and numpy only; importing it never imports torch or jax.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import errors
from .config import (
    AttackEntry,
    DataConfig,
    DefenseEntry,
    EvalConfig,
    ModelEntry,
    PipelineConfig,
    ReportConfig,
    TrainConfig,
    apply_overrides,
    check_names,
    config_to_dict,
    dump_toml,
    load_pipeline,
)
from .errors import SparringError
from .hookspecs import hookimpl
from .modes import evaluating
from .protocols import Array, Attack, Backend, Dataset, DatasetInfo, Defense, Key, Model, Optimizer
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
    "AttackEntry",
    "AttackResult",
    "AttackSpec",
    "Backend",
    "BackendSpec",
    "DataConfig",
    "Dataset",
    "DatasetInfo",
    "DatasetSpec",
    "Defense",
    "DefenseEntry",
    "DefenseSpec",
    "EvalConfig",
    "Key",
    "Model",
    "ModelEntry",
    "ModelSpec",
    "Optimizer",
    "PipelineConfig",
    "PipelineSpec",
    "PluginInfo",
    "PluginSpec",
    "Registry",
    "ReportConfig",
    "SparringError",
    "TrainConfig",
    "apply_overrides",
    "check_names",
    "config_to_dict",
    "dump_toml",
    "errors",
    "evaluating",
    "get_registry",
    "hookimpl",
    "load_pipeline",
    "reset_registry",
]
