"""Margin maximisation (Matyasko Eq. 3.18) and the Gaussian latent loss (Volpato Eq. 2.6),
against numpy hand computations, closed forms at and near the target, and training runs."""

from __future__ import annotations

import numpy as np
import pytest
from defense_helpers import blobs, logits_np, tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.core import get_registry
from sparring.core.errors import ConfigError
from sparring.data.dataset import ArrayDataset
from sparring.defenses import Trainer, TrainSettings
from sparring.defenses.gaussian_latent import GaussianLatent, gaussian_latent_terms
from sparring.defenses.margin import MarginMaximization, margin_sensitivity

QNORM = {"l2": lambda v: np.sqrt((v * v).sum(-1)), "l1": lambda v: np.abs(v).sum(-1)}


def _np(model, value) -> np.ndarray:
    return np.asarray(model.backend.to_numpy(value), dtype=np.float64)


def _hinge_np(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    idx = np.arange(len(y))
    other = z.copy()
    other[idx, y] = -np.inf
    return np.maximum(0.0, 1.0 + other.max(axis=1) - z[idx, y])


def _sensitivity_np(grads: np.ndarray, y: np.ndarray, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """grads (B, K, D) = ∇_x f_k(x_b): max over j != y of ||g_y - g_j||_q, and the arg-max."""
    idx = np.arange(len(y))
    norms = QNORM[norm](grads[idx, y][:, None, :] - grads)  # (B, K)
    norms[idx, y] = -1.0
    return norms.max(axis=1), norms.argmax(axis=1)


# -- margin maximisation ----------------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_margin_objective_of_a_linear_model(backend_name: str, norm: str) -> None:
    m = tiny_model(backend_name, hidden=())
    p = m.parameters_numpy()
    w = p["head.weight"].astype(np.float64)  # (3, 6): f(x) = W x + b, so ∇_x f_j = W_j
    x, y = blobs(10)
    be = m.backend
    loss, logits = MarginMaximization(norm=norm).objective(m, be.asarray(x), be.asarray(y))
    z = x.astype(np.float64) @ w.T + p["head.bias"]
    sens, _ = _sensitivity_np(np.broadcast_to(w, (10, *w.shape)), y, norm)
    c = {"l2": 0.1, "l1": 0.01}[norm]  # the thesis's C
    np.testing.assert_allclose(_np(m, logits), z, rtol=1e-5, atol=1e-6)
    assert float(_np(m, loss)) == pytest.approx((_hinge_np(z, y) + c * sens).mean(), rel=1e-5)


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_margin_sensitivity_of_a_relu_network(backend_name: str, norm: str) -> None:
    m = tiny_model(backend_name, hidden=(8,), classes=4, seed=2)
    p = {k: v.astype(np.float64) for k, v in m.parameters_numpy().items()}
    x, _ = blobs(12, classes=4, seed=3)
    y = np.arange(12) % 4
    active = (x @ p["layers.0.weight"].T + p["layers.0.bias"] > 0).astype(np.float64)  # (B, H)
    grads = np.einsum("kh,bh,hf->bkf", p["head.weight"], active, p["layers.0.weight"])  # (B, K, F)
    expected, _ = _sensitivity_np(grads, y, norm)
    got = _np(m, margin_sensitivity(m, m.backend.asarray(x), m.backend.asarray(y), norm=norm))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    squared = _np(m, margin_sensitivity(m, m.backend.asarray(x), m.backend.asarray(y), norm="l2", squared=True))
    np.testing.assert_allclose(squared, _sensitivity_np(grads, y, "l2")[0] ** 2, rtol=1e-5)


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_margin_penalty_is_differentiated_through_the_input_gradient(backend_name: str, norm: str) -> None:
    """One plain SGD step of lr 1 moves the weights by exactly minus the gradient of Eq. 3.18."""
    m = tiny_model(backend_name, hidden=(), seed=4)
    p = {k: v.astype(np.float64) for k, v in m.parameters_numpy().items()}
    w, bias = p["head.weight"], p["head.bias"]
    x, y = blobs(8, seed=1)
    lam, n = 0.5, len(y)
    z = x @ w.T + bias
    grad_w, grad_b = np.zeros_like(w), np.zeros_like(bias)
    for i in range(n):
        other = np.where(np.arange(3) == y[i], -np.inf, z[i])
        h = int(other.argmax())
        if 1 + z[i, h] - z[i, y[i]] > 0:  # the active hinge: d/dW of (1 + W_h x - W_y x)
            grad_w[h] += x[i] / n
            grad_w[y[i]] -= x[i] / n
            grad_b[h] += 1 / n
            grad_b[y[i]] -= 1 / n
    _, j_star = _sensitivity_np(np.broadcast_to(w, (n, *w.shape)), y, norm)
    for i in range(n):  # d/dW of lam * ||W_y - W_j*||_q
        v = w[y[i]] - w[j_star[i]]
        u = v / np.sqrt((v * v).sum()) if norm == "l2" else np.sign(v)
        grad_w[y[i]] += lam * u / n
        grad_w[j_star[i]] -= lam * u / n
    be = m.backend
    opt = be.optimizer(m, name="sgd", lr=1.0, momentum=0.0)
    opt.step(MarginMaximization(norm=norm, lam=lam).objective, be.asarray(x), be.asarray(y))
    after = m.parameters_numpy()
    np.testing.assert_allclose(w - after["head.weight"], grad_w, atol=2e-6)
    np.testing.assert_allclose(bias - after["head.bias"], grad_b, atol=2e-6)


def test_margin_settings() -> None:
    assert MarginMaximization().lam == 0.1 and MarginMaximization(norm="l1").lam == 0.01
    assert MarginMaximization(norm="l1", lam=0.3).lam == 0.3
    for bad in ({"norm": "linf"}, {"lam": -1.0}, {"norm": "l1", "squared": True}, {"squared": "yes"}):
        with pytest.raises(ConfigError):
            MarginMaximization(**bad)


# -- Gaussian latent loss -----------------------------------------------------------------------------
def _gaussian_np(z, y, classes, *, mu_target=10.0, sigma_target=1.0, kurtosis_weight=0.2, ridge=1e-4, min_n=2):
    """Eq. 2.1 + 2.5 + 2.6 class by class, slogdet instead of Cholesky."""
    z = z.astype(np.float64)
    s2 = sigma_target**2
    total = 0.0
    for k in range(classes):
        zk = z[y == k]
        if len(zk) < min_n:
            continue
        mu = zk.mean(axis=0)
        c = zk - mu
        cov = c.T @ c / len(zk) + ridge * np.eye(classes)
        target = mu_target * np.eye(classes)[k]
        kl = 0.5 * (classes * np.log(s2) - np.linalg.slogdet(cov)[1] - classes + np.trace(cov) / s2
                    + ((target - mu) ** 2).sum() / s2)
        kurtosis = np.mean((c**4).mean(axis=0) / np.diag(cov) ** 2)
        total += kl + kurtosis_weight * abs(kurtosis - 3.0)
    return total


def test_gaussian_latent_matches_numpy(backend_name: str) -> None:
    m = tiny_model(backend_name, hidden=(8,), classes=4, seed=5)
    x, _ = blobs(12, classes=4, seed=6)
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 2, 1, 0])  # counts 6, 5, 1 (left out), 0 (absent)
    be = m.backend
    for kw in ({}, {"mu_target": 3.0, "sigma_target": 2.0, "kurtosis_weight": 0.5, "ridge": 1e-3}):
        loss, logits = GaussianLatent(**kw).objective(m, be.asarray(x), be.asarray(y))
        np.testing.assert_allclose(_np(m, logits), logits_np(m, x))  # logits unchanged: argmax = prediction
        assert loss.dtype == logits.dtype  # float64 inside, cast back
        expected = _gaussian_np(logits_np(m, x), y, 4, **kw)
        assert float(_np(m, loss)) == pytest.approx(expected, rel=1e-4)


def _whitened(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n samples with empirical mean 0 and empirical (1/n) covariance exactly I."""
    g = rng.standard_normal((n, d))
    g -= g.mean(axis=0)
    chol = np.linalg.cholesky(g.T @ g / n)
    return g @ np.linalg.inv(chol).T


def _identity_model(backend: str, d: int):
    m = tiny_model(backend, hidden=(), classes=d, features=d)
    m.load_parameters({"head.weight": np.eye(d, dtype=np.float32), "head.bias": np.zeros(d, np.float32)})
    return m


def test_gaussian_loss_vanishes_at_the_target(backend_name: str) -> None:
    d, n, mu_t = 3, 8, 10.0
    rng = np.random.default_rng(0)
    z = np.concatenate([_whitened(rng, n, d) + mu_t * np.eye(d)[k] for k in range(d)]).astype(np.float32)
    y = np.repeat(np.arange(d), n)
    m = _identity_model(backend_name, d)  # logits = x: the latents are fed as they are
    be = m.backend
    kl, kurtosis, used = gaussian_latent_terms(be.xp, be.asarray(z), be.asarray(y), mu_target=mu_t)
    assert _np(m, used).all()
    np.testing.assert_allclose(_np(m, kl), 0.0, atol=1e-5)
    centred = z.astype(np.float64).reshape(d, n, d) - mu_t * np.eye(d)[:, None, :]
    kurt_np = (centred**4).mean(axis=1).mean(axis=1)  # unit variances: the 4th moments
    np.testing.assert_allclose(_np(m, kurtosis), kurt_np, rtol=1e-3)
    loss, _ = GaussianLatent(mu_target=mu_t).objective(m, be.asarray(z), be.asarray(y))
    assert float(_np(m, loss)) == pytest.approx(0.2 * np.abs(kurt_np - 3).sum(), rel=1e-3, abs=1e-5)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scale=st.floats(0.5, 2.0),
    shift=st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3),
    sigma=st.floats(0.5, 2.0),
)
def test_gaussian_kl_closed_form_off_target(backend_name: str, scale: float, shift: list[float], sigma: float) -> None:
    """Latents with covariance s²I and mean μ_T e_k + δ: KL = ½(d s²/σ² - d - d log(s²/σ²) + |δ|²/σ²)."""
    d, n = 3, 6
    rng = np.random.default_rng(1)
    delta = np.asarray(shift)
    z = np.concatenate([scale * _whitened(rng, n, d) + 5.0 * np.eye(d)[k] + delta for k in range(d)])
    be = tiny_model(backend_name).backend
    kl, _, _ = gaussian_latent_terms(be.xp, be.asarray(z.astype(np.float32)), be.asarray(np.repeat(np.arange(d), n)),
                                     mu_target=5.0, sigma_target=sigma, ridge=0.0)
    r = scale**2 / sigma**2
    expected = 0.5 * (d * r - d - d * np.log(r) + (delta**2).sum() / sigma**2)
    np.testing.assert_allclose(np.asarray(be.to_numpy(kl)), expected, rtol=1e-4, atol=1e-5)


def test_gaussian_settings_and_batches_without_class_statistics(backend_name: str) -> None:
    for bad in ({"mu_target": 0.0}, {"ridge": -1e-3}, {"sigma_target": -1.0}, {"min_class_samples": 1},
                {"kurtosis_weight": float("nan")}):
        with pytest.raises(ConfigError):
            GaussianLatent(**bad)
    m = tiny_model(backend_name)
    be = m.backend
    x, _ = blobs(3)
    with pytest.raises(ConfigError, match="no class has 2 samples"):
        GaussianLatent().inputs(m, be.asarray(x), be.asarray(np.array([0, 1, 2])), 0, 0)
    with pytest.raises(ConfigError, match="batch of 1"):
        GaussianLatent().objective(m, be.asarray(x[:1]), be.asarray(np.array([0])))
    # through the trainer: batches of 3 in dataset order hold one sample of each class
    data = ArrayDataset(np.tile(x, (4, 1)), np.tile(np.arange(3), 4), name="cycle", classes=("a", "b", "c"))
    with pytest.raises(ConfigError, match="raise the batch size"):
        Trainer(m, GaussianLatent(), TrainSettings(batch_size=3, shuffle=False)).fit(data)


# -- training, through the registry --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["margin", "gaussian-latent"])
def test_a_few_steps_lower_the_loss(backend_name: str, name: str) -> None:
    spec = get_registry().get_defense(name)
    defense = spec.load()(**spec.resolve_params({}))
    model = tiny_model(backend_name, seed=3)
    be = model.backend
    x_np, y_np = blobs(48, seed=5)
    x, y = be.asarray(x_np), be.asarray(y_np)
    opt = be.optimizer(model, name="adam", lr=0.03)  # compiled (nnx.jit) on jax
    # each step returns the loss before its update; neither objective has an attack phase
    losses = [float(be.to_numpy(opt.step(defense.objective, x, y, *defense.inputs(model, x, y, 100 + step, step))[0]))
              for step in range(13)]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0] * 0.9, f"{name} on {backend_name}: {losses[0]:.4f} -> {losses[-1]:.4f}"


def test_one_trainer_epoch_of_the_gaussian_loss(backend_name: str) -> None:
    x, y = blobs(48, seed=2)
    data = ArrayDataset(x, y, name="blobs", classes=("a", "b", "c"))
    model = tiny_model(backend_name, seed=1)
    start = model.parameters_numpy()["head.weight"].copy()
    history = Trainer(model, GaussianLatent(), TrainSettings(batch_size=24, lr=0.01), seed=0).fit(data)
    assert np.isfinite(history[0]["loss"]) and history[0]["loss"] > 0
    assert not np.allclose(model.parameters_numpy()["head.weight"], start)
