"""Seeded random transforms of numpy batches (data augmentation), framework-free.

Each transform is a small object called as ``t(x, rng)`` on a batch ``x`` whose first
axis is the sample axis; ``rng`` is an int seed or a ``numpy.random.Generator``
(``numpy.random.default_rng(seed)`` is made from an int), so the same seed gives the
same batch. Every sample draws its own parameters. The input is not modified; the result
is a new float32 array of the same shape. :class:`Compose` chains transforms on one
generator. The augmentations are those of the Kasl thesis (section 3.4.1): noise,
enlarge-and-crop and rotation for images; noise, masking and resampling for audio.

Images are ``(B, H, W)`` or ``(B, H, W, C)`` (channels last, as sparring's image datasets
give them) with values in ``value_range = (lo, hi)``, which every image transform keeps:

- :class:`GaussianNoise`: ``x' = clip(x + std * e, lo, hi)``, ``e ~ N(0, 1)`` per value.
- :class:`UniformNoise`: ``x' = clip(x + u, lo, hi)``, ``u ~ U(-eps, eps)`` per value.
- :class:`RandomResizeCrop`: enlarge by ``s ~ U(min_scale, max_scale)`` to
  ``(round(s H), round(s W))`` and crop ``H x W`` at a uniformly drawn integer offset
  ``(oy, ox)``; output pixel ``(i, j)`` is the bilinear sample of ``x`` at
  ``((i + oy + 0.5) / sy - 0.5, (j + ox + 0.5) / sx - 0.5)``, ``sy = round(s H) / H``,
  edge pixels extended.
- :class:`RandomRotation`: ``theta ~ U(-degrees, degrees)``, positive turns the image
  counter-clockwise as displayed (row 0 at the top); output pixel ``p`` is the bilinear
  sample at ``c + R(theta) (p - c)`` with ``c = ((H - 1) / 2, (W - 1) / 2)`` and, in
  (row, column) coordinates, ``R(theta) = [[cos, sin], [-sin, cos]]``; pixels from
  outside the image take ``fill`` (default ``lo``).
- :class:`RandomTranslation`: integer shifts ``dy, dx ~ U{-max_shift .. max_shift}``,
  ``x'[i, j] = x[i - dy, j - dx]``, ``fill`` where that is outside the image.

Audio is ``(B, T)`` waveforms (or ``(B, ..., T)``) and spectrograms ``(B, ..., F, T)``:

- :class:`AudioNoise`: ``x' = clip(x + sigma * e, lo, hi)``, ``e ~ N(0, 1)``, with
  ``sigma = rms(x) * 10 ** (-snr / 20)`` for ``snr ~ U(snr_db)`` dB per sample (a silent
  sample gets no noise).
- :class:`TimeMasking` / :class:`FrequencyMasking` (SpecAugment, Park et al. 2019,
  arXiv:1904.08779): ``num_masks`` times per sample, a width ``w ~ U{0 .. max_width}``
  and a start ``t0 ~ U{0 .. T - w}``; ``x'[..., t0 : t0 + w] = value`` along the last
  axis (time; on waveforms, a silenced stretch) or the second-last (frequency).
- :class:`RandomResample`: down to a rate ``r`` drawn from ``rates`` and back up to
  ``sample_rate`` with :func:`sparring.data.audio.resample` (polyphase, scipy's
  resample_poly filter), cut or zero-padded to ``T``: the band above ``r / 2`` is removed.
- :class:`Resample`: deterministic change of rate (the length changes); ``rng`` unused.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError, InvalidInputError

from .audio import fix_length, resample
from .dataset import check_value_range
from .image import sample_bilinear

__all__ = [
    "AUGMENTATIONS",
    "augmentation",
    "Transform",
    "Compose",
    "as_generator",
    "GaussianNoise",
    "UniformNoise",
    "RandomResizeCrop",
    "RandomRotation",
    "RandomTranslation",
    "AudioNoise",
    "TimeMasking",
    "FrequencyMasking",
    "RandomResample",
    "Resample",
]

SeedLike = int | np.random.Generator


def as_generator(rng: Any) -> np.random.Generator:
    """``rng`` if it is a numpy Generator, ``numpy.random.default_rng(rng)`` for an int seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and int(rng) >= 0:
        return np.random.default_rng(int(rng))
    raise ConfigError(
        f"rng must be a non-negative int seed or a numpy.random.Generator, got {rng!r} "
        "(every random choice takes an explicit seed)"
    )


def _number(value: Any, name: str, *, minimum: float | None = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ConfigError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def _count(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _pair(value: Any, name: str, *, minimum: float | None = None) -> tuple[float, float]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2:
        raise ConfigError(f"{name} must be a pair (low, high), got {value!r}")
    lo, hi = (_number(v, name, minimum=minimum) for v in pair)
    if lo > hi:
        raise ConfigError(f"{name} must have low <= high, got {value!r}")
    return lo, hi


class Transform:
    """A seeded random transform of a batch: ``t(x, rng) -> new float32 array, same shape``."""

    min_ndim = 2
    value_range: tuple[float, float] | None = None
    waveform = False
    """Audio transforms along time: a ``(B, T, 1)`` batch (waveforms as sequences of one
    feature, as the sequence models read them) is transformed as ``(B, T)``."""

    def __call__(self, x: np.ndarray, rng: SeedLike) -> np.ndarray:
        gen = as_generator(rng)
        x = self._check(x)
        if self.waveform and x.ndim == 3 and x.shape[-1] == 1:
            return self.apply(x[..., 0], gen)[..., None].astype(np.float32, copy=False)
        return self.apply(x, gen).astype(np.float32, copy=False)

    def _check(self, x: Any) -> np.ndarray:
        name = type(self).__name__
        if not isinstance(x, np.ndarray):
            raise InvalidInputError(
                f"{name} takes a numpy batch (transforms run on the data before it goes to a framework), "
                f"got {type(x).__name__}"
            )
        if x.dtype.kind not in "fiu" or x.ndim < self.min_ndim or x.shape[0] == 0:
            raise InvalidInputError(
                f"{name} takes a non-empty real batch of at least {self.min_ndim} dimensions "
                f"(samples first), got dtype {x.dtype} shape {x.shape}"
            )
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise InvalidInputError(f"{name}: the batch holds NaN or infinite values")
        if self.value_range is not None:
            lo, hi = self.value_range
            tol = 1e-6 * (hi - lo)
            if x.min() < lo - tol or x.max() > hi + tol:
                raise InvalidInputError(
                    f"{name}: batch values span [{x.min():g}, {x.max():g}], outside value_range {self.value_range}; "
                    "pass the range the data is in"
                )
        return x

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The transform of a checked float64 batch (subclasses)."""
        raise NotImplementedError

    def _clip(self, x: np.ndarray) -> np.ndarray:
        return x if self.value_range is None else np.clip(x, *self.value_range)


class Compose(Transform):
    """Apply ``transforms`` in order, all drawing from the same generator."""

    min_ndim = 1

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = tuple(transforms)
        if not all(callable(t) for t in self.transforms):
            raise ConfigError(f"Compose takes transforms called as t(x, rng), got {transforms!r}")

    def __call__(self, x: np.ndarray, rng: SeedLike) -> np.ndarray:
        gen = as_generator(rng)
        for t in self.transforms:
            x = t(x, gen)
        return x

    def __repr__(self) -> str:
        return f"Compose({list(self.transforms)!r})"


# -- images ----------------------------------------------------------------------------
class _ImageTransform(Transform):
    min_ndim = 3

    def __init__(self, value_range: Any) -> None:
        self.value_range = check_value_range(value_range)

    def _fill(self, fill: Any) -> float:
        lo, hi = self.value_range  # type: ignore[misc]
        if fill is None:
            return lo
        fill = _number(fill, "fill", minimum=None)
        if not lo <= fill <= hi:
            raise ConfigError(f"fill {fill} lies outside value_range {self.value_range}")
        return fill

    @staticmethod
    def _channels_last(x: np.ndarray) -> tuple[np.ndarray, bool]:
        if x.ndim == 3:
            return x[..., None], True
        if x.ndim == 4:
            return x, False
        raise InvalidInputError(f"image transforms take (B, H, W) or (B, H, W, C) batches, got shape {x.shape}")

    def _resample(self, x: np.ndarray, ys: np.ndarray, xs: np.ndarray, fill: float | None) -> np.ndarray:
        images, squeeze = self._channels_last(x)
        out = self._clip(sample_bilinear(images, ys, xs, fill=fill))
        return out[..., 0] if squeeze else out


class GaussianNoise(_ImageTransform):
    """``clip(x + std * N(0, 1), lo, hi)`` per value."""

    min_ndim = 2

    def __init__(self, std: float, *, value_range: Any = (0.0, 1.0)) -> None:
        super().__init__(value_range)
        self.std = _number(std, "std")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._clip(x + self.std * rng.standard_normal(x.shape))

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std}, value_range={self.value_range})"


class UniformNoise(_ImageTransform):
    """``clip(x + U(-eps, eps), lo, hi)`` per value."""

    min_ndim = 2

    def __init__(self, eps: float, *, value_range: Any = (0.0, 1.0)) -> None:
        super().__init__(value_range)
        self.eps = _number(eps, "eps")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._clip(x + rng.uniform(-self.eps, self.eps, size=x.shape))

    def __repr__(self) -> str:
        return f"UniformNoise(eps={self.eps}, value_range={self.value_range})"


class RandomResizeCrop(_ImageTransform):
    """Enlarge by ``s ~ U(min_scale, max_scale)`` and crop back to ``H x W`` at a random offset."""

    def __init__(self, max_scale: float = 1.25, *, min_scale: float = 1.0, value_range: Any = (0.0, 1.0)) -> None:
        super().__init__(value_range)
        self.min_scale, self.max_scale = _pair((min_scale, max_scale), "(min_scale, max_scale)", minimum=1.0)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b, h, w = x.shape[:3]
        scale = rng.uniform(self.min_scale, self.max_scale, size=b)
        big_h = np.maximum(h, np.rint(scale * h)).astype(np.int64)
        big_w = np.maximum(w, np.rint(scale * w)).astype(np.int64)
        oy = np.floor(rng.uniform(size=b) * (big_h - h + 1)).astype(np.int64)
        ox = np.floor(rng.uniform(size=b) * (big_w - w + 1)).astype(np.int64)
        rows = np.arange(h)[None, :, None] + oy[:, None, None]
        cols = np.arange(w)[None, None, :] + ox[:, None, None]
        ys = (rows + 0.5) / (big_h / h)[:, None, None] - 0.5
        xs = (cols + 0.5) / (big_w / w)[:, None, None] - 0.5
        ys, xs = np.broadcast_arrays(ys, xs)
        return self._resample(x, ys, xs, None)

    def __repr__(self) -> str:
        return (
            f"RandomResizeCrop(max_scale={self.max_scale}, min_scale={self.min_scale}, "
            f"value_range={self.value_range})"
        )


class RandomRotation(_ImageTransform):
    """Rotate by ``theta ~ U(-degrees, degrees)`` about the centre (bilinear, ``fill`` outside)."""

    def __init__(self, degrees: float = 30.0, *, fill: float | None = None, value_range: Any = (0.0, 1.0)) -> None:
        super().__init__(value_range)
        self.degrees = _number(degrees, "degrees")
        self.fill = self._fill(fill)

    def rotate(self, x: np.ndarray, degrees: np.ndarray | Sequence[float]) -> np.ndarray:
        """Rotate each sample of a checked batch by its own angle (degrees, counter-clockwise)."""
        b, h, w = x.shape[:3]
        theta = np.deg2rad(np.asarray(degrees, dtype=np.float64))[:, None, None]
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        dy = np.arange(h)[None, :, None] - cy
        dx = np.arange(w)[None, None, :] - cx
        cos, sin = np.cos(theta), np.sin(theta)
        ys = cy + cos * dy + sin * dx
        xs = cx - sin * dy + cos * dx
        return self._resample(x, ys, xs, self.fill)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.rotate(x, np.asarray(rng.uniform(-self.degrees, self.degrees, size=x.shape[0])))

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, fill={self.fill}, value_range={self.value_range})"


class RandomTranslation(_ImageTransform):
    """Shift by whole pixels ``dy, dx ~ U{-max_shift .. max_shift}``; ``fill`` where uncovered."""

    def __init__(self, max_shift: int = 3, *, fill: float | None = None, value_range: Any = (0.0, 1.0)) -> None:
        super().__init__(value_range)
        self.max_shift = _count(max_shift, "max_shift")
        self.fill = self._fill(fill)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b, h, w = x.shape[:3]
        dy = np.asarray(rng.integers(-self.max_shift, self.max_shift + 1, size=b))[:, None, None]
        dx = np.asarray(rng.integers(-self.max_shift, self.max_shift + 1, size=b))[:, None, None]
        ys, xs = np.broadcast_arrays(np.arange(h)[None, :, None] - dy, np.arange(w)[None, None, :] - dx)
        return self._resample(x, ys.astype(np.float64), xs.astype(np.float64), self.fill)

    def __repr__(self) -> str:
        return f"RandomTranslation(max_shift={self.max_shift}, fill={self.fill}, value_range={self.value_range})"


# -- audio -----------------------------------------------------------------------------
class AudioNoise(Transform):
    """Gaussian noise at a signal-to-noise ratio ``snr ~ U(snr_db)`` dB per sample, clipped."""

    def __init__(self, snr_db: tuple[float, float] = (20.0, 40.0), *, value_range: Any = (-1.0, 1.0)) -> None:
        self.snr_db = _pair(snr_db, "snr_db", minimum=None)
        self.value_range = check_value_range(value_range)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        axes = tuple(range(1, x.ndim))
        rms = np.sqrt(np.mean(x * x, axis=axes, keepdims=True))
        snr = rng.uniform(*self.snr_db, size=(x.shape[0],) + (1,) * (x.ndim - 1))
        noise = rng.standard_normal(x.shape)
        return self._clip(x + rms * 10.0 ** (-snr / 20.0) * noise)

    def __repr__(self) -> str:
        return f"AudioNoise(snr_db={self.snr_db}, value_range={self.value_range})"


class _Masking(Transform):
    axis = -1

    def __init__(self, max_width: int, *, num_masks: int = 1, value: float = 0.0) -> None:
        self.max_width = _count(max_width, "max_width")
        self.num_masks = _count(num_masks, "num_masks")
        self.value = _number(value, "value", minimum=None)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        length = x.shape[self.axis]
        b = x.shape[0]
        width = rng.integers(0, min(self.max_width, length) + 1, size=(self.num_masks, b))
        start = np.floor(rng.uniform(size=(self.num_masks, b)) * (length - width + 1)).astype(np.int64)
        pos = np.arange(length)
        masked = np.zeros((b, length), dtype=bool)
        for k in range(self.num_masks):
            masked |= (pos[None, :] >= start[k][:, None]) & (pos[None, :] < (start[k] + width[k])[:, None])
        shape = [b] + [1] * (x.ndim - 1)
        shape[self.axis] = length
        return np.where(masked.reshape(shape), self.value, x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_width={self.max_width}, num_masks={self.num_masks}, value={self.value})"


class TimeMasking(_Masking):
    """Set ``num_masks`` random stretches of up to ``max_width`` steps of the LAST axis to ``value``
    (of the time axis of a ``(B, T, 1)`` waveform batch)."""

    axis = -1
    waveform = True


class FrequencyMasking(_Masking):
    """Set ``num_masks`` random bands of up to ``max_width`` bins of the SECOND-LAST axis to ``value``."""

    axis = -2
    min_ndim = 3


class RandomResample(Transform):
    """Down to a rate drawn from ``rates`` and back to ``sample_rate`` (band-limits the sample;
    along the last axis, or the time axis of a ``(B, T, 1)`` waveform batch)."""

    waveform = True

    def __init__(
        self, rates: Sequence[int] = (8000, 11025, 12000), *, sample_rate: int = 16000, value_range: Any = (-1.0, 1.0)
    ) -> None:
        self.sample_rate = _count(sample_rate, "sample_rate", minimum=1)
        self.rates = tuple(_count(r, "rates", minimum=1) for r in rates)
        if not self.rates:
            raise ConfigError("RandomResample: rates must name at least one sample rate")
        self.value_range = check_value_range(value_range)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        picks = np.asarray(rng.integers(0, len(self.rates), size=x.shape[0]))
        out = np.empty_like(x)
        for i, k in enumerate(picks.tolist()):
            rate = self.rates[k]
            low = resample(x[i], self.sample_rate, rate)
            out[i] = fix_length(resample(low, rate, self.sample_rate), x.shape[-1])
        return self._clip(out)

    def __repr__(self) -> str:
        return f"RandomResample(rates={self.rates}, sample_rate={self.sample_rate}, value_range={self.value_range})"


class Resample(Transform):
    """Resample the last axis from ``orig_sr`` to ``target_sr`` (deterministic; the length changes)."""

    min_ndim = 1

    def __init__(self, orig_sr: int, target_sr: int) -> None:
        self.orig_sr = _count(orig_sr, "orig_sr", minimum=1)
        self.target_sr = _count(target_sr, "target_sr", minimum=1)

    def __call__(self, x: np.ndarray, rng: SeedLike | None = None) -> np.ndarray:
        return resample(self._check(x), self.orig_sr, self.target_sr)

    def __repr__(self) -> str:
        return f"Resample(orig_sr={self.orig_sr}, target_sr={self.target_sr})"


# -- augmentations named in pipeline files ----------------------------------------------
AUGMENTATIONS: dict[str, type[Transform]] = {
    "gaussian-noise": GaussianNoise,
    "uniform-noise": UniformNoise,
    "resize-crop": RandomResizeCrop,
    "rotation": RandomRotation,
    "translation": RandomTranslation,
    "audio-noise": AudioNoise,
    "time-masking": TimeMasking,
    "frequency-masking": FrequencyMasking,
    "resample": RandomResample,
}
"""Names of the augmentations a pipeline's ``data.augment`` list may use."""


def augmentation(entries: Sequence[Any], value_range: tuple[float, float]) -> Compose:
    """The augmentations ``[{"transform": name, **params}, ...]`` chained in order.

    ``value_range`` (the data's) is given to every transform that takes one, unless the
    entry sets it. An unknown name or a bad parameter raises ConfigError naming the entry.
    """
    import difflib
    import inspect

    out = []
    for i, entry in enumerate(entries):
        where = f"data.augment[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("transform"), str):
            raise ConfigError(f"{where} must be a table with transform = one of {', '.join(AUGMENTATIONS)}")
        params = {k: v for k, v in entry.items() if k != "transform"}
        name = entry["transform"]
        cls = AUGMENTATIONS.get(name)
        if cls is None:
            close = difflib.get_close_matches(name, list(AUGMENTATIONS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: unknown transform {name!r}; use one of {', '.join(AUGMENTATIONS)}.{hint}")
        accepted = inspect.signature(cls.__init__).parameters
        if "value_range" in accepted and "value_range" not in params:
            params["value_range"] = tuple(value_range)
        unknown = sorted(set(params) - set(accepted) - {"self"})
        if unknown:
            names = [p for p in accepted if p != "self"]
            raise ConfigError(f"{where} ({name}): unknown parameter(s) {', '.join(unknown)}; it takes {', '.join(names)}")
        try:
            out.append(cls(**params))
        except TypeError as err:
            raise ConfigError(f"{where} ({name}): {err}") from None
        except ConfigError as err:
            raise ConfigError(f"{where} ({name}): {err}") from None
    return Compose(out)
