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
        *_kasl_specs(),
        *_image_specs(dense_params),
    ]


_STACKED_PARAMS = {
    "layer": "s4d", "input_shape": (784, 1), "d_model": 128, "state_size": 64, "n_layers": 1, "num_classes": 10,
    "dropout": 0.0, "value_range": (0.0, 1.0), "dtype": "float32", "rnn_hidden": None,
}
"""The ``stacked`` factory's keyword defaults."""


def _stacked_specs() -> list[ModelSpec]:
    """Annotated S4's StackedModel (the Kasl thesis's models) and its MNIST presets."""
    params = dict(_STACKED_PARAMS)
    # Kasl 2024, ch. 5.1: 784 pixels as a [784, 1] sequence in [-1, 1], layers of 128 (the
    # recurrent cells too: rnn_hidden None = d_model = 128)
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


def _kasl_specs() -> list[ModelSpec]:
    """The Kasl thesis's StackedModels for GTSRB, Speech Commands and UrbanSound8K.

    ``{ff,gru,lstm,s4}-{gtsrb,speech,speech-mel,us8k,us8k-mel}``: one block, no dropout, inputs in
    ``[-1, 1]`` (J. Kasl 2024, ``references/kasl-2024-minmax-s4-thesis.txt``, line 656),
    sizes from chapter 5 (line numbers of that file); H = ``rnn_hidden``, the width of the
    gru/lstm cells (N and H both the thesis's "size of each layer")::

        preset        source               input (L, F)   d_model  N = H  C    ff / gru / lstm / s4 parameters
        *-gtsrb       5.2, l. 911-939      (1024, 3)      324      224    43   1,326,175 / 530,871 / 653,623 / 807,775
        *-speech      5.3.1, l. 995-1018   (16000, 1)     128      64     10   2,099,210 /  55,562 /  67,850 / 100,618
        *-speech-mel  5.3.2, l. 1036-1071  (32, 128)      196      120    10     921,210 / 189,318 / 227,238 / 293,422
        *-us8k        5.4, l. 1185-1226    (40000, 1)     240      196    2    2,574,722 / 353,154 / 438,610 / 493,922
        *-us8k-mel    5.4.2, l. 1254-1300  (79, 128)      240      196    2    2,601,602 / 383,634 / 469,090 / 524,402

    (``ff-us8k`` reads ``(10000, 1)``, see below.) The thesis's counts, where it gives
    them: GTSRB S4 807,775 and FF 662,623 (l. 938-939); UrbanSound8K FF 2,574,722, GRU
    353,154, LSTM 438,610, S4 493,922 (l. 1223-1226); none for Speech Commands.

    Counts of :mod:`sparring.models.stacked` (d = d_model, N = state_size, H = rnn_hidden,
    F features a step, C classes; ``ff`` reads the whole sample as one step, F = L x
    features; the GLU maps the cell's H channels back to d)::

        shell = (F + 1) d + 2 d + 2 (d^2 + d) + (d + 1) C     encoder, LayerNorm, GLU, decoder
        ff    = shell + d^2 + d          = 3 d^2 + (F + C + 6) d + C
        s4    = shell + (8 N + 2) d      = 2 d^2 + (F + C + 7 + 8 N) d + C
        gru   = 5 H d + 3 H^2 + 4 H + (F + C + 5) d + C         (8 d^2 + (F + C + 9) d + C at H = d)
        lstm  = 6 H d + 4 H^2 + 4 H + (F + C + 5) d + C         (10 d^2 + (F + C + 9) d + C at H = d)

    Mapping. The thesis lists "size of each layer" a and "size of the recurrent hidden
    state" b. Solving the formulas for its counts: in 5.2-5.4 d_model = b, N = a and the
    recurrent cells are H = a wide (GTSRB S4 at d 324, N 224, F 3, C 43 is 807,775
    exactly; at d 224, N 324 it would be 692,875; UrbanSound8K S4 at d 240, N 196, F 1, C 2
    is 493,922 exactly; no single d gives both its GRU and LSTM counts, LSTM - GRU =
    H (d + H) = 85,456 gives H = 196 = a with d = 240 = b, and then both exactly), while
    the MNIST section 5.1 has d_model = a = 128 = H, N = b = 64 (its swap matches none of
    its four counts). Speech Commands gives no counts; its presets follow 5.2-5.4.

    What differs from the thesis (the tests in ``tests/test_presets.py`` check each claim):

    * ``ff-gtsrb``: 662,623 = 3 d^2 + (F + 49) d + 43 at d = 324 needs F = 1024: the
      thesis's feed-forward model read the non-serial layout ``[3, 1024]``, three steps
      (one colour plane each) of 1024 pixels, averaged over the 3 steps. Our ``ff`` reads
      all 3072 values as one step: 2048 d = 663,552 more encoder weights (1,326,175).
    * ``ff-us8k``: 2,574,722 = 3 d^2 + (F + 8) d + 2 at d = 240 needs F = 10,000: the
      thesis's FF saw 10,000 waveform values, a quarter of the "roughly [40000, 1]" (l.
      1193) of its serial models. The preset reads ``(10000, 1)``: load UrbanSound8K with
      ``sample_rate=2500, duration=4.0`` for it (``sample_rate=10000`` for the others).
    * ``*-speech``: the thesis also put "one 1D convolution" (l. 1003, unspecified)
      before the network; not part of these presets. The ten digits "zero" .. "nine".
    * ``*-speech-mel``: torchaudio's ``MelSpectrogram(n_fft=1024)`` (l. 1042) at its
      defaults, hop 512 and 128 Mels: ``1 + 16000 // 512 = 32`` frames of 128 Mels (the
      sizes of l. 1062-1065 serve the Mel spectrogram with and without ``AmplitudeToDB``).
      :class:`sparring.data.features.MelSpectrogram` with ``hop_length=512, htk=True,
      norm=None`` reproduces it and returns ``(128, 32)``: swap the last two axes to the
      preset's ``(frames, Mels)``.
    * ``*-us8k``: the thesis's binary relabelling, dangerous (dog bark, gun shot, siren)
      vs benign (l. 1208), as the ``urbansound8k`` dataset's ``binary=True``.
    * ``*-us8k-mel``: "otherwise, the setup remains the same" (l. 1256): the raw presets'
      sizes on the Mel spectrogram of the 40,000-sample waveform, at the speech-mel
      settings (n_fft 1024, hop 512, 128 Mels): ``1 + 40000 // 512 = 79`` frames. The
      thesis gives no counts for them.
    """
    base = {**_STACKED_PARAMS, "layer": "s4", "value_range": (-1.0, 1.0)}
    layers = {"ff": "FF", "gru": "GRU", "lstm": "LSTM", "s4": "S4"}
    datasets = {  # suffix: (sizes, what, {layer: parameters}); see the docstring
        "gtsrb": (
            {"input_shape": (1024, 3), "d_model": 324, "state_size": 224, "num_classes": 43},
            "GTSRB 1024 pixels x RGB, 43 classes",
            {"ff": "1,326,175; thesis 662,623", "gru": "530,871", "lstm": "653,623", "s4": "807,775 as the thesis"},
        ),
        "speech": (
            {"input_shape": (16000, 1), "d_model": 128, "state_size": 64, "num_classes": 10},
            "Speech Commands digits, 16000-sample waveform",
            {"ff": "2,099,210", "gru": "55,562", "lstm": "67,850", "s4": "100,618"},
        ),
        "speech-mel": (
            {"input_shape": (32, 128), "d_model": 196, "state_size": 120, "num_classes": 10},
            "Speech Commands digits, 32 frames x 128 Mels (n_fft 1024, hop 512)",
            {"ff": "921,210", "gru": "189,318", "lstm": "227,238", "s4": "293,422"},
        ),
        "us8k-mel": (
            {"input_shape": (79, 128), "d_model": 240, "state_size": 196, "num_classes": 2},
            "UrbanSound8K dangerous vs benign, 79 frames x 128 Mels (4 s at 10 kHz, n_fft 1024, hop 512)",
            {"ff": "2,601,602", "gru": "383,634", "lstm": "469,090", "s4": "524,402"},
        ),
        "us8k": (
            {"input_shape": (40000, 1), "d_model": 240, "state_size": 196, "num_classes": 2},
            "UrbanSound8K dangerous vs benign, 40000-sample waveform",
            {
                "ff": "2,574,722 as the thesis",
                "gru": "353,154 as the thesis",
                "lstm": "438,610 as the thesis",
                "s4": "493,922 as the thesis",
            },
        ),
    }
    specs: list[ModelSpec] = []
    for suffix, (sizes, what, counts) in datasets.items():
        for layer, label in layers.items():
            params = {**base, **sizes, "layer": layer}
            if layer in ("gru", "lstm"):  # the thesis's "size of each layer", as N
                params["rnn_hidden"] = sizes["state_size"]
            summary = what
            if suffix == "us8k" and layer == "ff":  # the thesis's FF count needs 10,000 values
                params["input_shape"] = (10000, 1)
                summary = "UrbanSound8K dangerous vs benign, 10000-sample waveform"
            specs.append(
                ModelSpec(
                    name=f"{layer}-{suffix}",
                    summary=f"Kasl thesis {label} StackedModel: {summary} ({counts[layer]} parameters)",
                    factory=_STACKED,
                    backends=_BOTH,
                    params=params,
                )
            )
    return specs


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
