"""Weight regularisers added to any defense's objective.

- ``orthogonal``: ``L = L_base + λ Σ_W Σ_{ab} |(W Wᵀ - I)_{ab}|`` over every weight
  matrix (conv kernels as ``(out, in·kh·kw)``): pushes each layer towards an isometry
  (Parseval-style, Cisse et al., ICML 2017, arXiv:1704.08847).
- ``spectral``: ``L = L_base + λ Σ_W σ_max(W)²`` with σ_max by ``iterations`` power-
  iteration steps on ``WᵀW`` from a fixed start, the singular vectors held constant
  (Miyato et al., "Spectral Normalization for GANs", ICLR 2018, arXiv:1802.05957;
  Yoshida & Miyato 2017, arXiv:1705.10941: spectral norm regularisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Model

from .base import Objective, check_eps

__all__ = ["WeightRegularised", "orthogonal", "spectral", "orthogonality_penalty", "spectral_penalty"]


def orthogonality_penalty(model: Model) -> Array:
    xp = model.backend.xp
    total = 0.0
    for w in model.weight_matrices().values():
        gram = w @ xp.matrix_transpose(w) if hasattr(xp, "matrix_transpose") else w @ w.T
        eye = xp.eye(w.shape[0], dtype=w.dtype, device=getattr(w, "device", None))
        total = total + xp.sum(xp.abs(gram - eye))
    return total


def spectral_penalty(model: Model, iterations: int = 10) -> Array:
    be = model.backend
    xp = be.xp
    total = 0.0
    for w in model.weight_matrices().values():
        wd = be.stop_gradient(w)
        v = xp.ones((w.shape[1],), dtype=w.dtype, device=getattr(w, "device", None))
        for _ in range(iterations):
            u = wd @ v
            u = u / (xp.linalg.vector_norm(u) + 1e-12)
            v = u @ wd
            v = v / (xp.linalg.vector_norm(v) + 1e-12)
        sigma = xp.sum(u * (w @ v))
        total = total + sigma * sigma
    return total


@dataclass(frozen=True)
class WeightRegularised(Objective):
    base: Objective = field(default_factory=lambda: _standard())
    kind: str = "orthogonal"
    lam: float = 1e-4
    iterations: int = 10

    def __post_init__(self) -> None:
        check_eps("lam", self.lam)
        if self.kind not in ("orthogonal", "spectral"):
            raise ConfigError(f"kind must be 'orthogonal' or 'spectral', got {self.kind!r}")

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        return self.base.inputs(model, x, y, seed, step)

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        loss, logits = self.base.objective(model, x, y, *extra)
        penalty = orthogonality_penalty(model) if self.kind == "orthogonal" else spectral_penalty(model, self.iterations)
        return loss + self.lam * penalty, logits


def _standard() -> Objective:
    from .standard import Standard

    return Standard()


def _base(base: str, base_params: dict[str, Any] | None) -> Objective:
    from sparring.core.registry import get_registry

    if base in ("orthogonal", "spectral"):
        raise ConfigError(f"base defense {base!r} is itself a weight regulariser; pick a training objective")
    spec = get_registry().get_defense(base)
    return spec.create(base_params)


def orthogonal(lam: float = 1e-4, base: str = "standard", base_params: dict[str, Any] | None = None) -> WeightRegularised:
    return WeightRegularised(base=_base(base, base_params), kind="orthogonal", lam=lam)


def spectral(lam: float = 1e-3, iterations: int = 10, base: str = "standard",
             base_params: dict[str, Any] | None = None) -> WeightRegularised:
    return WeightRegularised(base=_base(base, base_params), kind="spectral", lam=lam, iterations=iterations)
