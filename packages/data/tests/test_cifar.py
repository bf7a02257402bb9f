"""CIFAR-10 python batches: layout, HWC images, and the restricted unpickler."""

from __future__ import annotations

import builtins
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from sparring.core.errors import ConfigError, DataError
from sparring.data import load_cifar10, read_cifar_batch, read_cifar_meta
from sparring.data.cifar import CIFAR10_CLASSES
from sparring.data.safe_pickle import restricted_load

from data_writers import cifar_batch, cifar_meta, py2_pickle, write_cifar_tree

BATCHES = "cifar-10-batches-py"


def hwc(batch: dict) -> np.ndarray:
    """The reference conversion, pixel by pixel: row = R plane | G plane | B plane."""
    data = batch[b"data"]
    out = np.empty((len(data), 32, 32, 3), np.uint8)
    for i in range(len(data)):
        for ch in range(3):
            for r in range(32):
                out[i, r, :, ch] = data[i, ch * 1024 + r * 32 : ch * 1024 + r * 32 + 32]
    return out


@pytest.mark.parametrize("py2", [False, True], ids=["py3-protocol2", "py2-cpickle"])
def test_train_and_test_splits(tmp_path, py2) -> None:
    batches = write_cifar_tree(tmp_path / "cifar10" / BATCHES, n=4, py2=py2)
    train = load_cifar10(root=tmp_path)
    assert len(train) == 20 and train.info.input_shape == (32, 32, 3) and train.info.name == "cifar10"
    assert train.info.classes == CIFAR10_CLASSES and train.storage_dtype == np.uint8
    x, y = train[:]
    expected = np.concatenate([hwc(b) for b in batches["train"]])  # batches 1..5 in order
    np.testing.assert_array_equal(x, expected.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, np.concatenate([b[b"labels"] for b in batches["train"]]))
    test = load_cifar10(root=tmp_path, split="test", value_range=(-1.0, 1.0))
    x, y = test[:]
    np.testing.assert_allclose(x, hwc(batches["test"][0]) / 127.5 - 1, atol=1e-6)
    assert y.tolist() == batches["test"][0][b"labels"]


def test_pixel_layout_is_height_width_channel(tmp_path) -> None:
    batch = cifar_batch(1, seed=0)
    row = np.zeros(3072, np.uint8)
    row[0 * 1024 + 0 * 32 + 1] = 10  # red, row 0, column 1
    row[1 * 1024 + 2 * 32 + 0] = 20  # green, row 2, column 0
    row[2 * 1024 + 31 * 32 + 31] = 30  # blue, bottom-right
    batch[b"data"] = row[None]
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    images, labels = read_cifar_batch(path)
    assert images.shape == (1, 32, 32, 3) and images.flags.c_contiguous and labels.dtype == np.int64
    assert images[0, 0, 1, 0] == 10 and images[0, 2, 0, 1] == 20 and images[0, 31, 31, 2] == 30
    assert int(images.sum()) == 60


@pytest.mark.parametrize("layout", [f"cifar10/{BATCHES}", BATCHES, ""])
def test_folder_layouts(tmp_path, layout) -> None:
    write_cifar_tree(tmp_path / layout if layout else tmp_path, n=2)
    assert len(load_cifar10(root=tmp_path, split="test")) == 2


def test_missing_batch_lists_every_expected_file(tmp_path) -> None:
    write_cifar_tree(tmp_path / BATCHES, n=2)
    (tmp_path / BATCHES / "data_batch_3").unlink()
    with pytest.raises(DataError) as info:
        load_cifar10(root=tmp_path)
    msg = str(info.value)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["batches.meta"]:
        assert f"\n  {name}\n" in msg, name
    assert f"{tmp_path / BATCHES}  (missing: data_batch_3)" in msg
    assert "www.cs.toronto.edu/~kriz/cifar.html" in msg
    assert len(load_cifar10(root=tmp_path, split="test")) == 2  # the test split is complete


def test_sha256_of_batches(tmp_path) -> None:
    write_cifar_tree(tmp_path, n=2)
    with pytest.raises(DataError, match="test_batch: sha256 is"):
        load_cifar10(root=tmp_path, split="test", sha256={"test_batch": "f" * 64})


def test_bad_split_is_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="split='val'"):
        load_cifar10(root=tmp_path, split="val")


# -- crafted pickles -------------------------------------------------------------------
class RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsEval:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize(("payload", "refused"), [(RunsShell, r"posix\.system|nt\.system"),
                                                  (RunsEval, r"__builtin__\.eval")])
@pytest.mark.parametrize("where", ["whole file", "inside the labels"])
def test_crafted_pickle_is_refused_without_running_code(tmp_path, payload, refused, where) -> None:
    control = tmp_path / "control-marker"
    marker = tmp_path / "marker"
    # the payload is live: plain pickle runs it (so this test can fail)
    pickle.loads(pickle.dumps(payload(control), protocol=2))
    assert control.exists()
    write_cifar_tree(tmp_path / BATCHES, n=2)
    if where == "whole file":
        evil = payload(marker)
    else:
        evil = cifar_batch(2, seed=0)
        evil[b"labels"] = [0, payload(marker)]
    (tmp_path / BATCHES / "data_batch_2").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match=rf"data_batch_2: refusing to unpickle ({refused})"):
        load_cifar10(root=tmp_path)
    assert not marker.exists()


def test_codecs_encode_is_limited_to_latin1(tmp_path) -> None:
    path = tmp_path / "p"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(DataError, match="codec 'rot13'"):
        restricted_load(path)
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xa9X\x06\x00\x00\x00latin1\x86R.")
    assert restricted_load(path) == b"\xe9"


@pytest.mark.parametrize("obj", [np.int64(3), {1, 2}, Path("x")], ids=["numpy-scalar", "set", "path"])
def test_other_globals_are_refused(tmp_path, obj) -> None:
    path = tmp_path / "p"
    path.write_bytes(pickle.dumps({b"labels": [obj]}, protocol=2))
    with pytest.raises(DataError, match="refusing to unpickle"):
        restricted_load(path)


# -- malformed batches -----------------------------------------------------------------
def _write(tmp_path: Path, obj, *, raw: bytes | None = None) -> Path:
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw if raw is not None else pickle.dumps(obj, protocol=2))
    return path


def _batch(**changes) -> dict:
    batch = cifar_batch(3, seed=5)
    batch.update({k.encode(): v for k, v in changes.items()})
    return batch


@pytest.mark.parametrize(("obj", "match"), [
    ([1, 2], "expected a pickled dict"),
    ({b"labels": [0]}, "no 'data' entry"),
    (_batch(data=np.zeros((3, 3071), np.uint8)),
     r"uint8 array of shape \(N, 3072\), got a uint8 array of shape \(3, 3071\)"),
    (_batch(data=np.zeros((3, 3072), np.float32)), "got a float32 array"),
    (_batch(data=b"\x00" * 9216), "got a bytes"),
    (_batch(labels=[0, 1]), "3 images but 2 labels"),
    (_batch(labels=[0, 10, 1]), "label 10 at index 1 is outside 0..9"),
    (_batch(labels=[b"a", b"b", b"c"]), "'labels' must be a list of ints"),
])
def test_malformed_batches(tmp_path, obj, match) -> None:
    with pytest.raises(DataError, match=match):
        read_cifar_batch(_write(tmp_path, obj))


def test_truncated_and_foreign_files(tmp_path) -> None:
    good = py2_pickle(cifar_batch(2, seed=1))
    with pytest.raises(DataError, match="data_batch_1: not a readable pickle"):
        read_cifar_batch(_write(tmp_path, None, raw=good[: len(good) // 2]))
    with pytest.raises(DataError, match="not a readable pickle"):
        read_cifar_batch(_write(tmp_path, None, raw=b"PK\x03\x04 a zip file"))


def test_meta_names(tmp_path) -> None:
    path = tmp_path / "batches.meta"
    path.write_bytes(py2_pickle(cifar_meta()))
    assert read_cifar_meta(path) == CIFAR10_CLASSES
    path.write_bytes(pickle.dumps({b"label_names": [b"a"] * 9}, protocol=2))
    with pytest.raises(DataError, match="9 class names"):
        read_cifar_meta(path)
