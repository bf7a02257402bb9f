"""PDGD and PDPGD: exact optima of a linear model, a trained MNIST MLP against PGD bisection,
DeepFool and C&W, the minimum-norm contract, seeds, and torch/jax parity in float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.attacks.cw import cw_l2
from sparring.attacks.deepfool import deepfool
from sparring.attacks.pdpgd import pdgd, pdpgd
from sparring.attacks.pgd import pgd
from sparring.core.errors import ConfigError
from sparring.models import build_model

from attack_helpers import mnist_dense, mnist_test, tiny_batch, tiny_model


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models: extra torch threads only spin on a busy machine (and cost seconds)."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _np(model, a):
    return model.backend.to_numpy(a)


# ---- a two-class linear model: the smallest perturbation in the box, exactly ----


def _linear_case(backend_name: str, seed: int = 0):
    model = tiny_model(backend_name, hidden=(), seed=seed, classes=2)
    rng = np.random.default_rng(seed)
    W = rng.uniform(-0.3, 0.3, size=(2, 12)).astype(np.float32)
    b = rng.uniform(-0.05, 0.05, size=2).astype(np.float32)
    model.load_parameters({"head.weight": W, "head.bias": b})
    x, _ = tiny_batch(16, seed=seed, classes=2)
    x = (0.35 + 0.3 * x).astype(np.float32)
    z = x.astype(np.float64) @ W.T.astype(np.float64) + b
    y = z.argmax(1)
    return model, x, y, W.astype(np.float64), b.astype(np.float64)


def _box_optimum(x: np.ndarray, w: np.ndarray, m: float, norm: str) -> float:
    """min ||r||_p subject to w·r <= -m and 0 <= x + r <= 1 (m > 0: the margin to erase)."""
    room = np.where(w > 0, x, 1.0 - x)  # how far each coordinate can move the helpful way
    a = np.abs(w)
    if norm == "l1":  # a fractional knapsack: the coordinates of largest |w| first
        gained, cost = 0.0, 0.0
        for i in np.argsort(-a):
            take = min(room[i], (m - gained) / a[i])
            gained, cost = gained + a[i] * take, cost + take
            if gained >= m - 1e-15:
                return cost
        return np.inf
    lo, hi = 0.0, 1e3  # bisection on τ (linf: |r_i| = min(τ, room_i)) or μ (l2: |r_i| = min(μ|w_i|, room_i))
    for _ in range(200):
        mid = (lo + hi) / 2
        step = np.minimum(mid if norm == "linf" else mid * a, room)
        lo, hi = (mid, hi) if (a * step).sum() < m else (lo, mid)
    step = np.minimum(hi if norm == "linf" else hi * a, room)
    return float(step.max() if norm == "linf" else np.sqrt((step**2).sum()))


@pytest.mark.parametrize(
    ("attack", "norm"),
    [(pdpgd, "linf"), (pdpgd, "l2"), (pdpgd, "l1"), (pdgd, "l2")],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_linear_model_smallest_perturbation_in_the_box(backend_name: str, attack, norm: str) -> None:
    model, x, y, W, b = _linear_case(backend_name)
    w = W[y] - W[1 - y]  # margin z_y - z_other = w·x + c
    m = (x @ W.T + b)[np.arange(len(x)), y] - (x @ W.T + b)[np.arange(len(x)), 1 - y]
    best = np.array([_box_optimum(x[i].astype(np.float64), w[i], m[i], norm) for i in range(len(x))])
    assert np.isfinite(best).all() and best.min() > 0.01
    r = attack(model, x, y, norm=norm, steps=200)
    norms = _np(model, r.norms).astype(np.float64)
    assert _np(model, r.success).all()
    assert (norms >= best * (1 - 1e-3) - 1e-6).all()  # nothing beats the optimum (float32 slack)
    assert (norms <= best * 1.02).all()  # 200 iterations: within 1% here


# ---- a trained MNIST MLP: against PGD bisection, DeepFool and C&W ----


def _pgd_bisection(model, x, y, norm: str, high: float, *, bisections: int = 8, steps: int = 40):
    """Per sample, the smallest eps at which PGD fools the model, by bisection on [0, high];
    returns the smallest norms PGD reached (in ``norm``, and in L1) over all its successes."""
    be = model.backend
    lo, hi = np.zeros(len(x)), np.full(len(x), high)
    best = np.full(len(x), np.inf)
    best_l1 = np.full(len(x), np.inf)
    for _ in range(bisections):
        mid = (lo + hi) / 2
        r = pgd(model, x, y, eps=mid.astype(np.float32), norm=norm, steps=steps, rel_step_size=0.1)
        s = _np(model, r.success)
        d = (be.to_numpy(r.x_adv) - x).reshape(len(x), -1).astype(np.float64)
        best = np.where(s, np.minimum(best, _np(model, r.norms)), best)
        best_l1 = np.where(s, np.minimum(best_l1, np.abs(d).sum(1)), best_l1)
        lo, hi = np.where(s, lo, mid), np.where(s, mid, hi)
    return best, best_l1


def test_mnist_smaller_than_pgd_bisection_and_as_small_as_deepfool_and_cw() -> None:
    """64 test digits, 200 iterations: PDPGD's median L-inf, L2 and L1 perturbations are
    below those of PGD run at 8 bisected eps per sample (L1: the smallest L1 of any PGD
    success, L-inf or L2); the L2 attacks within 5% of DeepFool's and C&W's medians."""
    pytest.importorskip("torch")
    model = mnist_dense("torch")
    x, y = mnist_test(64)
    clean = _np(model, model(model.backend.asarray(x))).argmax(1) == y
    assert clean.sum() >= 50

    def median(r) -> float:
        n = np.where(_np(model, r.success), _np(model, r.norms), np.inf)
        return float(np.median(n[clean]))

    pgd_linf, pgd_l1_a = _pgd_bisection(model, x, y, "linf", 0.5)
    pgd_l2, pgd_l1_b = _pgd_bisection(model, x, y, "l2", 8.0)
    pgd_l1 = np.minimum(pgd_l1_a, pgd_l1_b)
    ours = {norm: pdpgd(model, x, y, norm=norm, steps=200) for norm in ("linf", "l2", "l1")}
    assert all(_np(model, r.success)[clean].all() for r in ours.values())
    assert median(ours["linf"]) < np.median(pgd_linf[clean])
    assert median(ours["l2"]) < np.median(pgd_l2[clean])
    assert median(ours["l1"]) < np.median(pgd_l1[clean])

    l2_pdgd = median(pdgd(model, x, y, steps=200))
    l2_df = median(deepfool(model, x, y))
    l2_cw = median(cw_l2(model, x, y, binary_search_steps=6, steps=300, initial_const=0.1))
    for l2 in (l2_pdgd, median(ours["l2"])):
        assert l2 <= 1.05 * min(l2_df, l2_cw)


# ---- the minimum-norm contract ----


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    case=st.sampled_from([(pdpgd, "linf"), (pdpgd, "l2"), (pdpgd, "l1"), (pdpgd, "l0"), (pdgd, "l2"),
                          (pdgd, "l1"), (pdgd, "linf")]),
    steps=st.integers(1, 25),
    restarts=st.integers(1, 2),
    value_range=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-0.5, 2.0)]),
    targeted=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_contract(backend_name: str, case, steps, restarts, value_range, targeted, seed) -> None:
    attack, norm = case
    model = tiny_model(backend_name, seed=seed % 5, value_range=value_range)
    x, y = tiny_batch(6, seed=seed, value_range=value_range)
    r = attack(model, x, y, norm=norm, steps=steps, restarts=restarts, targeted=targeted, seed=seed)
    x_adv, success = _np(model, r.x_adv), _np(model, r.success)
    lo, hi = value_range
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= lo and x_adv.max() <= hi
    pred = _np(model, model(r.x_adv)).argmax(1)
    np.testing.assert_array_equal(success, pred == y if targeted else pred != y)
    np.testing.assert_array_equal(x_adv[~success], x[~success])  # never fooled: the input itself
    d = (x_adv - x).reshape(len(x), -1).astype(np.float64)
    expected = {"linf": np.abs(d).max(1), "l2": np.sqrt((d**2).sum(1)), "l1": np.abs(d).sum(1),
                "l0": (d != 0).sum(1)}[norm]
    np.testing.assert_allclose(_np(model, r.norms), expected, rtol=1e-4, atol=1e-6)
    assert r.norm == norm and r.gradients == steps * restarts and r.forwards == r.gradients + 2


@pytest.mark.parametrize(("attack", "norm"), [(pdpgd, "l0"), (pdgd, "l2")],
                         ids=lambda v: getattr(v, "__name__", v))
def test_misclassified_samples_get_a_zero_perturbation(backend_name: str, attack, norm: str) -> None:
    model, x, y, *_ = _linear_case(backend_name)
    y_wrong = y.copy()
    y_wrong[:5] = 1 - y[:5]
    r = attack(model, x, y_wrong, norm=norm, steps=50)
    np.testing.assert_array_equal(_np(model, r.x_adv)[:5], x[:5])
    norms = _np(model, r.norms)
    assert (norms[:5] == 0).all() and (norms[5:] > 0).all()
    assert _np(model, r.success).all()


def test_unfooled_samples_return_the_input() -> None:
    pytest.importorskip("torch")  # both backends: test_contract
    model, x, y, *_ = _linear_case("torch")
    r = pdpgd(model, x, y, norm="l2", steps=1)  # r = 0 on the only iterate: nothing fools
    assert not _np(model, r.success).any()
    np.testing.assert_array_equal(_np(model, r.x_adv), x)


def test_seed_reproduces_and_restarts_keep_the_best(backend_name: str) -> None:
    model = tiny_model(backend_name, hidden=(16,), seed=3)
    x, _ = tiny_batch(12, seed=2)
    y = _np(model, model(model.backend.asarray(x))).argmax(1)  # every sample needs a perturbation
    kw = dict(norm="l2", steps=15, random_init=0.5)
    one = pdpgd(model, x, y, restarts=1, **kw)
    a = pdpgd(model, x, y, restarts=3, seed=7, **kw)
    b = pdpgd(model, x, y, restarts=3, seed=7, **kw)
    c = pdpgd(model, x, y, restarts=3, seed=8, **kw)
    np.testing.assert_array_equal(_np(model, a.x_adv), _np(model, b.x_adv))
    assert not np.array_equal(_np(model, a.x_adv), _np(model, c.x_adv))  # the random starts count
    n1, n3 = (np.where(_np(model, r.success), _np(model, r.norms), np.inf) for r in (one, a))
    assert (n3 <= n1).all() and (n3 < n1).any()  # run 0 is the single run; later runs only improve


def test_torch_and_jax_agree_in_float64() -> None:
    """Same weights, no random restart: the same iterates, so the same results."""
    pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    x, y = tiny_batch(8, seed=4)
    x = x.astype(np.float64)
    cases = [(pdpgd, "linf"), (pdpgd, "l2"), (pdpgd, "l0"), (pdgd, "linf")]
    results: dict[str, list] = {}
    weights = None
    with jax.enable_x64(True):
        for name in ("torch", "jax"):
            model = build_model("dense", backend=name, seed=0, input_shape=(12,), hidden=(16,), num_classes=4,
                                dtype="float64")
            if weights is None:
                weights = model.parameters_numpy()
            model.load_parameters(weights)
            results[name] = []
            for attack, norm in cases:
                r = attack(model, x, y, norm=norm, steps=40, targeted=norm == "l0")
                results[name].append((_np(model, r.x_adv), _np(model, r.success)))
    for (xa, sa), (xb, sb), case in zip(results["torch"], results["jax"], cases):
        assert xa.dtype == xb.dtype == np.float64
        assert sa.any(), case  # something was found: the comparison is not vacuous
        np.testing.assert_array_equal(sa, sb, err_msg=str(case))
        np.testing.assert_allclose(xa, xb, atol=1e-9, err_msg=str(case))


def test_targeted_reaches_the_target(backend_name: str) -> None:
    model = tiny_model(backend_name, hidden=(32,), seed=1)
    x, _ = tiny_batch(16, seed=3)
    target = np.argsort(_np(model, model(model.backend.asarray(x))), axis=1)[:, -2]
    r = pdpgd(model, x, target, norm="l2", targeted=True, steps=100)
    success = _np(model, r.success)
    assert success.mean() > 0.9
    np.testing.assert_array_equal(_np(model, model(r.x_adv)).argmax(1) == target, success)


def test_group_l0_changes_whole_pixels(backend_name: str) -> None:
    """Input (B, 6 pixels, 3 channels): with channel_axis the operator drops or keeps pixels,
    so every changed pixel of the result changed in all its channels (the box aside)."""
    model = build_model("dense", backend=backend_name, seed=2, input_shape=(6, 3), hidden=(16,), num_classes=4)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, size=(12, 6, 3)).astype(np.float32)
    y = _np(model, model(model.backend.asarray(x))).argmax(1)
    r = pdpgd(model, x, y, norm="l0", channel_axis=-1, steps=100)
    success = _np(model, r.success)
    assert success.mean() > 0.8
    changed = _np(model, r.x_adv) != x  # (B, 6, 3)
    assert np.array_equal(changed.any(-1), changed.all(-1))
    assert r.norm == "l0"
    np.testing.assert_array_equal(_np(model, r.norms), changed.reshape(12, -1).sum(1))


def test_mode_and_weights_untouched(backend_name: str) -> None:
    model = tiny_model(backend_name)
    model.train()
    modes, before = model.mode_state(), model.parameters_numpy()
    x, y = tiny_batch()
    pdgd(model, x, y, steps=3)  # pdpgd runs the same loop
    assert model.mode_state() == modes and model.training
    after = model.parameters_numpy()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    if backend_name == "torch":
        assert all(p.grad is None for p in model.module.parameters())


def test_keeps_the_callers_dtype() -> None:
    pytest.importorskip("torch")
    model = build_model("dense", backend="torch", input_shape=(12,), hidden=(8,), num_classes=4, dtype="float64")
    x, y = tiny_batch()
    r = pdpgd(model, x.astype(np.float64), y, norm="linf", steps=10)
    assert _np(model, r.x_adv).dtype == np.float64 and _np(model, r.norms).dtype == np.float64


@pytest.mark.parametrize(
    ("attack", "kwargs", "match"),
    [
        (pdpgd, dict(norm="l3"), "norm 'l3' is not supported"),
        (pdgd, dict(norm="l0"), "norm 'l0' is not supported"),
        (pdpgd, dict(steps=0), "steps must be an integer >= 1"),
        (pdgd, dict(steps=2.5), "steps must be an integer >= 1"),
        (pdpgd, dict(restarts=0), "restarts must be an integer >= 1"),
        (pdpgd, dict(primal_lr=-0.1), "primal_lr must be > 0"),
        (pdgd, dict(primal_lr_decrease=0.0), "primal_lr_decrease must be in"),
        (pdpgd, dict(dual_lr=-1.0), "dual_lr must be >= 0"),
        (pdpgd, dict(dual_lr_decrease=-0.5), "dual_lr_decrease must be in"),
        (pdgd, dict(dual_ratio_init=-0.01), "dual_ratio_init must be > 0"),
        (pdpgd, dict(dual_ema=1.0), "dual_ema must be in"),
        (pdpgd, dict(dual_min_ratio=0.0), "dual_min_ratio must be in"),
        (pdgd, dict(random_init=-0.5), "random_init must be >= 0"),
        (pdpgd, dict(primal_lr=float("nan")), "primal_lr must be > 0"),
        (pdpgd, dict(norm="linf", channel_axis=1), "channel_axis groups values for norm='l0' only"),
        (pdpgd, dict(norm="l0", channel_axis=0), "channel_axis must be a non-batch axis"),
        (pdpgd, dict(norm="l0", channel_axis=3), "channel_axis must be a non-batch axis"),
    ],
)
def test_bad_arguments(backend_name: str, attack, kwargs, match) -> None:
    model = tiny_model(backend_name)
    x, y = tiny_batch(4)
    with pytest.raises(ConfigError, match=match):
        attack(model, x, y, **kwargs)
