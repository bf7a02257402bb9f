"""S4D, the diagonal structured state space layer, flax.nnx side.

Same math, parameter names and shapes as :mod:`sparring.models.torch.s4d` (read its
docstring for the equations)::

    A_bar = exp(dt A),   B_bar = (exp(dt A) - 1) / A                       (ZOH, B = 1)
    K_l   = 2 Re( sum_n C_n B_bar_n A_bar_n^l )                           (kernel (H, L))
    y     = K * u + D u                                                    (causal FFT conv)

``log_dt (H,)``, ``log_A_real (H, N/2)``, ``A_imag (H, N/2)``, ``C (H, N/2, 2)`` (complex
as real pairs), ``D (H,)``; S4D-Lin initialisation. Recurrent mode is a ``jax.lax.scan``
of :func:`s4d_step`. The pure functions are jitted (compiled once per shape, also when the
model runs eagerly; inside an outer ``jax.jit`` they are inlined).

Reference: A. Gu, A. Gupta, K. Goel, C. Re, "On the Parameterization and Initialization
of Diagonal State Space Models", NeurIPS 2022, arXiv:2206.11893.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["S4D", "causal_conv", "discretize_zoh", "s4d_kernel", "s4d_recurrence", "s4d_step"]


def discretize_zoh(dt: jax.Array, A: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Zero-order hold of the diagonal system ``x' = A x + u`` with step ``dt`` (B = 1).

    ``A_bar = exp(dt A)``, ``B_bar = (exp(dt A) - 1) / A = int_0^dt exp(A s) ds``.
    ``dt (H,)`` real, ``A (H, N2)`` complex -> ``A_bar, B_bar (H, N2)`` complex.
    """
    dtA = dt.astype(A.dtype)[:, None] * A  # (H, N2)
    A_bar = jnp.exp(dtA)  # (H, N2)
    B_bar = (A_bar - 1.0) / A  # (H, N2)
    return A_bar, B_bar


@partial(jax.jit, static_argnums=3)
def s4d_kernel(dt: jax.Array, A: jax.Array, C: jax.Array, L: int) -> jax.Array:
    """Convolution kernel ``K_l = 2 Re(sum_n C_n B_bar_n exp(l dt A_n))`` of shape ``(H, L)``.

    ``dt (H,)`` real, ``A, C (H, N2)`` complex; ``A_bar^l`` as ``exp(l dt A)`` (Vandermonde).
    """
    _, B_bar = discretize_zoh(dt, A)  # (H, N2)
    dtA = dt.astype(A.dtype)[:, None] * A  # (H, N2)
    steps = jnp.arange(L).astype(A.dtype)  # (L,)
    V = jnp.exp(dtA[:, :, None] * steps)  # (H, N2, L)
    return 2.0 * jnp.einsum("hn,hnl->hl", C * B_bar, V).real  # (H, L)


@jax.jit
def causal_conv(u: jax.Array, K: jax.Array) -> jax.Array:
    """``y_k = sum_{j <= k} K_{k-j} u_j`` per channel, by FFT of length 2L (no wrap-around).

    ``u (B, L, H)``, ``K (H, L)`` -> ``y (B, L, H)``.
    """
    L = u.shape[1]
    u_f = jnp.fft.rfft(u, n=2 * L, axis=1)  # (B, L+1, H)
    K_f = jnp.fft.rfft(K, n=2 * L, axis=-1).T  # (L+1, H)
    return jnp.fft.irfft(u_f * K_f, n=2 * L, axis=1)[:, :L].astype(u.dtype)  # (B, L, H)


def s4d_step(
    u_k: jax.Array, state: jax.Array, A_bar: jax.Array, B_bar: jax.Array, C: jax.Array, D: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``x_k = A_bar x_{k-1} + B_bar u_k``, ``y_k = 2 Re(C x_k) + D u_k``.

    ``u_k (B, H)``, ``state (B, H, N2)`` complex -> ``(y_k (B, H), x_k (B, H, N2))``.
    """
    state = A_bar * state + B_bar * u_k.astype(B_bar.dtype)[:, :, None]  # (B, H, N2)
    y_k = 2.0 * (state * C).sum(-1).real + D * u_k  # (B, H)
    return y_k, state


@jax.jit
def s4d_recurrence(
    u: jax.Array, state: jax.Array, A_bar: jax.Array, B_bar: jax.Array, C: jax.Array, D: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """:func:`s4d_step` scanned over ``u (B, L, H)``: ``(y (B, L, H), final state)``."""

    def body(x: jax.Array, u_k: jax.Array) -> tuple[jax.Array, jax.Array]:
        y_k, x = s4d_step(u_k, x, A_bar, B_bar, C, D)
        return x, y_k

    state, ys = jax.lax.scan(body, state, jnp.swapaxes(u, 0, 1))  # ys (L, B, H)
    return jnp.swapaxes(ys, 0, 1), state  # (B, L, H)


class S4D(nnx.Module):
    """Diagonal SSM layer: ``(B, L, H) -> (B, L, H)``; ``state_size`` N gives N/2 complex modes."""

    def __init__(
        self,
        d_model: int,
        state_size: int = 64,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        rngs: nnx.Rngs,
        dtype: Any = jnp.float32,
    ) -> None:
        H, N2 = d_model, state_size // 2
        dtype = jnp.dtype(dtype)
        lo, hi = math.log(dt_min), math.log(dt_max)
        self.log_dt = nnx.Param(jax.random.uniform(rngs.params(), (H,), dtype, lo, hi))  # (H,)
        self.log_A_real = nnx.Param(jnp.full((H, N2), math.log(0.5), dtype))  # (H, N2)
        self.A_imag = nnx.Param(jnp.broadcast_to(math.pi * jnp.arange(N2, dtype=dtype), (H, N2)))  # (H, N2)
        self.C = nnx.Param(jax.random.normal(rngs.params(), (H, N2, 2), dtype) * math.sqrt(0.5))  # (H, N2, 2)
        self.D = nnx.Param(jax.random.normal(rngs.params(), (H,), dtype))  # (H,)

    def ssm(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The continuous system: ``dt (H,)`` real, ``A (H, N2)`` and ``C (H, N2)`` complex."""
        dt = jnp.exp(self.log_dt[...])  # (H,)
        A = jax.lax.complex(-jnp.exp(self.log_A_real[...]), self.A_imag[...])  # (H, N2)
        C = jax.lax.complex(self.C[...][..., 0], self.C[...][..., 1])  # (H, N2)
        return dt, A, C

    def kernel(self, L: int) -> jax.Array:
        """The convolution kernel ``(H, L)``."""
        return s4d_kernel(*self.ssm(), L)

    def __call__(self, u: jax.Array) -> jax.Array:
        """Convolution mode: ``u (B, L, H) -> y = K * u + D u (B, L, H)``."""
        return causal_conv(u, self.kernel(u.shape[1])) + u * self.D[...]  # (B, L, H)

    # -- recurrent mode ---------------------------------------------------------------
    def initial_state(self, batch_size: int) -> jax.Array:
        """Zero state ``(B, H, N2)`` complex."""
        H, N2 = self.log_A_real.shape
        complex_dtype = jnp.complex128 if self.log_A_real[...].dtype == jnp.float64 else jnp.complex64
        return jnp.zeros((batch_size, H, N2), complex_dtype)

    def step(self, u_k: jax.Array, state: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One time step: ``u_k (B, H)``, ``state (B, H, N2)`` -> ``(y_k (B, H), new state)``."""
        dt, A, C = self.ssm()
        A_bar, B_bar = discretize_zoh(dt, A)  # (H, N2)
        return s4d_step(u_k, state, A_bar, B_bar, C, self.D[...])

    def recurrent(self, u: jax.Array, state: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """Recurrent mode over a whole chunk: ``u (B, L, H)`` -> ``(y (B, L, H), final state)``.

        Equals :meth:`__call__` from a zero state; passing the returned state to the next
        call continues the sequence (streaming).
        """
        dt, A, C = self.ssm()
        A_bar, B_bar = discretize_zoh(dt, A)  # (H, N2)
        if state is None:
            state = self.initial_state(u.shape[0])
        return s4d_recurrence(u, state, A_bar, B_bar, C, self.D[...])
