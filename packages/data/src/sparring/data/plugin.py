"""sparring.data registers its datasets (imports no framework; factories load lazily)."""

from __future__ import annotations

from sparring.core import DatasetSpec, hookimpl

_FILES = {"root": None, "split": "train", "value_range": (0.0, 1.0), "sha256": None}


@hookimpl
def register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="mnist",
            summary="MNIST handwritten digits, 28x28 grey, 60k train / 10k test (IDX files)",
            factory="sparring.data.idx:load_mnist",
            params=_FILES,
        ),
        DatasetSpec(
            name="fashion-mnist",
            summary="Fashion-MNIST clothing, 28x28 grey, 60k train / 10k test (IDX files)",
            factory="sparring.data.idx:load_fashion_mnist",
            params=_FILES,
        ),
        DatasetSpec(
            name="cifar10",
            summary="CIFAR-10, 32x32x3 colour, 50k train / 10k test (python batches)",
            factory="sparring.data.cifar:load_cifar10",
            params=_FILES,
        ),
        DatasetSpec(
            name="mnist-sample",
            summary="5,000 real MNIST digits shipped with sparring-data, 4k train / 1k test",
            factory="sparring.data.sample:load_mnist_sample",
            params={"split": "train", "value_range": (0.0, 1.0)},
        ),
    ]
