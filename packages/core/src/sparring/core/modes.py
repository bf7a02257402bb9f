"""The context every attack and evaluation runs in.

``evaluating(model)`` puts the model in evaluation mode (dropout off, BatchNorm on its
running statistics, so an attack never updates them) and afterwards restores every
submodule's own train/eval flag, whatever mix the caller had set. Gradients of the
parameters are never requested by attacks (``Backend.value_and_grad`` differentiates
w.r.t. the input only), so none are left behind.

A model may offer ``enter_eval()``: eval mode, returning the :meth:`mode_state` from
before, in one pass over its submodules (the jax models: one walk of the nnx graph
instead of two, ~0.3 ms a call).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .protocols import Model

__all__ = ["evaluating"]


@contextmanager
def evaluating(model: Model) -> Iterator[Model]:
    """Run the body with ``model`` in eval mode; restore each submodule's mode after."""
    enter = getattr(model, "enter_eval", None)
    if enter is not None:
        state = enter()
    else:
        state = model.mode_state()
        model.eval()
    try:
        yield model
    finally:
        model.restore_mode(state)
