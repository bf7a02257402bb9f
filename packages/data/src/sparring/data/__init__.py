"""sparring.data: dataset readers and the embedded MNIST sample.

Registered datasets (load them by name with :func:`load_dataset`): ``mnist``,
``fashion-mnist`` (IDX files), ``cifar10`` (python batches, restricted unpickling),
``gtsrb`` (PPM images and CSV annotations), ``speech-commands`` (the ten digits, WAV),
``urbansound8k`` (WAV, relabelled dangerous vs benign) and ``mnist-sample`` (5,000 real
digits shipped in the package). Framework-free audio features (STFT, Mel, dB) that run
on numpy, torch and jax arrays are in :mod:`sparring.data.features`; seeded batch
augmentations in :mod:`sparring.data.transforms`. Files are looked for under
the ``root`` argument, else ``$SPARRING_DATA``, else ``~/.cache/sparring``; sparring never
downloads. Importing this package imports numpy, never torch or jax::

    from sparring.data import load_dataset
    train = load_dataset("mnist-sample", split="train", value_range=(-1.0, 1.0))
    for x, y in train.batches(64, seed=0):
        ...
"""

from __future__ import annotations

from .audio import read_wav, resample
from .cifar import load_cifar10, read_cifar_batch, read_cifar_meta
from .dataset import ArrayDataset
from .gtsrb import load_gtsrb
from .idx import load_fashion_mnist, load_mnist, read_idx
from .image import read_ppm
from .load import load_dataset
from .locate import data_root, locate_files, locate_folder, verify_sha256
from .sample import load_mnist_sample
from .speech_commands import load_speech_commands
from .urbansound8k import load_urbansound8k

__all__ = [
    "ArrayDataset",
    "data_root",
    "load_cifar10",
    "load_dataset",
    "load_fashion_mnist",
    "load_gtsrb",
    "load_mnist",
    "load_mnist_sample",
    "load_speech_commands",
    "load_urbansound8k",
    "locate_files",
    "locate_folder",
    "read_cifar_batch",
    "read_cifar_meta",
    "read_idx",
    "read_ppm",
    "read_wav",
    "resample",
    "verify_sha256",
]
