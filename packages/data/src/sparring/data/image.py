"""Image files and resampling in numpy: binary PPM (P6) reading, bilinear resize and sampling.

PPM (Netpbm, https://netpbm.sourceforge.net/doc/ppm.html), the format of GTSRB's images::

    "P6" <whitespace> width <whitespace> height <whitespace> maxval <ONE whitespace byte>
    then height rows of width RGB pixels, 1 byte per value (maxval < 256) or 2 bytes
    big-endian (maxval >= 256); "#" starts a comment up to the end of the line in the header.

Values are rescaled to 0..255 when ``maxval != 255`` (``round(v * 255 / maxval)``).

Bilinear resizing (:func:`resize_bilinear`) works on pixel centres (output pixel ``i`` sits
at input coordinate ``c = (i + 0.5) * n_in / n_out - 0.5``) and is separable: one
``(n_out, n_in)`` matrix per axis. Without ``antialias`` each output interpolates the two
nearest input pixels (``c`` clamped to ``[0, n_in - 1]``), like
``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``; with
``antialias`` (for shrinking) the triangle filter is widened by the scale factor
``s = n_in / n_out > 1`` and renormalised, ``w_ij ~ max(0, 1 - |j - c| / s)``, like PIL's
``Image.resize(..., BILINEAR)``. Enlarging is the same in both modes.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from sparring.core.errors import DataError, InvalidInputError

__all__ = ["read_ppm", "resize_bilinear", "sample_bilinear"]

_WHITESPACE = b" \t\n\r\x0b\x0c"


def _header_tokens(path: Path, data: bytes, count: int) -> tuple[list[int], int]:
    """``count`` integers after the magic number, and the offset just past the last one."""
    pos, tokens = 2, list[int]()
    while len(tokens) < count:
        while pos < len(data) and (data[pos] in _WHITESPACE or data[pos] == ord("#")):
            if data[pos] == ord("#"):
                end = data.find(b"\n", pos)
                pos = len(data) if end < 0 else end
            pos += 1
        start = pos
        while pos < len(data) and data[pos : pos + 1].isdigit():
            pos += 1
        if start == pos:
            found = "the end of the file" if pos >= len(data) else repr(data[pos : pos + 8])
            raise DataError(
                f"{path}: malformed PPM header: expected width, height and maxval as decimal numbers, "
                f"found {found}; the file is truncated or damaged"
            )
        tokens.append(int(data[start:pos]))
    return tokens, pos


def read_ppm(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a binary PPM (P6) image as ``(height, width, 3)`` uint8.

    Raises:
        DataError: not a P6 file (another magic number: ASCII P3, greymap P5, PNG, ...),
            a malformed header, a zero size or maxval, or fewer pixel bytes than the header
            declares (truncated).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({type(err).__name__}: {err})") from err
    if data[:2] != b"P6":
        raise DataError(
            f"{path}: not a binary PPM image: it starts with {data[:2]!r}, a P6 file with b'P6' "
            "(ASCII P3 and other formats are not read); download the dataset again"
        )
    (width, height, maxval), pos = _header_tokens(path, data, 3)
    if width < 1 or height < 1 or not 1 <= maxval <= 65535:
        raise DataError(
            f"{path}: PPM header declares {width}x{height} pixels with maxval {maxval}; the file is damaged"
        )
    if pos >= len(data) or data[pos] not in _WHITESPACE:
        raise DataError(f"{path}: PPM header not followed by a whitespace byte; the file is truncated or damaged")
    pos += 1
    itemsize = 1 if maxval < 256 else 2
    need = width * height * 3 * itemsize
    if len(data) - pos < need:
        raise DataError(
            f"{path}: truncated: its header declares {width}x{height} RGB pixels ({need} bytes) but only "
            f"{len(data) - pos} bytes follow; download the dataset again"
        )
    dtype = np.uint8 if itemsize == 1 else np.dtype(">u2")
    pixels = np.frombuffer(data, dtype=dtype, count=width * height * 3, offset=pos).reshape(height, width, 3)
    if maxval == 255:
        return pixels.copy()
    return np.clip(np.rint(pixels.astype(np.float64) * (255.0 / maxval)), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=256)
def _resize_matrix(n_in: int, n_out: int, antialias: bool) -> np.ndarray:
    scale = n_in / n_out
    centre = (np.arange(n_out) + 0.5) * scale - 0.5
    if antialias and scale > 1.0:
        dist = np.abs(np.arange(n_in)[None, :] - centre[:, None]) / scale
        weights = np.maximum(0.0, 1.0 - dist)
        return weights / weights.sum(axis=1, keepdims=True)
    c = np.clip(centre, 0.0, n_in - 1)
    lo = np.floor(c).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = c - lo
    weights = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(weights, (rows, lo), 1.0 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights


def resize_bilinear(image: np.ndarray, size: tuple[int, int], *, antialias: bool = True) -> np.ndarray:
    """Resize ``(..., H, W, C)`` or ``(H, W)`` images to ``size = (h, w)``; float64 result.

    Separable bilinear interpolation on pixel centres (module docstring); ``antialias``
    widens the filter when shrinking.
    """
    image = np.asarray(image, dtype=np.float64)
    h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise InvalidInputError(f"resize_bilinear: size must be positive, got {size!r}")
    if image.ndim == 2:
        return _resize_matrix(image.shape[0], h, antialias) @ image @ _resize_matrix(image.shape[1], w, antialias).T
    if image.ndim < 3:
        raise InvalidInputError(f"resize_bilinear takes (H, W) or (..., H, W, C) images, got shape {image.shape}")
    ry = _resize_matrix(image.shape[-3], h, antialias)
    rx = _resize_matrix(image.shape[-2], w, antialias)
    out = np.einsum("ij,...jkc->...ikc", ry, image)
    return np.einsum("lk,...ikc->...ilc", rx, out)


def sample_bilinear(images: np.ndarray, ys: np.ndarray, xs: np.ndarray, *, fill: float | None) -> np.ndarray:
    """Bilinear samples of ``images (B, H, W, C)`` at ``(ys, xs)`` coordinates ``(B, h, w)``.

    Pixel ``(r, c)`` sits at coordinate ``(r, c)``. ``fill=None`` clamps coordinates to the
    image (edge pixels extend outwards); a number stands for every pixel outside the image,
    so samples near the border blend towards it. Returns ``(B, h, w, C)`` float64.
    """
    _, height, width, _ = images.shape
    if fill is None:
        ys = np.clip(ys, 0.0, height - 1)
        xs = np.clip(xs, 0.0, width - 1)
    y0, x0 = np.floor(ys), np.floor(xs)
    wy, wx = ys - y0, xs - x0
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    batch = np.arange(images.shape[0])[:, None, None]
    out = np.zeros((*ys.shape, images.shape[-1]))
    for dy, dx, weight in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx), (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yi, xi = y0 + dy, x0 + dx
        values = images[batch, np.clip(yi, 0, height - 1), np.clip(xi, 0, width - 1)]
        if fill is not None:
            inside = (yi >= 0) & (yi < height) & (xi >= 0) & (xi < width)
            values = np.where(inside[..., None], values, fill)
        out += weight[..., None] * values
    return out
