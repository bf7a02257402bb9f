"""sparring.models registers its backends and models (imports no framework)."""

from __future__ import annotations

from sparring.core import BackendSpec, ModelSpec, hookimpl

_DENSE = "sparring.models.dense:dense"
_STACKED = "sparring.models.stacked:stacked"
_CNN = "sparring.models.cnn:cnn"
_RESNET18 = "sparring.models.resnet:resnet18"
_BOTH = ("torch", "jax")


@hookimpl
def register_backends() -> list[BackendSpec]:
    return [
        BackendSpec(
            name="torch",
            summary="PyTorch, CPU or CUDA (eager; torch.compile on request)",
            factory="sparring.models.torch.backend:TorchBackend",
            params={"device": "cpu"},
        ),
        BackendSpec(
            name="jax",
            summary="JAX, CPU/GPU/TPU (jax.jit)",
            factory="sparring.models.jax.backend:JaxBackend",
            params={"device": "cpu"},
        ),
    ]


@hookimpl
def register_models() -> list[ModelSpec]:
    dense_params = {
        "input_shape": (784,),
        "hidden": (256, 256),
        "num_classes": 10,
        "value_range": (0.0, 1.0),
        "dtype": "float32",
    }
    return [
        ModelSpec(name="dense", summary="ReLU MLP of any sizes", factory=_DENSE, backends=_BOTH, params=dense_params),
        ModelSpec(
            name="dense-mnist",
            summary="MLP 784-256-256-10 for 28x28 digits in [0, 1]",
            factory=_DENSE,
            backends=_BOTH,
            params={**dense_params, "input_shape": (28, 28)},
        ),
        *_stacked_specs(),
        *_image_specs(dense_params),
    ]


def _stacked_specs() -> list[ModelSpec]:
    """Annotated S4's StackedModel (the Kasl thesis's models) and its MNIST presets."""
    params = {
        "layer": "s4d",
        "input_shape": (784, 1),
        "d_model": 128,
        "state_size": 64,
        "n_layers": 1,
        "num_classes": 10,
        "dropout": 0.0,
        "value_range": (0.0, 1.0),
        "dtype": "float32",
    }
    # Kasl 2024, ch. 5.1: 784 pixels as a [784, 1] sequence in [-1, 1], layers of 128
    mnist = {**params, "value_range": (-1.0, 1.0)}
    presets = {
        "ff": "Linear per step on the flattened 28x28 digit (151,562 parameters)",
        "gru": "GRU over 784 pixels, Flax biases (133,642 parameters)",
        "lstm": "LSTM over 784 pixels, Flax biases (166,410 parameters)",
        "s4": "DPLR S4 (HiPPO-LegS init) over 784 pixels, N=64 (100,618 parameters)",
        "s4d": "S4D-Lin diagonal SSM over 784 pixels, N=64 (51,466 parameters)",
    }
    return [
        ModelSpec(
            name="stacked",
            summary="Annotated S4 StackedModel: encoder, ff/gru/lstm/s4/s4d blocks, mean, decoder",
            factory=_STACKED,
            backends=_BOTH,
            params=params,
        ),
        *(
            ModelSpec(
                name=f"{layer}-mnist",
                summary=f"Kasl thesis MNIST StackedModel: {what}",
                factory=_STACKED,
                backends=_BOTH,
                params={**mnist, "layer": layer},
            )
            for layer, what in presets.items()
        ),
    ]


def _image_specs(dense_params: dict[str, object]) -> list[ModelSpec]:
    """Image classifiers (channels-last inputs): the Matyasko thesis's MNIST MLP and Lenet-5,
    a small CNN and the CIFAR ResNet-18.

    ``matyasko-mlp``: Matyasko 2020 thesis (``references/``) §3.5.1, "fully-connected network
    with three hidden layers of size (1000, 1000, 1000)", ReLU, MNIST in [0, 1] (§4.5 uses
    1200 units: override ``hidden=(1200, 1200, 1200)``, 3,836,410 parameters).
    ``lenet-mnist``: the thesis's Lenet-5 (§3.5.1, §4.5; sizes from the author's code, see
    :mod:`sparring.models.cnn`).
    """
    cnn_params = {
        "input_shape": (28, 28, 1),
        "channels": (32, 64),
        "kernel_size": 5,
        "padding": "same",
        "hidden": (128,),
        "num_classes": 10,
        "value_range": (0.0, 1.0),
        "dtype": "float32",
    }
    resnet_params = {
        "input_shape": (32, 32, 3),
        "num_classes": 10,
        "width": 64,
        "value_range": (0.0, 1.0),
        "dtype": "float32",
    }
    return [
        ModelSpec(
            name="matyasko-mlp",
            summary="Matyasko thesis 3.5.1 MNIST MLP 784-1000-1000-1000-10, ReLU (2,797,010 parameters)",
            factory=_DENSE,
            backends=_BOTH,
            params={**dense_params, "input_shape": (28, 28), "hidden": (1000, 1000, 1000)},
        ),
        ModelSpec(
            name="cnn",
            summary="conv-ReLU-maxpool2 stages (one per channels entry), ReLU MLP head; channels-last images",
            factory=_CNN,
            backends=_BOTH,
            params=cnn_params,
        ),
        ModelSpec(
            name="cnn-mnist",
            summary="CNN conv32-5x5, pool, conv64-5x5, pool, fc128, fc10 for 28x28 digits (454,922 parameters)",
            factory=_CNN,
            backends=_BOTH,
            params={**cnn_params, "input_shape": (28, 28)},
        ),
        ModelSpec(
            name="lenet-mnist",
            summary="Matyasko thesis Lenet-5: conv32-5x5, pool, conv64-5x5, pool, fc512, fc10 (582,026 parameters)",
            factory=_CNN,
            backends=_BOTH,
            params={**cnn_params, "input_shape": (28, 28), "padding": "valid", "hidden": (512,)},
        ),
        ModelSpec(
            name="resnet18",
            summary="ResNet-18, CIFAR stem (3x3 conv, no max-pool), BatchNorm, any width and input size",
            factory=_RESNET18,
            backends=_BOTH,
            params=resnet_params,
        ),
        ModelSpec(
            name="resnet18-cifar",
            summary="ResNet-18 for 32x32x3 CIFAR-10 images, 10 classes (11,173,962 parameters)",
            factory=_RESNET18,
            backends=_BOTH,
            params=resnet_params,
        ),
        ModelSpec(
            name="resnet18-gtsrb",
            summary="ResNet-18 for 32x32x3 GTSRB traffic signs, 43 classes (11,190,891 parameters)",
            factory=_RESNET18,
            backends=_BOTH,
            params={**resnet_params, "num_classes": 43},
        ),
    ]
