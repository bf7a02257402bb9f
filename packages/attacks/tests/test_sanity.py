"""Sanity report: quiet on a plainly trained model, loud on a gradient-masked one."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.attacks import random_search, sanity_report
from sparring.core.errors import ConfigError

from attack_helpers import mnist_dense, mnist_test, tiny_batch


class Quantised:
    """``model(round(x · levels) / levels)``: the same predictions on the 5-level grid, but
    ``round`` has a zero derivative, so every input gradient is exactly zero (torch and jax)."""

    def __init__(self, inner, levels: int = 4) -> None:
        self._inner, self._levels = inner, levels

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __call__(self, x):
        xp = self._inner.backend.xp
        return self._inner(xp.round(x * self._levels) / self._levels)


def test_plain_model_raises_no_flag(backend_name: str) -> None:
    model = mnist_dense(backend_name)
    x, y = mnist_test(64)
    r = sanity_report(model, x, y, eps=0.1, long_steps=40)
    assert r.flags == () and r.warnings == () and r.ok, r.to_text()
    assert r.clean_accuracy > 0.8 and r.zero_gradient_fraction == 0.0
    assert r.pgd_long_accuracy < r.clean_accuracy - 0.2  # PGD does bite at this eps
    assert r.large_eps == 1.0 and r.large_eps_accuracy == 0.0
    assert r.random_accuracy >= r.pgd_long_accuracy
    assert "no sign of gradient masking" in str(r)


def test_quantised_model_raises_the_masking_flags(backend_name: str) -> None:
    model = Quantised(mnist_dense(backend_name))
    x, y = mnist_test(64)
    r = sanity_report(model, x, y, eps=0.3, long_steps=20)
    assert r.zero_gradient_fraction == 1.0
    assert {"zero-gradients", "random-beats-pgd", "large-eps-not-zero"} <= set(r.flags), r.to_text()
    assert len(r.warnings) == len(r.flags) and not r.ok
    # PGD cannot move at all: every PGD accuracy is the clean accuracy
    assert r.pgd_accuracy == r.pgd_long_accuracy == r.large_eps_accuracy == r.clean_accuracy
    assert r.random_accuracy < r.clean_accuracy - 0.05
    text = r.to_text()
    assert "WARNING [zero-gradients]" in text and "WARNING [random-beats-pgd]" in text


def test_too_few_steps_raise_the_convergence_flag(backend_name: str) -> None:
    model = mnist_dense(backend_name)
    x, y = mnist_test(64)
    r = sanity_report(model, x, y, eps=0.1, steps=1, long_steps=40)  # 1 step is FGSM
    assert "not-converged" in r.flags, r.to_text()
    assert r.pgd_accuracy - r.pgd_long_accuracy > 0.03


def test_random_search_keeps_a_fooling_point_inside_the_ball(model) -> None:
    be = model.backend
    x, y = tiny_batch(32, seed=4)
    clean_wrong = be.to_numpy(model(be.asarray(x))).argmax(1) != y
    for norm, p in (("linf", np.inf), ("l2", 2), ("l1", 1)):
        for surface in (True, False):
            r = random_search(model, x, y, eps=0.5, norm=norm, samples=10, surface=surface, seed=1)
            x_adv = be.to_numpy(r.x_adv)
            n = np.linalg.norm((x_adv - x).astype(np.float64), ord=p, axis=1)
            assert (n <= 0.5 * (1 + 1e-5)).all() and x_adv.min() >= 0 and x_adv.max() <= 1
            success = be.to_numpy(r.success)
            pred = be.to_numpy(model(be.asarray(x_adv))).argmax(1)
            np.testing.assert_array_equal(success, pred != y)
            np.testing.assert_array_equal(x_adv[~success], x[~success])  # unfooled: the clean input
            np.testing.assert_array_equal(x_adv[clean_wrong], x[clean_wrong])  # x itself is tried first
            assert r.gradients == 0 and r.forwards <= 10 + 2


def test_linf_random_search_tries_corners(backend_name: str) -> None:
    model = mnist_dense(backend_name)
    be = model.backend
    x, y = mnist_test(32)
    r = random_search(model, x, y, eps=0.3, samples=10, seed=1)
    fooled = be.to_numpy(r.success) & (be.to_numpy(model(be.asarray(x))).argmax(1) == y)
    assert fooled.any()
    moved, x_f = np.abs(be.to_numpy(r.x_adv) - x)[fooled], x[fooled]
    inside = (x_f > 0.3) & (x_f < 0.7)  # where the box does not clip the corner
    assert inside.sum() > 10
    np.testing.assert_allclose(moved[inside], 0.3, rtol=1e-4)
    assert (moved[x_f == 0] == 0).sum() + (np.abs(moved[x_f == 0] - 0.3) < 1e-6).sum() == (x_f == 0).sum()


def test_random_search_seed_reproduces(model) -> None:
    x, y = tiny_batch(16)
    a, b = (random_search(model, x, y, eps=0.4, seed=7) for _ in range(2))
    np.testing.assert_array_equal(model.backend.to_numpy(a.x_adv), model.backend.to_numpy(b.x_adv))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(eps=0.0), "eps must be a finite number > 0"),
        (dict(eps=0.1, norm="l0"), "norm 'l0' is not supported"),
        (dict(eps=0.1, steps=10, long_steps=10), "long_steps must be an integer >= 11"),
        (dict(eps=0.1, large_eps=0.05), r"large_eps must be a finite number > eps"),
        (dict(eps=0.1, gap_tol=1.5), r"gap_tol must be a fraction in \[0, 1\)"),
        (dict(eps=0.1, random_samples=0), "random_samples must be an integer >= 1"),
    ],
)
def test_bad_arguments(model, kwargs, match) -> None:
    x, y = tiny_batch()
    with pytest.raises(ConfigError, match=match):
        sanity_report(model, x, y, **kwargs)
