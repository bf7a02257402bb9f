"""Memory stays flat: no array (or autodiff graph) piles up across iterations or calls.

Counted as live framework arrays: ``jax.live_arrays()``; for torch, the tensors the
garbage collector can reach (a kept graph keeps its saved tensors alive).
"""

from __future__ import annotations

import functools
import gc
import warnings
from typing import Any

import numpy as np
import pytest

from sparring.attacks import apgd, cw_l2, deepfool, mim, pgd

from attack_helpers import tiny_batch, tiny_model

ITERATIVE = {
    "pgd": functools.partial(pgd, eps=0.3, steps=40, step_size=0.01, early_stop=False),
    "mim": functools.partial(mim, eps=0.3, steps=40, early_stop=False),
    "apgd": functools.partial(apgd, eps=0.01, steps=40),  # small: samples still running at step 40
}
REPEATED = {
    **ITERATIVE,
    "deepfool": functools.partial(deepfool, steps=10),
    "cw-l2": functools.partial(cw_l2, steps=10, binary_search_steps=2),
}


def _live(backend_name: str) -> int:
    gc.collect()
    if backend_name == "jax":
        import jax

        return len(jax.live_arrays())
    import torch

    with warnings.catch_warnings():  # isinstance on some torch module objects warns of deprecations
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def _model_and_batch(backend_name: str) -> tuple[Any, Any, Any]:
    pytest.importorskip(backend_name)
    model = tiny_model(backend_name, hidden=(16,), seed=2)
    x, _ = tiny_batch(16, seed=4)
    be = model.backend
    x_b = be.asarray(x)
    y = be.asarray(be.to_numpy(model(x_b)).argmax(1))  # correctly classified: nothing stops at step 0
    return model, x_b, y


@pytest.mark.parametrize("name", sorted(ITERATIVE))
def test_flat_across_iterations(backend_name: str, name: str) -> None:
    model, x, y = _model_and_batch(backend_name)
    counts: list[int] = []

    def count(t: int, x_t: Any) -> None:
        if t in (5, 20, 40):
            counts.append(_live(backend_name))

    ITERATIVE[name](model, x, y, callback=count)  # warm-up: compilation, caches
    counts.clear()
    ITERATIVE[name](model, x, y, callback=count)
    assert len(counts) == 3
    assert counts[2] <= counts[0], counts  # nothing gained from step 5 to step 40


@pytest.mark.parametrize("name", sorted(REPEATED))
def test_flat_across_calls(backend_name: str, name: str) -> None:
    model, x, y = _model_and_batch(backend_name)
    attack = REPEATED[name]
    for _ in range(2):  # warm-up: compilation, caches
        attack(model, x, y)
    before = _live(backend_name)
    for _ in range(5):
        result = attack(model, x, y)
        del result
    after = _live(backend_name)
    assert after <= before, (before, after)
    assert np.isfinite(before)
