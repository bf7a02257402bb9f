"""Image batches for the image classifiers (framework-free checks and shapes).

Images are channels-LAST on both frameworks, as the dataset readers yield them: a
model built with ``input_shape=(H, W, C)`` takes batches ``(B, H, W, C)``; a
single-channel model (``input_shape`` ``(H, W)`` or ``(H, W, 1)``) also takes ``(B, H, W)``
(MNIST's ``(N, 28, 28)``). The torch modules move the channels first internally
(``permute(0, 3, 1, 2)``); the JAX modules compute in NHWC.
"""

from __future__ import annotations

from collections.abc import Sequence

from sparring.core.errors import ConfigError, InvalidInputError

__all__ = ["check_dtype", "image_shape", "check_image_batch"]

DTYPES = ("float32", "float64")


def check_dtype(model: str, dtype: str) -> str:
    """``dtype`` if it is a float type the models are built in, else ConfigError."""
    if dtype not in DTYPES:
        raise ConfigError(f"{model}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return dtype


def image_shape(model: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(H, W, C)`` from ``input_shape`` given as ``(H, W, C)`` or ``(H, W)`` (one channel)."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or any(d < 1 for d in shape):
        raise ConfigError(
            f"{model}: input_shape is (H, W, C) channels-last, or (H, W) for one channel; "
            f"got {tuple(input_shape)!r}"
        )
    if shape[0] in (1, 3) and shape[1] == shape[2] > 4:  # (1, 28, 28), (3, 32, 32)
        raise ConfigError(
            f"{model}: input_shape {shape} looks channels-first; give it channels-last as "
            f"{(shape[1], shape[2], shape[0])}"
        )
    return shape  # type: ignore[return-value]


def check_image_batch(model: str, x_shape: tuple[int, ...], hwc: tuple[int, int, int]) -> None:
    """Raise InvalidInputError unless ``x_shape`` is ``(B, H, W, C)`` (or ``(B, H, W)`` when C is 1)."""
    h, w, c = hwc
    if len(x_shape) == 4 and tuple(x_shape[1:]) == hwc:
        return
    if c == 1 and len(x_shape) == 3 and tuple(x_shape[1:]) == (h, w):
        return
    expected = f"(B, {h}, {w}, {c})" + (f" or (B, {h}, {w})" if c == 1 else "")
    hint = ""
    if len(x_shape) == 4 and tuple(x_shape[1:]) == (c, h, w):
        hint = "; this batch is channels-first: move the channel axis last (x.permute(0, 2, 3, 1) on torch)"
    raise InvalidInputError(f"{model} takes channels-last batches {expected}, got shape {tuple(x_shape)}{hint}")
