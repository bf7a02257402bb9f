"""The proximal operators against their definition argmin_z ½ (z - v)ᵀ D (z - v) + t · h(z).

Each is checked on both backends against a numpy computation: a grid search over z on
two-element vectors, an enumeration of supports for L0, the optimality conditions
D (v - z) ∈ t ∂h(z) on longer vectors, Duchi's L1-ball projection written out in numpy,
and the Moreau identity prox_{t||·||_inf}(v) = v - t Π_{||·||_1 <= 1}(v / t).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.attacks.prox import (
    PROX,
    project_l1_ball,
    prox_group_l0,
    prox_l0,
    prox_l1,
    prox_l2,
    prox_linf,
)
from sparring.models.backends import get_backend

SETTINGS = dict(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
H = {
    "l1": lambda z: np.abs(z).sum(-1),
    "l2": lambda z: np.sqrt((z * z).sum(-1)),
    "linf": lambda z: np.abs(z).max(-1),
}


@pytest.fixture
def be(backend_name: str):
    return get_backend(backend_name)


def _run(be, fn, *arrays, **kw):
    """Call ``fn(xp, *arrays)`` on the backend in float32; the result as float64 numpy."""
    args = [None if a is None else be.asarray(np.asarray(a, dtype=np.float32)) for a in arrays]
    return be.to_numpy(fn(be.xp, *args, **kw)).astype(np.float64)


def _case(seed: int, batch: int, n: int, metric: bool):
    rng = np.random.default_rng(seed)
    v = rng.normal(0, 1, size=(batch, n)).astype(np.float32)
    t = rng.uniform(0.05, 1.5, size=batch).astype(np.float32)
    d = rng.uniform(0.2, 3.0, size=(batch, n)).astype(np.float32) if metric else None
    return v.astype(np.float64), t.astype(np.float64), d


def _objective(z, v, t, d, h):
    d = np.ones_like(v) if d is None else d
    return 0.5 * (d * (z - v) ** 2).sum(-1) + t * h(z)


# ---- convex operators: brute force on a grid, and the optimality conditions ----


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
@pytest.mark.parametrize("metric", [False, True])
def test_convex_operators_beat_every_grid_point(be, norm: str, metric: bool) -> None:
    """Two-element vectors: the operator's point is no worse than the best point of a grid
    (0.01 over [-3, 3]^2, then 0.0005 around the best), and lies next to it."""
    v, t, d = _case(1, 6, 2, metric)
    z = _run(be, PROX[norm], v, t, d)

    def grid(center, half, num):
        g = np.linspace(-half, half, num)
        return center + np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)

    coarse = grid(np.zeros(2), 3.0, 601)
    for b in range(len(v)):
        dd = None if d is None else d[b].astype(np.float64)
        best = coarse[_objective(coarse, v[b], t[b], dd, H[norm]).argmin()]
        fine = grid(best, 0.02, 81)
        obj_fine = _objective(fine, v[b], t[b], dd, H[norm])
        ours = _objective(z[b], v[b], t[b], dd, H[norm])
        assert ours <= obj_fine.min() + 1e-6
        assert np.abs(fine[obj_fine.argmin()] - z[b]).max() < 2e-3


def _subgradient_ok(norm: str, z: np.ndarray, u: np.ndarray, tol: float) -> bool:
    """u ∈ ∂||z|| (u = D (v - z) / t)."""
    if norm == "l1":
        nz = np.abs(z) > tol
        return bool(np.all(np.abs(u[nz] - np.sign(z[nz])) < 10 * tol) and np.all(np.abs(u[~nz]) <= 1 + 10 * tol))
    if norm == "l2":
        n = np.linalg.norm(z)
        if n <= tol:
            return bool(np.linalg.norm(u) <= 1 + 10 * tol)
        return bool(np.abs(u - z / n).max() < 10 * tol)
    # linf: ∂||z||_inf = conv{sign(z_i) e_i : |z_i| = ||z||_inf}, or the unit L1 ball at z = 0
    m = np.abs(z).max()
    if m <= tol:
        return bool(np.abs(u).sum() <= 1 + 10 * tol)
    top = np.abs(z) >= m - tol
    return bool(
        abs(np.abs(u).sum() - 1) < 10 * tol
        and np.all(np.abs(u[~top]) < 10 * tol)
        and np.all(u[top] * np.sign(z[top]) >= -10 * tol)
    )


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), n=st.sampled_from([1, 2, 7, 24]), metric=st.booleans(),
       norm=st.sampled_from(["l1", "l2", "linf"]))
def test_convex_operators_meet_the_optimality_conditions(be, seed, n, metric, norm) -> None:
    """z = prox(v) iff D (v - z) / t is a subgradient of the norm at z."""
    v, t, d = _case(seed, 5, n, metric)
    z = _run(be, PROX[norm], v, t, d)
    dd = np.ones_like(v) if d is None else d.astype(np.float64)
    for b in range(len(v)):
        u = dd[b] * (v[b] - z[b]) / t[b]
        assert _subgradient_ok(norm, z[b], u, tol=2e-5), (norm, b, z[b], u)


def test_l2_with_a_metric_is_exact_on_badly_scaled_metrics(be) -> None:
    """Adam's metric spans many orders of magnitude; Newton still lands on ||q(s)|| = 1."""
    rng = np.random.default_rng(7)
    v = rng.normal(size=(4, 300))
    d = 10.0 ** rng.uniform(-6, 1, size=(4, 300))
    t = np.linalg.norm(d * v, axis=1) * np.array([0.01, 0.3, 0.9, 1.1])
    z = _run(be, prox_l2, v, t, d)
    for b in range(3):
        u = d[b] * (v[b] - z[b]) / t[b]
        np.testing.assert_allclose(u, z[b] / np.linalg.norm(z[b]), atol=2e-4)
    assert not z[3].any()  # ||D v|| <= t: zero


# ---- L0 and group L0: enumerate the supports ----


@pytest.mark.parametrize("metric", [False, True])
def test_l0_is_the_best_support(be, metric: bool) -> None:
    v, t, d = _case(3, 8, 4, metric)
    t = t * 0.5
    z = _run(be, prox_l0, v, t, d)
    dd = np.ones_like(v) if d is None else d.astype(np.float64)
    for b in range(len(v)):
        best = min(
            0.5 * (dd[b] * v[b] ** 2 * (1 - np.array(mask))).sum() + t[b] * sum(mask)
            for mask in itertools.product((0, 1), repeat=4)
        )
        assert np.all((z[b] == 0) | np.isclose(z[b], v[b]))  # keep or drop, nothing between
        ours = 0.5 * (dd[b] * (z[b] - v[b]) ** 2).sum() + t[b] * np.count_nonzero(z[b])
        assert ours <= best + 1e-6


@pytest.mark.parametrize("metric", [False, True])
@pytest.mark.parametrize("axis", [1, -1])
def test_group_l0_is_the_best_set_of_groups(be, metric: bool, axis: int) -> None:
    """v of shape (B, 3, 3): three groups of three along ``axis`` (all 2^3 choices tried)."""
    rng = np.random.default_rng(5)
    v = rng.normal(0, 1, size=(6, 3, 3))
    t = rng.uniform(0.2, 2.0, size=6)
    d = rng.uniform(0.2, 3.0, size=v.shape) if metric else None
    z = _run(be, prox_group_l0, v, t, d, axis=axis)
    dd = np.ones_like(v) if d is None else d
    ax = axis % 3
    e = (dd * v * v).sum(axis=ax)  # (B, 3): each group's metric energy
    for b in range(len(v)):
        costs = {mask: 0.5 * (e[b] * (1 - np.array(mask))).sum() + t[b] * sum(mask)
                 for mask in itertools.product((0, 1), repeat=3)}
        keep = np.abs(np.moveaxis(z[b], ax - 1, -1)).sum(1) > 0  # (3,) groups kept
        np.testing.assert_allclose(np.moveaxis(z[b], ax - 1, -1)[keep], np.moveaxis(v[b], ax - 1, -1)[keep], rtol=1e-6)
        assert costs[tuple(keep.astype(int))] <= min(costs.values()) + 1e-6


def test_group_l0_keeps_a_group_by_its_energy_not_its_largest_entry(be) -> None:
    """max |v_g| = 0.9 < sqrt(2t) = 1 but ||v_g||_2 = 1.56 > 1: zeroing costs 1.215 > t = 0.5,
    so the minimiser keeps the group (the thesis' max rule would drop it)."""
    v = np.array([[[0.9, 0.9, 0.9], [0.1, 0.2, 0.3]]])  # (1, 2 pixels, 3 channels)
    z = _run(be, prox_group_l0, v, np.array([0.5]), axis=-1)
    np.testing.assert_allclose(z[0, 0], v[0, 0], rtol=1e-6)
    assert not z[0, 1].any()


# ---- the L1-ball projection and the Moreau identity ----


def _duchi(v: np.ndarray, z: float) -> np.ndarray:
    """Duchi et al. 2008, Figure 1, for one vector (numpy, float64)."""
    if np.abs(v).sum() <= z:
        return v.copy()
    if z == 0:
        return np.zeros_like(v)
    u = np.sort(np.abs(v))[::-1]
    css = np.cumsum(u)
    j = np.arange(1, len(u) + 1)
    rho = np.nonzero(u - (css - z) / j > 0)[0][-1]
    theta = (css[rho] - z) / (rho + 1)
    return np.sign(v) * np.maximum(np.abs(v) - theta, 0)


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), n=st.sampled_from([1, 2, 5, 30]), scale=st.sampled_from([0.05, 1.0, 20.0]))
def test_l1_ball_projection_matches_duchi(be, seed, n, scale) -> None:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(6, 2, n)) * scale
    radius = np.abs(v).reshape(6, -1).sum(1) * np.array([0.0, 0.01, 0.3, 0.7, 1.0, 2.0])  # edge, inside, outside
    p = _run(be, project_l1_ball, v, radius)
    for b in range(6):
        np.testing.assert_allclose(p[b].ravel(), _duchi(v[b].ravel(), radius[b]), atol=1e-5 * scale, rtol=1e-5)
    assert np.all(np.abs(p).reshape(6, -1).sum(1) <= radius * (1 + 1e-5) + 1e-6)
    assert not p[0].any()  # radius 0
    np.testing.assert_array_equal(p[5], v[5].astype(np.float32))  # inside the ball: unchanged
    np.testing.assert_allclose(p[4], v[4], atol=1e-5 * scale)  # on its surface (up to float32 sums)


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), n=st.sampled_from([1, 2, 5, 30]))
def test_moreau_identity(be, seed, n) -> None:
    """prox_{t||·||_inf}(v) = v - t · Π_{||·||_1 <= 1}(v / t), both sides by this module."""
    v, t, _ = _case(seed, 5, n, False)
    lhs = _run(be, prox_linf, v, t)
    rhs = v - t[:, None] * _run(be, project_l1_ball, v / t[:, None], np.ones_like(t))
    np.testing.assert_allclose(lhs, rhs, atol=1e-5)
    # and the unweighted operator equals the weighted one with D = 1 (two code paths)
    np.testing.assert_allclose(_run(be, prox_linf, v, t, np.ones_like(v)), lhs, atol=1e-5)


# ---- closed forms and shared properties ----


def test_closed_forms(be) -> None:
    v = np.array([[3.0, -2.5, 0.5], [0.2, 0.1, -0.3]])  # row 1 lies inside every threshold: 0
    t = np.array([1.0, 2.0])
    np.testing.assert_allclose(_run(be, prox_l1, v, t), [[2.0, -1.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)
    n0 = np.linalg.norm(v[0])
    np.testing.assert_allclose(_run(be, prox_l2, v, t), [(1 - 1 / n0) * v[0], [0, 0, 0]], rtol=1e-6)
    np.testing.assert_allclose(_run(be, prox_l0, v, t), [[3.0, -2.5, 0.0], [0.0, 0.0, 0.0]])  # sqrt(2) and 2
    # the two largest magnitudes are pulled down to the level τ = 2.25: (3 - τ) + (2.5 - τ) = 1 = t
    np.testing.assert_allclose(_run(be, prox_linf, v, t), [[2.25, -2.25, 0.5], [0.0, 0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("name", ["l1", "l2", "linf", "l0", "group"])
@pytest.mark.parametrize("metric", [False, True])
def test_zero_threshold_is_the_identity_and_batch_rows_are_independent(be, name: str, metric: bool) -> None:
    v, t, d = _case(11, 4, 6, metric)
    v = v.reshape(4, 2, 3)
    d = None if d is None else d.reshape(4, 2, 3)
    fn = PROX.get(name, prox_group_l0)
    t[1] = 0.0
    full = _run(be, fn, v, t, d)
    np.testing.assert_allclose(full[1], v[1], rtol=1e-6)
    for b in (0, 3):  # one sample alone gives its row of the batch
        alone = _run(be, fn, v[b : b + 1], t[b : b + 1], None if d is None else d[b : b + 1])
        np.testing.assert_allclose(alone[0], full[b], rtol=1e-6, atol=1e-7)
