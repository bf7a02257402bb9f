"""``mnist-sample``: 5,000 real MNIST digits shipped inside sparring-data (no download).

The file ``samples/mnist_5k.npz`` holds ``images`` uint8 ``(5000, 28, 28)`` and
``labels`` uint8 ``(5000,)``, 500 digits per class sorted by label (provenance, licence
and conversion: ``samples/README.md``). Fixed split, no randomness: within each class
the first 400 digits are ``"train"`` (4,000), the last 100 ``"test"`` (1,000); each split
is ordered by (rank within class, label), so labels cycle 0..9.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from sparring.core.errors import DataError

from .dataset import ArrayDataset, check_split, check_value_range
from .idx import MNIST_CLASSES

__all__ = ["SAMPLE_FILE", "TRAIN_PER_CLASS", "load_mnist_sample", "read_mnist_sample"]

SAMPLE_FILE = "samples/mnist_5k.npz"
"""The sample's path inside the ``sparring.data`` package."""

TRAIN_PER_CLASS = 400
"""Digits of each class in the train split; the other 100 of the 500 are the test split."""

_PER_CLASS = 500


def read_mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """The raw sample as ``(images (5000, 28, 28) uint8, labels (5000,) uint8)``, file order."""
    ref = resources.files("sparring.data").joinpath(SAMPLE_FILE)
    try:
        with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except (OSError, ValueError, KeyError) as err:
        raise DataError(
            f"the embedded MNIST sample {SAMPLE_FILE} in sparring.data cannot be read "
            f"({type(err).__name__}: {err}); reinstall sparring-data"
        ) from err
    if images.shape != (10 * _PER_CLASS, 28, 28) or images.dtype != np.uint8 or labels.shape != (len(images),):
        raise DataError(
            f"the embedded MNIST sample {SAMPLE_FILE} holds images {images.dtype} {images.shape} and "
            f"labels {labels.shape}, expected uint8 (5000, 28, 28) and (5000,); reinstall sparring-data"
        )
    return images, labels


def _split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    keep: list[np.ndarray] = []
    for c in range(10):
        members = np.flatnonzero(labels == c)  # file order
        keep.append(members[:TRAIN_PER_CLASS] if split == "train" else members[TRAIN_PER_CLASS:])
    rank = np.concatenate([np.arange(len(k)) for k in keep])
    idx = np.concatenate(keep)
    return idx[np.lexsort((labels[idx], rank))]  # by rank, then label


def load_mnist_sample(
    *, split: str = "train", value_range: tuple[float, float] = (0.0, 1.0)
) -> ArrayDataset:
    """The embedded MNIST sample: ``"train"`` 4,000 or ``"test"`` 1,000 digits, classes "0".."9".

    Args:
        split: ``"train"`` or ``"test"`` (the fixed split of the module docstring).
        value_range: ``(lo, hi)`` the pixels are mapped to; ``(0, 1)`` or ``(-1, 1)``.
    """
    check_split("mnist-sample", split, ("train", "test"))
    value_range = check_value_range(value_range)
    images, labels = read_mnist_sample()
    idx = _split_indices(labels, split)
    return ArrayDataset(
        images[idx], labels[idx].astype(np.int64), name="mnist-sample", classes=MNIST_CLASSES, value_range=value_range
    )
