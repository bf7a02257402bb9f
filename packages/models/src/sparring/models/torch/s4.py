"""S4, the structured state space layer with a DPLR state matrix, torch side.

Per channel h (H = d_model channels, each its own system of N complex states) the
continuous system ``x'(t) = A x(t) + B u(t)``, ``y(t) = Re(C x(t)) + D u(t)`` has a
Diagonal Plus Low-Rank state matrix, initialised from HiPPO-LegS (:mod:`.._hippo`)::

    A = Lambda - P P^*                      Lambda (N,) diagonal, P (N,) rank one

and is discretised by the bilinear transform with a learned step ``Delta``::

    A_bar = (I - Delta/2 A)^{-1} (I + Delta/2 A),   B_bar = (I - Delta/2 A)^{-1} Delta B
    K_k   = Re(C_bar A_bar^k B_bar),  k = 0 .. L-1,      y = K * u + D u      (causal conv)

The kernel is never built from powers of ``A_bar``. The layer learns ``C~ = conj(C_bar
(I - A_bar^L))`` (``L = l_max``) so that the truncated generating function evaluated at
the roots of unity ``omega_j = exp(-2 pi i j / L)`` (where ``omega^L = 1``) is a resolvent::

    K^(omega) = sum_k K_k omega^k = conj(C~) (I - A_bar omega)^{-1} B_bar
              = 2 [ s00 - (1 + omega) s01 s10 / (1 + (1 + omega) s11) ]           (Woodbury)
    s_ab(omega) = sum_n a_n b_n / ((2/Delta)(1 - omega) - Lambda_n (1 + omega))   (Cauchy)

with ``a in {conj(C~), conj(P)}``, ``b in {B, P}``, and ``K = Re(ifft(K^))``. (This is
Annotated S4's ``kernel_DPLR``, ``c(omega) (k00 - k01 (1 + k11)^{-1} k10)`` with
``g = (2/Delta)(1-omega)/(1+omega)``, ``c = 2/(1+omega)``, with the factor ``1 + omega``
cleared from the denominators, so it stays finite at ``omega = -1``.) The causal
convolution is an FFT of length 2L (:func:`.s4d.causal_conv`).

Recurrent mode (streaming inference) runs the discretised system itself,
``x_k = A_bar x_{k-1} + B_bar u_k``, ``y_k = Re(C_bar x_k) + D u_k``, with dense ``A_bar``
built from the DPLR factors (backward Euler by Woodbury times forward Euler) and
``C_bar = conj(C~) (I - A_bar^L)^{-1}``; it equals the convolution for k < L.

Parameters (identical names and shapes in :mod:`sparring.models.jax.s4`; complex numbers
stored as real pairs in a trailing dimension of 2)::

    Lambda_re (H, N), Lambda_im (H, N)   diagonal; Re clipped to <= -1e-4 when used
    P (H, N, 2), B (H, N, 2)             low-rank factor and input matrix (HiPPO-LegS, DPLR)
    C (H, N, 2)                          C~ as above; complex normal, each part N(0, 1/2)
    D (H,)                               skip connection, ones
    log_step (H,)                        log Delta ~ U(log 1e-3, log 1e-1)

that is ``8N + 2`` numbers per channel. Names, initialisation and the clip follow the
Annotated S4 ``S4Layer`` (whose per-channel copies are stacked on the first axis here).

Reference: A. Gu, K. Goel, C. Re, "Efficiently Modeling Long Sequences with Structured
State Spaces", ICLR 2022, arXiv:2111.00396 (Algorithm 1, section 3.3, appendix C);
S. Rush, S. Karamcheti, "The Annotated S4".
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sparring.core.errors import InvalidInputError

from .._hippo import dplr_legs, roots_of_unity
from .s4d import causal_conv

__all__ = ["S4", "discretize_dplr", "dplr_kernel", "s4_step"]


def dplr_kernel(
    Lambda: torch.Tensor, P: torch.Tensor, B: torch.Tensor, C: torch.Tensor, step: torch.Tensor, L: int
) -> torch.Tensor:
    """The convolution kernel ``K (H, L)`` of the bilinear-discretised DPLR system.

    ``Lambda, P, B, C (H, N)`` complex (``C`` is C~), ``step (H,)`` real; Cauchy kernel
    plus Woodbury at the L-th roots of unity, then an inverse FFT (see the module doc).
    """
    omega = torch.from_numpy(roots_of_unity(L).copy()).to(device=Lambda.device, dtype=Lambda.dtype)  # (L,)
    two_over_step = (2.0 / step).to(Lambda.dtype)[:, None, None]  # (H, 1, 1)
    den = two_over_step * (1.0 - omega) - Lambda[..., None] * (1.0 + omega)  # (H, N, L)
    Cc, Pc = C.conj(), P.conj()
    weights = torch.stack([Cc * B, Cc * P, Pc * B, Pc * P], dim=1)  # (H, 4, N)
    s = weights @ den.reciprocal()  # (H, 4, L): s00, s01, s10, s11
    one_plus = 1.0 + omega  # (L,)
    k_hat = 2.0 * (s[:, 0] - one_plus * s[:, 1] * s[:, 2] / (1.0 + one_plus * s[:, 3]))  # (H, L)
    return torch.fft.ifft(k_hat, n=L, dim=-1).real  # (H, L)


def discretize_dplr(
    Lambda: torch.Tensor, P: torch.Tensor, B: torch.Tensor, C: torch.Tensor, step: torch.Tensor, L: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear discretisation: ``A_bar (H, N, N)``, ``B_bar (H, N)``, ``C_bar (H, N)`` complex.

    ``A_bar = A1 A0`` with ``A0 = (2/Delta) I + A`` and ``A1 = ((2/Delta) I - A)^{-1}``
    by Woodbury (``E = diag(1 / (2/Delta - Lambda))``: ``A1 = E - E P (1 + P^* E P)^{-1}
    P^* E``); ``B_bar = 2 A1 B``; ``C_bar = conj(C~) (I - A_bar^L)^{-1}``.
    """
    N = Lambda.shape[-1]
    eye = torch.eye(N, dtype=Lambda.dtype, device=Lambda.device)  # (N, N)
    two_over_step = (2.0 / step).to(Lambda.dtype)[:, None]  # (H, 1)
    Pc = P.conj()
    A = torch.diag_embed(Lambda) - P[..., :, None] * Pc[..., None, :]  # (H, N, N)
    A0 = two_over_step[..., None] * eye + A  # (H, N, N)
    E = 1.0 / (two_over_step - Lambda)  # (H, N)
    EP = E * P  # (H, N)
    A1 = torch.diag_embed(E) - EP[..., :, None] * (Pc * E)[..., None, :] / (
        1.0 + (Pc * EP).sum(-1)
    )[:, None, None]  # (H, N, N)
    A_bar = A1 @ A0  # (H, N, N)
    B_bar = 2.0 * (A1 @ B[..., None])[..., 0]  # (H, N)
    M = eye - torch.linalg.matrix_power(A_bar, L)  # (H, N, N)
    C_bar = torch.linalg.solve(M.transpose(-1, -2), C.conj()[..., None])[..., 0]  # (H, N): conj(C~) M^{-1}
    return A_bar, B_bar, C_bar


def s4_step(
    u_k: torch.Tensor,
    state: torch.Tensor,
    A_bar: torch.Tensor,
    B_bar: torch.Tensor,
    C_bar: torch.Tensor,
    D: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x_k = A_bar x_{k-1} + B_bar u_k``, ``y_k = Re(C_bar x_k) + D u_k``.

    ``u_k (B, H)``, ``state (B, H, N)`` complex -> ``(y_k (B, H), x_k (B, H, N))``.
    """
    state = (A_bar @ state[..., None])[..., 0] + B_bar * u_k[..., None]  # (B, H, N)
    y_k = (C_bar * state).sum(-1).real + D * u_k  # (B, H)
    return y_k, state


class S4(nn.Module):
    """DPLR state space layer: ``(B, L, H) -> (B, L, H)`` for ``L <= l_max``; N complex states."""

    def __init__(
        self,
        d_model: int,
        state_size: int = 64,
        l_max: int = 784,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        H, N = int(d_model), int(state_size)
        self.l_max = int(l_max)
        Lambda, P, B, _ = dplr_legs(N)

        def per_channel(z: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.stack([z.real, z.imag], -1) if np.iscomplexobj(z) else np.array(z))
            return t.to(dtype).expand(H, *t.shape).clone()  # (H, N) or (H, N, 2)

        self.Lambda_re = nn.Parameter(per_channel(Lambda.real))  # (H, N)
        self.Lambda_im = nn.Parameter(per_channel(Lambda.imag))  # (H, N)
        self.P = nn.Parameter(per_channel(P))  # (H, N, 2)
        self.B = nn.Parameter(per_channel(B))  # (H, N, 2)
        self.C = nn.Parameter(torch.randn(H, N, 2, generator=generator, dtype=dtype) * math.sqrt(0.5))  # (H, N, 2)
        self.D = nn.Parameter(torch.ones(H, dtype=dtype))  # (H,)
        u = torch.rand(H, generator=generator, dtype=dtype)  # (H,)
        self.log_step = nn.Parameter(math.log(dt_min) + u * (math.log(dt_max) - math.log(dt_min)))  # (H,)

    def ssm(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``Lambda, P, B, C~ (H, N)`` complex and ``Delta (H,)`` real."""
        Lambda = torch.complex(torch.clamp(self.Lambda_re, max=-1e-4), self.Lambda_im)  # (H, N)
        P, B, C = (torch.view_as_complex(t) for t in (self.P, self.B, self.C))  # (H, N) each
        return Lambda, P, B, C, torch.exp(self.log_step)

    def kernel(self, L: int | None = None) -> torch.Tensor:
        """The convolution kernel ``(H, L)``: the first ``L <= l_max`` taps of the length-l_max one."""
        L = self.l_max if L is None else int(L)
        if not 1 <= L <= self.l_max:
            raise InvalidInputError(
                f"S4 layer was built for sequences of at most l_max={self.l_max} steps, got {L}; "
                f"build it with a larger l_max (or use recurrent mode, which has no limit)"
            )
        return dplr_kernel(*self.ssm(), self.l_max)[:, :L]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Convolution mode: ``u (B, L, H) -> y = K * u + D u (B, L, H)``."""
        return causal_conv(u, self.kernel(u.shape[1])) + u * self.D  # (B, L, H)

    # -- recurrent mode ---------------------------------------------------------------
    def discretize(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``A_bar (H, N, N)``, ``B_bar (H, N)``, ``C_bar (H, N)`` of the recurrence."""
        return discretize_dplr(*self.ssm(), self.l_max)

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """Zero state ``(B, H, N)`` complex."""
        H, N = self.Lambda_re.shape
        dtype = torch.view_as_complex(self.C).dtype
        return torch.zeros(batch_size, H, N, dtype=dtype, device=self.C.device)

    def step(self, u_k: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: ``u_k (B, H)``, ``state (B, H, N)`` -> ``(y_k (B, H), new state)``.

        Discretises on every call; for a long stream take :meth:`discretize` once and
        call :func:`s4_step`, or use :meth:`recurrent` on chunks.
        """
        return s4_step(u_k, state, *self.discretize(), self.D)

    def recurrent(
        self, u: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Recurrent mode over a whole chunk: ``u (B, L, H)`` -> ``(y (B, L, H), final state)``.

        Equals :meth:`forward` from a zero state (for the first ``l_max`` steps); passing
        the returned state to the next call continues the sequence (streaming).
        """
        A_bar, B_bar, C_bar = self.discretize()
        if state is None:
            state = self.initial_state(u.shape[0])
        ys = []
        for k in range(u.shape[1]):
            y_k, state = s4_step(u[:, k], state, A_bar, B_bar, C_bar, self.D)  # (B, H)
            ys.append(y_k)
        return torch.stack(ys, dim=1), state  # (B, L, H)
