"""S4D on both frameworks: S4D-Lin init, ZOH against integrating the ODE, the Vandermonde
kernel against direct powers, FFT convolution against the recurrence, streaming, causality."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

H, N = 6, 8  # channels, state size (N/2 = 4 complex modes)


@dataclass
class Layer:
    """An S4D layer of either framework seen through numpy."""

    module: Any
    params: dict[str, np.ndarray]
    to: Callable[[np.ndarray], Any]
    back: Callable[[Any], np.ndarray]
    discretize_zoh: Callable[[Any, Any], tuple[Any, Any]]

    def conv(self, u: np.ndarray) -> np.ndarray:
        return self.back(self.module(self.to(u)))

    def recurrent(self, u: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any]:
        y, state = self.module.recurrent(self.to(u), state)
        return self.back(y), state

    def kernel(self, L: int) -> np.ndarray:
        return self.back(self.module.kernel(L))


def make_layer(backend_name: str, seed: int = 0, d_model: int = H, state_size: int = N) -> Layer:
    if backend_name == "torch":
        import torch

        from sparring.models.torch import s4d

        module = s4d.S4D(d_model, state_size, generator=torch.Generator().manual_seed(seed))
        params = {k: v.detach().numpy().copy() for k, v in module.named_parameters()}
        return Layer(module, params, torch.as_tensor, lambda t: t.detach().numpy(), s4d.discretize_zoh)
    import jax.numpy as jnp
    from flax import nnx

    from sparring.models.jax import s4d as js4d

    module = js4d.S4D(d_model, state_size, rngs=nnx.Rngs(seed))
    params = {k: np.array(getattr(module, k)[...]) for k in ("log_dt", "log_A_real", "A_imag", "C", "D")}
    return Layer(module, params, jnp.asarray, np.asarray, js4d.discretize_zoh)


def continuous(params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dt (H,), A (H, N2), C (H, N2) in complex128 from the stored parameters."""
    dt = np.exp(params["log_dt"].astype(np.float64))
    A = -np.exp(params["log_A_real"].astype(np.float64)) + 1j * params["A_imag"].astype(np.float64)
    C = params["C"][..., 0].astype(np.float64) + 1j * params["C"][..., 1].astype(np.float64)
    return dt, A, C


def test_initialisation_is_s4d_lin(backend_name: str) -> None:
    p = make_layer(backend_name, d_model=64, state_size=64).params
    assert {k: v.shape for k, v in p.items()} == {
        "log_dt": (64,), "log_A_real": (64, 32), "A_imag": (64, 32), "C": (64, 32, 2), "D": (64,),
    }
    _, A, _ = continuous(p)
    np.testing.assert_allclose(A, np.broadcast_to(-0.5 + 1j * np.pi * np.arange(32), (64, 32)), rtol=1e-6)
    assert np.all(p["log_dt"] >= math.log(1e-3)) and np.all(p["log_dt"] <= math.log(1e-1))
    assert np.ptp(p["log_dt"]) > 0.5 * (math.log(1e-1) - math.log(1e-3))  # spread over the range
    assert abs(p["C"].std() - math.sqrt(0.5)) < 0.05  # complex standard normal: each part N(0, 1/2)
    assert abs(p["D"].std() - 1.0) < 0.3


def test_zoh_matches_integrating_the_ode(backend_name: str) -> None:
    """x(dt) of x' = A x + u (u held constant) equals A_bar x(0) + B_bar u."""
    layer = make_layer(backend_name)
    dt, A, _ = continuous(layer.params)
    dt32, A32 = layer.to(dt.astype(np.float32)), layer.to(A.astype(np.complex64))
    A_bar, B_bar = (np.asarray(layer.back(v), np.complex128) for v in layer.discretize_zoh(dt32, A32))

    rng = np.random.default_rng(0)
    x0 = rng.normal(size=A.shape) + 1j * rng.normal(size=A.shape)  # (H, N2)
    u = rng.normal(size=(A.shape[0], 1))  # (H, 1) held over the step
    steps = 400
    h = (dt / steps)[:, None]  # (H, 1)

    def f(x: np.ndarray) -> np.ndarray:
        return A * x + u

    x = x0
    for _ in range(steps):  # classical Runge-Kutta 4
        k1 = f(x)
        k2 = f(x + h / 2 * k1)
        k3 = f(x + h / 2 * k2)
        k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    np.testing.assert_allclose(A_bar * x0 + B_bar * u, x, rtol=1e-5, atol=1e-6)


def test_vandermonde_kernel_equals_direct_powers(backend_name: str) -> None:
    """K_l = 2 Re(sum_n C_n A_bar_n^l B_bar_n), powers by repeated multiplication."""
    layer = make_layer(backend_name, seed=3)
    dt, A, C = continuous(layer.params)
    A_bar = np.exp(dt[:, None] * A)  # (H, N2)
    B_bar = (A_bar - 1.0) / A  # (H, N2)
    L = 64
    K = np.empty((H, L))
    power = np.ones_like(A_bar)
    for step in range(L):
        K[:, step] = 2.0 * (C * power * B_bar).sum(-1).real
        power = power * A_bar
    got = layer.kernel(L)
    assert got.shape == (H, L)
    np.testing.assert_allclose(got, K, rtol=1e-4, atol=1e-5)


def test_convolution_equals_recurrence(backend_name: str) -> None:
    layer = make_layer(backend_name, seed=1)
    u = np.random.default_rng(1).normal(size=(3, 80, H)).astype(np.float32)
    y_conv = layer.conv(u)
    y_rec, _ = layer.recurrent(u)
    assert y_conv.shape == y_rec.shape == (3, 80, H)
    np.testing.assert_allclose(y_conv, y_rec, rtol=1e-4, atol=1e-4)


def test_streaming_in_chunks_equals_one_pass(backend_name: str) -> None:
    layer = make_layer(backend_name, seed=2)
    u = np.random.default_rng(2).normal(size=(2, 30, H)).astype(np.float32)
    y_head, state = layer.recurrent(u[:, :17])
    y_tail, _ = layer.recurrent(u[:, 17:], state)
    np.testing.assert_allclose(np.concatenate([y_head, y_tail], 1), layer.conv(u), rtol=1e-4, atol=1e-4)
    y0, _ = layer.module.step(layer.to(u[:, 0]), layer.module.initial_state(2))
    np.testing.assert_allclose(layer.back(y0), y_head[:, 0], rtol=1e-5, atol=1e-6)


def test_convolution_is_causal(backend_name: str) -> None:
    """No wrap-around: changing u_k changes y only from step k on."""
    layer = make_layer(backend_name, seed=4)
    u = np.random.default_rng(3).normal(size=(1, 40, H)).astype(np.float32)
    v = u.copy()
    v[:, 30] += 1.0
    y_u, y_v = layer.conv(u), layer.conv(v)
    np.testing.assert_allclose(y_u[:, :30], y_v[:, :30], rtol=0, atol=1e-5)
    assert np.abs(y_u[:, 30:] - y_v[:, 30:]).max() > 0.1


def test_kernel_agrees_across_frameworks() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    import torch

    jl = make_layer("jax", seed=5)
    tl = make_layer("torch", seed=6)
    with torch.no_grad():
        for k, v in jl.params.items():
            getattr(tl.module, k).copy_(torch.as_tensor(v))
    np.testing.assert_allclose(tl.kernel(50), jl.kernel(50), rtol=1e-4, atol=1e-5)
