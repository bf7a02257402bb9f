"""GRU and LSTM layers with Flax's bias layout, torch side.

Written by hand (not ``nn.GRU``/``nn.LSTM``, which carry two bias vectors per gate) so
that the parameter count is the one of ``flax.linen.GRUCell``/``LSTMCell`` that the Kasl
thesis reports (GRU 133,642 and LSTM 166,410 parameters in the MNIST StackedModel).
Gate order and equations are torch's; ``x (B, L, F) -> h (B, L, H)`` from a zero state.

GRU, gates (r, z, n)::

    r = sigmoid(W_ir x + b_ir + W_hr h)          z = sigmoid(W_iz x + b_iz + W_hz h)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))    h' = (1 - z) * n + z * h

with ``weight_ih (3H, F)``, ``bias_ih (3H,)``, ``weight_hh (3H, H)``, ``bias_hn (H,)``.

LSTM, gates (i, f, g, o)::

    i, f, g, o = split(W_ih x + W_hh h + b)
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g)      h' = sigmoid(o) * tanh(c')

with ``weight_ih (4H, F)``, ``weight_hh (4H, H)``, ``bias (4H,)`` (Flax puts this bias on
the hidden kernels; it is one vector either way).

Initialisation as torch's recurrent layers: every entry ~ U(-1/sqrt(H), 1/sqrt(H)).
Names and shapes are identical in :mod:`sparring.models.jax.rnn`.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GRU", "LSTM", "gru_cell", "lstm_cell"]


def _uniform(
    shape: tuple[int, ...], bound: float, generator: torch.Generator | None, dtype: torch.dtype
) -> nn.Parameter:
    return nn.Parameter((torch.rand(shape, generator=generator, dtype=dtype) * 2.0 - 1.0) * bound)


def gru_cell(gi: torch.Tensor, h: torch.Tensor, weight_hh: torch.Tensor, bias_hn: torch.Tensor) -> torch.Tensor:
    """One GRU step from the projected input ``gi = W_ih x + b_ih (B, 3H)`` and ``h (B, H)``."""
    gh = h @ weight_hh.T  # (B, 3H)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)  # (B, H) each
    h_r, h_z, h_n = gh.chunk(3, dim=-1)  # (B, H) each
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * (h_n + bias_hn))
    return (1.0 - z) * n + z * h  # (B, H)


def lstm_cell(
    gi: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], weight_hh: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step from the projected input ``gi = W_ih x + b (B, 4H)`` and ``(h, c)``."""
    h, c = state
    i, f, g, o = (gi + h @ weight_hh.T).chunk(4, dim=-1)  # (B, H) each
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class GRU(nn.Module):
    """Gated recurrent unit scanned over time: ``(B, L, F) -> (B, L, H)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        H, F, bound = hidden_size, input_size, hidden_size**-0.5
        self.weight_ih = _uniform((3 * H, F), bound, generator, dtype)  # (3H, F)
        self.bias_ih = _uniform((3 * H,), bound, generator, dtype)  # (3H,)
        self.weight_hh = _uniform((3 * H, H), bound, generator, dtype)  # (3H, H)
        self.bias_hn = _uniform((H,), bound, generator, dtype)  # (H,)

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return self.weight_hh.new_zeros(batch_size, self.weight_hh.shape[1])  # (B, H)

    def step(self, x_k: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step: ``x_k (B, F)``, ``h (B, H)`` -> new ``h (B, H)``."""
        return gru_cell(x_k @ self.weight_ih.T + self.bias_ih, h, self.weight_hh, self.bias_hn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gi = x @ self.weight_ih.T + self.bias_ih  # (B, L, 3H), all steps at once
        h = self.initial_state(x.shape[0])  # (B, H)
        hs = []
        for k in range(x.shape[1]):
            h = gru_cell(gi[:, k], h, self.weight_hh, self.bias_hn)
            hs.append(h)
        return torch.stack(hs, dim=1)  # (B, L, H)


class LSTM(nn.Module):
    """Long short-term memory scanned over time: ``(B, L, F) -> (B, L, H)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        H, F, bound = hidden_size, input_size, hidden_size**-0.5
        self.weight_ih = _uniform((4 * H, F), bound, generator, dtype)  # (4H, F)
        self.weight_hh = _uniform((4 * H, H), bound, generator, dtype)  # (4H, H)
        self.bias = _uniform((4 * H,), bound, generator, dtype)  # (4H,)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.weight_hh.new_zeros(batch_size, self.weight_hh.shape[1])  # (B, H)
        return h, h.clone()

    def step(
        self, x_k: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``x_k (B, F)``, ``(h, c)`` each ``(B, H)`` -> new ``(h, c)``."""
        return lstm_cell(x_k @ self.weight_ih.T + self.bias, state, self.weight_hh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gi = x @ self.weight_ih.T + self.bias  # (B, L, 4H), all steps at once
        state = self.initial_state(x.shape[0])
        hs = []
        for k in range(x.shape[1]):
            state = lstm_cell(gi[:, k], state, self.weight_hh)
            hs.append(state[0])
        return torch.stack(hs, dim=1)  # (B, L, H)
