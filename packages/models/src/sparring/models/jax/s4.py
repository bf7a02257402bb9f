"""S4, the structured state space layer with a DPLR state matrix, flax.nnx side.

Same math, parameter names and shapes as :mod:`sparring.models.torch.s4` (read its
docstring for the derivation)::

    A = Lambda - P P^*                                   (DPLR, HiPPO-LegS init)
    K^(omega) = 2 [ s00 - (1 + omega) s01 s10 / (1 + (1 + omega) s11) ]   (Woodbury)
    s_ab(omega) = sum_n a_n b_n / ((2/Delta)(1 - omega) - Lambda_n (1 + omega))  (Cauchy)
    K = Re(ifft(K^)),  y = K * u + D u                   (omega^L = 1, causal FFT conv)

with ``a in {conj(C~), conj(P)}``, ``b in {B, P}``; recurrent mode scans the bilinear
discretisation ``x_k = A_bar x_{k-1} + B_bar u_k``, ``y_k = Re(C_bar x_k) + D u_k`` with
``C_bar = conj(C~) (I - A_bar^L)^{-1}`` (``jax.lax.scan``).

``Lambda_re, Lambda_im (H, N)``, ``P, B, C (H, N, 2)`` (complex as real pairs), ``D (H,)``,
``log_step (H,)``: ``8N + 2`` numbers per channel. The pure functions are jitted; the
contractions ask for full float32 precision (``Precision.HIGHEST``), so GPUs that would
use TF32 for matrix products give the CPU's kernel.

Reference: A. Gu, K. Goel, C. Re, "Efficiently Modeling Long Sequences with Structured
State Spaces", ICLR 2022, arXiv:2111.00396; S. Rush, S. Karamcheti, "The Annotated S4".
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sparring.core.errors import InvalidInputError

from .._hippo import dplr_legs, roots_of_unity
from .s4d import causal_conv

__all__ = ["S4", "discretize_dplr", "dplr_kernel", "s4_recurrence", "s4_step"]

_HIGHEST = jax.lax.Precision.HIGHEST


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.matmul(a, b, precision=_HIGHEST)


def _matrix_power(a: jax.Array, n: int) -> jax.Array:
    """``a^n`` for a stack of square matrices ``(..., N, N)`` by repeated squaring (``n`` static)."""
    result = jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)
    while n:
        if n & 1:
            result = _matmul(result, a)
        n >>= 1
        if n:
            a = _matmul(a, a)
    return result


@partial(jax.jit, static_argnums=5)
def dplr_kernel(Lambda: jax.Array, P: jax.Array, B: jax.Array, C: jax.Array, step: jax.Array, L: int) -> jax.Array:
    """The convolution kernel ``K (H, L)`` of the bilinear-discretised DPLR system.

    ``Lambda, P, B, C (H, N)`` complex (``C`` is C~), ``step (H,)`` real.
    """
    cdt = Lambda.dtype
    omega = jnp.asarray(roots_of_unity(L), cdt)  # (L,)
    two_over_step = (2.0 / step).astype(cdt)[:, None, None]  # (H, 1, 1)
    den = two_over_step * (1.0 - omega) - Lambda[..., None] * (1.0 + omega)  # (H, N, L)
    Cc, Pc = C.conj(), P.conj()
    weights = jnp.stack([Cc * B, Cc * P, Pc * B, Pc * P], axis=1)  # (H, 4, N)
    s = _matmul(weights, 1.0 / den)  # (H, 4, L): s00, s01, s10, s11
    one_plus = 1.0 + omega  # (L,)
    k_hat = 2.0 * (s[:, 0] - one_plus * s[:, 1] * s[:, 2] / (1.0 + one_plus * s[:, 3]))  # (H, L)
    return jnp.fft.ifft(k_hat, n=L, axis=-1).real  # (H, L)


@partial(jax.jit, static_argnums=5)
def discretize_dplr(
    Lambda: jax.Array, P: jax.Array, B: jax.Array, C: jax.Array, step: jax.Array, L: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Bilinear discretisation: ``A_bar (H, N, N)``, ``B_bar (H, N)``, ``C_bar (H, N)`` complex.

    ``A_bar = A1 A0``, ``A0 = (2/Delta) I + A``, ``A1 = ((2/Delta) I - A)^{-1}`` by
    Woodbury; ``B_bar = 2 A1 B``; ``C_bar = conj(C~) (I - A_bar^L)^{-1}``.
    """
    cdt = Lambda.dtype
    N = Lambda.shape[-1]
    eye = jnp.eye(N, dtype=cdt)  # (N, N)
    two_over_step = (2.0 / step).astype(cdt)[:, None]  # (H, 1)
    Pc = P.conj()
    A = Lambda[..., None] * eye - P[..., :, None] * Pc[..., None, :]  # (H, N, N)
    A0 = two_over_step[..., None] * eye + A  # (H, N, N)
    E = 1.0 / (two_over_step - Lambda)  # (H, N)
    EP = E * P  # (H, N)
    A1 = E[..., None] * eye - EP[..., :, None] * (Pc * E)[..., None, :] / (
        1.0 + (Pc * EP).sum(-1)
    )[:, None, None]  # (H, N, N)
    A_bar = _matmul(A1, A0)  # (H, N, N)
    B_bar = 2.0 * _matmul(A1, B[..., None])[..., 0]  # (H, N)
    M = eye - _matrix_power(A_bar, L)  # (H, N, N)
    C_bar = jnp.linalg.solve(jnp.swapaxes(M, -1, -2), C.conj()[..., None])[..., 0]  # (H, N): conj(C~) M^{-1}
    return A_bar, B_bar, C_bar


def s4_step(
    u_k: jax.Array, state: jax.Array, A_bar: jax.Array, B_bar: jax.Array, C_bar: jax.Array, D: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``x_k = A_bar x_{k-1} + B_bar u_k``, ``y_k = Re(C_bar x_k) + D u_k``.

    ``u_k (B, H)``, ``state (B, H, N)`` complex -> ``(y_k (B, H), x_k (B, H, N))``.
    """
    state = jnp.einsum("hnm,bhm->bhn", A_bar, state, precision=_HIGHEST)  # (B, H, N)
    state = state + B_bar * u_k.astype(B_bar.dtype)[..., None]  # (B, H, N)
    y_k = (C_bar * state).sum(-1).real + D * u_k  # (B, H)
    return y_k, state


@jax.jit
def s4_recurrence(
    u: jax.Array, state: jax.Array, A_bar: jax.Array, B_bar: jax.Array, C_bar: jax.Array, D: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """:func:`s4_step` scanned over ``u (B, L, H)``: ``(y (B, L, H), final state)``."""

    def body(x: jax.Array, u_k: jax.Array) -> tuple[jax.Array, jax.Array]:
        y_k, x = s4_step(u_k, x, A_bar, B_bar, C_bar, D)
        return x, y_k

    state, ys = jax.lax.scan(body, state, jnp.swapaxes(u, 0, 1))  # ys (L, B, H)
    return jnp.swapaxes(ys, 0, 1), state  # (B, L, H)


class S4(nnx.Module):
    """DPLR state space layer: ``(B, L, H) -> (B, L, H)`` for ``L <= l_max``; N complex states."""

    def __init__(
        self,
        d_model: int,
        state_size: int = 64,
        l_max: int = 784,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
    ) -> None:
        H, N = int(d_model), int(state_size)
        dtype = jnp.dtype(dtype)
        self.l_max = int(l_max)
        Lambda, P, B, _ = dplr_legs(N)

        def per_channel(z: np.ndarray) -> jax.Array:
            a = np.stack([z.real, z.imag], -1) if np.iscomplexobj(z) else np.asarray(z)
            return jnp.broadcast_to(jnp.asarray(a, dtype), (H, *a.shape))  # (H, N) or (H, N, 2)

        self.Lambda_re = nnx.Param(per_channel(Lambda.real))  # (H, N)
        self.Lambda_im = nnx.Param(per_channel(Lambda.imag))  # (H, N)
        self.P = nnx.Param(per_channel(P))  # (H, N, 2)
        self.B = nnx.Param(per_channel(B))  # (H, N, 2)
        self.C = nnx.Param(jax.random.normal(rngs.params(), (H, N, 2), dtype) * math.sqrt(0.5))  # (H, N, 2)
        self.D = nnx.Param(jnp.ones((H,), dtype))  # (H,)
        lo, hi = math.log(dt_min), math.log(dt_max)
        self.log_step = nnx.Param(jax.random.uniform(rngs.params(), (H,), dtype, lo, hi))  # (H,)

    def ssm(self) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
        """``Lambda, P, B, C~ (H, N)`` complex and ``Delta (H,)`` real."""

        def pair(v: nnx.Param) -> jax.Array:
            return jax.lax.complex(v[...][..., 0], v[...][..., 1])

        Lambda = jax.lax.complex(jnp.minimum(self.Lambda_re[...], -1e-4), self.Lambda_im[...])  # (H, N)
        return Lambda, pair(self.P), pair(self.B), pair(self.C), jnp.exp(self.log_step[...])

    def kernel(self, L: int | None = None) -> jax.Array:
        """The convolution kernel ``(H, L)``: the first ``L <= l_max`` taps of the length-l_max one."""
        L = self.l_max if L is None else int(L)
        if not 1 <= L <= self.l_max:
            raise InvalidInputError(
                f"S4 layer was built for sequences of at most l_max={self.l_max} steps, got {L}; "
                f"build it with a larger l_max (or use recurrent mode, which has no limit)"
            )
        return dplr_kernel(*self.ssm(), self.l_max)[:, :L]

    def __call__(self, u: jax.Array) -> jax.Array:
        """Convolution mode: ``u (B, L, H) -> y = K * u + D u (B, L, H)``."""
        return causal_conv(u, self.kernel(u.shape[1])) + u * self.D[...]  # (B, L, H)

    # -- recurrent mode ---------------------------------------------------------------
    def discretize(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``A_bar (H, N, N)``, ``B_bar (H, N)``, ``C_bar (H, N)`` of the recurrence."""
        return discretize_dplr(*self.ssm(), self.l_max)

    def initial_state(self, batch_size: int) -> jax.Array:
        """Zero state ``(B, H, N)`` complex."""
        H, N = self.Lambda_re.shape
        complex_dtype = jnp.complex128 if self.Lambda_re[...].dtype == jnp.float64 else jnp.complex64
        return jnp.zeros((batch_size, H, N), complex_dtype)

    def step(self, u_k: jax.Array, state: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One time step: ``u_k (B, H)``, ``state (B, H, N)`` -> ``(y_k (B, H), new state)``.

        Discretises on every call; for a long stream take :meth:`discretize` once and
        call :func:`s4_step`, or use :meth:`recurrent` on chunks.
        """
        return s4_step(u_k, state, *self.discretize(), self.D[...])

    def recurrent(self, u: jax.Array, state: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """Recurrent mode over a whole chunk: ``u (B, L, H)`` -> ``(y (B, L, H), final state)``.

        Equals :meth:`__call__` from a zero state (for the first ``l_max`` steps); passing
        the returned state to the next call continues the sequence (streaming).
        """
        A_bar, B_bar, C_bar = self.discretize()
        if state is None:
            state = self.initial_state(u.shape[0])
        return s4_recurrence(u, state, A_bar, B_bar, C_bar, self.D[...])
