"""S4 (DPLR) on both frameworks: the thesis's 100,618 parameters, HiPPO-LegS in DPLR form,
the Cauchy/Woodbury kernel against direct powers of the discretised matrix, FFT
convolution against the recurrence and streaming, and torch/jax parity of the StackedModel."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from sparring.core import get_registry
from sparring.core.errors import ConfigError, InvalidInputError
from sparring.models import build_model
from sparring.models._hippo import dplr_legs, hippo_legs, nplr_legs

H, N, L = 4, 8, 16  # channels, state size, sequence length (l_max)
TINY = dict(layer="s4", input_shape=(L, 1), d_model=H, state_size=N, num_classes=3, dropout=0.0)
NAMES = ("Lambda_re", "Lambda_im", "P", "B", "C", "D", "log_step")


def _both() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")


@dataclass
class Layer:
    """An S4 layer of either framework seen through numpy."""

    module: Any
    to: Callable[[np.ndarray], Any]
    back: Callable[[Any], np.ndarray]

    def params(self) -> dict[str, np.ndarray]:
        return {k: self.back(getattr(self.module, k)[...]).copy() for k in NAMES}

    def set(self, params: dict[str, np.ndarray]) -> None:
        for k, v in params.items():
            getattr(self.module, k)[...] = self.to(v.astype(np.float32))

    def conv(self, u: np.ndarray) -> np.ndarray:
        return self.back(self.module(self.to(u)))

    def recurrent(self, u: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any]:
        y, state = self.module.recurrent(self.to(u), state)
        return self.back(y), state

    def kernel(self, length: int | None = None) -> np.ndarray:
        return self.back(self.module.kernel(length))


def make_layer(backend_name: str, seed: int = 0, d_model: int = H, state_size: int = N, l_max: int = L) -> Layer:
    if backend_name == "torch":
        import torch

        from sparring.models.torch.s4 import S4

        module = S4(d_model, state_size, l_max, generator=torch.Generator().manual_seed(seed))
        module.requires_grad_(False)
        return Layer(module, torch.as_tensor, lambda t: t.detach().numpy())
    import jax.numpy as jnp
    from flax import nnx

    from sparring.models.jax.s4 import S4 as JaxS4

    return Layer(JaxS4(d_model, state_size, l_max, rngs=nnx.Rngs(seed)), jnp.asarray, np.asarray)


def perturbed(params: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """A generic DPLR system (not only the HiPPO one): random Lambda, P, B, steps."""
    rng = np.random.default_rng(seed)
    p = dict(params)
    p["Lambda_re"] = -rng.uniform(0.1, 1.0, p["Lambda_re"].shape)
    p["Lambda_im"] = p["Lambda_im"] + rng.normal(size=p["Lambda_im"].shape)
    p["P"] = p["P"] * rng.uniform(0.5, 1.0, p["P"].shape)
    p["B"] = p["B"] + 0.3 * rng.normal(size=p["B"].shape)
    p["log_step"] = rng.uniform(math.log(1e-2), math.log(2e-1), p["log_step"].shape)
    return {k: v.astype(np.float32) for k, v in p.items()}


def reference(params: dict[str, np.ndarray], l_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense bilinear discretisation in complex128: A_bar (H,N,N), B_bar (H,N), C_bar (H,N)."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    Lam = np.minimum(p["Lambda_re"], -1e-4) + 1j * p["Lambda_im"]
    P, B, Ct = (p[k][..., 0] + 1j * p[k][..., 1] for k in ("P", "B", "C"))
    step = np.exp(p["log_step"])
    n = Lam.shape[-1]
    eye = np.eye(n)
    A_bars, B_bars, C_bars = [], [], []
    for h in range(Lam.shape[0]):
        A = np.diag(Lam[h]) - np.outer(P[h], P[h].conj())  # Lambda - P P^*
        left = eye - step[h] / 2 * A
        A_bar = np.linalg.solve(left, eye + step[h] / 2 * A)
        A_bars.append(A_bar)
        B_bars.append(np.linalg.solve(left, step[h] * B[h]))
        C_bars.append(Ct[h].conj() @ np.linalg.inv(eye - np.linalg.matrix_power(A_bar, l_max)))
    return np.array(A_bars), np.array(B_bars), np.array(C_bars)


# -- parameter count and layout --------------------------------------------------------------


def _n_trainable(m: Any) -> int:
    if m.backend.name == "torch":
        assert not list(m.module.buffers())
        return sum(p.numel() for p in m.module.parameters() if p.requires_grad)
    from flax import nnx

    return sum(v[...].size for _, v in nnx.to_flat_state(nnx.state(m.module, nnx.Param)))


def test_s4_mnist_has_the_thesis_parameter_count(backend_name: str) -> None:
    m = build_model("s4-mnist", backend=backend_name)
    assert m.input_shape == (784, 1) and m.num_classes == 10 and m.value_range == (-1.0, 1.0)
    params = m.parameters_numpy()
    d, n = 128, 64
    shell = (d + d) + 2 * d + 2 * (d * d + d) + (10 * d + 10)  # encoder, LayerNorm, GLU, decoder
    seq = {k: v.size for k, v in params.items() if ".seq." in k}
    assert seq == {
        "blocks.0.seq.Lambda_re": d * n, "blocks.0.seq.Lambda_im": d * n,
        "blocks.0.seq.P": d * n * 2, "blocks.0.seq.B": d * n * 2, "blocks.0.seq.C": d * n * 2,
        "blocks.0.seq.D": d, "blocks.0.seq.log_step": d,
    }
    assert shell == 34_826 and sum(seq.values()) == (8 * n + 2) * d == 65_792
    assert sum(v.size for v in params.values()) == _n_trainable(m) == shell + 65_792 == 100_618


def test_the_count_rule_also_gives_the_thesis_gtsrb_s4() -> None:
    """Kasl 2024, ch. 5.2: d_model 324, N 224, RGB pixels (3 features), 43 classes: 807,775."""
    pytest.importorskip("torch")
    m = build_model("stacked", backend="torch", layer="s4", input_shape=(16, 3), d_model=324, state_size=224,
                    num_classes=43)
    assert sum(v.size for v in m.parameters_numpy().values()) == 807_775


def test_registry_has_the_s4_preset() -> None:
    spec = get_registry().get_model("s4-mnist")
    assert spec.backends == ("torch", "jax") and spec.factory == "sparring.models.stacked:stacked"
    assert spec.params["layer"] == "s4" and spec.params["state_size"] == 64 and spec.params["d_model"] == 128
    assert "100,618" in spec.summary


def test_one_layout_and_seeded_weights(backend_name: str) -> None:
    m = build_model("stacked", backend=backend_name, seed=3, **TINY)
    shapes = {k: v.shape for k, v in m.parameters_numpy().items() if ".seq." in k}
    assert shapes == {
        "blocks.0.seq.Lambda_re": (H, N), "blocks.0.seq.Lambda_im": (H, N), "blocks.0.seq.P": (H, N, 2),
        "blocks.0.seq.B": (H, N, 2), "blocks.0.seq.C": (H, N, 2), "blocks.0.seq.D": (H,),
        "blocks.0.seq.log_step": (H,),
    }
    a = m.parameters_numpy()
    b = build_model("stacked", backend=backend_name, seed=3, **TINY).parameters_numpy()
    c = build_model("stacked", backend=backend_name, seed=4, **TINY).parameters_numpy()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["blocks.0.seq.C"], c["blocks.0.seq.C"])


def test_bad_state_size_and_too_long_inputs(backend_name: str) -> None:
    with pytest.raises(ConfigError, match="s4 state_size"):
        build_model("stacked", backend=backend_name, layer="s4", state_size=0)
    layer = make_layer(backend_name)
    with pytest.raises(InvalidInputError, match="l_max=16"):
        layer.conv(np.zeros((1, L + 1, H), np.float32))


# -- HiPPO initialisation ------------------------------------------------------------------------


def test_hippo_legs_in_nplr_and_dplr_form() -> None:
    n = 8
    A, B = hippo_legs(n)
    i, k = np.indices((n, n))
    expected = np.where(i > k, -np.sqrt((2 * i + 1) * (2 * k + 1)), np.where(i == k, -(i + 1.0), 0.0))
    np.testing.assert_allclose(A, expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(B, np.sqrt(2 * np.arange(n) + 1))
    _, S, P, _ = nplr_legs(n)
    np.testing.assert_allclose(S - np.outer(P, P), A, atol=1e-12)  # NPLR: A = S - P P^T
    np.testing.assert_allclose(S @ S.T, S.T @ S, atol=1e-10)  # S is normal
    Lam, Pt, Bt, V = dplr_legs(n)
    np.testing.assert_allclose(V.conj().T @ V, np.eye(n), atol=1e-12)  # V unitary
    np.testing.assert_allclose(Lam.real, -0.5, atol=1e-12)
    np.testing.assert_allclose(np.sort(Lam.imag), -np.sort(Lam.imag)[::-1], atol=1e-10)  # +- pairs
    # DPLR: A = V (Lambda - P~ P~^*) V^*, B = V B~
    np.testing.assert_allclose(V @ (np.diag(Lam) - np.outer(Pt, Pt.conj())) @ V.conj().T, A, atol=1e-10)
    np.testing.assert_allclose(V @ Bt, B, atol=1e-10)
    # the eigenvalues of HiPPO-LegS are -1 .. -N
    eigs = np.linalg.eigvals(np.diag(Lam) - np.outer(Pt, Pt.conj()))
    np.testing.assert_allclose(np.sort(eigs.real), -np.arange(n, 0, -1.0), atol=1e-6)


def test_layer_starts_from_hippo_on_every_channel(backend_name: str) -> None:
    p = make_layer(backend_name, d_model=5, state_size=64, l_max=32).params()
    Lam, P, B, _ = dplr_legs(64)
    np.testing.assert_allclose(p["Lambda_re"], np.broadcast_to(Lam.real, (5, 64)), atol=1e-6)
    np.testing.assert_allclose(p["Lambda_im"], np.broadcast_to(Lam.imag, (5, 64)), rtol=1e-6)
    np.testing.assert_allclose(p["P"][..., 0] + 1j * p["P"][..., 1], np.broadcast_to(P, (5, 64)), atol=1e-5)
    np.testing.assert_allclose(p["B"][..., 0] + 1j * p["B"][..., 1], np.broadcast_to(B, (5, 64)), atol=1e-5)
    np.testing.assert_array_equal(p["D"], 1.0)
    assert np.all(p["log_step"] >= math.log(1e-3)) and np.all(p["log_step"] <= math.log(1e-1))
    assert abs(p["C"].std() - math.sqrt(0.5)) < 0.05


# -- kernel, discretisation, modes --------------------------------------------------------------


@pytest.mark.parametrize("hippo", [True, False], ids=["hippo", "random-dplr"])
def test_kernel_equals_direct_powers_of_the_discrete_system(backend_name: str, hippo: bool) -> None:
    """K_k = Re(C_bar A_bar^k B_bar), powers by repeated multiplication, in float64."""
    layer = make_layer(backend_name, seed=3)
    if not hippo:
        layer.set(perturbed(layer.params(), seed=3))
    A_bar, B_bar, C_bar = reference(layer.params(), L)
    K = np.empty((H, L))
    x = B_bar.copy()
    for k in range(L):
        K[:, k] = np.einsum("hn,hn->h", C_bar, x).real
        x = np.einsum("hnm,hm->hn", A_bar, x)
    scale = np.abs(K).max()
    np.testing.assert_allclose(layer.kernel(), K, rtol=0, atol=2e-5 * scale)
    np.testing.assert_allclose(layer.kernel(10), K[:, :10], rtol=0, atol=2e-5 * scale)  # truncated
    got = [layer.back(a) for a in layer.module.discretize()]
    # C_bar = conj(C~) (I - A_bar^L)^{-1} is the ill-conditioned one (float32 solve)
    for g, r, tol in zip(got, (A_bar, B_bar, C_bar), (1e-5, 1e-5, 1e-3), strict=True):
        np.testing.assert_allclose(g, r, rtol=0, atol=tol * np.abs(r).max())


@pytest.mark.parametrize("hippo", [True, False], ids=["hippo", "random-dplr"])
def test_convolution_equals_recurrence(backend_name: str, hippo: bool) -> None:
    layer = make_layer(backend_name, seed=1)
    if not hippo:
        layer.set(perturbed(layer.params(), seed=1))
    u = np.random.default_rng(1).normal(size=(3, L, H)).astype(np.float32)
    y_conv = layer.conv(u)
    y_rec, _ = layer.recurrent(u)
    assert y_conv.shape == y_rec.shape == (3, L, H)
    np.testing.assert_allclose(y_conv, y_rec, rtol=1e-4, atol=1e-4)


def test_convolution_equals_recurrence_at_mnist_state_size(backend_name: str) -> None:
    layer = make_layer(backend_name, seed=2, d_model=2, state_size=64, l_max=100)
    u = np.random.default_rng(2).normal(size=(1, 100, 2)).astype(np.float32)
    np.testing.assert_allclose(layer.conv(u), layer.recurrent(u)[0], rtol=1e-4, atol=1e-4)


def test_streaming_in_chunks_equals_one_pass(backend_name: str) -> None:
    layer = make_layer(backend_name, seed=2)
    u = np.random.default_rng(2).normal(size=(2, L, H)).astype(np.float32)
    y_head, state = layer.recurrent(u[:, :8])
    y_tail, _ = layer.recurrent(u[:, 8:], state)
    np.testing.assert_allclose(np.concatenate([y_head, y_tail], 1), layer.conv(u), rtol=1e-4, atol=1e-4)
    y0, _ = layer.module.step(layer.to(u[:, 0]), layer.module.initial_state(2))
    np.testing.assert_allclose(layer.back(y0), y_head[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.conv(u[:, :8]), y_head, rtol=1e-4, atol=1e-4)  # shorter than l_max


def test_convolution_is_causal(backend_name: str) -> None:
    layer = make_layer(backend_name, seed=4)
    u = np.random.default_rng(3).normal(size=(1, L, H)).astype(np.float32)
    v = u.copy()
    v[:, 12] += 1.0
    y_u, y_v = layer.conv(u), layer.conv(v)
    np.testing.assert_allclose(y_u[:, :12], y_v[:, :12], rtol=0, atol=1e-5)
    assert np.abs(y_u[:, 12:] - y_v[:, 12:]).max() > 0.1


# -- torch / jax parity ---------------------------------------------------------------------------


def _logits(m: Any, x: np.ndarray) -> np.ndarray:
    return m.backend.to_numpy(m(m.backend.asarray(x)))


def _input_grad(m: Any, x: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    be = m.backend
    w_ = be.asarray(w)
    value, grad = be.value_and_grad(lambda z: be.xp.sum(m(z) * w_), be.asarray(x))
    return float(be.to_numpy(value)), be.to_numpy(grad)


@pytest.mark.parametrize(("src", "dst"), [("torch", "jax"), ("jax", "torch")])
def test_weights_file_gives_the_same_function_on_both_frameworks(tmp_path, src: str, dst: str) -> None:
    _both()
    a = build_model("stacked", backend=src, seed=1, **TINY)
    b = build_model("stacked", backend=dst, seed=2, **TINY)
    a.save(tmp_path / "w.safetensors")
    b.load(tmp_path / "w.safetensors")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, L, 1)).astype(np.float32)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    for training in (True, False):
        a.train(training)
        b.train(training)
        np.testing.assert_allclose(_logits(a, x), _logits(b, x), rtol=1e-4, atol=1e-5)
        va, ga = _input_grad(a, x, w)
        vb, gb = _input_grad(b, x, w)
        np.testing.assert_allclose(va, vb, rtol=1e-4, atol=1e-5)
        assert np.abs(ga).max() > 1e-3, "input gradient vanished; the comparison would be vacuous"
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-5)


def test_parameter_gradients_agree_across_frameworks() -> None:
    """The real-pair parameters get the same gradients through both complex autodiffs."""
    _both()
    import jax
    import torch
    from flax import nnx

    tl, jl = make_layer("torch", seed=5), make_layer("jax", seed=6)
    params = perturbed(tl.params(), seed=5)
    tl.set(params)
    jl.set(params)
    u = np.random.default_rng(5).normal(size=(2, L, H)).astype(np.float32)
    w = np.random.default_rng(6).normal(size=(2, L, H)).astype(np.float32)

    tl.module.requires_grad_(True)
    (tl.module(torch.as_tensor(u)) * torch.as_tensor(w)).sum().backward()
    t_grads = {k: getattr(tl.module, k).grad.numpy() for k in NAMES}

    graphdef, state = nnx.split(jl.module)

    def loss(state: Any) -> jax.Array:
        return (nnx.merge(graphdef, state)(jax.numpy.asarray(u)) * w).sum()

    grads = jax.grad(loss)(state)
    for k in NAMES:
        g = np.asarray(grads[k][...])
        assert np.abs(g).max() > 1e-4, k
        np.testing.assert_allclose(g, t_grads[k], rtol=1e-3, atol=1e-4 * np.abs(g).max(), err_msg=k)


def test_jitted_forward_matches_eager() -> None:
    pytest.importorskip("jax")
    m = build_model("stacked", backend="jax", **TINY).eval()
    x = m.backend.asarray(np.random.default_rng(0).normal(size=(2, L, 1)).astype(np.float32))
    np.testing.assert_allclose(
        m.backend.to_numpy(m.backend.compile(lambda z: m(z))(x)), m.backend.to_numpy(m(x)), rtol=1e-5, atol=1e-6
    )
