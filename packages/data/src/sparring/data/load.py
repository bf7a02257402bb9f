"""Load a registered dataset by name: ``load_dataset("mnist", split="test")``."""

from __future__ import annotations

from typing import Any

from sparring.core.errors import PluginLoadError
from sparring.core.protocols import Dataset
from sparring.core.registry import get_registry

__all__ = ["load_dataset"]


def load_dataset(name: str, **params: Any) -> Dataset:
    """Build dataset ``name`` (``"mnist"``, ``"cifar10"``, ``"mnist-sample"``, ...) from the registry.

    ``params`` replace the spec's defaults (``root``, ``split``, ``value_range``, ...).

    Raises:
        UnknownNameError: ``name`` is not registered (with the closest registered names).
        ConfigError: a parameter the dataset does not take (naming the accepted ones), or
            a bad value for one.
        DataError: the dataset's files are missing or invalid.
    """
    spec = get_registry().get_dataset(name)
    dataset = spec.create(params)
    if not isinstance(dataset, Dataset):
        raise PluginLoadError(
            f"dataset {name!r}: its factory {spec.factory!r} returned {type(dataset).__name__}, "
            "not a Dataset (info, __len__, __getitem__, batches)"
        )
    return dataset
