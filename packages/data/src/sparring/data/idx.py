"""IDX files, and the ``mnist`` and ``fashion-mnist`` datasets stored in them.

IDX format (Y. LeCun, http://yann.lecun.com/exdb/mnist/, foot of the page), big-endian::

    bytes 0-1      0x00 0x00
    byte  2        element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                   0x0D float32, 0x0E float64
    byte  3        number of dimensions d
    bytes 4..4+4d  the d sizes, uint32 each
    then           prod(sizes) elements, row-major; nothing after them

MNIST and Fashion-MNIST images have magic number 0x00000803 (uint8, 3-D: N x 28 x 28,
pixel 0 = background), labels 0x00000801 (uint8, 1-D: N, values 0..9). Files are read
gzipped (as distributed) or not; gzip is recognised by its content, not its name.

Official file names, in ``<root>/mnist/``, ``<root>/fashion-mnist/`` or ``<root>``::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]    (split "train": 60,000)
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]     (split "test":  10,000)
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sparring.core.errors import DataError

from .dataset import ArrayDataset, check_split, check_value_range
from .locate import locate_files, verify_sha256

__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "read_idx",
    "load_mnist",
    "load_fashion_mnist",
]

IMAGES_MAGIC = 0x00000803
"""uint8, 3 dimensions: an image file."""
LABELS_MAGIC = 0x00000801
"""uint8, 1 dimension: a label file."""

_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_MAGIC_NAMES = {IMAGES_MAGIC: "uint8 3-D, an image file", LABELS_MAGIC: "uint8 1-D, a label file"}

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGE_SHAPE = (28, 28)
_MNIST_SOURCE = (
    "https://yann.lecun.com/exdb/mnist/ (the four *-ubyte.gz files; mirror: "
    "https://ossci-datasets.s3.amazonaws.com/mnist/)"
)
_FASHION_SOURCE = (
    "https://github.com/zalandoresearch/fashion-mnist (files at "
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/); on Debian or Ubuntu "
    "`apt install dataset-fashion-mnist` puts them in /usr/share/datasets/fashion-mnist"
)


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        return raw
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(
            f"{path}: cannot decompress this gzip file ({type(err).__name__}: {err}); it is "
            "truncated or corrupt: download it again"
        ) from err
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({type(err).__name__}: {err})") from err


def read_idx(path: str | os.PathLike[str], *, magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a numpy array of its stored shape.

    Args:
        path: the file.
        magic: the magic number the file must have (:data:`IMAGES_MAGIC`,
            :data:`LABELS_MAGIC`); ``None`` accepts any valid IDX header.

    Returns:
        The array, native byte order (uint8 files: read-only, not copied).

    Raises:
        DataError: not an IDX file, another magic number than ``magic``, or a length that
            differs from header + product of the sizes (truncated or oversized), saying
            which file and the sizes.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(
            f"{path}: {len(data)} bytes is too short for an IDX header (4 bytes at least); the file is truncated"
        )
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        what = _MAGIC_NAMES.get(found, "not a known IDX kind")
        raise DataError(
            f"{path}: magic number 0x{found:08X} ({what}), expected 0x{magic:08X} "
            f"({_MAGIC_NAMES.get(magic, 'IDX')}); is this the right file under the right name?"
        )
    if data[0:2] != b"\x00\x00" or data[2] not in _DTYPES:
        raise DataError(
            f"{path}: not an IDX file: magic number 0x{found:08X} (IDX files start with 0x0000, "
            f"then a type byte among {', '.join(f'0x{t:02X}' for t in _DTYPES)})"
        )
    dtype, ndim = _DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: {len(data)} bytes is too short for the header of a {ndim}-D IDX file "
            f"({header} bytes); the file is truncated"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "oversized (extra bytes after the data)"
        raise DataError(
            f"{path}: {state}: its header declares sizes {dims} of {dtype.itemsize}-byte elements, "
            f"i.e. {header} + {expected - header} = {expected} bytes, but the file holds {len(data)} bytes "
            "(decompressed); download it again"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    return array


def _load_idx_dataset(
    dataset: str,
    classes: tuple[str, ...],
    source: str,
    *,
    root: str | os.PathLike[str] | None,
    split: str,
    value_range: tuple[float, float],
    sha256: Mapping[str, str] | None,
) -> ArrayDataset:
    check_split(dataset, split, _SPLIT_FILES)
    value_range = check_value_range(value_range)
    images_name, labels_name = _SPLIT_FILES[split]
    images_path, labels_path = locate_files(
        f"{dataset!r} (split {split!r})",
        [(images_name + ".gz", images_name), (labels_name + ".gz", labels_name)],
        root=root,
        folders=(dataset, ""),
        source=source,
    )
    if sha256:
        verify_sha256([images_path, labels_path], sha256)
    images = read_idx(images_path, magic=IMAGES_MAGIC)
    if images.shape[1:] != _IMAGE_SHAPE:
        raise DataError(
            f"{images_path}: images of {images.shape[1]}x{images.shape[2]} pixels, expected "
            f"{_IMAGE_SHAPE[0]}x{_IMAGE_SHAPE[1]} for {dataset!r}; is this file from another dataset?"
        )
    labels = read_idx(labels_path, magic=LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{dataset!r} split {split!r}: {images_path.name} holds {len(images)} images but "
            f"{labels_path.name} holds {len(labels)} labels (in {images_path.parent}); the two "
            "files come from different versions or one is damaged: download both again"
        )
    bad = np.flatnonzero(labels >= len(classes))
    if bad.size:
        raise DataError(
            f"{labels_path}: label {int(labels[bad[0]])} at index {int(bad[0])} is not a class of "
            f"{dataset!r} (0..{len(classes) - 1}; {bad.size} such labels); the file is corrupt"
        )
    return ArrayDataset(images, labels, name=dataset, classes=classes, value_range=value_range)


def load_mnist(
    *,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    value_range: tuple[float, float] = (0.0, 1.0),
    sha256: Mapping[str, str] | None = None,
) -> ArrayDataset:
    """MNIST handwritten digits (LeCun, Cortes, Burges): 28x28 grey images, classes "0".."9".

    Args:
        root: data root or the folder holding the files (see :mod:`sparring.data.locate`).
        split: ``"train"`` (60,000) or ``"test"`` (10,000).
        value_range: ``(lo, hi)`` the pixels are mapped to; ``(0, 1)`` or ``(-1, 1)``.
        sha256: optional ``{file name: hex digest}`` checked before reading.
    """
    return _load_idx_dataset(
        "mnist", MNIST_CLASSES, _MNIST_SOURCE, root=root, split=split, value_range=value_range, sha256=sha256
    )


def load_fashion_mnist(
    *,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    value_range: tuple[float, float] = (0.0, 1.0),
    sha256: Mapping[str, str] | None = None,
) -> ArrayDataset:
    """Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017): 28x28 grey clothing images, 10 classes.

    Same layout and arguments as :func:`load_mnist`; classes in label order:
    T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
    """
    return _load_idx_dataset(
        "fashion-mnist",
        FASHION_MNIST_CLASSES,
        _FASHION_SOURCE,
        root=root,
        split=split,
        value_range=value_range,
        sha256=sha256,
    )
