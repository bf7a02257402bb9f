"""C&W L2 against a linear model whose minimal perturbation is known, and its minimum-norm contract."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.attacks import cw_l2
from sparring.core.errors import ConfigError

from attack_helpers import tiny_batch, tiny_model


def _np(model, a):
    return model.backend.to_numpy(a)


def _linear_case(backend_name: str, seed: int = 0, classes: int = 4):
    """logits = W x + b with the same numpy weights on every backend; x inside [0.4, 0.6].

    Returns the model, x, the labels, the L2 distance to the nearest decision boundary
    (the nearest hyperplane z_y = z_k) and the nearest boundary point.
    """
    model = tiny_model(backend_name, hidden=(), seed=seed, classes=classes)
    rng = np.random.default_rng(seed)
    W = rng.uniform(-0.3, 0.3, size=(classes, 12)).astype(np.float32)
    b = rng.uniform(-0.05, 0.05, size=classes).astype(np.float32)
    model.load_parameters({"head.weight": W, "head.bias": b})
    x, _ = tiny_batch(16, seed=seed, classes=classes)
    x = (0.4 + 0.2 * x).astype(np.float32)
    W, b = W.astype(np.float64), b.astype(np.float64)
    z = x @ W.T + b
    y = z.argmax(1)
    # the smallest L2 step out of the cell {z_y >= z_k}: the nearest of the hyperplanes z_y = z_k
    dist = (z[np.arange(len(x)), y][:, None] - z) / np.maximum(np.linalg.norm(W[y][:, None] - W[None], axis=2), 1e-30)
    dist[np.arange(len(x)), y] = np.inf
    k = dist.argmin(1)
    u = W[k] - W[y]
    x_star = x + dist[np.arange(len(x)), k][:, None] * u / np.linalg.norm(u, axis=1, keepdims=True)
    return model, x, y, dist.min(1), x_star


def test_linear_model_minimal_perturbation(backend_name: str) -> None:
    """Two classes: one hyperplane, whose distance is the smallest fooling perturbation."""
    model, x, y, d, x_star = _linear_case(backend_name, classes=2)
    assert x_star.min() > 0 and x_star.max() < 1  # the optimum lies inside the box: it does not bind
    assert d.min() > 0.02
    r = cw_l2(model, x, y)  # the defaults: 9 search steps of up to 1000 Adam steps
    norms = _np(model, r.norms)
    assert _np(model, r.success).all()
    assert (norms >= d * (1 - 1e-4)).all()  # nothing beats the optimum
    assert (norms <= 1.1 * d).all()


def test_linear_model_many_classes(backend_name: str) -> None:
    """f follows the runner-up logit, so C&W reaches the runner-up's boundary: the nearest one,
    or a farther one when another class's hyperplane is closer (a local optimum of C&W)."""
    model, x, y, d, _ = _linear_case(backend_name)
    p = model.parameters_numpy()
    W, b = p["head.weight"].astype(np.float64), p["head.bias"].astype(np.float64)
    z = x @ W.T + b
    r2 = np.argsort(z, axis=1)[:, -2]
    i = np.arange(len(x))
    d_runner_up = (z[i, y] - z[i, r2]) / np.linalg.norm(W[y] - W[r2], axis=1)
    r = cw_l2(model, x, y, binary_search_steps=6, steps=300)
    norms = _np(model, r.norms)
    assert _np(model, r.success).all()
    assert (norms >= d * (1 - 1e-4)).all()
    assert (norms <= 1.1 * d_runner_up).all()


def test_misclassified_samples_get_a_zero_perturbation(backend_name: str) -> None:
    model, x, y, *_ = _linear_case(backend_name)
    y_wrong = y.copy()
    y_wrong[:5] = (y[:5] + 1) % 4
    r = cw_l2(model, x, y_wrong, binary_search_steps=2, steps=100, initial_const=1.0)
    np.testing.assert_array_equal(_np(model, r.x_adv)[:5], x[:5])
    norms = _np(model, r.norms)
    assert (norms[:5] == 0).all() and (norms[5:] > 0).all()
    assert _np(model, r.success).all()


def test_unfooled_samples_return_the_input() -> None:
    pytest.importorskip("torch")
    model, x, y, *_ = _linear_case("torch")
    r = cw_l2(model, x, y, binary_search_steps=1, steps=3, initial_const=1e-3)  # far too weak
    assert not _np(model, r.success).any()
    np.testing.assert_array_equal(_np(model, r.x_adv), x)
    np.testing.assert_array_equal(_np(model, r.norms), 0)


def test_confidence_is_the_margin_of_the_examples_kept() -> None:
    pytest.importorskip("torch")
    model, x, y, *_ = _linear_case("torch")
    plain = cw_l2(model, x, y, binary_search_steps=5, steps=200)
    sure = cw_l2(model, x, y, binary_search_steps=5, steps=200, confidence=0.1)
    z = _np(model, model(sure.x_adv)).astype(np.float64)
    found = _np(model, sure.success)
    assert found.all()
    other = np.where(np.eye(4)[y] > 0, -np.inf, z).max(1)
    assert (other - z[np.arange(len(y)), y] >= 0.1 - 1e-5).all()
    assert (_np(model, sure.norms) > _np(model, plain.norms)).all()  # confidence costs distance


def test_a_sample_alone_gets_what_it_gets_in_the_batch() -> None:
    """Everything is per sample (c, its search, the early abort): the batch does not matter."""
    pytest.importorskip("torch")
    model = tiny_model("torch", hidden=(16,), seed=2)
    x, _ = tiny_batch(8, seed=4)
    y = _np(model, model(model.backend.asarray(x))).argmax(1)
    full = cw_l2(model, x, y, binary_search_steps=3, steps=100)
    for i in (0, 5):
        alone = cw_l2(model, x[i : i + 1], y[i : i + 1], binary_search_steps=3, steps=100)
        np.testing.assert_allclose(_np(model, alone.x_adv)[0], _np(model, full.x_adv)[i], atol=1e-6)


def test_targeted_reaches_the_target() -> None:
    pytest.importorskip("torch")
    model = tiny_model("torch", hidden=(32,), seed=1)
    x, _ = tiny_batch(32, seed=3)
    target = np.argsort(_np(model, model(model.backend.asarray(x))), axis=1)[:, -2]
    r = cw_l2(model, x, target, targeted=True, binary_search_steps=4, steps=200, initial_const=1.0)
    assert _np(model, r.success).mean() > 0.9
    pred = _np(model, model(r.x_adv)).argmax(1)
    np.testing.assert_array_equal(pred == target, _np(model, r.success))


def test_torch_and_jax_agree_on_the_same_weights() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    results = {}
    for name in ("torch", "jax"):
        model, x, y, *_ = _linear_case(name)
        r = cw_l2(model, x, y, binary_search_steps=3, steps=200)
        results[name] = (_np(model, r.norms), _np(model, r.success))
    np.testing.assert_array_equal(results["torch"][1], results["jax"][1])
    np.testing.assert_allclose(results["torch"][0], results["jax"][0], rtol=1e-3, atol=1e-4)


def test_model_mode_weights_and_grads_untouched(backend_name: str) -> None:
    model = tiny_model(backend_name)
    model.train()
    if backend_name == "torch":
        model.module.layers[0].training = False
    modes, before = model.mode_state(), model.parameters_numpy()
    x, y = tiny_batch()
    cw_l2(model, x, y, binary_search_steps=2, steps=20)
    assert model.mode_state() == modes and model.training
    after = model.parameters_numpy()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    if backend_name == "torch":
        assert all(p.grad is None for p in model.module.parameters())


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.integers(1, 30),
    search=st.integers(1, 3),
    confidence=st.sampled_from([0.0, 0.5]),
    value_range=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-0.5, 2.0)]),
    targeted=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_contract(backend_name: str, steps, search, confidence, value_range, targeted, seed) -> None:
    model = tiny_model(backend_name, seed=seed % 5, value_range=value_range)
    x, y = tiny_batch(6, seed=seed, value_range=value_range)
    r = cw_l2(model, x, y, steps=steps, binary_search_steps=search, confidence=confidence, targeted=targeted,
              initial_const=1.0)
    x_adv, success = _np(model, r.x_adv), _np(model, r.success)
    lo, hi = value_range
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= lo and x_adv.max() <= hi
    pred = _np(model, model(r.x_adv)).argmax(1)
    np.testing.assert_array_equal(success, pred == y if targeted else pred != y)
    np.testing.assert_array_equal(x_adv[~success], x[~success])  # not fooled: the input itself
    d = (x_adv - x).reshape(len(x), -1).astype(np.float64)
    np.testing.assert_allclose(_np(model, r.norms), np.sqrt((d**2).sum(1)), rtol=1e-4, atol=1e-6)
    assert r.norm == "l2" and r.forwards == r.gradients + 2 and r.gradients <= steps * search


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(binary_search_steps=0), "binary_search_steps must be an integer >= 1"),
        (dict(confidence=-1.0), "confidence must be >= 0"),
        (dict(initial_const=0.0), "initial_const must be > 0"),
        (dict(lr=0.0), "lr must be > 0"),
    ],
)
def test_bad_arguments(kwargs, match) -> None:
    pytest.importorskip("torch")
    model = tiny_model("torch")
    x, y = tiny_batch()
    with pytest.raises(ConfigError, match=match):
        cw_l2(model, x, y, **kwargs)


def test_keeps_the_callers_dtype() -> None:
    pytest.importorskip("torch")
    from sparring.models import build_model

    model = build_model("dense", backend="torch", input_shape=(12,), hidden=(8,), num_classes=4, dtype="float64")
    x, y = tiny_batch()
    r = cw_l2(model, x.astype(np.float64), y, binary_search_steps=2, steps=20, initial_const=1.0)
    assert _np(model, r.x_adv).dtype == np.float64 and _np(model, r.norms).dtype == np.float64
