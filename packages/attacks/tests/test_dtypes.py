"""Every registered attack keeps the caller's float64 (inputs, adversarial inputs, norms)."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.core import get_registry
from sparring.models import build_model

from attack_helpers import tiny_batch

QUICK = {  # small budgets: dtype is the point here
    "pgd": {"steps": 3}, "mim": {"steps": 3}, "apgd": {"steps": 5}, "cw-l2": {"steps": 5, "binary_search_steps": 2},
    "deepfool": {"steps": 5}, "pdgd": {"steps": 5}, "pdpgd": {"steps": 5}, "class-targeted": {"steps": 2},
    "spatial": {"rotations": 3, "translations": 1, "image_shape": (3, 4)},
}


@pytest.mark.parametrize("name", sorted(n for n in get_registry().names("attack")
                                        if get_registry().provider("attack", n).distribution == "sparring-attacks"))
def test_float64_in_float64_out(name: str) -> None:
    pytest.importorskip("torch")
    spec = get_registry().get_attack(name)
    model = build_model("dense", backend="torch", seed=0, input_shape=(12,), hidden=(8,), num_classes=4,
                        dtype="float64")
    x, _ = tiny_batch(6)
    x = x.astype(np.float64)
    y = model.backend.to_numpy(model(model.backend.asarray(x, dtype=model.dtype))).argmax(1)
    fn = spec.load()
    kwargs = dict(QUICK.get(name, {}))
    if spec.budgeted and not spec.minimum_norm:
        kwargs["eps"] = 0.1
    result = fn(model, x, y, **kwargs)
    be = model.backend
    assert be.to_numpy(result.x_adv).dtype == np.float64, name
    if getattr(result, "norms", None) is not None:
        assert be.to_numpy(result.norms).dtype == np.float64, name
