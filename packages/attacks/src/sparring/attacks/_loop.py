"""The projected first-order loop that PGD, MIM and their variants share.

One step, for every sample still running::

    (J, logits), g = value_and_grad(J)(x_t)          # logits say whether x_t fools the model
    d, state       = direction(g, state, x_t)        # sign(g), g/||g||_2, momentum, ...
    x_{t+1}        = clip_[lo, hi]( x + Π_{B_p(0, ε)}( x_t + α · d - x ) )

A sample stops at the first iterate that fools the model (any point of the ball that
fools it is as good as another); samples never fooled return the last iterate; the
loop ends when none is left. With ``early_stop=False`` every sample runs all steps
(training-time attacks, which maximise a loss rather than look for any fooling point).
On backends with cheap dynamic shapes (torch) each step
runs on the still-active samples only; elsewhere (jax) the batch keeps its shape and
stopped samples are held in place, and the step is one compiled program
(``Backend.compile_with_model``) that later calls reuse. Both give the same result: the
objective is a sum over samples, so a sample's gradient does not depend on which others
are present.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sparring.core.protocols import Array, Model

from ._active import ActiveSet
from ._lp import bcast, clip_to_range, project_ball
from ._objective import objective
from ._result import is_adversarial

__all__ = ["Direction", "Objective", "projected_loop"]

Objective = Callable[[Array, Array], tuple[Any, Array]]
"""``(x, y) -> (J, logits)``: the batch objective to ascend, with the logits as auxiliary."""

Direction = Callable[[Array, Any, Array], tuple[Array, Any]]
"""``(grad, state, x_t) -> (step direction, new state)``; state is None or a ``(B, ...)``
array; ``x_t`` is the current iterate (e.g. to leave out coordinates at a box bound)."""


def projected_loop(
    model: Model,
    x: Array,
    y: Array,
    x_start: Array,
    *,
    eps: Array,
    alpha: Array,
    steps: int,
    norm: str,
    loss: str | Objective,
    targeted: bool,
    direction: Direction,
    callback: Callable[[int, Array], None] | None = None,
    early_stop: bool = True,
) -> tuple[Array, int]:
    """Run up to ``steps`` projected steps from ``x_start``.

    ``eps`` and ``alpha`` are ``(B,)``. ``loss`` names a loss of :mod:`._losses` or is
    an objective ``(x, y) -> (sum of per-sample values, logits)`` to ascend (``y`` is
    then whatever that objective needs, one row per sample; give ``early_stop=False``
    since "fooled" means nothing for it). Call inside ``evaluating``. Returns the final
    iterates and the number of steps run (the gradients spent per sample, at most).
    """
    be = model.backend
    xp = be.xp
    fn = loss if callable(loss) else objective(model, loss, targeted)
    value_range = model.value_range

    def step(x_t: Array, x0: Array, e: Array, y_t: Array, a: Array, state: Any, done: Array) -> tuple[Any, ...]:
        (_, logits), grad = be.value_and_grad(fn, x_t, y_t, has_aux=True)
        stop = done | is_adversarial(xp, logits, y_t, targeted) if early_stop else done
        d, new_state = direction(grad, state, x_t)
        x_next = clip_to_range(xp, x0 + project_ball(xp, x_t + bcast(xp, a, x_t) * d - x0, e, norm), value_range)
        return xp.where(bcast(xp, stop, x_t), x_t, x_next), stop, new_state

    run_step = be.compile_with_model(model, step)  # jax: one program per step, reused across calls
    x_adv = x_start
    found = xp.zeros(x.shape[:1], dtype=xp.bool, device=getattr(x, "device", None))
    state: Any = None
    steps_run = 0
    for t in range(1, steps + 1):
        active = ActiveSet(be, found if early_stop else None)  # without early stop no sample finishes
        if active.empty():
            break
        x_new, stop, new_state = run_step(
            active.take(x_adv), active.take(x), active.take(eps), active.take(y), active.take(alpha),
            active.take(state), active.take(found),
        )
        x_adv = active.put(x_adv, x_new)
        found = active.put(found, stop)
        if new_state is not None:  # step 1 runs on every sample: its state is full-batch
            state = active.put(state, new_state)
        steps_run = t
        if callback is not None:
            callback(t, x_adv)
    return x_adv, steps_run
