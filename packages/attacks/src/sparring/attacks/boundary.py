"""The linearised class boundaries around an input: the margins to the other classes and
their input gradients, from one forward pass and C - 1 backward passes.

For logits z = model(x) and label y, column j stands for class k_j = j + [j >= y] (the
classes other than y, in class order)::

    f_j = z_{k_j} - z_y,        w_j = ∇_x f_j

f_j > 0 exactly when class k_j beats y; |f_j| / ||w_j|| is the distance to the linearised
boundary between y and k_j. w_y = ∇_x (z_y - z_y) = 0 needs no backward pass, and
argmin/argmax over the columns break ties as they would over the classes.

DeepFool (Moosavi-Dezfooli et al., CVPR 2016, arXiv:1511.04599) steps to the nearest of
these boundaries; the margin regulariser (Matyasko thesis, eq. 3.18) and the adversary
critic's closest targets (Matyasko thesis, ch. 4) read the same quantities.
"""

from __future__ import annotations

from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Model

from ._losses import one_hot

__all__ = ["column_class", "margin_jacobian"]


def column_class(xp: Any, column: Array, y: Array) -> Array:
    """The class k_j = j + [j >= y] of column j (any shape broadcasting with ``y``)."""
    return column + xp.astype(column >= y, column.dtype)


def margin_jacobian(model: Model, x: Array, y: Array) -> tuple[Array, Array, Array]:
    """``(f, w, z)``: the margins ``f`` ``(B, C - 1)``, their input gradients ``w``
    ``(C - 1, B, *x.shape[1:])`` and the logits ``z`` ``(B, C)``, through
    ``Backend.value_and_jacobian``. No parameter gradient is taken; inside a function that
    is itself differentiated w.r.t. the parameters (a training objective), pass the
    results through ``Backend.stop_gradient``: jax would trace through them."""
    be = model.backend
    xp = be.xp
    num_classes = model.num_classes
    if num_classes < 2:
        raise ConfigError(f"class margins need a model with at least 2 classes, this one has {num_classes}")
    column = xp.reshape(xp.arange(num_classes - 1, device=getattr(y, "device", None)), (1, -1))
    past_y = column >= xp.reshape(y, (-1, 1))  # (B, C - 1): k_j = j + 1

    def margins(v: Array) -> tuple[Array, Array]:
        z = model(v)
        z_y = xp.sum(z * one_hot(xp, y, num_classes, z.dtype), axis=1, keepdims=True)
        return xp.where(past_y, z[:, 1:], z[:, :-1]) - z_y, z

    (f, z), w = be.value_and_jacobian(margins, x, has_aux=True)
    return f, w, z
