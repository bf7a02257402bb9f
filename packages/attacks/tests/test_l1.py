"""L1 pieces of _lp (Duchi projection, SLIDE direction, uniform sample) and PGD-L1."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.attacks import pgd
from sparring.attacks._lp import project_ball, random_in_ball, steepest_direction
from sparring.core.errors import ConfigError

from attack_helpers import mnist_dense, mnist_test, tiny_batch, tiny_model


def _project_ref(v: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Duchi et al. 2008, Algorithm 1, one sample at a time in float64."""
    out = []
    for vi, e in zip(v.reshape(len(v), -1).astype(np.float64), eps):
        if np.abs(vi).sum() <= e:
            out.append(vi)
            continue
        if e == 0:
            out.append(np.zeros_like(vi))
            continue
        u = np.sort(np.abs(vi))[::-1]
        css = np.cumsum(u)
        rho = np.nonzero(u * np.arange(1, len(u) + 1) > css - e)[0][-1]
        theta = (css[rho] - e) / (rho + 1)
        out.append(np.sign(vi) * np.maximum(np.abs(vi) - theta, 0.0))
    return np.stack(out).reshape(v.shape)


def _case(seed: int, batch: int, shape: tuple[int, ...], scale: float):
    rng = np.random.default_rng(seed)
    v = (scale * rng.laplace(size=(batch, *shape))).astype(np.float32)
    l1 = np.abs(v).reshape(batch, -1).sum(1)
    eps = (l1 * rng.uniform(0.0, 1.5, size=batch)).astype(np.float32)  # about a third already inside
    eps[0] = 0.0
    return v, eps


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    shape=st.sampled_from([(1,), (3, 4), (2, 5, 3), (50,)]),
    scale=st.sampled_from([1e-3, 1.0, 30.0]),
)
def test_l1_projection_matches_duchi_and_is_optimal(backend_name: str, seed, shape, scale) -> None:
    be = tiny_model(backend_name).backend
    batch = 5  # a fixed batch: eager jax compiles every operation for every new shape
    v, eps = _case(seed, batch, shape, scale)
    w = be.to_numpy(project_ball(be.xp, be.asarray(v), be.asarray(eps), "l1"))
    assert w.shape == v.shape
    np.testing.assert_allclose(w, _project_ref(v, eps), rtol=1e-5, atol=1e-5 * scale)
    vf, wf = v.reshape(batch, -1).astype(np.float64), w.reshape(batch, -1).astype(np.float64)
    l1v, l1w = np.abs(vf).sum(1), np.abs(wf).sum(1)
    assert (l1w <= eps * (1 + 1e-5) + 1e-7).all()  # inside the ball
    inside = l1v <= eps
    np.testing.assert_array_equal(w[inside], v[inside])  # points inside: unchanged
    for i in np.nonzero(~inside)[0]:  # KKT: soft threshold of v by one theta, on the sphere
        np.testing.assert_allclose(l1w[i], eps[i], rtol=1e-5, atol=1e-6 * scale)
        support = wf[i] != 0
        assert (np.sign(wf[i][support]) == np.sign(vf[i][support])).all()
        theta = np.abs(vf[i]) - np.abs(wf[i])  # common threshold on the support
        if support.any():
            t = theta[support].mean()
            np.testing.assert_allclose(theta[support], t, atol=1e-5 * max(scale, t))
            assert (np.abs(vf[i][~support]) <= t + 1e-5 * max(scale, t)).all()
        else:
            assert eps[i] == 0


def test_l1_direction_is_slide(model) -> None:
    be = model.backend
    rng = np.random.default_rng(1)
    g = rng.normal(size=(5, 10, 20)).astype(np.float32)
    g[1] = 0.0  # zero gradient -> zero direction
    for q in (0.99, 0.9, 0.0):
        d = be.to_numpy(steepest_direction(be.xp, be.asarray(g), "l1", q=q))
        flat_g, flat_d = g.reshape(5, -1), d.reshape(5, -1)
        thr = np.quantile(np.abs(flat_g), q, axis=1, method="lower")[:, None]
        keep = np.abs(flat_g) >= thr
        expected = np.where(keep, np.sign(flat_g), 0.0) / np.maximum(keep.sum(1, keepdims=True), 1)
        expected[1] = 0.0
        np.testing.assert_allclose(flat_d, expected, rtol=1e-6)
        l1 = np.abs(flat_d).sum(1)
        np.testing.assert_allclose(l1[[0, 2, 3, 4]], 1.0, rtol=1e-6)
        assert l1[1] == 0
    # top 1% of 200 coordinates: 3 of them ("lower" quantile at index floor(0.99 * 199) = 197)
    assert ((d0 := be.to_numpy(steepest_direction(be.xp, be.asarray(g), "l1"))).reshape(5, -1)[0] != 0).sum() == 3
    assert d0.shape == g.shape


def test_l1_direction_can_skip_coordinates_pushing_out_of_the_box(model) -> None:
    be = model.backend
    g = np.array([[-5.0, 4.0, 3.0, -1.0]], dtype=np.float32)
    x = np.array([[0.0, 1.0, 0.5, 0.5]], dtype=np.float32)  # coordinates 0 and 1 sit at a bound, pushed out
    d = steepest_direction(be.xp, be.asarray(g), "l1", q=0.5, x=be.asarray(x), value_range=(0.0, 1.0))
    np.testing.assert_allclose(be.to_numpy(d), [[0.0, 0.0, 0.5, -0.5]])


def test_bad_quantile_is_refused(model) -> None:
    be = model.backend
    with pytest.raises(ConfigError, match=r"quantile q must be a number in \[0, 1\)"):
        steepest_direction(be.xp, be.asarray(np.ones((1, 3), np.float32)), "l1", q=1.0)


def test_l1_random_start_is_uniform_in_the_ball(model) -> None:
    be = model.backend
    eps = np.array([0.5, 2.0, 0.0], dtype=np.float32)
    d = be.to_numpy(random_in_ball(be, be.key(3), be.asarray(np.zeros((3, 4, 5), np.float32)), be.asarray(eps), "l1"))
    l1 = np.abs(d.reshape(3, -1)).sum(1)
    assert (l1 <= eps * (1 + 1e-6)).all() and l1[2] == 0 and (l1[:2] > 0).all()
    # in 2-D: P(||d||_1 <= eps/2) = 1/4 and the four quadrants (triangles) equally likely
    n = 4000
    pts = be.to_numpy(random_in_ball(be, be.key(0), be.asarray(np.zeros((n, 2), np.float32)),
                                     be.asarray(np.ones(n, np.float32)), "l1"))
    assert (np.abs(pts).sum(1) <= 1 + 1e-6).all()
    assert abs((np.abs(pts).sum(1) <= 0.5).mean() - 0.25) < 0.03
    quadrant = (pts[:, 0] > 0) * 2 + (pts[:, 1] > 0)
    assert np.all(np.abs(np.bincount(quadrant, minlength=4) / n - 0.25) < 0.03)
    assert abs((np.abs(pts[:, 0]) <= 0.5).mean() - 0.75) < 0.03  # area of |d_0| <= 1/2 in the diamond


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    eps=st.floats(0.0, 3.0),
    steps=st.integers(1, 6),
    rel=st.floats(0.05, 1.0),
    random_start=st.booleans(),
    value_range=st.sampled_from([(0.0, 1.0), (-1.0, 1.0)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_pgd_l1_iterates_stay_in_ball_and_range(
    backend_name: str, eps: float, steps: int, rel: float, random_start: bool, value_range, seed: int
) -> None:
    model = tiny_model(backend_name, seed=seed % 5, value_range=value_range)
    x, y = tiny_batch(6, seed=seed, value_range=value_range)
    lo, hi = value_range
    seen = []

    def check(t: int, x_t) -> None:
        xt = model.backend.to_numpy(x_t)
        n = np.abs((xt - x).astype(np.float64)).reshape(len(x), -1).sum(1)
        assert (n <= eps * (1 + 1e-5) + 1e-7).all(), f"step {t}: L1 norm {n.max()} > eps {eps}"
        assert xt.min() >= lo and xt.max() <= hi, f"step {t}: outside [{lo}, {hi}]"
        seen.append(t)

    r = pgd(model, x, y, eps=eps, norm="l1", steps=steps, rel_step_size=rel, random_start=random_start,
            seed=seed, callback=check)
    assert seen == list(range(1, len(seen) + 1)) and 1 <= len(seen) <= steps
    check(steps + 1, r.x_adv)
    assert r.norm == "l1"
    np.testing.assert_allclose(model.backend.to_numpy(r.norms), np.abs(model.backend.to_numpy(r.x_adv) - x).sum(1),
                               rtol=1e-5, atol=1e-6)


def test_pgd_l1_eps_zero_returns_the_input(model) -> None:
    x, y = tiny_batch()
    for random_start in (False, True):
        r = pgd(model, x, y, eps=0.0, norm="l1", steps=5, random_start=random_start)
        np.testing.assert_array_equal(model.backend.to_numpy(r.x_adv), x)
        np.testing.assert_array_equal(model.backend.to_numpy(r.norms), 0)


def test_pgd_l1_lowers_mnist_accuracy(backend_name: str) -> None:
    model = mnist_dense(backend_name)
    be = model.backend
    x, y = mnist_test(48)
    clean = be.to_numpy(model(be.asarray(x))).argmax(1) == y
    r = pgd(model, x, y, eps=10.0, norm="l1")
    robust = clean & ~be.to_numpy(r.success)
    assert clean.mean() > 0.8
    assert robust.mean() < clean.mean() - 0.15, (clean.mean(), robust.mean())
    assert (be.to_numpy(r.norms) <= 10.0 * (1 + 1e-5)).all()
    # pixels move by whole L1 steps of the top 1%: far sparser than an L-inf attack
    changed = (np.abs(be.to_numpy(r.x_adv) - x) > 1e-6).reshape(len(x), -1).sum(1)
    assert np.median(changed[be.to_numpy(r.success) & clean]) < 0.25 * 784
