"""IDX reading and the mnist / fashion-mnist loaders, on fixture trees in the official layout."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from sparring.core.errors import ConfigError, DataError
from sparring.data import load_fashion_mnist, load_mnist, read_idx
from sparring.data.idx import FASHION_MNIST_CLASSES, IMAGES_MAGIC, LABELS_MAGIC, MNIST_CLASSES
from sparring.data.locate import ENV_VAR, sha256_file

from data_writers import idx_bytes, mnist_arrays, write_file, write_mnist_tree

LOADERS = {"mnist": (load_mnist, MNIST_CLASSES), "fashion-mnist": (load_fashion_mnist, FASHION_MNIST_CLASSES)}


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("name", list(LOADERS))
def test_loaders_read_the_official_layout(tmp_path, name, gz) -> None:
    loader, classes = LOADERS[name]
    written = write_mnist_tree(tmp_path / name, gz=gz, n_train=30, n_test=12)
    for split, (images, labels) in written.items():
        ds = loader(root=tmp_path, split=split)
        assert len(ds) == len(labels) and ds.info.input_shape == (28, 28)
        assert ds.info.name == name and ds.info.classes == classes and ds.info.value_range == (0.0, 1.0)
        x, y = ds[:]
        np.testing.assert_array_equal(x, images.astype(np.float32) / np.float32(255))
        np.testing.assert_array_equal(y, labels)
        assert x.min() == 0.0 and x.max() == 1.0
    sym = loader(root=tmp_path, split="test", value_range=(-1.0, 1.0))
    x, _ = sym[:]
    np.testing.assert_allclose(x, written["test"][0] / 127.5 - 1, atol=1e-6)
    assert sym.info.value_range == (-1.0, 1.0) and x.min() == -1.0 and x.max() == 1.0


def test_files_directly_in_root_and_through_environment(tmp_path, monkeypatch) -> None:
    written = write_mnist_tree(tmp_path / "flat", gz=True)
    assert np.array_equal(load_mnist(root=tmp_path / "flat").labels, written["train"][1])
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "flat"))
    assert np.array_equal(load_mnist(split="test").labels, written["test"][1])


def test_mixed_gz_and_plain_files(tmp_path) -> None:
    images, labels = mnist_arrays(9, seed=4)
    write_file(tmp_path / "train-images-idx3-ubyte", idx_bytes(images), gz=True)
    write_file(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels), gz=False)
    assert np.array_equal(load_mnist(root=tmp_path).labels, labels)


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_read_idx_round_trips_every_element_type(tmp_path, dtype) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    path = write_file(tmp_path / "a-idx", idx_bytes(array), gz=dtype == "i2")
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_read_idx_checks_the_magic_number(tmp_path) -> None:
    labels = write_file(tmp_path / "l", idx_bytes(np.zeros(5, np.uint8)), gz=False)
    assert read_idx(labels, magic=LABELS_MAGIC).shape == (5,)
    expected = r"magic number 0x00000801 \(uint8 1-D, a label file\), expected 0x00000803 \(uint8 3-D, an image"
    with pytest.raises(DataError, match=expected):
        read_idx(labels, magic=IMAGES_MAGIC)
    floats = write_file(tmp_path / "f", idx_bytes(np.zeros((2, 28, 28), np.float32)), gz=False)
    with pytest.raises(DataError, match="magic number 0x00000D03"):
        read_idx(floats, magic=IMAGES_MAGIC)


@pytest.mark.parametrize(("data", "match"), [
    (b"\x00\x00", "too short for an IDX header"),
    (b"\x01\x02\x08\x01" + b"\x00" * 8, "not an IDX file"),
    (b"\x00\x00\x07\x01" + b"\x00" * 8, "not an IDX file"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "too short for the header of a 3-D IDX file"),
])
def test_read_idx_rejects_non_idx_files(tmp_path, data, match) -> None:
    path = tmp_path / "junk"
    path.write_bytes(data)
    with pytest.raises(DataError, match=match):
        read_idx(path)


def _tree(tmp_path: Path, gz: bool = False) -> tuple[Path, Path]:
    write_mnist_tree(tmp_path, gz=gz, n_train=10, n_test=4)
    suffix = ".gz" if gz else ""
    return tmp_path / ("train-images-idx3-ubyte" + suffix), tmp_path / ("train-labels-idx1-ubyte" + suffix)


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
def test_truncated_images_say_which_file_and_the_sizes(tmp_path, gz) -> None:
    images_path, _ = _tree(tmp_path)
    data = images_path.read_bytes()[:-100]
    target = write_file(images_path, data, gz=gz)
    if gz:
        images_path.unlink()
    with pytest.raises(DataError) as info:
        load_mnist(root=tmp_path)
    msg = str(info.value)
    assert str(target) in msg and "truncated" in msg
    assert "(10, 28, 28)" in msg and "16 + 7840 = 7856 bytes" in msg and "holds 7756 bytes" in msg


def test_oversized_labels_say_so(tmp_path) -> None:
    _, labels_path = _tree(tmp_path)
    labels_path.write_bytes(labels_path.read_bytes() + b"\x00\x01")
    expected = r"train-labels-idx1-ubyte: oversized .*8 \+ 10 = 18 bytes, but the file holds 20"
    with pytest.raises(DataError, match=expected):
        load_mnist(root=tmp_path)


def test_truncated_gzip_stream(tmp_path) -> None:
    images_path, _ = _tree(tmp_path, gz=True)
    images_path.write_bytes(images_path.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: cannot decompress .*truncated or corrupt"):
        load_mnist(root=tmp_path)


def test_corrupt_gzip_stream(tmp_path) -> None:
    images_path, _ = _tree(tmp_path, gz=True)
    raw = bytearray(images_path.read_bytes())
    raw[20:40] = b"\xff" * 20
    images_path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="cannot decompress"):
        load_mnist(root=tmp_path)


def test_labels_file_under_the_images_name(tmp_path) -> None:
    images_path, labels_path = _tree(tmp_path)
    images_path.write_bytes(labels_path.read_bytes())
    with pytest.raises(DataError, match=rf"{images_path}: magic number 0x00000801"):
        load_mnist(root=tmp_path)


def test_images_of_another_size(tmp_path) -> None:
    images_path, _ = _tree(tmp_path)
    images_path.write_bytes(idx_bytes(np.zeros((10, 27, 28), np.uint8)))
    with pytest.raises(DataError, match="images of 27x28 pixels, expected 28x28"):
        load_mnist(root=tmp_path)


def test_image_and_label_counts_must_match(tmp_path) -> None:
    _, labels_path = _tree(tmp_path)
    labels_path.write_bytes(idx_bytes(np.zeros(9, np.uint8)))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte holds 10 images but train-labels-idx1-ubyte holds 9"):
        load_mnist(root=tmp_path)


def test_labels_must_be_digits(tmp_path) -> None:
    _, labels_path = _tree(tmp_path)
    labels = np.arange(10, dtype=np.uint8)
    labels[6] = 10
    labels_path.write_bytes(idx_bytes(labels))
    with pytest.raises(DataError, match=r"label 10 at index 6 is not a class of 'mnist' \(0..9; 1 such labels\)"):
        load_mnist(root=tmp_path)


def test_missing_file_error_lists_expected_names(tmp_path) -> None:
    _, labels_path = _tree(tmp_path)
    labels_path.unlink()
    with pytest.raises(DataError) as info:
        load_fashion_mnist(root=tmp_path, split="train")
    msg = str(info.value)
    assert "dataset 'fashion-mnist' (split 'train') not found" in msg
    assert "train-images-idx3-ubyte.gz or train-images-idx3-ubyte" in msg
    assert "train-labels-idx1-ubyte.gz or train-labels-idx1-ubyte" in msg
    assert f"{tmp_path}  (missing: train-labels-idx1-ubyte.gz or train-labels-idx1-ubyte)" in msg
    assert "zalandoresearch/fashion-mnist" in msg and "dataset-fashion-mnist" in msg
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz or t10k-images-idx3-ubyte"):
        load_mnist(root=tmp_path / "empty", split="test")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"split": "validation"}, r"splits 'train', 'test'; got split='validation'"),
    ({"value_range": (1, -1)}, "value_range"),
])
def test_bad_arguments_are_config_errors_before_any_file_is_read(tmp_path, kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_mnist(root=tmp_path / "nothing-here", **kwargs)


def test_sha256_is_checked_on_the_files_as_stored(tmp_path) -> None:
    write_mnist_tree(tmp_path, gz=True, n_train=10, n_test=4)
    name = "train-images-idx3-ubyte.gz"
    digest = sha256_file(tmp_path / name)
    assert len(load_mnist(root=tmp_path, sha256={name: digest})) == 10
    assert digest == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    with pytest.raises(DataError, match="sha256 is"):
        load_mnist(root=tmp_path, sha256={name: "0" * 64})
    with pytest.raises(DataError, match="given for 'train-images-idx3-ubyte'"):
        load_mnist(root=tmp_path, sha256={"train-images-idx3-ubyte": digest})


def test_uncompressed_content_of_a_gz_is_what_is_read(tmp_path) -> None:
    images, labels = mnist_arrays(5, seed=8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    ds = load_mnist(root=tmp_path)
    np.testing.assert_array_equal(ds[:][0] * 255, images.astype(np.float32))
