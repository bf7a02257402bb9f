"""Attacks against models whose answer is known in closed form (adv_lib's idea)."""

from __future__ import annotations

import numpy as np

from sparring.attacks import fgsm, pgd
from sparring.attacks._losses import cross_entropy, dlr, margin
from sparring.core.errors import ConfigError
import pytest

from attack_helpers import tiny_batch, tiny_model


def _linear(backend_name: str):
    return tiny_model(backend_name, hidden=(), seed=5)  # logits = W x + b


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_fgsm_on_a_linear_model_matches_the_formula(backend_name: str) -> None:
    model = _linear(backend_name)
    p = model.parameters_numpy()
    W, b = p["head.weight"].astype(np.float64), p["head.bias"].astype(np.float64)
    x, y = tiny_batch(16, seed=2)
    x = np.clip(x, 0.2, 0.8)  # keep away from the range bounds: no clipping in the oracle
    eps = 0.1
    prob = _softmax(x @ W.T + b)
    grad = (prob - np.eye(4)[y]) @ W  # d CE / dx
    expected = x + eps * np.sign(grad)
    got = model.backend.to_numpy(fgsm(model, x, y, eps=eps).x_adv)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_pgd_on_a_linear_model_reaches_the_boundary_when_it_can(backend_name: str) -> None:
    # for a linear binary-like problem the L2 distance to the decision boundary is known
    model = tiny_model(backend_name, hidden=(), seed=5, classes=2)
    p = model.parameters_numpy()
    W, b = p["head.weight"].astype(np.float64), p["head.bias"].astype(np.float64)
    x, _ = tiny_batch(16, seed=4, classes=2)
    x = 0.4 + 0.2 * x
    y = (x @ W.T + b).argmax(1)
    w = W[1] - W[0]
    dist = np.abs(x @ w + b[1] - b[0]) / np.linalg.norm(w)
    r_in = pgd(model, x, y, eps=dist * 1.05, norm="l2", steps=50, rel_step_size=0.1)
    r_out = pgd(model, x, y, eps=dist * 0.95, norm="l2", steps=50, rel_step_size=0.1)
    assert model.backend.to_numpy(r_in.success).all()
    assert not model.backend.to_numpy(r_out.success).any()


def test_losses_match_numpy(backend_name: str) -> None:
    model = _linear(backend_name)
    be = model.backend
    z = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32) * 10
    y = np.array([0, 1, 2, 3, 1])
    ce = be.to_numpy(cross_entropy(be.xp, be.asarray(z), be.asarray(y)))
    ref = -np.log(_softmax(z.astype(np.float64))[np.arange(5), y])
    np.testing.assert_allclose(ce, ref, rtol=1e-5)
    mg = be.to_numpy(margin(be.xp, be.asarray(z), be.asarray(y)))
    other = np.where(np.eye(4)[y] > 0, -np.inf, z).max(1)
    np.testing.assert_allclose(mg, other - z[np.arange(5), y], rtol=1e-6)


def test_dlr_matches_its_formula_and_refuses_two_classes(backend_name: str) -> None:
    model = _linear(backend_name)
    be = model.backend
    z = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 0, 2])
    got = be.to_numpy(dlr(be.xp, be.asarray(z), be.asarray(y)))
    zs = -np.sort(-z, axis=1)
    other = np.where(np.eye(4)[y] > 0, -np.inf, z).max(1)
    np.testing.assert_allclose(got, -(z[np.arange(6), y] - other) / (zs[:, 0] - zs[:, 2] + 1e-12), rtol=1e-5)
    scaled = be.to_numpy(dlr(be.xp, be.asarray(3 * z + 7), be.asarray(y)))
    np.testing.assert_allclose(scaled, got, rtol=1e-4)  # shift and scale invariant
    with pytest.raises(ConfigError, match="at least 3 classes"):
        dlr(be.xp, be.asarray(z[:, :2]), be.asarray(y % 2))
