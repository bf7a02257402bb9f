"""ResNet-18 for small images on either backend (factory of the ``resnet18`` entries).

The CIFAR variant of He et al. 2016 (as in the Volpato thesis's ResNet-18 encoder,
``references/``, §2.0.2, and the usual CIFAR-10 robustness baselines): a 3x3 stride-1
stem conv without max-pool, four stages of two BasicBlocks with ``width``, 2, 4 and 8
times ``width`` channels (strides 1, 2, 2, 2), BatchNorm after every conv, global
average pool, one Linear layer. Architecture, BatchNorm semantics and parameter layout:
:mod:`sparring.models.torch.resnet` and :mod:`sparring.models.jax.resnet` (torchvision's
names, torch's ``(out, in, kh, kw)`` layout, running statistics as buffers/BatchStats).

Trainable parameters (width 64): 11,173,962 with 10 classes (``resnet18-cifar``),
11,190,891 with 43 (``resnet18-gtsrb``); the weights files add 3 entries per BatchNorm
(``running_mean``, ``running_var``, ``num_batches_tracked``: 9,620 values).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.protocols import Backend, Model

from .backends import get_backend
from .image import check_dtype, image_shape

__all__ = ["resnet18"]

BLOCKS = (2, 2, 2, 2)


def resnet18(
    *,
    backend: str | Backend = "torch",
    device: str = "cpu",
    seed: int = 0,
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    width: int = 64,
    value_range: Sequence[float] = (0.0, 1.0),
    dtype: str = "float32",
) -> Model:
    """ResNet-18 (CIFAR stem) returning logits ``(B, num_classes)`` for channels-last images.

    Args:
        input_shape: ``(H, W, C)``, or ``(H, W)`` for one channel; any size (the stages
            halve it three times; global average pooling makes the head size-free).
        width: channels of the stem and the first stage (64 in ResNet-18); the stages
            have ``width * (1, 2, 4, 8)``.
        seed: initial weights: convs ~ N(0, 2 / fan_out) (He, torchvision's ResNet),
            BatchNorm weight 1 and bias 0, Linear head torch's default U(+-1/sqrt(fan_in));
            torch and jax draw different numbers for one seed.

    Train mode normalises with the batch's statistics and updates the running ones
    (torch's momentum 0.1 and unbiased variance, eps 1e-5); eval mode uses the running
    ones. A train-mode batch needs more than one value per channel at the last stage.
    """
    hwc = image_shape("resnet18", input_shape)
    width, num_classes = int(width), int(num_classes)
    dtype = check_dtype("resnet18", dtype)
    if width < 1 or num_classes < 2:
        raise ConfigError(
            f"resnet18: need width >= 1 and num_classes >= 2, got width={width}, num_classes={num_classes}"
        )
    be = get_backend(backend, device)
    sizes: dict[str, Any] = dict(blocks=BLOCKS, width=width, num_classes=num_classes)
    meta: dict[str, Any] = dict(
        input_shape=tuple(int(d) for d in input_shape),
        num_classes=num_classes,
        value_range=tuple(value_range),
        name="resnet18",
    )
    if be.name == "torch":
        import torch

        from .torch.model import TorchModel
        from .torch.resnet import ResNet

        generator = torch.Generator().manual_seed(int(seed))
        module = ResNet(hwc, generator=generator, dtype=getattr(torch, dtype), **sizes)
        return TorchModel(module, backend=be, **meta)
    if be.name == "jax":
        import jax
        from flax import nnx

        from .jax.model import JaxModel
        from .jax.resnet import ResNet as JaxResNet

        if dtype == "float64" and not jax.config.jax_enable_x64:
            raise ConfigError("dtype='float64' on jax needs 64-bit mode: jax.config.update('jax_enable_x64', True)")
        module = JaxResNet(hwc, rngs=nnx.Rngs(int(seed)), dtype=dtype, **sizes)
        return JaxModel(module, backend=be, **meta)
    raise ConfigError(f"resnet18: no implementation for backend {be.name!r}; available: torch, jax")
