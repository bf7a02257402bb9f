"""Deep margin maximisation: multiclass hinge + C · margin sensitivity (double back-prop).

    L = mean_i [ max_{j≠y_i} (1 + f_j(x_i) - f_{y_i}(x_i))_+  +  C · ε(x_i, y_i) ]
    ε(x, y) = max_{j≠y} ‖∇_x f_y(x) - ∇_x f_j(x)‖_q

with ``f`` the logits. ε is the *margin sensitivity*: the first-order l_p distance of
``x`` to the decision boundary between ``y`` and ``j`` is ``(f_y - f_j) / ‖∇f_y - ∇f_j‖_q``
with q the dual norm of p (1/p + 1/q = 1, thesis Eq. 3.13, 3.16-3.17), so shrinking the
q-norm of the gradient difference widens the l_p margin:

- ``norm="l2"``: ‖·‖_2 of the gradient difference, the l_2 margin (p = q = 2); C = 0.1.
- ``norm="l1"``: ‖·‖_1 of the gradient difference, the l_∞ margin (p = ∞, q = 1: "minimizing
  l_1-norm corresponds to the maximization of l_∞-distance to the decision boundary"); C = 0.01.

Reference: A. Matyasko, "Towards deep neural networks robust to adversarial examples"
(PhD thesis, Nanyang Technological University, 2020, doi:10.32657/10356/143316), chapter 3
(``references/matyasko-2020-robust-dnn-thesis.txt``): Eq. 3.18 (line 830) with ε defined
on line 832; C = 0.1 (l2) and 0.01 (l1) chosen on MNIST (lines 880, 915). Reference code:
github.com/aam-at/margin_maximization (``mnist/margin.py``, ``train_margin.py``).

Notes
-----
- Sign of the hinge. Eq. 3.18 as printed reads ``(1 + f_{y_i} - f_j)_+``, which rewards a
  *smaller* true logit; the robust problem it bounds (Eq. 3.19, line 838), the binary
  case (Eq. 3.14) and the reference code (lasagne's ``multiclass_hinge_loss``) all use
  the Crammer-Singer hinge ``max_{j≠y} (1 + f_j - f_y)_+``, implemented here.
- The sum over the training set is a mean over the batch (as in the reference code); it
  rescales the loss by 1/B and leaves the minimiser unchanged.
- ``squared=True`` (l2 only) penalises ``‖·‖_2²`` as the reference Theano code does; the
  default follows Eq. 3.18 (the norm itself). The thesis's C values were tuned with the code.
- Cost. ε needs ∇_x f_j for every class j. The arg-max class j* of the gradient-difference
  norm is chosen first, without parameter gradients
  (:func:`sparring.attacks.boundary.margin_jacobian`: one forward pass and K - 1 backward
  passes for the gradients of z_j - z_y, batched over classes on jax), then
  ``∇_x Σ_i (f_{y_i} - f_{j*_i})(x_i)`` is taken once more with
  ``Backend.input_gradient`` (one forward and one double-backward pass) so ε stays
  differentiable w.r.t. the parameters. The max's (sub)gradient is that of its arg-max,
  so this equals differentiating all K differences (K double-backward passes) for about
  the price of one, plus the logits' own forward pass: 3 forward passes per step in all.
  This is the reference code's scheme. Per-sample gradients come from the gradient of a
  batch sum, so the model must treat samples independently (no batch-norm in training
  mode); with dropout the selection pass sees another dropout mask than the other two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparring.attacks.boundary import column_class, margin_jacobian
from sparring.attacks.losses import one_hot
from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Model

from .base import Objective, check_eps

__all__ = ["MarginMaximization", "margin_maximization", "multiclass_hinge", "margin_sensitivity", "DEFAULT_C"]

DEFAULT_C = {"l2": 0.1, "l1": 0.01}
"""The thesis's C per norm (MNIST, validation-selected)."""


def multiclass_hinge(xp: Any, logits: Array, y: Array) -> Array:
    """Per-sample Crammer-Singer hinge ``max_{j≠y} (1 + z_j - z_y)_+``, shape ``(B,)``."""
    mask = one_hot(xp, y, logits.shape[1], logits.dtype)
    z_y = xp.sum(logits * mask, axis=1)
    z_other = xp.max(xp.where(mask > 0, -float("inf"), logits), axis=1)
    return xp.clip(1.0 + z_other - z_y, 0.0, None)


def _norms(xp: Any, d: Array, norm: str, squared: bool) -> Array:
    """``‖d‖`` over the last axis; the l2 root has a finite (zero) gradient at d = 0."""
    if norm == "l1":
        return xp.sum(xp.abs(d), axis=-1)
    s = xp.sum(d * d, axis=-1)
    if squared:
        return s
    positive = s > 0
    return xp.where(positive, xp.sqrt(xp.where(positive, s, 1.0)), 0.0)


def margin_sensitivity(model: Model, x: Array, y: Array, *, norm: str = "l2", squared: bool = False) -> Array:
    """Per-sample ``ε(x_i, y_i) = max_{j≠y_i} ‖∇_x f_{y_i}(x_i) - ∇_x f_j(x_i)‖_q``, shape ``(B,)``,
    differentiable w.r.t. the model parameters (see the module notes for the cost)."""
    be = model.backend
    xp = be.xp
    b = x.shape[0]
    # 1. which j maximises the norm: the gradients of z_j - z_y without parameter gradients
    _, w, logits = margin_jacobian(model, x, y)  # (B, K - 1), (K - 1, B, ...), (B, K)
    k = logits.shape[1]
    scores = _norms(xp, xp.reshape(be.stop_gradient(w), (k - 1, b, -1)), norm, squared)  # (K - 1, B)
    j_star = column_class(xp, xp.argmax(scores, axis=0), y)  # (B,), never y
    mask = one_hot(xp, y, k, logits.dtype)
    # 2. the chosen differences again, by double back-prop
    weights = be.stop_gradient(mask - one_hot(xp, j_star, k, mask.dtype))  # (B, K): e_y - e_j*
    grad = model.backend.input_gradient(lambda v: xp.sum(model(v) * xp.astype(weights, logits.dtype)), x)
    return _norms(xp, xp.reshape(grad, (b, -1)), norm, squared)


@dataclass(frozen=True)
class MarginMaximization(Objective):
    """Eq. 3.18 of the Matyasko thesis (see the module docstring).

    Args:
        norm: ``"l2"`` (‖·‖_2 of the gradient differences: the l_2 margin) or ``"l1"``
            (‖·‖_1: the l_∞ margin).
        lam: C, the weight of the margin sensitivity; None gives the thesis's value for
            ``norm`` (0.1 for l2, 0.01 for l1). 0 leaves the multiclass hinge alone.
        squared: penalise ``‖·‖_2²`` as the reference code does (l2 only).
    """

    norm: str = "l2"
    lam: float | None = None
    squared: bool = False

    def __post_init__(self) -> None:
        if self.norm not in DEFAULT_C:
            raise ConfigError(f"margin: norm must be 'l2' or 'l1', got {self.norm!r}")
        if self.lam is None:
            object.__setattr__(self, "lam", DEFAULT_C[self.norm])
        object.__setattr__(self, "lam", check_eps("lam", self.lam))
        if not isinstance(self.squared, bool):
            raise ConfigError(f"margin: squared must be True or False, got {self.squared!r}")
        if self.squared and self.norm != "l2":
            raise ConfigError("margin: squared=True squares the l2 norm only; use norm='l2' or squared=False")

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        xp = model.backend.xp
        if model.num_classes < 2:
            raise ConfigError(f"margin needs at least 2 classes, the model has {model.num_classes}")
        logits = model(x)
        loss = xp.mean(multiclass_hinge(xp, logits, y))
        if self.lam:
            sens = margin_sensitivity(model, x, y, norm=self.norm, squared=self.squared)
            loss = loss + self.lam * xp.mean(xp.astype(sens, loss.dtype))
        return loss, logits


def margin_maximization(norm: str = "l2", lam: float | None = None, squared: bool = False) -> MarginMaximization:
    return MarginMaximization(norm=norm, lam=lam, squared=squared)
