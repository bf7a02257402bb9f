"""DeepFool against models whose nearest boundary is known, and its minimum-norm contract."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.attacks.deepfool import deepfool
from sparring.core.errors import ConfigError

from attack_helpers import tiny_batch, tiny_model

WIDE = (-10.0, 10.0)  # no clipping near the data: the linear oracle holds exactly


def _linear_case(backend_name: str, seed: int = 5):
    model = tiny_model(backend_name, hidden=(), seed=seed, value_range=WIDE)
    p = model.parameters_numpy()
    W, b = p["head.weight"].astype(np.float64), p["head.bias"].astype(np.float64)
    x, _ = tiny_batch(16, seed=seed)
    x = 0.4 + 0.2 * x
    y = (x @ W.T + b).argmax(1)
    return model, x, y, W, b


@pytest.mark.parametrize(("norm", "dual"), [("l2", 2), ("linf", 1)])
def test_linear_model_nearest_boundary(backend_name: str, norm: str, dual: int) -> None:
    model, x, y, W, b = _linear_case(backend_name)
    z = x @ W.T + b
    f = z - z[np.arange(len(x)), y][:, None]  # (B, C)
    w = W[None, :, :] - W[y][:, None, :]  # (B, C, D)
    dist = np.abs(f) / np.maximum(np.linalg.norm(w, ord=dual, axis=2), 1e-30)
    dist[np.arange(len(x)), y] = np.inf
    l = dist.argmin(1)
    wl = w[np.arange(len(x)), l]
    step = (np.abs(f[np.arange(len(x)), l]) + 1e-4) / np.linalg.norm(wl, ord=dual, axis=1)
    expected = 1.02 * step
    r = deepfool(model, x, y, norm=norm, overshoot=0.02)
    be = model.backend
    assert be.to_numpy(r.success).all()
    # one linearisation is exact for a linear model; the second pass finds it fooled
    assert r.gradients == 2 * (model.num_classes - 1)  # w_y = 0 needs no backward pass
    np.testing.assert_allclose(be.to_numpy(r.norms), expected, rtol=2e-4)


def test_an_exact_tie_with_a_smaller_class_counts_as_misclassified(backend_name: str) -> None:
    """argmax takes the first of equal maxima: at x = 0 the logits are the biases, with
    z_0 = z_1 on top, so the prediction is class 0. y = 1 is misclassified from the start
    (zero perturbation); y = 0 is not, and one step crosses to class 1. The stop test
    inside the loop agrees with the final forward pass."""
    model = tiny_model(backend_name, hidden=(), seed=5, value_range=WIDE)
    p = model.parameters_numpy()
    p["head.bias"][:] = [100.0, 100.0, 0.0, 0.0]
    model.load_parameters(p)
    x = np.zeros((4, *model.input_shape), dtype=np.float32)
    y = np.array([1, 0, 1, 0])
    r = deepfool(model, x, y)
    be = model.backend
    norms = be.to_numpy(r.norms)
    assert be.to_numpy(r.success).all()
    assert (norms[::2] == 0).all() and (norms[1::2] > 0).all()


def test_misclassified_samples_get_a_zero_perturbation(backend_name: str) -> None:
    model, x, y, _, _ = _linear_case(backend_name)
    y_wrong = y.copy()
    y_wrong[:5] = (y[:5] + 1) % 4
    r = deepfool(model, x, y_wrong)
    be = model.backend
    np.testing.assert_array_equal(be.to_numpy(r.x_adv)[:5], x[:5])
    assert (be.to_numpy(r.norms)[:5] == 0).all() and (be.to_numpy(r.norms)[5:] > 0).all()
    assert be.to_numpy(r.success).all()


def test_mode_and_weights_untouched_and_range_kept(backend_name: str) -> None:
    model = tiny_model(backend_name, hidden=(16,), seed=2)
    model.train()
    modes, before = model.mode_state(), model.parameters_numpy()
    x, y = tiny_batch(8, seed=1)
    r = deepfool(model, x, y, steps=10)
    assert model.mode_state() == modes
    after = model.parameters_numpy()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    x_adv = model.backend.to_numpy(r.x_adv)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    if backend_name == "torch":
        assert all(p.grad is None for p in model.module.parameters())


def test_bad_arguments(backend_name: str) -> None:
    model = tiny_model(backend_name)
    x, y = tiny_batch(4)
    with pytest.raises(ConfigError, match="norm 'l1'"):
        deepfool(model, x, y, norm="l1")
    with pytest.raises(ConfigError, match="overshoot"):
        deepfool(model, x, y, overshoot=-0.1)
