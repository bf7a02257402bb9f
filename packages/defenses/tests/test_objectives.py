"""Each defense's objective against a value computed by hand (numpy) on a fixed tiny input."""

from __future__ import annotations

import numpy as np
import pytest
from defense_helpers import blobs, ce_np, logits_np, softmax_np, tiny_model

from sparring.core.errors import ConfigError
from sparring.defenses import (
    GradAlign,
    GradientNorm,
    Mart,
    MinMax,
    Standard,
    Trades,
    WeightRegularised,
    algorithm1,
    pgd_at,
)
from sparring.defenses.weights import orthogonality_penalty, spectral_penalty


def _value(model, defense, x, y, *extra):
    be = model.backend
    loss, _ = defense.objective(model, be.asarray(x), be.asarray(y), *[be.asarray(e) for e in extra])
    return float(be.to_numpy(loss))


def test_standard_is_mean_cross_entropy(backend_name: str) -> None:
    m = tiny_model(backend_name)
    x, y = blobs(10)
    assert _value(m, Standard(), x, y) == pytest.approx(ce_np(logits_np(m, x), y).mean(), rel=1e-5)


def test_algorithm1_is_mean_of_hard_max_over_copies(backend_name: str) -> None:
    m = tiny_model(backend_name)
    x, y = blobs(4)
    rng = np.random.default_rng(1)
    copies = np.clip(x[:, None, :] + 0.1 * rng.standard_normal((4, 3, 6)), 0, 1).astype(np.float32)
    per_copy = ce_np(logits_np(m, copies.reshape(12, 6)), np.repeat(y, 3)).reshape(4, 3)
    assert _value(m, MinMax(), x, y, copies) == pytest.approx(per_copy.max(axis=1).mean(), rel=1e-5)
    clean = ce_np(logits_np(m, x), y).mean()
    assert _value(m, MinMax(clean_weight=0.5), x, y, copies) == pytest.approx(
        per_copy.max(axis=1).mean() + 0.5 * clean, rel=1e-5
    )


def test_algorithm1_copies_are_targeted_and_inside_the_ball(backend_name: str) -> None:
    m = tiny_model(backend_name)
    x, y = blobs(5)
    d = algorithm1(eps=0.1, steps=3, step_size=0.05)
    (copies,) = d.inputs(m, m.backend.asarray(x), m.backend.asarray(y), 0, 0)
    c = m.backend.to_numpy(copies)
    assert c.shape == (5, 3, 6)
    assert np.abs(c - x[:, None]).max() <= 0.1 + 1e-6 and c.min() >= 0 and c.max() <= 1
    np.testing.assert_array_equal(c[np.arange(5), y], x)  # the copy towards the true class does not move
    # each other copy raised its own class's logit margin over the true class
    z0 = logits_np(m, x)
    for j in range(3):
        zj = logits_np(m, c[:, j])
        moved = y != j
        gain = (zj[moved, j] - zj[moved, y[moved]]) - (z0[moved, j] - z0[moved, y[moved]])
        assert (gain >= -1e-6).all()


def test_trades_with_beta_zero_or_no_perturbation_is_cross_entropy(backend_name: str) -> None:
    m = tiny_model(backend_name)
    x, y = blobs(8)
    ce = ce_np(logits_np(m, x), y).mean()
    assert _value(m, Trades(beta=0.0), x, y, x) == pytest.approx(ce, rel=1e-5)
    assert _value(m, Trades(beta=6.0), x, y, x) == pytest.approx(ce, rel=1e-5)
    x_adv = np.clip(x + 0.05, 0, 1)
    p, q = softmax_np(logits_np(m, x)), softmax_np(logits_np(m, x_adv))
    kl = (p * (np.log(p) - np.log(q))).sum(axis=1).mean()
    assert _value(m, Trades(beta=2.0), x, y, x_adv) == pytest.approx(ce + 2.0 * kl, rel=1e-5)


def test_mart_matches_its_formula(backend_name: str) -> None:
    m = tiny_model(backend_name)
    x, y = blobs(8)
    x_adv = np.clip(x - 0.05, 0, 1)
    p, q = softmax_np(logits_np(m, x)), softmax_np(logits_np(m, x_adv))
    idx = np.arange(8)
    other = q.copy()
    other[idx, y] = -1
    bce = -np.log(q[idx, y]) - np.log(1 - other.max(axis=1))
    kl = (p * (np.log(p) - np.log(q))).sum(axis=1)
    expected = (bce + 6.0 * kl * (1 - p[idx, y])).mean()
    assert _value(m, Mart("pgd", lam=6.0), x, y, x_adv) == pytest.approx(expected, rel=1e-5)


def test_pgd_at_is_cross_entropy_at_its_input(backend_name: str) -> None:
    m = tiny_model(backend_name)
    x, y = blobs(8)
    x_adv = np.clip(x + 0.03, 0, 1)
    assert _value(m, pgd_at(), x, y, x_adv) == pytest.approx(ce_np(logits_np(m, x_adv), y).mean(), rel=1e-5)


def test_gradient_norm_penalty_of_a_linear_model(backend_name: str) -> None:
    m = tiny_model(backend_name, hidden=())
    w = m.parameters_numpy()["head.weight"]  # (3, 6): logits = W x + b
    x, y = blobs(8)
    p = softmax_np(logits_np(m, x))
    grads = (p - np.eye(3)[y]) @ w  # ∇_x CE = Wᵀ (p - e_y)
    expected = ce_np(logits_np(m, x), y).mean() + 0.5 * (grads**2).sum(axis=1).mean()
    assert _value(m, GradientNorm(lam=0.5), x, y, x) == pytest.approx(expected, rel=1e-5)


def test_gradalign_penalty_vanishes_for_identical_points(backend_name: str) -> None:
    m = tiny_model(backend_name)
    x, y = blobs(8)
    x_adv = np.clip(x + 0.02, 0, 1)
    expected = ce_np(logits_np(m, x_adv), y).mean()
    assert _value(m, GradAlign(eps=0.1, lam=3.0), x, y, x_adv, x) == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_weight_penalties_match_numpy(backend_name: str) -> None:
    m = tiny_model(backend_name, hidden=(5,))
    params = m.parameters_numpy()
    mats = [params["layers.0.weight"], params["head.weight"]]
    ortho = sum(np.abs(w @ w.T - np.eye(w.shape[0])).sum() for w in mats)
    spec = sum(np.linalg.svd(w, compute_uv=False)[0] ** 2 for w in mats)
    assert float(m.backend.to_numpy(orthogonality_penalty(m))) == pytest.approx(ortho, rel=1e-5)
    assert float(m.backend.to_numpy(spectral_penalty(m, iterations=100))) == pytest.approx(spec, rel=1e-4)
    x, y = blobs(6)
    base = ce_np(logits_np(m, x), y).mean()
    assert _value(m, WeightRegularised(Standard(), "orthogonal", lam=0.01), x, y) == pytest.approx(
        base + 0.01 * ortho, rel=1e-5
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: MinMax(eps=-0.1),
        lambda: MinMax(steps=0),
        lambda: Trades(beta=-1.0),
        lambda: pgd_at(eps=float("nan")),
        lambda: GradientNorm(at="nowhere"),
        lambda: WeightRegularised(kind="nuclear"),
    ],
)
def test_bad_settings_are_config_errors(make) -> None:
    with pytest.raises(ConfigError):
        make()
