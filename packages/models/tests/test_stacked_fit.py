"""Tiny S4D and GRU StackedModels learn a real sequence task well above chance.

The task: which of four periods a noisy sinusoid of random phase and amplitude has
(length 32, one feature, chance 0.25). Trained for a few seconds with Adam on the
TorchModel's module; evaluated on held-out sequences in eval mode.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sparring.models import build_model

PERIODS = np.array([3.0, 5.0, 8.0, 13.0])
L = 32


def sinusoids(n: int, seed: int, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """``x (n, L, 1)`` float32 and labels ``y (n,)``: ``a sin(2 pi t / P_y + phi) + noise``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(PERIODS), n)
    t = np.arange(L)
    phase = rng.uniform(0.0, 2.0 * np.pi, (n, 1))
    amp = rng.uniform(0.5, 1.0, (n, 1))
    x = amp * np.sin(2.0 * np.pi * t / PERIODS[y][:, None] + phase) + noise * rng.normal(size=(n, L))
    return x[..., None].astype(np.float32), y


def _fit(model, train, test, *, epochs: int, lr: float, batch: int) -> float:
    """Adam on the TorchModel's module over seeded batches; held-out accuracy in eval mode."""
    import torch

    x, y = torch.as_tensor(train[0]), torch.as_tensor(train[1], dtype=torch.long)
    net = model.module
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    batches = torch.randperm(len(x), generator=torch.Generator().manual_seed(3)).reshape(-1, batch)
    model.train()
    for _epoch in range(epochs):
        for idx in batches:
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(test[0])).argmax(-1).numpy()
    return float((pred == test[1]).mean())


@pytest.fixture
def torch_one_thread() -> Iterator[object]:
    """Tiny models gain nothing from intra-op threads, and on small shared VMs two
    spinning OpenMP threads can make a per-step Python loop 10-100x slower."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)


@pytest.mark.parametrize("layer", ["s4d", "gru"])
def test_tiny_model_learns_sinusoid_periods(torch_one_thread: object, layer: str) -> None:
    import torch
    torch.manual_seed(0)  # dropout masks
    model = build_model(
        "stacked", backend="torch", seed=0, layer=layer, input_shape=(L, 1), d_model=16, state_size=32,
        num_classes=len(PERIODS), dropout=0.1, value_range=(-2.0, 2.0),
    )
    accuracy = _fit(model, sinusoids(2048, seed=1), sinusoids(512, seed=2), epochs=4, lr=1e-2, batch=64)
    assert accuracy > 0.8, f"{layer}: held-out accuracy {accuracy:.3f} (chance 0.25)"


@pytest.mark.parametrize("layer", ["s4d", "gru"])
def test_tiny_model_learns_real_digits(torch_one_thread: object, layer: str) -> None:
    """The embedded real MNIST sample, each digit as 28 rows of 28 pixels in [-1, 1]:
    1,500 training digits, 4 epochs, held-out accuracy far above chance (0.1)."""
    import torch

    from sparring.data import load_dataset

    torch.manual_seed(0)
    train, test = load_dataset("mnist-sample", split="train"), load_dataset("mnist-sample", split="test")
    x_train, y_train = train[np.arange(1500)]
    x_test, y_test = test[np.arange(500)]
    x_train, x_test = 2.0 * x_train - 1.0, 2.0 * x_test - 1.0
    model = build_model("stacked", backend="torch", seed=0, layer=layer, input_shape=(28, 28), d_model=32,
                        state_size=16, num_classes=10, value_range=(-1.0, 1.0))
    accuracy = _fit(model, (x_train, y_train), (x_test, y_test), epochs=4, lr=2e-2, batch=50)
    assert accuracy > 0.7, f"{layer}: held-out accuracy {accuracy:.3f} on real digits (chance 0.1)"
