"""S4D, the diagonal structured state space layer, torch side.

Per channel h (H = d_model channels) a continuous linear system with N/2 complex modes,
``x'(t) = A x(t) + B u(t)``, ``y(t) = 2 Re(C x(t)) + D u(t)``, with diagonal ``A`` and
``B = 1`` (absorbed into ``C``), discretised by zero-order hold with a learned step ``dt``:

    A_bar = exp(dt A),   B_bar = (exp(dt A) - 1) / A                       (ZOH)
    K_l   = 2 Re( sum_n C_n B_bar_n A_bar_n^l ),  l = 0 .. L-1             (kernel)
    y     = K * u + D u                                                    (causal conv)

computed as a Vandermonde product and an FFT convolution (convolution mode, training)
or as the recurrence ``x_k = A_bar x_{k-1} + B_bar u_k``, ``y_k = 2 Re(C x_k) + D u_k``
(recurrent mode, streaming inference); both give the same output.

Parameters (identical names and shapes in :mod:`sparring.models.jax.s4d`; complex
numbers stored as real pairs): ``log_dt (H,)``, ``log_A_real (H, N/2)``, ``A_imag
(H, N/2)`` with ``A = -exp(log_A_real) + i A_imag``, ``C (H, N/2, 2)``, ``D (H,)``.
Initialisation S4D-Lin: ``A_n = -1/2 + i pi n``; ``log dt ~ U(log 1e-3, log 1e-1)``
per channel; ``C`` complex standard normal (each part N(0, 1/2)); ``D ~ N(0, 1)``.

Reference: A. Gu, A. Gupta, K. Goel, C. Re, "On the Parameterization and Initialization
of Diagonal State Space Models", NeurIPS 2022, arXiv:2206.11893 (and the authors'
``models/s4/s4d.py``, whose kernel this is).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["S4D", "causal_conv", "discretize_zoh", "s4d_kernel", "s4d_step"]


def discretize_zoh(dt: torch.Tensor, A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order hold of the diagonal system ``x' = A x + u`` with step ``dt`` (B = 1).

    ``A_bar = exp(dt A)``, ``B_bar = (exp(dt A) - 1) / A = int_0^dt exp(A s) ds``.
    ``dt (H,)`` real, ``A (H, N2)`` complex -> ``A_bar, B_bar (H, N2)`` complex.
    """
    dtA = dt.unsqueeze(-1) * A  # (H, N2)
    A_bar = torch.exp(dtA)  # (H, N2)
    B_bar = (A_bar - 1.0) / A  # (H, N2)
    return A_bar, B_bar


def s4d_kernel(dt: torch.Tensor, A: torch.Tensor, C: torch.Tensor, L: int) -> torch.Tensor:
    """Convolution kernel ``K_l = 2 Re(sum_n C_n B_bar_n exp(l dt A_n))`` of shape ``(H, L)``.

    ``dt (H,)`` real, ``A, C (H, N2)`` complex. The powers ``A_bar^l`` are taken as
    ``exp(l dt A)`` (a Vandermonde matrix), as in Gu et al. 2022.
    """
    _, B_bar = discretize_zoh(dt, A)  # (H, N2)
    steps = torch.arange(L, device=A.device, dtype=dt.dtype)  # (L,)
    V = torch.exp((dt.unsqueeze(-1) * A).unsqueeze(-1) * steps)  # (H, N2, L)
    return 2.0 * torch.einsum("hn,hnl->hl", C * B_bar, V).real  # (H, L)


def causal_conv(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``y_k = sum_{j <= k} K_{k-j} u_j`` per channel, by FFT of length 2L (no wrap-around).

    ``u (B, L, H)``, ``K (H, L)`` -> ``y (B, L, H)``.
    """
    L = u.shape[1]
    u_f = torch.fft.rfft(u, n=2 * L, dim=1)  # (B, L+1, H)
    K_f = torch.fft.rfft(K, n=2 * L, dim=-1).transpose(0, 1)  # (L+1, H)
    return torch.fft.irfft(u_f * K_f, n=2 * L, dim=1)[:, :L]  # (B, L, H)


def s4d_step(
    u_k: torch.Tensor, state: torch.Tensor, A_bar: torch.Tensor, B_bar: torch.Tensor, C: torch.Tensor, D: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x_k = A_bar x_{k-1} + B_bar u_k``, ``y_k = 2 Re(C x_k) + D u_k``.

    ``u_k (B, H)``, ``state (B, H, N2)`` complex -> ``(y_k (B, H), x_k (B, H, N2))``.
    """
    state = A_bar * state + B_bar * u_k.unsqueeze(-1)  # (B, H, N2)
    y_k = 2.0 * (state * C).sum(-1).real + D * u_k  # (B, H)
    return y_k, state


class S4D(nn.Module):
    """Diagonal SSM layer: ``(B, L, H) -> (B, L, H)``; ``state_size`` N gives N/2 complex modes."""

    def __init__(
        self,
        d_model: int,
        state_size: int = 64,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        H, N2 = d_model, state_size // 2
        u = torch.rand(H, generator=generator, dtype=dtype)  # (H,)
        self.log_dt = nn.Parameter(math.log(dt_min) + u * (math.log(dt_max) - math.log(dt_min)))  # (H,)
        self.log_A_real = nn.Parameter(torch.full((H, N2), math.log(0.5), dtype=dtype))  # (H, N2)
        self.A_imag = nn.Parameter(math.pi * torch.arange(N2, dtype=dtype).expand(H, N2).clone())  # (H, N2)
        self.C = nn.Parameter(torch.randn(H, N2, 2, generator=generator, dtype=dtype) * math.sqrt(0.5))  # (H, N2, 2)
        self.D = nn.Parameter(torch.randn(H, generator=generator, dtype=dtype))  # (H,)

    def ssm(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The continuous system: ``dt (H,)`` real, ``A (H, N2)`` and ``C (H, N2)`` complex."""
        dt = torch.exp(self.log_dt)  # (H,)
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)  # (H, N2)
        C = torch.view_as_complex(self.C)  # (H, N2)
        return dt, A, C

    def kernel(self, L: int) -> torch.Tensor:
        """The convolution kernel ``(H, L)``."""
        return s4d_kernel(*self.ssm(), L)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Convolution mode: ``u (B, L, H) -> y = K * u + D u (B, L, H)``."""
        return causal_conv(u, self.kernel(u.shape[1])) + u * self.D  # (B, L, H)

    # -- recurrent mode ---------------------------------------------------------------
    def initial_state(self, batch_size: int) -> torch.Tensor:
        """Zero state ``(B, H, N2)`` complex."""
        H, N2 = self.log_A_real.shape
        dtype = torch.view_as_complex(self.C).dtype
        return torch.zeros(batch_size, H, N2, dtype=dtype, device=self.C.device)

    def step(self, u_k: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: ``u_k (B, H)``, ``state (B, H, N2)`` -> ``(y_k (B, H), new state)``."""
        dt, A, C = self.ssm()
        A_bar, B_bar = discretize_zoh(dt, A)  # (H, N2)
        return s4d_step(u_k, state, A_bar, B_bar, C, self.D)

    def recurrent(
        self, u: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Recurrent mode over a whole chunk: ``u (B, L, H)`` -> ``(y (B, L, H), final state)``.

        Equals :meth:`forward` from a zero state; passing the returned state to the next
        call continues the sequence (streaming).
        """
        dt, A, C = self.ssm()
        A_bar, B_bar = discretize_zoh(dt, A)  # (H, N2)
        if state is None:
            state = self.initial_state(u.shape[0])
        ys = []
        for k in range(u.shape[1]):
            y_k, state = s4d_step(u[:, k], state, A_bar, B_bar, C, self.D)  # (B, H)
            ys.append(y_k)
        return torch.stack(ys, dim=1), state  # (B, L, H)
