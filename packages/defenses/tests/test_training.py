"""Every registered defense, on both frameworks: a few seeded steps lower its loss."""

from __future__ import annotations

import numpy as np
import pytest
from defense_helpers import blobs, tiny_model

from sparring.core import get_registry

SMALL = {"eps": 0.05, "steps": 2}
OVERRIDES = {
    "standard": {},
    "fgsm-at": {"eps": 0.05},
    "minmax": {"eps": 0.05, "steps": 2, "step_size": 0.03},
    "minmax-clean": {"eps": 0.05, "steps": 2, "step_size": 0.03},
    "trades": {"eps": 0.05, "steps": 2, "step_size": 0.03},
    "gradient-norm": {"lam": 0.1, "at": "adversarial", "eps": 0.05, "steps": 2},
    "gradalign": {"eps": 0.05},
    "orthogonal": {"lam": 1e-3, "base": "pgd-at", "base_params": SMALL},
    "spectral": {"lam": 1e-3, "iterations": 5},
}


def _defenses() -> list[str]:
    return get_registry().names("defense")


def test_every_first_party_defense_is_covered() -> None:
    first_party = {
        "standard", "pgd-at", "fgsm-at", "mim-at", "minmax", "minmax-clean", "trades", "mart", "multi-attack",
        "gradient-norm", "gradalign", "orthogonal", "spectral",
    }
    assert first_party <= set(_defenses())


@pytest.mark.parametrize("name", sorted({
    "standard", "pgd-at", "fgsm-at", "mim-at", "minmax", "minmax-clean", "trades", "mart", "multi-attack",
    "gradient-norm", "gradalign", "orthogonal", "spectral",
}))
def test_a_few_steps_lower_the_loss(backend_name: str, name: str) -> None:
    spec = get_registry().get_defense(name)
    defense = spec.load()(**spec.resolve_params(OVERRIDES.get(name, SMALL)))
    model = tiny_model(backend_name, seed=3)
    be = model.backend
    x_np, y_np = blobs(48, seed=5)
    x, y = be.asarray(x_np), be.asarray(y_np)
    opt = be.optimizer(model, name="adam", lr=0.03)

    def loss_now() -> float:
        # the same attack seed and step index before and after: a fair comparison
        return float(be.to_numpy(defense.objective(model, x, y, *defense.inputs(model, x, y, 7, 0))[0]))

    before = loss_now()
    for step in range(20):
        opt.step(defense.objective, x, y, *defense.inputs(model, x, y, 100 + step, step))
    after = loss_now()
    assert np.isfinite(before) and np.isfinite(after)
    assert after < before * 0.9, f"{name} on {backend_name}: {before:.4f} -> {after:.4f}"
