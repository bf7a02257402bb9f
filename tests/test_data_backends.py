"""Datasets hand out batches as a backend's arrays (sparring-data with sparring-models)."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.data import ArrayDataset


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
def test_batches_as_backend_arrays(backend_name: str) -> None:
    pytest.importorskip(backend_name)
    from sparring.models import get_backend

    be = get_backend(backend_name)
    x = np.arange(30, dtype=np.float32).reshape(10, 3) / 30.0
    y = np.arange(10) % 2
    ds = ArrayDataset(x, y, name="toy", classes=("a", "b"))
    plain = list(ds.batches(4, seed=3))
    converted = list(ds.batches(4, seed=3, backend=be))
    assert len(plain) == len(converted) == 3
    for (xn, yn), (xb, yb) in zip(plain, converted):
        assert not isinstance(xb, np.ndarray)
        np.testing.assert_array_equal(be.to_numpy(xb), xn)
        np.testing.assert_array_equal(be.to_numpy(yb), yn)
    assert str(be.to_numpy(converted[0][0]).dtype) == "float32"
