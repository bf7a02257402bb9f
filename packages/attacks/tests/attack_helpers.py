"""Tiny models and batches shared by the attack tests (imported by name: see pytest pythonpath)."""

from __future__ import annotations

import functools

import numpy as np

from sparring.models import build_model


def tiny_model(backend_name: str, *, seed: int = 0, value_range=(0.0, 1.0), hidden=(16,), features=12, classes=4):
    return build_model(
        "dense", backend=backend_name, seed=seed, input_shape=(features,), hidden=hidden,
        num_classes=classes, value_range=value_range,
    )


def tiny_batch(n: int = 8, *, seed: int = 0, value_range=(0.0, 1.0), features=12, classes=4):
    rng = np.random.default_rng(seed)
    lo, hi = value_range
    x = rng.uniform(lo, hi, size=(n, features)).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    return x, y


@functools.lru_cache(maxsize=None)
def _mnist_dense_weights(hidden: tuple[int, ...], epochs: int, seed: int) -> dict[str, np.ndarray]:
    import torch

    from sparring.data import load_dataset

    x, y = load_dataset("mnist-sample", split="train")[:]
    model = build_model("dense", backend="torch", seed=seed, input_shape=(28, 28), hidden=hidden, num_classes=10)
    params = list(model.module.parameters())
    xt, yt = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):  # plain SGD: torch.optim would import torch._dynamo (seconds)
        for idx in torch.randperm(len(xt), generator=g).split(32):
            loss = torch.nn.functional.cross_entropy(model.module(xt[idx]), yt[idx])
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, grad in zip(params, grads):
                    p -= 0.1 * grad
    return model.parameters_numpy()


def mnist_dense(backend_name: str, *, hidden=(64,), epochs: int = 2, seed: int = 0):
    """A dense 784-64-10 trained for about a second on the embedded MNIST sample (about
    88% test accuracy); the same weights on either backend (trained once, with torch)."""
    model = build_model(
        "dense", backend=backend_name, seed=seed, input_shape=(28, 28), hidden=tuple(hidden), num_classes=10
    )
    model.load_parameters(_mnist_dense_weights(tuple(hidden), epochs, seed))
    return model


def mnist_test(n: int):
    """The first ``n`` digits of the embedded MNIST test split (classes cycle 0..9)."""
    from sparring.data import load_dataset

    x, y = load_dataset("mnist-sample", split="test")[:]
    return x[:n], y[:n].astype(np.int64)
