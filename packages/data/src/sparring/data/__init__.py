"""sparring.data: dataset readers and the embedded MNIST sample.

Registered datasets (load them by name with :func:`load_dataset`): ``mnist``,
``fashion-mnist`` (IDX files), ``cifar10`` (python batches, restricted unpickling) and
``mnist-sample`` (5,000 real digits shipped in the package). Files are looked for under
the ``root`` argument, else ``$SPARRING_DATA``, else ``~/.cache/sparring``; sparring never
downloads. Importing this package imports numpy, never torch or jax::

    from sparring.data import load_dataset
    train = load_dataset("mnist-sample", split="train", value_range=(-1.0, 1.0))
    for x, y in train.batches(64, seed=0):
        ...
"""

from __future__ import annotations

from .cifar import load_cifar10, read_cifar_batch, read_cifar_meta
from .dataset import ArrayDataset
from .idx import load_fashion_mnist, load_mnist, read_idx
from .load import load_dataset
from .locate import data_root, locate_files, verify_sha256
from .sample import load_mnist_sample

__all__ = [
    "ArrayDataset",
    "data_root",
    "load_cifar10",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_sample",
    "locate_files",
    "read_cifar_batch",
    "read_cifar_meta",
    "read_idx",
    "verify_sha256",
]
