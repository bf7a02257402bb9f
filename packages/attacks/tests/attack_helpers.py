"""Tiny models and batches shared by the attack tests (imported by name: see pytest pythonpath)."""

from __future__ import annotations

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
