"""HiPPO-LegS and its DPLR form, the initialisation of the S4 layer (numpy, float64).

The HiPPO-LegS state matrix (Gu et al. 2020; S4 paper eq. 2, with the sign that makes
the system stable)::

    A_nk = -sqrt(2n+1) sqrt(2k+1)   n > k
         = -(n+1)                    n = k
         = 0                         n < k,          B_n = sqrt(2n+1)

is Normal Plus Low-Rank (S4 paper, Theorem 1 / appendix C.1): with ``P_n = sqrt(n + 1/2)``,
``S = A + P P^T = -1/2 I + (skew-symmetric)`` is normal, so ``S = V Lambda V^*`` with
``V`` unitary and ``Lambda = -1/2 + i omega`` (``omega`` the eigenvalues of the Hermitian
``-i (S + I/2)``). Conjugating by ``V`` gives the Diagonal Plus Low-Rank form the layer
learns::

    A = V (Lambda - P~ P~^*) V^*,     P~ = V^* P,   B~ = V^* B.

Reference: A. Gu, K. Goel, C. Re, "Efficiently Modeling Long Sequences with Structured
State Spaces", ICLR 2022, arXiv:2111.00396 (section 3.3, appendix C); the Annotated S4's
``make_HiPPO`` / ``make_NPLR_HiPPO`` / ``make_DPLR_HiPPO``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["dplr_legs", "hippo_legs", "nplr_legs", "roots_of_unity"]


def hippo_legs(N: int) -> tuple[np.ndarray, np.ndarray]:
    """The HiPPO-LegS pair ``A (N, N)``, ``B (N,)`` (float64, A lower triangular)."""
    if N < 1:
        raise ValueError(f"HiPPO needs a state size N >= 1, got {N}")
    q = np.sqrt(2.0 * np.arange(N) + 1.0)  # (N,)
    A = np.tril(-np.outer(q, q), k=-1) - np.diag(np.arange(1.0, N + 1.0))  # (N, N)
    return A, q.copy()


def nplr_legs(N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``A, S, P, B`` with ``A = S - P P^T`` and ``S = A + P P^T`` normal (float64)."""
    A, B = hippo_legs(N)
    P = np.sqrt(np.arange(N) + 0.5)  # (N,)
    S = A + np.outer(P, P)  # (N, N): -1/2 on the diagonal, skew-symmetric off it
    return A, S, P, B


@lru_cache(maxsize=16)
def _dplr_legs(N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    _, S, P, B = nplr_legs(N)
    diag = np.diag(S).mean()  # -1/2
    skew = S - np.diag(np.diag(S))  # (N, N), skew-symmetric
    omega, V = np.linalg.eigh(-1j * skew)  # -i skew is Hermitian: skew = V (i omega) V^*
    Lambda = diag + 1j * omega  # (N,)
    Vc = V.conj().T
    out = (Lambda, Vc @ P.astype(np.complex128), Vc @ B.astype(np.complex128), V)
    for a in out:
        a.setflags(write=False)
    return out


def dplr_legs(N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``Lambda (N,), P (N,), B (N,), V (N, N)`` complex128: HiPPO-LegS in DPLR form.

    ``V (diag(Lambda) - P P^*) V^*`` is the HiPPO-LegS ``A`` and ``V B`` its ``B``;
    ``Re Lambda = -1/2`` and the imaginary parts come in +- pairs. Arrays are read-only
    (cached); copy before changing them.
    """
    if N < 1:
        raise ValueError(f"HiPPO needs a state size N >= 1, got {N}")
    return _dplr_legs(int(N))


@lru_cache(maxsize=32)
def roots_of_unity(L: int) -> np.ndarray:
    """``omega_k = exp(-2 pi i k / L)``, k = 0..L-1 (complex128, read-only): the nodes at
    which a length-L generating function is evaluated so that an inverse DFT returns
    its coefficients."""
    omega = np.exp(-2j * np.pi * np.arange(L) / L)
    omega.setflags(write=False)
    return omega
