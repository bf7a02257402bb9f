"""``ArrayDataset``: an in-memory dataset of ``(x, y)`` numpy pairs (the core ``Dataset``).

Storage and value range
-----------------------
``x`` is held either as raw ``uint8`` pixels or as floats already inside the dataset's
value range ``(lo, hi)``. Every read (indexing, :meth:`ArrayDataset.batches`) returns
``float32`` in ``[lo, hi]``; uint8 pixels ``p`` are converted when read::

    x = lo + (hi - lo) * p / 255          # (0, 1): p / 255      (-1, 1): 2 p / 255 - 1

so pixel 0 reads exactly ``lo``, pixel 255 exactly ``hi``, and a 60,000-image set costs
its uint8 size in memory. ``(0, 1)`` is the default; ``(-1, 1)`` is the range of the
kasl thesis. ``y`` holds int64 class indices in ``[0, num_classes)``.

Order and randomness
--------------------
``batches(batch_size)`` walks the dataset in order; ``batches(batch_size, seed=s)`` walks
the permutation drawn by ``numpy.random.default_rng(s)``: every index exactly once per
epoch, the same seed the same order. Pass ``seed=base_seed + epoch`` for a fresh order
each epoch. :meth:`ArrayDataset.split` and :meth:`ArrayDataset.subset` draw from the same
kind of generator and keep the chosen samples in dataset order.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError, DataError
from sparring.core.protocols import DatasetInfo

__all__ = ["ArrayDataset", "check_split", "check_value_range"]

_UNIT = (0.0, 1.0)


def check_value_range(value_range: Any) -> tuple[float, float]:
    """``value_range`` as a pair of floats ``(lo, hi)`` with ``lo < hi``, both finite.

    Accepts a tuple, list (a TOML ``[-1, 1]``) or array of two numbers; anything else
    raises ConfigError.
    """
    pair = tuple(value_range) if isinstance(value_range, (tuple, list, np.ndarray)) else ()
    if len(pair) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in pair):
        raise ConfigError(
            f"value_range must be a pair of numbers (lo, hi) such as (0.0, 1.0) or (-1.0, 1.0), "
            f"got {value_range!r}"
        )
    lo, hi = float(pair[0]), float(pair[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(
            f"value_range must be finite with lo < hi, such as (0.0, 1.0) or (-1.0, 1.0), "
            f"got {value_range!r}"
        )
    return (lo, hi)


def check_split(dataset: str, split: Any, splits: Iterable[str]) -> str:
    """``split`` if it is one of ``splits``; otherwise ConfigError naming the accepted ones."""
    splits = tuple(splits)
    if not isinstance(split, str) or split not in splits:
        raise ConfigError(f"dataset {dataset!r} has splits {', '.join(map(repr, splits))}; got split={split!r}")
    return split


def _check_seed(seed: Any, what: str) -> None:
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"{what}: seed must be a non-negative int or None, got {seed!r}")


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(int(seed))


class ArrayDataset:
    """A finite dataset of ``(x, y)`` numpy pairs held in memory.

    Args:
        x: ``(N, *input_shape)`` samples: ``uint8`` pixels (0..255, converted to
            ``value_range`` when read) or floats already inside ``value_range``.
            NaN or infinite values, or floats outside the range, raise DataError.
            The array is not copied; do not modify it afterwards.
        y: ``(N,)`` integer class indices in ``[0, len(classes))``.
        name: the dataset's registry name (``"mnist"``), kept in :attr:`info`.
        classes: the class names, index ``i`` naming label ``i``.
        value_range: ``(lo, hi)`` of the values read; default ``(0.0, 1.0)``.

    Reads return ``float32`` ``x`` and ``int64`` ``y``: ``ds[i]`` gives one sample
    ``(x (*input_shape), y ())``; ``ds[slice]`` or ``ds[indices]`` a batch.
    """

    info: DatasetInfo

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        name: str,
        classes: Sequence[str],
        value_range: tuple[float, float] = _UNIT,
    ) -> None:
        value_range = check_value_range(value_range)
        classes = tuple(classes)
        if not classes or not all(isinstance(c, str) for c in classes):
            raise ConfigError(f"dataset {name!r}: classes must be a non-empty sequence of str, got {classes!r}")
        x = np.asarray(x)
        y = np.asarray(y)
        if x.ndim < 2:
            raise DataError(
                f"dataset {name!r}: x must have shape (N, *sample_shape), got shape {x.shape}; "
                "add a trailing axis for scalar features"
            )
        if len(x) == 0:
            raise DataError(f"dataset {name!r} holds no samples (x has shape {x.shape})")
        if y.shape != (len(x),):
            raise DataError(
                f"dataset {name!r}: y must have shape ({len(x)},) to match x of shape {x.shape}, "
                f"got {y.shape}"
            )
        if y.dtype.kind not in "iu":
            raise DataError(f"dataset {name!r}: y must hold integer class indices, got dtype {y.dtype}")
        bad = np.flatnonzero((y < 0) | (y >= len(classes)))
        if bad.size:
            raise DataError(
                f"dataset {name!r}: label {int(y[bad[0]])} at index {int(bad[0])} is outside "
                f"[0, {len(classes)}) ({bad.size} such labels); the {len(classes)} classes are "
                f"{', '.join(classes)}"
            )
        if x.dtype == np.uint8:
            pixels = True
        elif x.dtype.kind == "f":
            pixels = False
            x = _checked_floats(x, name, value_range)
        else:
            raise DataError(
                f"dataset {name!r}: x has dtype {x.dtype}; give uint8 pixels (0..255) or floats "
                f"inside value_range {value_range}"
            )
        self._init(x, y.astype(np.int64, copy=False), pixels, DatasetInfo(name, x.shape[1:], classes, value_range))

    def _init(self, x: np.ndarray, y: np.ndarray, pixels: bool, info: DatasetInfo) -> None:
        self._x = x.view()
        self._x.flags.writeable = False
        self._y = y.view()
        self._y.flags.writeable = False
        self._pixels = pixels
        self.info = info

    def _derive(
        self, x: np.ndarray, y: np.ndarray, value_range: tuple[float, float] | None = None
    ) -> ArrayDataset:
        """A dataset over already-checked arrays, with this one's metadata."""
        new = object.__new__(ArrayDataset)
        info = self.info
        if value_range is not None:
            info = DatasetInfo(info.name, info.input_shape, info.classes, value_range)
        new._init(x, y, self._pixels, info)
        return new

    # -- reading ----------------------------------------------------------------------
    @property
    def labels(self) -> np.ndarray:
        """All labels, ``(N,)`` int64, read-only (cheap: ``x`` is not converted)."""
        return self._y

    @property
    def storage_dtype(self) -> np.dtype:
        """How ``x`` is held: ``uint8`` (pixels converted when read) or ``float32``."""
        return self._x.dtype

    def class_counts(self) -> np.ndarray:
        """Number of samples of each class, ``(num_classes,)`` int64."""
        return np.bincount(self._y, minlength=self.info.num_classes)

    def _convert(self, x: np.ndarray) -> np.ndarray:
        lo, hi = self.info.value_range
        if not self._pixels:
            return x.astype(np.float32, copy=True)
        out = x.astype(np.float32)
        out /= np.float32(255.0)
        if (lo, hi) != _UNIT:
            out *= np.float32(hi - lo)
            out += np.float32(lo)
            np.clip(out, np.float32(lo), np.float32(hi), out=out)
        return out

    def __len__(self) -> int:
        return len(self._y)

    def __getitem__(self, index: Any) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            i = int(index)
            n = len(self)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of range for dataset {self.info.name!r} of {n} samples")
            return self._convert(self._x[i]), np.asarray(self._y[i])
        if isinstance(index, slice):
            return self._convert(self._x[index]), self._y[index].copy()
        idx = self._index_array(index)
        return self._convert(self._x[idx]), self._y[idx]

    def _index_array(self, index: Any) -> np.ndarray:
        idx = np.asarray(index)
        if idx.ndim != 1 or (idx.dtype.kind not in "iub" and idx.size):
            raise TypeError(
                f"dataset {self.info.name!r} is indexed by an int, a slice, or a 1-D sequence of "
                f"ints or bools; got {type(index).__name__} {index!r:.80}"
            )
        if idx.dtype.kind == "b":
            if idx.shape != (len(self),):
                raise IndexError(
                    f"boolean mask of length {len(idx)} does not match dataset "
                    f"{self.info.name!r} of {len(self)} samples"
                )
            return np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        n = len(self)
        bad = np.flatnonzero((idx < -n) | (idx >= n))
        if bad.size:
            raise IndexError(
                f"index {int(idx[bad[0]])} is out of range for dataset {self.info.name!r} of {n} samples"
            )
        return idx

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(len(self)):
            yield self[i]

    def batches(
        self, batch_size: int, *, seed: int | None = None, drop_last: bool = False, backend: Any = None,
        dtype: Any = None,
    ) -> Iterator[tuple[Any, Any]]:
        """One epoch as ``(x (B, *input_shape) float32, y (B,) int64)`` batches.

        ``seed=None`` walks the dataset in order; an int walks the permutation drawn by
        ``numpy.random.default_rng(seed)``. Every index appears exactly once per epoch;
        ``drop_last`` leaves out a final batch smaller than ``batch_size``. With a
        ``backend`` (e.g. ``model.backend``) the batches come as its arrays on its device,
        ``x`` in ``dtype`` (default float32).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        _check_seed(seed, "batches")
        n = len(self)
        order = np.arange(n) if seed is None else _rng(seed).permutation(n)
        stop = n - n % batch_size if drop_last else n
        batches = self._iter_batches(order, int(batch_size), stop)
        if backend is None:
            return batches
        return ((backend.asarray(x, dtype=dtype), backend.asarray(y)) for x, y in batches)

    def _iter_batches(
        self, order: np.ndarray, batch_size: int, stop: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, stop, batch_size):
            idx = order[start : min(start + batch_size, stop)]
            yield self._convert(self._x[idx]), self._y[idx]

    # -- deriving ---------------------------------------------------------------------
    def subset(self, selection: int | Sequence[int] | np.ndarray, *, seed: int | None = None) -> ArrayDataset:
        """The samples picked by ``selection``, as a new dataset.

        ``selection`` is either a count ``n`` (the first ``n`` samples; with ``seed``, ``n``
        samples drawn without replacement, kept in dataset order) or indices / a boolean
        mask (those samples, in the order given; ``seed`` must then be None).
        """
        _check_seed(seed, "subset")
        n = len(self)
        if isinstance(selection, numbers.Integral) and not isinstance(selection, bool):
            count = int(selection)
            if not 1 <= count <= n:
                raise ConfigError(
                    f"subset of dataset {self.info.name!r}: n must be between 1 and {n}, got {count}"
                )
            if seed is None:
                idx = np.arange(count)
            else:
                idx = np.sort(_rng(seed).choice(n, size=count, replace=False))
        else:
            if seed is not None:
                raise ConfigError(
                    f"subset of dataset {self.info.name!r}: seed applies to a count n, not to "
                    "explicit indices; drop seed or pass a count"
                )
            idx = self._index_array(selection)
            if idx.size == 0:
                raise ConfigError(f"subset of dataset {self.info.name!r}: no index selected")
        return self._derive(self._x[idx], self._y[idx])

    def split(
        self, validation: float | int, *, seed: int, stratify: bool = False
    ) -> tuple[ArrayDataset, ArrayDataset]:
        """``(train, validation)``: a seeded random partition of this dataset.

        ``validation`` is the validation part's size: a fraction in ``(0, 1)`` (rounded to
        the nearest count) or a sample count. ``stratify`` keeps every class's share
        (per-class counts rounded by largest remainder so that the total is exact).
        Both parts keep dataset order; they are disjoint and together hold every sample.
        """
        _check_seed(seed, "split")
        if seed is None:
            raise ConfigError("split: seed must be an int (every random choice takes an explicit seed)")
        n = len(self)
        if isinstance(validation, bool) or not isinstance(validation, numbers.Real):
            raise ConfigError(f"split: validation must be a fraction in (0, 1) or a count, got {validation!r}")
        if isinstance(validation, numbers.Integral):
            n_val = int(validation)
        elif 0.0 < float(validation) < 1.0:
            n_val = int(round(float(validation) * n))
        else:
            raise ConfigError(f"split: a fractional validation must lie in (0, 1), got {validation!r}")
        if not 1 <= n_val <= n - 1:
            raise ConfigError(
                f"split of dataset {self.info.name!r} ({n} samples): validation {validation!r} gives "
                f"{n_val} validation samples; it must leave at least one sample on each side"
            )
        perm = _rng(seed).permutation(n)
        if stratify:
            counts = self.class_counts()
            quota = counts * (n_val / n)
            take = np.floor(quota).astype(np.int64)
            extra = np.argsort(-(quota - take), kind="stable")[: n_val - int(take.sum())]
            take[extra] += 1
            labels = self._y[perm]
            val_idx = np.concatenate([perm[labels == c][: take[c]] for c in range(len(counts))])
        else:
            val_idx = perm[:n_val]
        is_val = np.zeros(n, dtype=bool)
        is_val[val_idx] = True
        train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
        return (
            self._derive(self._x[train_idx], self._y[train_idx]),
            self._derive(self._x[val_idx], self._y[val_idx]),
        )

    def with_value_range(self, value_range: tuple[float, float]) -> ArrayDataset:
        """The same samples read in another range (affine map ``[lo, hi] -> [lo', hi']``).

        uint8 storage is shared (only the conversion changes); float storage is mapped now.
        """
        new_range = check_value_range(value_range)
        if self._pixels:
            return self._derive(self._x, self._y, new_range)
        (lo, hi), (nlo, nhi) = self.info.value_range, new_range
        x = (self._x.astype(np.float64) - lo) * ((nhi - nlo) / (hi - lo)) + nlo
        x = np.clip(x, nlo, nhi).astype(np.float32)
        return self._derive(x, self._y, new_range)

    def __repr__(self) -> str:
        info = self.info
        return (
            f"ArrayDataset(name={info.name!r}, n={len(self)}, input_shape={info.input_shape}, "
            f"num_classes={info.num_classes}, value_range={info.value_range}, storage={self._x.dtype})"
        )


def _checked_floats(x: np.ndarray, name: str, value_range: tuple[float, float]) -> np.ndarray:
    flat = x.reshape(len(x), -1)
    bad = ~np.isfinite(flat)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        kind = "NaN" if np.isnan(flat[rows[0]]).any() else "infinite values"
        raise DataError(
            f"dataset {name!r}: x holds {kind} (sample {int(rows[0])}; {rows.size} samples have "
            "NaN or infinite values); clean or drop those samples before building the dataset"
        )
    lo, hi = value_range
    x_min, x_max = float(flat.min()), float(flat.max())
    if x_min < lo or x_max > hi:
        raise DataError(
            f"dataset {name!r}: float x spans [{x_min:g}, {x_max:g}], outside value_range {value_range}; "
            "pass the range the values are in, or rescale them first"
        )
    return x.astype(np.float32, copy=False)
