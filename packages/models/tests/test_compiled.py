"""Backend.compile_with_model: compiled functions that call a model see its current
weights, mode and preprocessing, and equivalent closures share one compilation (jax)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402

from sparring.models import build_model  # noqa: E402
from sparring.models.jax.compiled import closure_key  # noqa: E402


def _model(dropout: float = 0.0, seed: int = 0) -> Any:
    return build_model("stacked", backend="jax", layer="ff", input_shape=(6, 1), d_model=8, state_size=4,
                       num_classes=3, dropout=dropout, seed=seed)


TRACES: list[int] = []  # a global, not in the closure (a list there would make it unkeyable)


def _logits_fn(model: Any, scale: float) -> Any:
    def fn(x: Any) -> Any:
        TRACES.append(1)  # runs only while jax traces
        return scale * model(x)

    return fn


def _x() -> Any:
    return jnp.asarray(np.random.default_rng(0).random((5, 6, 1), dtype=np.float32))


def test_equivalent_closures_share_one_compilation() -> None:
    model = _model().eval()
    be = model.backend
    TRACES.clear()
    first = be.compile_with_model(model, _logits_fn(model, 2.0))(_x())
    again = be.compile_with_model(model, _logits_fn(model, 2.0))(_x())
    assert len(TRACES) == 1
    np.testing.assert_allclose(np.asarray(first), np.asarray(again))
    other = be.compile_with_model(model, _logits_fn(model, 3.0))(_x())  # another setting: traced anew
    assert len(TRACES) == 2
    np.testing.assert_allclose(np.asarray(other), 1.5 * np.asarray(first), rtol=1e-5, atol=1e-6)


def test_compiled_function_reads_the_current_weights_mode_and_preprocessing() -> None:
    model = _model(dropout=0.5).eval()
    be = model.backend
    TRACES.clear()
    make = lambda: be.compile_with_model(model, _logits_fn(model, 1.0))  # noqa: E731  (anew after changes)
    np.testing.assert_allclose(np.asarray(make()(_x())), np.asarray(model(_x())), rtol=1e-5, atol=1e-6)
    model.load_parameters(_model(seed=7).parameters_numpy())  # new weights, same program
    np.testing.assert_allclose(np.asarray(make()(_x())), np.asarray(model(_x())), rtol=1e-5, atol=1e-6)
    assert len(TRACES) == 1
    model.set_preprocessing(0.5, 0.25)  # changes the function: traced anew
    np.testing.assert_allclose(np.asarray(make()(_x())), np.asarray(model(_x())), rtol=1e-5, atol=1e-6)
    assert len(TRACES) == 2
    model.train()  # dropout on: another program, which draws masks (differs from eval)
    train_out = np.asarray(make()(_x()))
    model.eval()
    assert len(TRACES) == 3
    assert not np.allclose(train_out, np.asarray(model(_x())))


def test_closure_keys() -> None:
    model, other = _model(), _model()

    def make(value: Any) -> Any:
        def fn(x: Any) -> Any:
            return model(x) * value

        return fn

    assert closure_key(make(2.0), model) == closure_key(make(2.0), model)
    assert closure_key(make(2.0), model) != closure_key(make(2), model)  # 2 and 2.0 trace differently
    assert closure_key(make(2.0), model) != closure_key(make(2.5), model)
    assert closure_key(make((1, "a")), model) is not None
    # what could change between calls without the key seeing it: no key, compiled per call
    assert closure_key(make(jnp.ones(3)), model) is None
    assert closure_key(make([1.0]), model) is None
    assert closure_key(make(other), model) is None


def test_uncacheable_closure_still_compiles_correctly() -> None:
    model = _model().eval()
    be = model.backend
    for shift in (0.0, 1.0):
        offset = jnp.full((3,), shift)  # an array in the closure: no key, constants of one call
        out = be.compile_with_model(model, lambda x: model(x) + offset)(_x())
        np.testing.assert_allclose(np.asarray(out), np.asarray(model(_x())) + shift, rtol=1e-5, atol=1e-6)


def test_every_preprocessing_change_is_seen() -> None:
    """The key holds the wrapper's attributes by identity; the cache keeps them alive, so a
    replaced attribute's id is never taken by the next one (CPython reuses freed ids)."""
    model = _model().eval()
    be = model.backend
    for i in range(12):
        model.set_preprocessing(0.1 * i, 0.5 + 0.05 * i)
        out = be.compile_with_model(model, _logits_fn(model, 1.0))(_x())
        np.testing.assert_allclose(np.asarray(out), np.asarray(model(_x())), rtol=1e-5, atol=1e-6)
