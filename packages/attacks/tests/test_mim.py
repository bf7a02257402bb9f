"""MIM's update rule itself: momentum over per-sample L1-normalised gradients."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.attacks import fgsm, mim
from sparring.attacks.mim import momentum_direction
from sparring.core.errors import ConfigError

from attack_helpers import tiny_batch


def test_momentum_accumulates_l1_normalised_gradients(model) -> None:
    be = model.backend
    rng = np.random.default_rng(0)
    g1 = rng.normal(size=(3, 5)).astype(np.float32)
    g2 = 100 * rng.normal(size=(3, 5)).astype(np.float32)  # scale must not matter
    step = momentum_direction(be.xp, "linf", 0.5)
    x_t = be.asarray(np.zeros((3, 5), np.float32))
    d1, state = step(be.asarray(g1), None, x_t)
    d2, state = step(be.asarray(g2), state, x_t)
    l1 = lambda g: np.abs(g).sum(1, keepdims=True)  # noqa: E731
    expected = 0.5 * g1 / l1(g1) + g2 / l1(g2)
    np.testing.assert_allclose(be.to_numpy(state), expected, rtol=1e-5)
    np.testing.assert_array_equal(be.to_numpy(d2), np.sign(expected))
    np.testing.assert_array_equal(be.to_numpy(d1), np.sign(g1))


def test_one_mim_step_without_momentum_is_fgsm(model) -> None:
    x, _ = tiny_batch(16)
    y = model.backend.to_numpy(model(model.backend.asarray(x))).argmax(1)
    a = fgsm(model, x, y, eps=0.1)
    b = mim(model, x, y, eps=0.1, steps=1, momentum=0.0)
    np.testing.assert_array_equal(model.backend.to_numpy(a.x_adv), model.backend.to_numpy(b.x_adv))


def test_negative_momentum_is_refused(model) -> None:
    x, y = tiny_batch()
    with pytest.raises(ConfigError, match="momentum"):
        mim(model, x, y, eps=0.1, momentum=-1.0)
