"""GRU and LSTM layers with Flax's bias layout, flax.nnx side.

Same equations, gate orders, parameter names and shapes as
:mod:`sparring.models.torch.rnn` (read its docstring): GRU ``weight_ih (3H, F)``,
``bias_ih (3H,)``, ``weight_hh (3H, H)``, ``bias_hn (H,)``; LSTM ``weight_ih (4H, F)``,
``weight_hh (4H, H)``, ``bias (4H,)``. Pure cell functions first, then the time loop as
a jitted ``jax.lax.scan`` (compiled once per shape, also when the model runs eagerly);
``x (B, L, F) -> h (B, L, H)`` from a zero state. Init: U(-1/sqrt(H), 1/sqrt(H)).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["GRU", "LSTM", "gru_cell", "gru_scan", "lstm_cell", "lstm_scan"]


def _uniform(rngs: nnx.Rngs, shape: tuple[int, ...], bound: float, dtype: Any) -> nnx.Param:
    return nnx.Param(jax.random.uniform(rngs.params(), shape, jnp.dtype(dtype), -bound, bound))


def gru_cell(gi: jax.Array, h: jax.Array, weight_hh: jax.Array, bias_hn: jax.Array) -> jax.Array:
    """One GRU step from the projected input ``gi = W_ih x + b_ih (B, 3H)`` and ``h (B, H)``."""
    gh = h @ weight_hh.T  # (B, 3H)
    i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)  # (B, H) each
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)  # (B, H) each
    r = jax.nn.sigmoid(i_r + h_r)
    z = jax.nn.sigmoid(i_z + h_z)
    n = jnp.tanh(i_n + r * (h_n + bias_hn))
    return (1.0 - z) * n + z * h  # (B, H)


def lstm_cell(
    gi: jax.Array, state: tuple[jax.Array, jax.Array], weight_hh: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One LSTM step from the projected input ``gi = W_ih x + b (B, 4H)`` and ``(h, c)``."""
    h, c = state
    i, f, g, o = jnp.split(gi + h @ weight_hh.T, 4, axis=-1)  # (B, H) each
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


@jax.jit
def gru_scan(gi: jax.Array, h: jax.Array, weight_hh: jax.Array, bias_hn: jax.Array) -> jax.Array:
    """``gru_cell`` over axis 1 of ``gi (B, L, 3H)`` from ``h (B, H)``: ``(B, L, H)``."""

    def body(h: jax.Array, gi_k: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = gru_cell(gi_k, h, weight_hh, bias_hn)
        return h, h

    _, hs = jax.lax.scan(body, h, jnp.swapaxes(gi, 0, 1))  # (L, B, H)
    return jnp.swapaxes(hs, 0, 1)  # (B, L, H)


@jax.jit
def lstm_scan(gi: jax.Array, state: tuple[jax.Array, jax.Array], weight_hh: jax.Array) -> jax.Array:
    """``lstm_cell`` over axis 1 of ``gi (B, L, 4H)`` from ``(h, c)``: hidden states ``(B, L, H)``."""

    def body(state: tuple[jax.Array, jax.Array], gi_k: jax.Array) -> tuple[Any, jax.Array]:
        state = lstm_cell(gi_k, state, weight_hh)
        return state, state[0]

    _, hs = jax.lax.scan(body, state, jnp.swapaxes(gi, 0, 1))  # (L, B, H)
    return jnp.swapaxes(hs, 0, 1)  # (B, L, H)


class GRU(nnx.Module):
    """Gated recurrent unit scanned over time: ``(B, L, F) -> (B, L, H)``."""

    def __init__(self, input_size: int, hidden_size: int, *, rngs: nnx.Rngs, dtype: Any = jnp.float32) -> None:
        H, F, bound = hidden_size, input_size, hidden_size**-0.5
        self.weight_ih = _uniform(rngs, (3 * H, F), bound, dtype)  # (3H, F)
        self.bias_ih = _uniform(rngs, (3 * H,), bound, dtype)  # (3H,)
        self.weight_hh = _uniform(rngs, (3 * H, H), bound, dtype)  # (3H, H)
        self.bias_hn = _uniform(rngs, (H,), bound, dtype)  # (H,)

    def initial_state(self, batch_size: int) -> jax.Array:
        w = self.weight_hh[...]
        return jnp.zeros((batch_size, w.shape[1]), w.dtype)  # (B, H)

    def step(self, x_k: jax.Array, h: jax.Array) -> jax.Array:
        """One step: ``x_k (B, F)``, ``h (B, H)`` -> new ``h (B, H)``."""
        gi = x_k @ self.weight_ih[...].T + self.bias_ih[...]  # (B, 3H)
        return gru_cell(gi, h, self.weight_hh[...], self.bias_hn[...])

    def __call__(self, x: jax.Array) -> jax.Array:
        gi = x @ self.weight_ih[...].T + self.bias_ih[...]  # (B, L, 3H), all steps at once
        return gru_scan(gi, self.initial_state(x.shape[0]), self.weight_hh[...], self.bias_hn[...])  # (B, L, H)


class LSTM(nnx.Module):
    """Long short-term memory scanned over time: ``(B, L, F) -> (B, L, H)``."""

    def __init__(self, input_size: int, hidden_size: int, *, rngs: nnx.Rngs, dtype: Any = jnp.float32) -> None:
        H, F, bound = hidden_size, input_size, hidden_size**-0.5
        self.weight_ih = _uniform(rngs, (4 * H, F), bound, dtype)  # (4H, F)
        self.weight_hh = _uniform(rngs, (4 * H, H), bound, dtype)  # (4H, H)
        self.bias = _uniform(rngs, (4 * H,), bound, dtype)  # (4H,)

    def initial_state(self, batch_size: int) -> tuple[jax.Array, jax.Array]:
        w = self.weight_hh[...]
        h = jnp.zeros((batch_size, w.shape[1]), w.dtype)  # (B, H)
        return h, h

    def step(self, x_k: jax.Array, state: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        """One step: ``x_k (B, F)``, ``(h, c)`` each ``(B, H)`` -> new ``(h, c)``."""
        return lstm_cell(x_k @ self.weight_ih[...].T + self.bias[...], state, self.weight_hh[...])

    def __call__(self, x: jax.Array) -> jax.Array:
        gi = x @ self.weight_ih[...].T + self.bias[...]  # (B, L, 4H), all steps at once
        return lstm_scan(gi, self.initial_state(x.shape[0]), self.weight_hh[...])  # (B, L, H)
