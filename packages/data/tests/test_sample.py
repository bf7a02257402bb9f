"""The embedded MNIST sample: offline, intact, split as documented, and learnable."""

from __future__ import annotations

import hashlib
import socket
import time

import numpy as np
import pytest

from sparring.core.errors import ConfigError
from sparring.data import load_mnist_sample
from sparring.data.sample import read_mnist_sample

# sha256 of images.tobytes() / labels.tobytes() as written by tools/convert_mnist_5k.py
IMAGES_SHA256 = "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f"
LABELS_SHA256 = "41b7b0a9d94690a3a2f54a1d01a9f1cc1b9512e3954fb737ad5ed9f66972403d"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the embedded sample must load without the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_raw_sample_is_the_converted_file(no_network) -> None:
    images, labels = read_mnist_sample()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    assert hashlib.sha256(images.tobytes()).hexdigest() == IMAGES_SHA256
    assert hashlib.sha256(labels.tobytes()).hexdigest() == LABELS_SHA256
    assert np.bincount(labels).tolist() == [500] * 10
    assert len(np.unique(images.reshape(5000, -1), axis=0)) == 5000  # no duplicated digit


def test_splits_are_fixed_stratified_and_disjoint(no_network) -> None:
    train, test = load_mnist_sample(split="train"), load_mnist_sample(split="test")
    assert (len(train), len(test)) == (4000, 1000) and len(train) + len(test) == 5000
    assert train.class_counts().tolist() == [400] * 10 and test.class_counts().tolist() == [100] * 10
    assert train.info.classes == tuple("0123456789") and train.info.input_shape == (28, 28)
    assert train.labels[:20].tolist() == list(range(10)) * 2  # labels cycle 0..9
    images, labels = read_mnist_sample()
    for c in (0, 7):  # first 400 of a class in file order train, the last 100 test
        members = images[labels == c]
        np.testing.assert_array_equal(train[:][0][train.labels == c] * 255, members[:400])
        np.testing.assert_array_equal(test[:][0][test.labels == c] * 255, members[400:])
    both = np.concatenate([train[:][0], test[:][0]]).reshape(5000, -1)
    assert len(np.unique(both, axis=0)) == 5000


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_pixel_range(no_network, value_range) -> None:
    ds = load_mnist_sample(split="test", value_range=value_range)
    x, _ = ds[:]
    assert x.dtype == np.float32 and ds.info.value_range == value_range
    assert (float(x.min()), float(x.max())) == value_range
    background = x[:, 0, 0]  # the corner is background in every digit
    assert np.all(background == value_range[0])


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="split='all'"):
        load_mnist_sample(split="all")
    with pytest.raises(ConfigError, match="value_range"):
        load_mnist_sample(value_range=(0, 0))


def test_dense_model_learns_the_sample_in_one_epoch() -> None:
    torch = pytest.importorskip("torch")
    from sparring.models import build_model

    train, test = load_mnist_sample(split="train"), load_mnist_sample(split="test")
    torch.manual_seed(0)
    model = build_model("dense-mnist", backend="torch", seed=0)
    net = model.module
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny MLP: extra threads only spin on a busy machine
    try:
        started = time.perf_counter()
        net.train()
        for x, y in train.batches(64, seed=0):  # one epoch, 63 batches
            loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        x, y = test[:]
        with torch.no_grad():
            accuracy = (net(torch.from_numpy(x)).argmax(1).numpy() == y).mean()
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    assert accuracy > 0.85, f"test accuracy {accuracy:.3f} after one epoch"
    assert seconds < 20, f"one epoch on 4,000 digits took {seconds:.1f} s"
