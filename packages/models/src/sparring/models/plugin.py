"""sparring.models registers its backends and models (imports no framework)."""

from __future__ import annotations

from sparring.core import BackendSpec, ModelSpec, hookimpl

_DENSE = "sparring.models.dense:dense"
_STACKED = "sparring.models.stacked:stacked"
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
        "s4d": "S4D-Lin diagonal SSM over 784 pixels, N=64 (51,466 parameters)",
    }
    return [
        ModelSpec(
            name="stacked",
            summary="Annotated S4 StackedModel: encoder, ff/gru/lstm/s4d blocks, mean, decoder",
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
