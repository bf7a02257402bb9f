"""Tiny models and data for the defense tests (imported by name: the tests folder is on pythonpath)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sparring.models import build_model


def tiny_model(backend: str, *, hidden: tuple[int, ...] = (8,), classes: int = 3, features: int = 6,
               seed: int = 0, dtype: str = "float32") -> Any:
    return build_model("dense", backend=backend, input_shape=(features,), hidden=hidden, num_classes=classes,
                       seed=seed, dtype=dtype)


def same_weights(backend: str, reference: Any, **kw: Any) -> Any:
    m = tiny_model(backend, **kw)
    m.load_parameters(reference.parameters_numpy())
    return m


def blobs(n: int = 60, classes: int = 3, features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Separable clusters inside [0, 1]."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.25, 0.75, (classes, features))
    y = rng.integers(0, classes, n)
    x = np.clip(centres[y] + 0.08 * rng.standard_normal((n, features)), 0, 1).astype(np.float32)
    return x, y.astype(np.int64)


def softmax_np(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ce_np(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -np.log(softmax_np(z)[np.arange(len(y)), y])


def logits_np(model: Any, x: np.ndarray) -> np.ndarray:
    return model.backend.to_numpy(model(model.backend.asarray(x)))
