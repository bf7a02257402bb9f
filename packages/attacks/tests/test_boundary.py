"""The class margins and their gradients shared by DeepFool and the margin-based defenses."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sparring.attacks.boundary import column_class, margin_jacobian
from sparring.core.errors import ConfigError

from attack_helpers import tiny_batch, tiny_model


def test_margins_and_gradients_are_those_of_the_other_classes_in_class_order(backend_name: str) -> None:
    """On a linear model z = W x + b: f_j = z_{k_j} - z_y and w_j = W_{k_j} - W_y for the
    classes k_j != y in increasing order, and the logits come along."""
    model = tiny_model(backend_name, hidden=(), seed=3, value_range=(-10.0, 10.0))
    p = model.parameters_numpy()
    W, b = p["head.weight"].astype(np.float64), p["head.bias"].astype(np.float64)
    x, y = tiny_batch(6, seed=3)
    be = model.backend
    f, w, z = margin_jacobian(model, be.asarray(x), be.asarray(y))
    logits = x.astype(np.float64) @ W.T + b
    classes = np.array([[k for k in range(4) if k != label] for label in y])  # (B, 3)
    rows = np.arange(len(y))[:, None]
    np.testing.assert_allclose(be.to_numpy(z), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(be.to_numpy(f), logits[rows, classes] - logits[rows, y[:, None]], rtol=1e-5, atol=1e-5)
    expected_w = np.transpose(W[classes] - W[y][:, None, :], (1, 0, 2))  # (3, B, D)
    assert tuple(w.shape) == (3, len(y), *model.input_shape)
    np.testing.assert_allclose(be.to_numpy(w).reshape(expected_w.shape), expected_w, rtol=1e-5, atol=1e-6)
    columns = np.broadcast_to(np.arange(3), classes.shape)
    got = column_class(be.xp, be.asarray(columns), be.asarray(y[:, None]))
    np.testing.assert_array_equal(be.to_numpy(got), classes)


def test_fewer_than_two_classes_is_refused(backend_name: str) -> None:
    """A user's own Model may claim one class; the built-in ones refuse to be built so."""
    be = tiny_model(backend_name).backend
    one_class = SimpleNamespace(backend=be, num_classes=1)
    x, _ = tiny_batch(2)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        margin_jacobian(one_class, be.asarray(x), be.asarray(np.zeros(2, dtype=np.int64)))
