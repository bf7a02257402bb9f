"""Weights files: safetensors of numpy arrays under canonical dotted names.

No pickle anywhere: a weights file holds arrays and string metadata only. Writes are
atomic (a temporary file in the same folder, then ``os.replace``), so an interrupted
save never leaves a half-written file in place of a good one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from sparring.core.errors import CheckpointMismatchError, DataError

__all__ = ["save_arrays", "load_arrays", "check_layout"]


def save_arrays(
    arrays: Mapping[str, np.ndarray], path: str | os.PathLike[str], metadata: dict[str, str] | None = None
) -> None:
    """Write ``arrays`` to ``path`` as safetensors, atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        # ascontiguousarray makes 0-d arrays 1-d; keep scalars (BatchNorm's num_batches_tracked) as ()
        contiguous = {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in arrays.items()}
        save_file(contiguous, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a safetensors file into numpy arrays; a missing or corrupt file is a DataError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"weights file {path!r} does not exist; give the path of a file written by model.save()")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise DataError(
            f"weights file {path!r} is not a readable safetensors file ({err}); "
            "it may be truncated or not written by sparring"
        ) from err


def check_layout(
    expected: Mapping[str, tuple[int, ...]], given: Mapping[str, np.ndarray], source: str
) -> None:
    """Raise CheckpointMismatchError listing every missing, unexpected or misshaped name."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = sorted(
        (name, tuple(given[name].shape), tuple(expected[name]))
        for name in set(expected) & set(given)
        if tuple(given[name].shape) != tuple(expected[name])
    )
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(source, missing=missing, unexpected=unexpected, shapes=shapes)
