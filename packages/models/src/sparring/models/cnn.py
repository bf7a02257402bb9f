"""Small convolutional classifiers on either backend (factory of the ``cnn`` entries).

``[conv k x k -> ReLU -> max-pool 2] per entry of channels -> flatten -> [Linear -> ReLU]
per entry of hidden -> Linear``, on channels-last images (see :mod:`sparring.models.image`).
Architecture and parameter layout: :mod:`sparring.models.torch.cnn` and
:mod:`sparring.models.jax.cnn` (identical names and torch's ``(out, in, kh, kw)`` layout).

Presets (``plugin.py``):

- ``cnn-mnist``: conv32-5x5 'same', pool, conv64-5x5 'same', pool, fc128, fc10
  (454,922 parameters).
- ``lenet-mnist``: the "Lenet-5" of the Matyasko thesis (``references/``, §3.5.1 and
  §4.5, MNIST in [0, 1], ReLU). The thesis names Lenet-5 [LeCun et al. 1998] without
  sizes; its code (aam-at/margin_maximization ``mnist/models.py:lenet5`` for ch. 3,
  aam-at/adversary_critic ``models.py:lenet5`` for ch. 4) builds conv32-5x5 'valid',
  max-pool 2, conv64-5x5 'valid', max-pool 2, dense 512, dense 10 (582,026 parameters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.protocols import Backend, Model

from .backends import get_backend
from .image import check_dtype, image_shape

__all__ = ["PADDINGS", "cnn", "flat_features"]

PADDINGS = ("same", "valid")


def flat_features(
    hwc: tuple[int, int, int], channels: Sequence[int], kernel_size: int, padding: str
) -> int:
    """Number of features entering the first Linear layer (after the conv/pool stages)."""
    h, w, _ = hwc
    for i in range(len(channels)):
        if padding == "valid":
            h, w = h - kernel_size + 1, w - kernel_size + 1
        h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ConfigError(
                f"cnn: a {hwc[0]}x{hwc[1]} image is too small for {len(channels)} conv/pool stages "
                f"(kernel {kernel_size}, padding {padding!r}): nothing is left after stage {i + 1}"
            )
    return h * w * int(channels[-1]) if channels else h * w * hwc[2]


def cnn(
    *,
    backend: str | Backend = "torch",
    device: str = "cpu",
    seed: int = 0,
    input_shape: Sequence[int] = (28, 28, 1),
    channels: Sequence[int] = (32, 64),
    kernel_size: int = 5,
    padding: str = "same",
    hidden: Sequence[int] = (128,),
    num_classes: int = 10,
    value_range: Sequence[float] = (0.0, 1.0),
    dtype: str = "float32",
) -> Model:
    """A CNN returning logits ``(B, num_classes)`` for channels-last images.

    Args:
        input_shape: ``(H, W, C)``, or ``(H, W)`` for one channel.
        channels: output channels of the conv layers (stride 1, bias), each followed by
            ReLU and a 2x2 max-pool (stride 2, floor).
        kernel_size: odd or even square kernel of every conv layer.
        padding: ``"same"`` (output as large as the input) or ``"valid"`` (no padding).
        hidden: sizes of the ReLU Linear layers after flattening (channel-major, as torch).
        seed: initial weights (torch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
            weights and biases; torch and jax draw different numbers for one seed).
    """
    hwc = image_shape("cnn", input_shape)
    channels = tuple(int(c) for c in channels)
    hidden = tuple(int(h) for h in hidden)
    kernel_size, num_classes = int(kernel_size), int(num_classes)
    dtype = check_dtype("cnn", dtype)
    if padding not in PADDINGS:
        raise ConfigError(f"cnn: padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
    if any(c < 1 for c in channels) or any(h < 1 for h in hidden) or kernel_size < 1 or num_classes < 2:
        raise ConfigError(
            f"cnn: sizes must be positive and num_classes >= 2, got channels={channels}, "
            f"kernel_size={kernel_size}, hidden={hidden}, num_classes={num_classes}"
        )
    flat_features(hwc, channels, kernel_size, padding)
    be = get_backend(backend, device)
    sizes: dict[str, Any] = dict(
        channels=channels, kernel_size=kernel_size, padding=padding, hidden=hidden, num_classes=num_classes
    )
    meta: dict[str, Any] = dict(
        input_shape=tuple(int(d) for d in input_shape),
        num_classes=num_classes,
        value_range=tuple(value_range),
        name="cnn",
    )
    if be.name == "torch":
        import torch

        from .torch.cnn import CNN
        from .torch.model import TorchModel

        generator = torch.Generator().manual_seed(int(seed))
        module = CNN(hwc, generator=generator, dtype=getattr(torch, dtype), **sizes)
        return TorchModel(module, backend=be, **meta)
    if be.name == "jax":
        import jax
        from flax import nnx

        from .jax.cnn import CNN as JaxCNN
        from .jax.model import JaxModel

        if dtype == "float64" and not jax.config.jax_enable_x64:
            raise ConfigError("dtype='float64' on jax needs 64-bit mode: jax.config.update('jax_enable_x64', True)")
        module = JaxCNN(hwc, rngs=nnx.Rngs(int(seed)), dtype=dtype, **sizes)
        return JaxModel(module, backend=be, **meta)
    raise ConfigError(f"cnn: no implementation for backend {be.name!r}; available: torch, jax")
