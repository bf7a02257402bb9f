"""ArrayDataset: the Dataset protocol, value ranges, seeded batches, split and subset."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparring.core import Dataset
from sparring.core.errors import ConfigError, DataError
from sparring.data import ArrayDataset


def indexed(n: int, *, pixels: bool = True) -> ArrayDataset:
    """n samples whose label is their own index (n classes), so batches reveal indices."""
    rng = np.random.default_rng(n)
    x = rng.integers(0, 256, size=(n, 3, 2), dtype=np.uint8)
    if not pixels:
        x = x.astype(np.float32) / 255
    return ArrayDataset(x, np.arange(n), name="toy", classes=[f"c{i}" for i in range(n)])


def two_class(n0: int, n1: int) -> ArrayDataset:
    y = np.array([0] * n0 + [1] * n1)
    x = np.zeros((len(y), 4), dtype=np.uint8)
    return ArrayDataset(x, y, name="two", classes=("a", "b"))


# -- the protocol and metadata ---------------------------------------------------------
def test_is_a_core_dataset_with_metadata() -> None:
    ds = ArrayDataset(np.zeros((5, 28, 28), np.uint8), np.arange(5) % 2, name="m", classes=("a", "b"),
                      value_range=[-1, 1])
    assert isinstance(ds, Dataset)
    assert ds.info.name == "m" and ds.info.input_shape == (28, 28) and ds.info.classes == ("a", "b")
    assert ds.info.value_range == (-1.0, 1.0) and ds.info.num_classes == 2
    assert len(ds) == 5 and ds.storage_dtype == np.uint8
    assert "n=5" in repr(ds)


def test_reads_are_float32_copies_and_labels_read_only() -> None:
    ds = indexed(6)
    x, y = ds[2]
    assert x.dtype == np.float32 and x.shape == (3, 2) and y.dtype == np.int64 and y.shape == () and int(y) == 2
    x[...] = 7.0
    assert ds[2][0].max() <= 1.0
    with pytest.raises(ValueError):
        ds.labels[0] = 3
    xf = indexed(6, pixels=False)
    a, _ = xf[1]
    a[...] = 9.0
    assert xf[1][0].max() <= 1.0


# -- value range -------------------------------------------------------------------------
def test_uint8_pixels_map_to_unit_range_exactly() -> None:
    p = np.arange(256, dtype=np.uint8).reshape(256, 1)
    ds = ArrayDataset(p, np.zeros(256, int), name="p", classes=("a",))
    x, _ = ds[:]
    np.testing.assert_array_equal(x[:, 0], np.arange(256, dtype=np.float32) / np.float32(255))
    assert x[0, 0] == 0.0 and x[-1, 0] == 1.0


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.2, 0.7), (-3.0, 5.5)])
def test_uint8_pixels_map_affinely_to_any_range(value_range) -> None:
    lo, hi = value_range
    p = np.arange(256, dtype=np.uint8).reshape(256, 1)
    ds = ArrayDataset(p, np.zeros(256, int), name="p", classes=("a",), value_range=value_range)
    x, _ = ds[:]
    np.testing.assert_allclose(x[:, 0], lo + (hi - lo) * np.arange(256) / 255, rtol=0, atol=1e-6 * (hi - lo))
    assert x.dtype == np.float32 and x[0, 0] == np.float32(lo) and x[-1, 0] == np.float32(hi)
    assert x.min() >= np.float32(lo) and x.max() <= np.float32(hi)


def test_with_value_range_shares_pixels_and_maps_floats() -> None:
    ds = indexed(10)
    sym = ds.with_value_range((-1, 1))
    np.testing.assert_allclose(sym[:][0], 2 * ds[:][0] - 1, atol=1e-6)
    assert sym.info.value_range == (-1.0, 1.0) and ds.info.value_range == (0.0, 1.0)
    fl = indexed(10, pixels=False)
    back = fl.with_value_range((-1, 1)).with_value_range((0, 1))
    np.testing.assert_allclose(back[:][0], fl[:][0], atol=1e-6)
    np.testing.assert_allclose(fl.with_value_range((-1, 1))[:][0], 2 * fl[:][0] - 1, atol=1e-6)


def test_float_inputs_are_checked() -> None:
    y = np.zeros(4, int)
    x = np.full((4, 3), 0.5)
    x[2, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN \(sample 2"):
        ArrayDataset(x, y, name="n", classes=("a",))
    x[2, 1] = np.inf
    with pytest.raises(DataError, match="infinite"):
        ArrayDataset(x, y, name="n", classes=("a",))
    x[2, 1] = -0.5
    with pytest.raises(DataError, match=r"spans \[-0.5, 0.5\], outside value_range \(0.0, 1.0\)"):
        ArrayDataset(x, y, name="n", classes=("a",))
    ok = ArrayDataset(x, y, name="n", classes=("a",), value_range=(-1, 1))
    assert ok.storage_dtype == np.float32


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((3, 2), np.int16), np.zeros(3, int), "dtype int16"),
        (np.zeros(3, np.uint8), np.zeros(3, int), r"shape \(N, \*sample_shape\)"),
        (np.zeros((0, 2), np.uint8), np.zeros(0, int), "no samples"),
        (np.zeros((3, 2), np.uint8), np.zeros(4, int), r"y must have shape \(3,\)"),
        (np.zeros((3, 2), np.uint8), np.zeros(3, float), "integer class indices"),
        (np.zeros((3, 2), np.uint8), np.array([0, 2, 1]), r"label 2 at index 1 is outside \[0, 2\)"),
        (np.zeros((3, 2), np.uint8), np.array([0, -1, 1]), "label -1 at index 1"),
    ],
)
def test_bad_arrays_raise_data_error(x, y, message) -> None:
    with pytest.raises(DataError, match=message):
        ArrayDataset(x, y, name="bad", classes=("a", "b"))


@pytest.mark.parametrize("value_range", [(1, 0), (0, 0), (0, float("inf")), (0,), "01", None, (0, 1, 2),
                                         (True, 2), ("0", "1")])
def test_bad_value_range_is_config_error(value_range) -> None:
    with pytest.raises(ConfigError, match="value_range"):
        ArrayDataset(np.zeros((2, 2), np.uint8), np.zeros(2, int), name="v", classes=("a",),
                     value_range=value_range)


# -- indexing ----------------------------------------------------------------------------
def test_indexing_forms() -> None:
    ds = indexed(8)
    full_x, full_y = ds[:]
    assert full_x.shape == (8, 3, 2) and list(full_y) == list(range(8))
    x, y = ds[-1]
    assert int(y) == 7 and np.array_equal(x, full_x[7])
    x, y = ds[[5, 1, 5]]
    assert list(y) == [5, 1, 5] and np.array_equal(x, full_x[[5, 1, 5]])
    mask = np.arange(8) % 3 == 0
    assert list(ds[mask][1]) == [0, 3, 6]
    assert list(ds[np.int64(2):6:2][1]) == [2, 4]
    assert [int(y) for _, y in ds] == list(range(8))


@pytest.mark.parametrize(("index", "error"), [(8, IndexError), (-9, IndexError), ([0, 8], IndexError),
                                               (np.ones(7, bool), IndexError), (1.5, TypeError),
                                               ([[0, 1]], TypeError), ("a", TypeError)])
def test_bad_indices(index, error) -> None:
    with pytest.raises(error, match="toy"):
        indexed(8)[index]


# -- batches -----------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 120), batch_size=st.integers(1, 50), seed=st.none() | st.integers(0, 2**32),
       drop_last=st.booleans())
def test_batches_cover_every_index_once_per_epoch(n, batch_size, seed, drop_last) -> None:
    ds = indexed(n)
    batches = list(ds.batches(batch_size, seed=seed, drop_last=drop_last))
    seen = np.concatenate([y for _, y in batches]) if batches else np.zeros(0, int)
    assert len(set(seen.tolist())) == len(seen)  # no index twice
    if drop_last:
        assert len(batches) == n // batch_size and all(len(y) == batch_size for _, y in batches)
    else:
        assert sorted(seen.tolist()) == list(range(n))
        assert all(len(y) == batch_size for _, y in batches[:-1]) and 1 <= len(batches[-1][1]) <= batch_size
    if seed is None:
        assert seen.tolist() == list(range(len(seen)))
    full_x = ds[:][0]
    for x, y in batches:
        assert x.dtype == np.float32 and x.shape == (len(y), 3, 2)
        np.testing.assert_array_equal(x, full_x[y])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 200), seed=st.integers(0, 2**32), sizes=st.tuples(st.integers(1, 64), st.integers(1, 64)))
def test_same_seed_same_order_whatever_the_batch_size(n, seed, sizes) -> None:
    ds = indexed(n)
    orders = [np.concatenate([y for _, y in ds.batches(b, seed=seed)]) for b in sizes]
    np.testing.assert_array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[0], np.concatenate([y for _, y in ds.batches(sizes[0], seed=seed)]))


def test_different_seeds_shuffle_differently() -> None:
    ds = indexed(100)
    a = np.concatenate([y for _, y in ds.batches(10, seed=0)])
    b = np.concatenate([y for _, y in ds.batches(10, seed=1)])
    assert not np.array_equal(a, b) and not np.array_equal(a, np.arange(100))
    np.testing.assert_array_equal(a, np.random.default_rng(0).permutation(100))  # the documented generator


@pytest.mark.parametrize(("kwargs", "match"), [({"batch_size": 0}, "batch_size"), ({"batch_size": True}, "batch_size"),
                                               ({"batch_size": 2.0}, "batch_size"),
                                               ({"batch_size": 2, "seed": -1}, "seed"),
                                               ({"batch_size": 2, "seed": 1.5}, "seed")])
def test_bad_batch_arguments_raise_at_call(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        indexed(5).batches(**kwargs)  # no next(): the error comes from the call itself


# -- split and subset --------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 150), data=st.data(), seed=st.integers(0, 2**32))
def test_split_partitions_reproducibly(n, data, seed) -> None:
    ds = indexed(n)
    validation = data.draw(st.integers(1, n - 1) | st.floats(0.5 / n + 1e-9, 1 - 0.5 / n - 1e-9))
    train, val = ds.split(validation, seed=seed)
    expected = validation if isinstance(validation, int) else round(validation * n)
    assert len(val) == expected and len(train) == n - expected
    t, v = train.labels.tolist(), val.labels.tolist()
    assert sorted(t + v) == list(range(n)) and t == sorted(t) and v == sorted(v)
    again = ds.split(validation, seed=seed)
    assert again[1].labels.tolist() == v
    np.testing.assert_array_equal(val[:][0], ds[val.labels][0])
    assert val.info == ds.info


def test_stratified_split_keeps_class_shares() -> None:
    train, val = two_class(100, 50).split(0.2, seed=3, stratify=True)
    assert val.class_counts().tolist() == [20, 10] and train.class_counts().tolist() == [80, 40]
    _, val = two_class(7, 4).split(3, seed=0, stratify=True)  # quotas 1.91 / 1.09: largest remainder
    assert val.class_counts().tolist() == [2, 1]


@pytest.mark.parametrize("validation", [0, 5, 0.0, 1.0, 1.5, -0.1, 0.01, True, "0.1"])
def test_impossible_splits_are_config_errors(validation) -> None:
    with pytest.raises(ConfigError):
        indexed(5).split(validation, seed=0)


def test_split_needs_a_seed() -> None:
    with pytest.raises(ConfigError, match="seed"):
        indexed(5).split(0.2, seed=None)  # type: ignore[arg-type]


def test_subset_forms() -> None:
    ds = indexed(20)
    assert ds.subset(4).labels.tolist() == [0, 1, 2, 3]
    drawn = ds.subset(6, seed=1).labels.tolist()
    assert len(set(drawn)) == 6 and drawn == sorted(drawn) and drawn == ds.subset(6, seed=1).labels.tolist()
    assert drawn != ds.subset(6, seed=2).labels.tolist()
    assert ds.subset([9, 2, 2]).labels.tolist() == [9, 2, 2]
    assert ds.subset(np.arange(20) >= 18).labels.tolist() == [18, 19]
    np.testing.assert_array_equal(ds.subset([3])[0][0], ds[3][0])


@pytest.mark.parametrize(("selection", "kwargs", "error"), [(0, {}, ConfigError), (21, {}, ConfigError),
                                                            ([1, 2], {"seed": 0}, ConfigError),
                                                            ([], {}, ConfigError), ([25], {}, IndexError)])
def test_bad_subsets(selection, kwargs, error) -> None:
    with pytest.raises(error):
        indexed(20).subset(selection, **kwargs)
