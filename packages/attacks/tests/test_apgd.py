"""APGD: its step-size rule, its contract on both backends, and its strength against PGD."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.attacks import apgd, pgd
from sparring.attacks.apgd import checkpoints, halve_step
from sparring.core.errors import ConfigError, InvalidInputError

from attack_helpers import mnist_dense, mnist_test, tiny_batch, tiny_model

VARIANTS = {
    "ce": functools.partial(apgd, steps=6),
    "dlr": functools.partial(apgd, steps=6, loss="dlr"),
    "l2": functools.partial(apgd, steps=6, norm="l2"),
    "targeted": functools.partial(apgd, steps=6, targeted=True),
    "restarts": functools.partial(apgd, steps=4, n_restarts=3),
}
# every variant on torch; on jax, where each call compiles its step (about a second), one
CASES = [("torch", v) for v in VARIANTS] + [("jax", "dlr")]


@pytest.fixture(params=CASES, ids=lambda c: "-".join(c))
def case(request: pytest.FixtureRequest):
    backend_name, variant = request.param
    pytest.importorskip(backend_name)
    return tiny_model(backend_name), variant


@pytest.fixture
def torch_model():
    pytest.importorskip("torch")
    return tiny_model("torch")


def _np(model, a):
    return model.backend.to_numpy(a)


def _norms(d: np.ndarray, norm: str) -> np.ndarray:
    d = d.reshape(len(d), -1).astype(np.float64)
    return np.abs(d).max(1) if norm == "linf" else np.sqrt((d**2).sum(1))


def test_checkpoints_follow_the_paper() -> None:
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (then 1.05 > 1)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(1000) == [220, 410, 570, 700, 800, 870, 930, 990]
    assert checkpoints(10) == [3, 5, 6, 7, 8, 9]  # ⌈2.2⌉, ⌈4.1⌉, ... merged where equal
    for steps in range(1, 40):
        w = checkpoints(steps)
        assert w == sorted(set(w)) and all(0 < v < steps for v in w)


def test_step_size_halving_conditions(model) -> None:
    be = model.backend
    f = lambda v: be.asarray(np.array(v, dtype=np.float32))  # noqa: E731
    b = lambda v: be.asarray(np.array(v, dtype=bool))  # noqa: E731
    # sample: 0 few rises; 1 many rises, improving; 2 many rises, no gain, not halved before;
    # 3 the same but halved at the last checkpoint; 4 rises exactly rho * span (not fewer)
    rises = f([3, 18, 18, 18, 15])
    halved = b([False, False, False, True, False])
    f_max = f([1.0, 2.0, 1.0, 1.0, 2.0])
    f_ckpt = f([0.5, 1.0, 1.0, 1.0, 1.0])
    got = _np(model, halve_step(rises, 20, 0.75, halved, f_max, f_ckpt))
    np.testing.assert_array_equal(got, [True, False, True, False, False])


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_first_steps_follow_the_update_rule(norm: str) -> None:
    """x_1 = P(x_0 + η sign(g_0)); x_2 = P(x_1 + α (z_2 - x_1) + (1 - α)(x_1 - x_0)), η = 2ε."""
    torch = pytest.importorskip("torch")
    from sparring.attacks.apgd import _start_on_sphere

    model = tiny_model("torch", hidden=(32,), seed=1)
    x, _ = tiny_batch(16, seed=3)
    be = model.backend
    y = _np(model, model(be.asarray(x))).argmax(1)
    eps = 0.02 if norm == "linf" else 0.05  # too small to fool: no sample stops
    seen = []
    r = apgd(model, x, y, eps=eps, norm=norm, steps=100, seed=7, callback=lambda k, xk: seen.append(_np(model, xk)))
    assert not _np(model, r.success).any() and len(seen) == 100
    eps_b = be.asarray(np.full(16, eps, np.float32))
    x0 = _np(model, _start_on_sphere(be, be.split(be.key(7), 1)[0], be.asarray(x), eps_b, norm, (0.0, 1.0)))

    def grad(v: np.ndarray) -> np.ndarray:
        t = torch.tensor(v, requires_grad=True)
        torch.nn.functional.cross_entropy(model.module(t), torch.as_tensor(y), reduction="sum").backward()
        g = t.grad.numpy()
        return np.sign(g) if norm == "linf" else g / np.linalg.norm(g, axis=1, keepdims=True)

    def project(v: np.ndarray) -> np.ndarray:
        d = v - x
        if norm == "linf":
            d = np.clip(d, -eps, eps)
        else:
            d = d * np.minimum(1.0, eps / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12))
        return np.clip(x + d, 0.0, 1.0)

    x1 = project(x0 + 2 * eps * grad(x0))
    np.testing.assert_allclose(seen[0], x1, atol=1e-6)
    z2 = project(x1 + 2 * eps * grad(x1))
    np.testing.assert_allclose(seen[1], project(x1 + 0.75 * (z2 - x1) + 0.25 * (x1 - x0)), atol=1e-6)


def test_result_is_consistent_and_eps_zero_is_the_identity(case) -> None:
    model, variant = case
    x, y = tiny_batch(16)
    eps = np.where(np.arange(16) % 4 == 0, 0.0, 0.3).astype(np.float32)  # every 4th sample: eps = 0
    r = VARIANTS[variant](model, x, y, eps=eps)
    x_adv = _np(model, r.x_adv)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    np.testing.assert_array_equal(x_adv[eps == 0], x[eps == 0])
    np.testing.assert_array_equal(_np(model, r.norms)[eps == 0], 0)
    pred = _np(model, model(model.backend.asarray(x_adv))).argmax(1)
    np.testing.assert_array_equal(_np(model, r.success), pred == y if variant == "targeted" else pred != y)
    assert r.norm == ("l2" if variant == "l2" else "linf")
    assert r.forwards == r.gradients + 2  # + the clean check and the final check
    assert 1 <= r.gradients <= (7 if variant != "restarts" else 15)
    assert (_np(model, r.norms) <= eps + 1e-6).all()


def test_eps_zero_returns_the_input(torch_model) -> None:
    x, y = tiny_batch()
    r = apgd(torch_model, x, y, eps=0.0, steps=5, n_restarts=2)
    np.testing.assert_array_equal(_np(torch_model, r.x_adv), x)


def test_already_fooled_samples_keep_the_clean_input(torch_model) -> None:
    model = torch_model
    x, y = tiny_batch(16)
    wrong = _np(model, model(model.backend.asarray(x))).argmax(1) != y
    assert wrong.any()
    r = apgd(model, x, y, eps=0.3, steps=5)
    np.testing.assert_array_equal(_np(model, r.x_adv)[wrong], x[wrong])
    assert _np(model, r.success)[wrong].all()


def test_model_mode_weights_and_grads_untouched(backend_name: str) -> None:
    model = tiny_model(backend_name)
    model.train()
    if backend_name == "torch":
        model.module.layers[0].training = False
    modes, before = model.mode_state(), model.parameters_numpy()
    x, y = tiny_batch()
    apgd(model, x, y, eps=0.2, steps=5, n_restarts=2)
    assert model.mode_state() == modes and model.training
    after = model.parameters_numpy()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    if backend_name == "torch":
        assert all(p.grad is None for p in model.module.parameters())


def test_seed_reproduces_and_changes_the_start(model) -> None:
    x, _ = tiny_batch()
    y = _np(model, model(model.backend.asarray(x))).argmax(1)
    a, b, c = (apgd(model, x, y, eps=0.02, norm="l2", steps=3, seed=s) for s in (1, 1, 2))  # too small to fool
    np.testing.assert_array_equal(_np(model, a.x_adv), _np(model, b.x_adv))
    assert not np.array_equal(_np(model, a.x_adv), _np(model, c.x_adv))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    eps=st.floats(0.0, 0.6),
    steps=st.integers(1, 8),
    n_restarts=st.integers(1, 2),
    norm=st.sampled_from(["linf", "l2"]),
    loss=st.sampled_from(["ce", "dlr"]),
    value_range=st.sampled_from([(0.0, 1.0), (-1.0, 1.0)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_stays_in_ball_and_range_after_every_step(
    backend_name: str, eps: float, steps: int, n_restarts: int, norm: str, loss: str, value_range, seed: int
) -> None:
    model = tiny_model(backend_name, seed=seed % 5, value_range=value_range)
    x, y = tiny_batch(6, seed=seed, value_range=value_range)
    lo, hi = value_range
    tol = 1e-6 * max(1.0, eps)
    seen = []

    def check(k: int, x_k) -> None:
        xk = _np(model, x_k)
        assert (_norms(xk - x, norm) <= eps + tol).all(), f"step {k}: outside the ball"
        assert xk.min() >= lo and xk.max() <= hi, f"step {k}: outside [{lo}, {hi}]"
        seen.append(k)

    r = apgd(model, x, y, eps=eps, norm=norm, steps=steps, n_restarts=n_restarts, loss=loss, seed=seed,
             callback=check)
    assert all(1 <= k <= steps for k in seen)
    check(0, r.x_adv)
    pred = _np(model, model(r.x_adv)).argmax(1)
    np.testing.assert_array_equal(_np(model, r.success), pred != y)


def test_targeted_reaches_the_target() -> None:
    pytest.importorskip("torch")
    model = tiny_model("torch", hidden=(32,), seed=1)
    x, _ = tiny_batch(64, seed=3)
    target = np.argsort(_np(model, model(model.backend.asarray(x))), axis=1)[:, -2]
    r = apgd(model, x, target, eps=1.0, steps=40, targeted=True)
    assert _np(model, r.success).mean() > 0.9


def test_unfooled_samples_return_their_highest_loss_point() -> None:
    """Never fooled: the returned point is the best of the run, not the last iterate."""
    pytest.importorskip("torch")
    model = tiny_model("torch", hidden=(32,), seed=1)
    x, _ = tiny_batch(32, seed=3)
    y = _np(model, model(model.backend.asarray(x))).argmax(1)
    iterates = []
    r = apgd(model, x, y, eps=0.01, steps=10, callback=lambda k, x_k: iterates.append(_np(model, x_k)))
    assert not _np(model, r.success).any()
    be = model.backend

    def ce(v):
        z = _np(model, model(be.asarray(v))).astype(np.float64)
        return np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1) - z[np.arange(len(y)), y]

    best = ce(_np(model, r.x_adv))
    for it in iterates:
        assert (best >= ce(it) - 1e-5).all()


def test_active_set_compaction_changes_only_the_work() -> None:
    """Both loop paths on torch: compacted to the unfooled rows, or full batch held by where."""
    import copy

    pytest.importorskip("torch")
    model = tiny_model("torch", hidden=(32,), seed=1)
    x, _ = tiny_batch(32, seed=3)
    y = _np(model, model(model.backend.asarray(x))).argmax(1)
    be, results = model.backend, {}
    for compact in (True, False):
        other = copy.copy(be)
        other.dynamic_shapes = compact
        model.backend = other
        try:
            results[compact] = apgd(model, x, y, eps=0.15, steps=30, n_restarts=2)
        finally:
            model.backend = be
    np.testing.assert_array_equal(_np(model, results[True].x_adv), _np(model, results[False].x_adv))
    success = _np(model, results[True].success)
    np.testing.assert_array_equal(success, _np(model, results[False].success))
    assert 0 < success.mean() < 1 and results[True].gradients == results[False].gradients


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(eps=-0.1), InvalidInputError, "eps must be finite and >= 0"),
        (dict(eps=0.1, steps=0), ConfigError, "steps must be an integer >= 1"),
        (dict(eps=0.1, n_restarts=0), ConfigError, "n_restarts must be an integer >= 1"),
        (dict(eps=0.1, norm="l1"), ConfigError, "norm 'l1'"),
        (dict(eps=0.1, loss="dlrr"), ConfigError, "Did you mean 'dlr'"),
        (dict(eps=0.1, rho=0.0), ConfigError, "rho"),
        (dict(eps=0.1, momentum=1.5), ConfigError, "momentum"),
        (dict(eps=0.1, loss="dlr", targeted=True), ConfigError, "targeted DLR"),
    ],
)
def test_bad_arguments(model, kwargs, error, match) -> None:  # both backends: refused before any work
    x, y = tiny_batch()
    with pytest.raises(error, match=match):
        apgd(model, x, y, **kwargs)


def test_dlr_refuses_fewer_than_three_classes(backend_name: str) -> None:
    model = tiny_model(backend_name, classes=2)
    x, y = tiny_batch(classes=2)
    with pytest.raises(ConfigError, match="at least 3 classes.*the model has 2"):
        apgd(model, x, y, eps=0.1, loss="dlr")


@pytest.mark.slow
@pytest.mark.parametrize(("norm", "eps"), [("linf", 0.1), ("l2", 1.0)])
def test_no_weaker_than_pgd_with_the_same_steps(backend_name: str, norm: str, eps: float) -> None:
    pytest.importorskip("torch")  # the model is trained with torch
    model = mnist_dense(backend_name)
    x, y = mnist_test(200)
    steps = 20
    be = model.backend
    robust_pgd = min(
        _np(model, ~pgd(model, x, y, eps=eps, norm=norm, steps=steps, step_size=a).success).mean()
        for a in (eps / 10, 2.5 * eps / steps)  # Madry et al.'s MNIST step and 2.5 ε / steps
    )
    robust_apgd = _np(model, ~apgd(model, x, y, eps=eps, norm=norm, steps=steps).success).mean()
    clean = (be.to_numpy(model(be.asarray(x))).argmax(1) == y).mean()
    assert robust_apgd <= robust_pgd < clean


def test_keeps_the_callers_dtype() -> None:
    pytest.importorskip("torch")
    from sparring.models import build_model

    model = build_model("dense", backend="torch", input_shape=(12,), hidden=(8,), num_classes=4, dtype="float64")
    x, y = tiny_batch()
    r = apgd(model, x.astype(np.float64), y, eps=0.2, steps=5, n_restarts=2)
    assert _np(model, r.x_adv).dtype == np.float64 and _np(model, r.norms).dtype == np.float64
