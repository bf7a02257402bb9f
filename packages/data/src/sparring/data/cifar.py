"""CIFAR-10 (Krizhevsky, 2009) from its official "python version" batches.

Layout of ``cifar-10-python.tar.gz`` (https://www.cs.toronto.edu/~kriz/cifar.html),
extracted into ``<root>/cifar10/``, ``<root>`` or given directly as ``root``::

    cifar-10-batches-py/data_batch_1 .. data_batch_5   split "train": 5 x 10,000 images
    cifar-10-batches-py/test_batch                     split "test":  10,000 images
    cifar-10-batches-py/batches.meta                   class names

Each batch is a pickled dict (Python 2 cPickle, protocol 2; loaded with
``encoding="bytes"``): ``b"data"`` a uint8 array ``(N, 3072)`` whose rows hold the
1024 red, then 1024 green, then 1024 blue values of a 32x32 image in row-major order;
``b"labels"`` N ints in 0..9; ``b"batch_label"``, ``b"filenames"``. ``batches.meta``
holds ``b"label_names"``, the 10 class names. Files are read with a restricted
unpickler (:mod:`sparring.data.safe_pickle`) that rebuilds arrays and containers only.

Images are returned height-width-channel, ``(32, 32, 3)`` float32 in the value range;
the training split concatenates the five batches in order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sparring.core.errors import DataError

from .dataset import ArrayDataset, check_split, check_value_range
from .locate import locate_files, verify_sha256
from .safe_pickle import restricted_load

__all__ = ["CIFAR10_CLASSES", "read_cifar_batch", "read_cifar_meta", "load_cifar10"]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""The names in the official ``batches.meta``, in label order."""

_SPLIT_FILES = {
    "train": tuple(f"data_batch_{k}" for k in range(1, 6)),
    "test": ("test_batch",),
}
_META = "batches.meta"
_SIDE, _CHANNELS = 32, 3
_SOURCE = (
    "https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR-10 python version, "
    "cifar-10-python.tar.gz; extract it, which makes the folder cifar-10-batches-py)"
)


def _text_keys(obj: Any, path: Path) -> dict[str, Any]:
    """The dict of a batch with its keys as str (``b"data"`` and ``"data"`` alike)."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict (a CIFAR batch), got {type(obj).__name__}")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if not isinstance(key, str):
            raise DataError(f"{path}: unexpected key {key!r} in a CIFAR batch")
        out[key] = value
    return out


def _require(batch: Mapping[str, Any], key: str, path: Path) -> Any:
    if key not in batch:
        raise DataError(
            f"{path}: the batch has no {key!r} entry (keys: {', '.join(sorted(batch))}); "
            "is this a CIFAR-10 python batch?"
        )
    return batch[key]


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file as ``(images (N, 32, 32, 3) uint8, labels (N,) int64)``.

    Raises:
        DataError: a refused or unreadable pickle, a missing entry, ``data`` not a uint8
            ``(N, 3072)`` array, or labels that are not N ints in 0..9.
    """
    path = Path(path)
    batch = _text_keys(restricted_load(path), path)
    data = _require(batch, "data", path)
    labels = _require(batch, "labels", path)
    width = _SIDE * _SIDE * _CHANNELS
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
        what = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: 'data' must be a uint8 array of shape (N, {width}), got a {what}")
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError) as err:  # ragged or odd objects
        raise DataError(f"{path}: 'labels' is not a list of ints ({err})") from err
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{path}: 'labels' must be a list of ints, got {type(labels).__name__} of dtype {y.dtype}")
    if len(y) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(y)} labels; the file is damaged: download it again")
    bad = np.flatnonzero((y < 0) | (y >= len(CIFAR10_CLASSES)))
    if bad.size:
        raise DataError(
            f"{path}: label {int(y[bad[0]])} at index {int(bad[0])} is outside 0..9 ({bad.size} such labels)"
        )
    images = data.reshape(len(data), _CHANNELS, _SIDE, _SIDE).transpose(0, 2, 3, 1)  # (N, H, W, C)
    return np.ascontiguousarray(images), y.astype(np.int64)


def read_cifar_meta(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The class names in ``batches.meta`` (``b"label_names"``), as str."""
    path = Path(path)
    meta = _text_keys(restricted_load(path), path)
    names = _require(meta, "label_names", path)
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{path}: 'label_names' must be a list of strings, got {names!r:.100}")
    decoded = tuple(n.decode("latin-1") if isinstance(n, bytes) else n for n in names)
    if len(decoded) != len(CIFAR10_CLASSES):
        raise DataError(f"{path}: {len(decoded)} class names, CIFAR-10 has {len(CIFAR10_CLASSES)}: {decoded}")
    return decoded


def load_cifar10(
    *,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    value_range: tuple[float, float] = (0.0, 1.0),
    sha256: Mapping[str, str] | None = None,
) -> ArrayDataset:
    """CIFAR-10: 32x32 colour images ``(32, 32, 3)`` of 10 classes.

    Args:
        root: data root or the folder holding the batches (see :mod:`sparring.data.locate`).
        split: ``"train"`` (data_batch_1..5, 50,000) or ``"test"`` (test_batch, 10,000).
        value_range: ``(lo, hi)`` the pixels are mapped to; ``(0, 1)`` or ``(-1, 1)``.
        sha256: optional ``{file name: hex digest}`` (``"data_batch_1"``, ...) checked first.
    """
    check_split("cifar10", split, _SPLIT_FILES)
    value_range = check_value_range(value_range)
    names = (*_SPLIT_FILES[split], _META)
    paths = locate_files(
        f"'cifar10' (split {split!r})",
        [(n,) for n in names],
        root=root,
        folders=("cifar10/cifar-10-batches-py", "cifar-10-batches-py", ""),
        source=_SOURCE,
    )
    if sha256:
        verify_sha256(paths, sha256)
    classes = read_cifar_meta(paths[-1])
    parts = [read_cifar_batch(p) for p in paths[:-1]]
    images = np.concatenate([x for x, _ in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([y for _, y in parts]) if len(parts) > 1 else parts[0][1]
    return ArrayDataset(images, labels, name="cifar10", classes=classes, value_range=value_range)
