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
            name="gtsrb",
            summary="GTSRB traffic signs, 43 classes, resized to 32x32x3 (PPM files, validation split by track)",
            factory="sparring.data.gtsrb:load_gtsrb",
            params={
                "root": None,
                "split": "train",
                "value_range": (0.0, 1.0),
                "size": 32,
                "crop": False,
                "as_sequence": False,
                "validation": 0.1,
                "seed": 0,
            },
        ),
        DatasetSpec(
            name="speech-commands",
            summary="Speech Commands v0.02, the spoken digits zero..nine, 1 s at 16 kHz (WAV files)",
            factory="sparring.data.speech_commands:load_speech_commands",
            params={"root": None, "split": "train", "value_range": (-1.0, 1.0)},
        ),
        DatasetSpec(
            name="urbansound8k",
            summary="UrbanSound8K relabelled dangerous (dog_bark, gun_shot, siren) vs benign, 4 s at 16 kHz",
            factory="sparring.data.urbansound8k:load_urbansound8k",
            params={
                "root": None,
                "split": "train",
                "value_range": (-1.0, 1.0),
                "test_folds": (10,),
                "sample_rate": 16000,
                "duration": 4.0,
                "binary": True,
            },
        ),
        DatasetSpec(
            name="mnist-sample",
            summary="5,000 real MNIST digits shipped with sparring-data, 4k train / 1k test",
            factory="sparring.data.sample:load_mnist_sample",
            params={"split": "train", "value_range": (0.0, 1.0)},
        ),
    ]
