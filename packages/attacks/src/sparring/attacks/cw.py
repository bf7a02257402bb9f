"""Carlini & Wagner L2 (C&W): the smallest L2 perturbation, by Adam in tanh space.

With the model's value range [lo, hi], h = (hi - lo)/2, o = (hi + lo)/2, each sample is
written ``x' = h · tanh(w) + o`` (always inside the range; w_0 = atanh(0.999999 · (x - o)/h),
i.e. x) and Adam (β1 = 0.9, β2 = 0.999, 1e-8) minimises, per sample::

    L(w) = ||x' - x||_2^2 + c · f(x'),    f(x') = max(Z_y - max_{j≠y} Z_j, -κ)       (untargeted)
                                          f(x') = max(max_{j≠t} Z_j - Z_t, -κ)       (targeted, t = y)

    m_t = β1 m_{t-1} + (1 - β1) ∇_w L,   v_t = β2 v_{t-1} + (1 - β2) (∇_w L)^2
    w_t = w_{t-1} - lr · sqrt(1 - β2^t) / (1 - β1^t) · m_t / (sqrt(v_t) + 1e-8)

Z are the logits. Adam takes the form of the reference's optimiser
(``tf.train.AdamOptimizer``: bias corrections folded into the step size, ε added to
sqrt(v_t); torch.optim.Adam adds it to sqrt(v_t / (1 - β2^t))). Every iterate that fools
the model by the margin κ and is closer than the best so far is kept.
``binary_search_steps`` runs (w and Adam restart from x each time) search c per sample:
after a run that found an adversarial example c becomes the midpoint of [largest failing
c (or 0), smallest successful c]; after a failure c grows ×10 until some run has
succeeded, then takes the midpoint likewise; with 10 or more search steps the last run
uses the smallest successful c. Every steps/10 iterations a sample's loss is compared
with its loss at the previous check; if it did not fall below 0.9999 times that, the
sample's run stops (abort early).

Minimum-norm attack: returns the smallest successful perturbation per sample; a sample
never fooled returns x unchanged (success False); a clean-misclassified sample gets a
zero perturbation. The whole batch is handled at once, each sample with its own c; on
torch each Adam step runs on the samples still running, on jax it is compiled once per
call (``Backend.compile``).

Notes
-----
The early abort is decided per sample, as the reference code does at its default batch
size of 1 (for larger batches it sums the losses), so a sample's result does not depend
on the rest of the batch. The distance is measured to x itself, not to its image
h · tanh(w_0) + o (1e-6 apart). f follows the runner-up logit, so on a multi-class
model C&W may settle on the runner-up's boundary when another class's is nearer.

References
----------
N. Carlini, D. Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P
2017, arXiv:1608.04644, and its code (nicholas-carlini/nn_robust_attacks, l2_attack.py):
lr 0.01, initial c = 1e-3, 9 binary search steps, κ = 0, abort early.
"""

from __future__ import annotations

from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Model
from sparring.core.records import AttackResult

from ._active import ActiveSet
from ._checks import check_positive_int, prepare
from ._losses import margin, one_hot
from ._lp import bcast, clip_to_range
from ._result import finish, is_adversarial

__all__ = ["cw_l2"]

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8
_NO_BOUND = 1e10  # the reference's "no successful c yet" upper bound


def cw_l2(
    model: Model,
    x: Any,
    y: Any,
    *,
    targeted: bool = False,
    confidence: float = 0.0,
    initial_const: float = 1e-3,
    binary_search_steps: int = 9,
    steps: int = 1000,
    lr: float = 0.01,
    abort_early: bool = True,
) -> AttackResult:
    """C&W L2 with a per-sample binary search over c; returns the smallest adversarial found.

    Parameters
    ----------
    model : the classifier; its backend, value range and classes are used.
    x : clean inputs ``(B, *model.input_shape)`` in the model's value range.
    y : true labels ``(B,)``, or target classes when ``targeted``.
    targeted : reach class ``y`` instead of leaving it.
    confidence : κ, the logit margin an iterate must win by to count (0: any misclassification).
    initial_const : c of the first search step, for every sample.
    binary_search_steps : runs of Adam, each with its own c per sample (>= 1).
    steps : Adam iterations per run (>= 1).
    lr : Adam's learning rate on w.
    abort_early : stop a sample's run once its loss stalls (checked every steps/10 iterations).

    Returns
    -------
    AttackResult in L2; ``gradients`` is the number of Adam iterations run over all
    search steps, ``forwards`` two more (the clean check and the final check).
    """
    check_positive_int(binary_search_steps, "binary_search_steps")
    check_positive_int(steps, "steps")
    for name, value, ok in (
        ("confidence", confidence, confidence >= 0),
        ("initial_const", initial_const, initial_const > 0),
        ("lr", lr, lr > 0),
    ):
        if not ok:
            raise ConfigError(f"{name} must be {'>= 0' if name == 'confidence' else '> 0'}, got {value!r}")
    be = model.backend
    xp = be.xp
    x, y, _ = prepare(model, x, y, 0.0)
    lo, hi = model.value_range
    half, mid = (hi - lo) / 2.0, (hi + lo) / 2.0  # h and o
    w0 = xp.atanh(xp.clip((x - mid) / half, -1.0, 1.0) * 0.999999)
    sign = 1.0 if targeted else -1.0  # f = max(sign · margin, -κ)
    shift = -confidence if targeted else confidence  # the κ-margin test moves Z_y by this

    def loss_fn(w: Array, x_t: Array, y_t: Array, c: Array) -> tuple[Array, tuple[Array, ...]]:
        x_adv = half * xp.tanh(w) + mid  # in [lo, hi] up to rounding: the result is clipped once, at the end
        d = xp.reshape(x_adv - x_t, (x_t.shape[0], -1))
        dist = xp.sum(d * d, axis=1)  # squared L2
        logits = model(x_adv)
        f = xp.maximum(sign * margin(xp, logits, y_t), xp.asarray(-confidence, dtype=dist.dtype))
        per = dist + c * f
        return xp.sum(per), (logits, x_adv, dist, per)

    def fools(logits: Array, y_t: Array) -> Array:
        if shift:
            logits = logits + shift * one_hot(xp, y_t, logits.shape[1], logits.dtype)
        return is_adversarial(xp, logits, y_t, targeted)

    def adam_step(
        s: dict[str, Array], x_t: Array, y_t: Array, c: Array, held: Array, t: Any, check: Array
    ) -> tuple[dict[str, Array], Array]:
        """One Adam iteration on the rows given; rows ``held`` keep their state."""
        (_, (logits, x_adv, dist, per)), grad = be.value_and_grad(loss_fn, s["w"], x_t, y_t, c, has_aux=True)
        hit = fools(logits, y_t)
        closer = hit & (dist < s["best_dist"])
        m = _BETA1 * s["m"] + (1.0 - _BETA1) * grad
        v = _BETA2 * s["v"] + (1.0 - _BETA2) * grad * grad
        step = (lr * (1.0 - _BETA2**t) ** 0.5 / (1.0 - _BETA1**t)) * m / (xp.sqrt(v) + _ADAM_EPS)
        new = {
            "w": s["w"] - step, "m": m, "v": v,
            "best_x": xp.where(bcast(xp, closer, x_adv), x_adv, s["best_x"]),
            "best_dist": xp.where(closer, dist, s["best_dist"]),
            "prev": xp.where(check, per, s["prev"]),
            "hit": s["hit"] | hit,
        }
        stalled = held | (check & (per > 0.9999 * s["prev"]))
        if be.dynamic_shapes:  # only unfinished rows were given: nothing to hold
            return new, stalled
        return {name: xp.where(bcast(xp, held, v), s[name], v) for name, v in new.items()}, stalled

    step_fn = be.compile_with_model(model, adam_step)  # jax: one compiled step, reused across calls
    check_every = max(steps // 10, 1)
    yes, no = be.asarray(True), be.asarray(False)
    with evaluating(model):
        with be.no_grad():
            fooled0 = is_adversarial(xp, model(x), y, targeted)  # zero perturbation suffices
        like_b = xp.zeros(x.shape[:1], dtype=x.dtype, device=getattr(x, "device", None))
        best_x, best_dist = x, like_b + float("inf")
        const, lower, upper = like_b + initial_const, like_b, like_b + _NO_BOUND
        gradients = 0
        for search in range(binary_search_steps):
            if binary_search_steps >= 10 and search == binary_search_steps - 1:
                const = xp.where(upper < _NO_BOUND, upper, const)
            state: dict[str, Array] = {
                "w": w0, "m": xp.zeros_like(x), "v": xp.zeros_like(x),  # Adam on w
                "best_x": best_x, "best_dist": best_dist,
                "prev": like_b + float("inf"),  # loss at the last abort check
                "hit": xp.zeros_like(fooled0),  # an adversarial example in this run
            }
            done, steps_run, part = fooled0, 0, None
            for t in range(1, steps + 1):
                if part is None:  # (re)select the rows still running: rows stall only at checks
                    active = ActiveSet(be, done)
                    if active.empty():
                        break
                    part = {name: active.take(v) for name, v in state.items()}
                    rows = active.take(x), active.take(y), active.take(const), active.take(done)
                check = abort_early and (t - 1) % check_every == 0
                part, stalled = step_fn(part, *rows, t, yes if check else no)
                steps_run = t
                if check:
                    state = {name: active.put(state[name], part[name]) for name in state}
                    done, part = active.put(done, stalled), None
            if part is not None:
                state = {name: active.put(state[name], part[name]) for name in state}
            gradients += steps_run
            best_x, best_dist, hit = state["best_x"], state["best_dist"], state["hit"]
            # binary search on c, per sample (reference: l2_attack.py)
            upper = xp.where(hit, xp.minimum(upper, const), upper)
            lower = xp.where(hit, lower, xp.maximum(lower, const))
            bounded = upper < 1e9
            const = xp.where(bounded, (lower + upper) / 2.0, xp.where(hit, const, const * 10.0))
        found = best_dist < float("inf")
        x_out = xp.where(bcast(xp, found & ~fooled0, x), clip_to_range(xp, best_x, (lo, hi)), x)
        return finish(model, x, x_out, y, norm="l2", targeted=targeted, gradients=gradients, forwards=gradients + 1)
