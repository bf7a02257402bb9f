"""Auto-PGD (APGD): PGD with momentum and a step size that tunes itself (L-inf and L2).

Update rule (untargeted; targeted flips the sign of the objective J), with
P(v) = clip_[lo, hi]( x + Π_{B_p(0, ε)}(v - x) ) and dir_inf = sign, dir_2(g) = g / ||g||_2::

    x_0     = P( x + ε · u / ||u||_p )             u ~ U[-1, 1]^d (linf) or N(0, I) (l2), per restart
    η_0     = 2ε                                    (per sample)
    z_{k+1} = P( x_k + η_k · dir_p(∇_x J(x_k)) )
    x_{k+1} = P( x_k + α (z_{k+1} - x_k) + (1 - α)(x_k - x_{k-1}) )      α = 0.75 (α = 1 at k = 0)

Checkpoints w_j = ⌈p_j · steps⌉ with p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06).
At w_j a sample halves its step and goes back to its best point, η ← η/2, x_{w_j} ← x_max
(the iterate with the highest J so far, with its gradient), when

    1. J rose in fewer than ρ · (w_j - w_{j-1}) of the steps since w_{j-1}, or
    2. η was not halved at w_{j-1} and max J did not grow since w_{j-1}.

A sample stops at the first iterate that fools the model; a sample never fooled
returns its highest-loss iterate over all restarts. Clean-misclassified samples keep
x. Each restart (a new random x_0 from ``seed``) runs only on the samples not yet
fooled; on torch each step computes on the unfinished samples only (_active), on jax
the whole step is compiled once per call (``Backend.compile``).

Notes
-----
Condition 1 counts the rises over the w_j - w_{j-1} transitions ending at x_{w_j}
(the paper's sum; the authors' code compares the first one against a zero row);
condition 2 may fire at the first checkpoint (paper: η(w_0) = η(w_1) holds there; the
authors' code skips it). The targeted DLR loss of the paper needs the true label as
well as the target, which a targeted call does not receive: ``targeted=True`` with
``loss="dlr"`` is refused.

References
----------
F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML 2020, arXiv:2003.01690 (Algorithm 1; 100 steps,
α = 0.75, ρ = 0.75, η_0 = 2ε, the DLR loss). Also the APGD part of the EPFL lecture in
``references/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Backend, Key, Model
from sparring.core.records import AttackResult

from ._active import ActiveSet
from ._checks import check_positive_int, prepare
from ._losses import get_loss
from ._lp import TINY, bcast, check_norm, clip_to_range, lp_norm, project_ball, steepest_direction
from ._objective import objective
from ._result import finish, is_adversarial

__all__ = ["apgd", "checkpoints", "halve_step"]

Step = Callable[..., tuple[dict[str, Array], Array]]
"""One APGD iteration over the rows given (see :func:`_make_step`)."""


def checkpoints(steps: int) -> list[int]:
    """The iterations ``0 < w_1 < w_2 < ... < steps`` where APGD may halve its step.

    ``w_j = ⌈p_j · steps⌉`` for the p_j of the paper, computed in hundredths so that no
    rounding moves a checkpoint (0.22 · 100 is 22, not 23); repeated values merge.
    """
    p_prev, p, out = 0, 22, []
    while p <= 100:
        w = -(-p * steps // 100)
        if 0 < w < steps and (not out or w > out[-1]):
            out.append(w)
        p_prev, p = p, p + max(p - p_prev - 3, 6)
    return out


def halve_step(rises: Array, span: float, rho: float, halved: Array, f_max: Array, f_max_ckpt: Array) -> Array:
    """``(B,)`` bool: halve the step at this checkpoint (condition 1 or condition 2).

    ``rises``: steps since the last checkpoint (``span`` of them) where the loss rose;
    ``halved``: the step was halved at the last checkpoint; ``f_max`` / ``f_max_ckpt``:
    the best loss now and at the last checkpoint.
    """
    return (rises < rho * span) | (~halved & (f_max <= f_max_ckpt))


def _start_on_sphere(
    be: Backend, key: Key, x: Array, eps: Array, norm: str, value_range: tuple[float, float]
) -> Array:
    """``x + ε · u / ||u||_p`` clipped to the range: u uniform in [-1, 1] (linf) or normal (l2)."""
    xp = be.xp
    if norm == "linf":
        u = be.uniform(key, x.shape, low=-1.0, high=1.0, dtype=x.dtype)
    else:
        u = be.normal(key, x.shape, dtype=x.dtype)
    n = xp.maximum(lp_norm(xp, u, norm), xp.asarray(TINY, dtype=x.dtype))
    return clip_to_range(xp, x + bcast(xp, eps / n, x) * u, value_range)


def apgd(
    model: Model,
    x: Any,
    y: Any,
    *,
    eps: Any,
    norm: str = "linf",
    steps: int = 100,
    n_restarts: int = 1,
    loss: str = "ce",
    rho: float = 0.75,
    momentum: float = 0.75,
    targeted: bool = False,
    seed: int = 0,
    callback: Callable[[int, Array], None] | None = None,
) -> AttackResult:
    """APGD with ``steps`` steps per restart inside the eps-ball; no step size to tune.

    Parameters
    ----------
    model : the classifier; its backend, value range and classes are used.
    x : clean inputs ``(B, *model.input_shape)`` in the model's value range.
    y : true labels ``(B,)``, or target classes when ``targeted``.
    eps : radius, scalar or ``(B,)``, on the data's own scale; 0 returns x.
    norm : ``"linf"`` or ``"l2"``.
    steps : iterations per restart (>= 1); the checkpoints scale with it.
    n_restarts : random starts (>= 1); each later one attacks the samples still unfooled.
    loss : ``"ce"`` (cross-entropy), ``"dlr"`` (difference of logits ratio, >= 3 classes,
        untargeted only) or ``"margin"``.
    rho : the fraction of rising steps below which the step size is halved (condition 1).
    momentum : α, the weight of the new gradient step; 1 - α goes to the previous step.
    targeted : move towards ``y`` instead of away from it.
    seed : seed of the random starts; the same seed gives the same result.
    callback : called as ``callback(k, x_k)`` after every step of every restart (k = 1..steps).

    Returns
    -------
    AttackResult; ``gradients`` counts every gradient spent, restarts included (steps + 1
    per restart at most), ``forwards`` two more (the clean check and the final check).
    """
    check_norm(norm, ("linf", "l2"))
    check_positive_int(steps, "steps")
    check_positive_int(n_restarts, "n_restarts")
    get_loss(loss)  # unknown names: ConfigError with a suggestion
    if loss == "dlr":
        if targeted:
            raise ConfigError(
                "loss='dlr' with targeted=True is not supported: the targeted DLR loss needs the true "
                "label as well as the target; use loss='ce' or loss='margin' for targeted APGD"
            )
        if model.num_classes < 3:
            raise ConfigError(
                f"the DLR loss needs at least 3 classes (it divides by z_(1) - z_(3)), the model has "
                f"{model.num_classes}; use loss='ce' or loss='margin'"
            )
    if not 0 < rho <= 1:
        raise ConfigError(f"rho must be in (0, 1], got {rho!r}")
    if not 0 < momentum <= 1:
        raise ConfigError(f"momentum must be in (0, 1] (1 = no momentum), got {momentum!r}")
    be = model.backend
    xp = be.xp
    x, y, eps_b = prepare(model, x, y, eps)
    keys = be.split(be.key(seed), n_restarts)
    with evaluating(model):
        with be.no_grad():
            found = is_adversarial(xp, model(x), y, targeted)  # clean-misclassified: keep x
        x_best = x
        f_best = xp.full(x.shape[:1], -float("inf"), dtype=x.dtype, device=getattr(x, "device", None))
        gradients = 0
        evaluate, step = _make_step(model, norm=norm, loss=loss, targeted=targeted, rho=rho)
        for key in keys:
            if ActiveSet(be, found).empty():
                break
            x0 = _start_on_sphere(be, key, x, eps_b, norm, model.value_range)
            x_best, f_best, found, spent = _run(
                model, x, y, x0, eps_b, found, x_best, f_best, evaluate=evaluate, step=step, steps=steps,
                alpha=momentum, targeted=targeted, callback=callback,
            )
            gradients += spent
        return finish(model, x, x_best, y, norm=norm, targeted=targeted, gradients=gradients, forwards=gradients + 1)


def _make_step(model: Model, *, norm: str, loss: str, targeted: bool, rho: float) -> tuple[Callable[..., Any], Step]:
    """``evaluate(x, y) -> (J_i, logits, grad)`` and one APGD step (module docstring), compiled.

    ``step(s, x, y, eps, held, a, mark, span) -> (s', stop)`` runs on the rows given; ``a``
    is the weight of the new gradient step (1 at the first step), ``mark`` says whether
    this iteration is a checkpoint and ``span`` how many steps it closes; rows ``held``
    keep their state; ``stop`` marks the rows done (held, or fooled now).
    """
    be = model.backend
    xp = be.xp
    fn = objective(model, loss, targeted)
    per_sample = get_loss(loss)
    sign = -1.0 if targeted else 1.0
    lo_hi = model.value_range

    def evaluate(x_t: Array, y_t: Array) -> tuple[Array, Array, Array]:
        (_, logits), grad = be.value_and_grad(fn, x_t, y_t, has_aux=True)
        return sign * per_sample(xp, logits, y_t), logits, grad

    def project(v: Array, xc: Array, e: Array) -> Array:
        return clip_to_range(xp, xc + project_ball(xp, v - xc, e, norm), lo_hi)

    def step(
        s: dict[str, Array], xc: Array, y: Array, e: Array, held: Array, a: Any, mark: Array, span: Any
    ) -> tuple[dict[str, Array], Array]:
        x_k = s["x_k"]
        z = project(x_k + bcast(xp, s["eta"], xc) * steepest_direction(xp, s["g"], norm), xc, e)
        x_new = project(x_k + a * (z - x_k) + (1.0 - a) * (x_k - s["x_prev"]), xc, e)
        f_new, logits, g_new = evaluate(x_new, y)
        fooled = is_adversarial(xp, logits, y, targeted)
        better = f_new > s["f_max"]
        nb = bcast(xp, better, xc)
        x_max, g_max = xp.where(nb, x_new, s["x_max"]), xp.where(nb, g_new, s["g_max"])
        f_max = xp.where(better, f_new, s["f_max"])
        rises = s["rises"] + xp.astype(f_new > s["f"], f_new.dtype)
        # at a checkpoint: halve and go back to x_max (never away from a fooling iterate)
        halve = mark & halve_step(rises, span, rho, s["halved"], f_max, s["f_max_ckpt"]) & ~fooled
        nh = bcast(xp, halve, xc)
        new = {
            "x_k": xp.where(nh, x_max, x_new), "x_prev": x_k, "g": xp.where(nh, g_max, g_new),
            "f": xp.where(halve, f_max, f_new), "x_max": x_max, "g_max": g_max, "f_max": f_max,
            "eta": xp.where(halve, 0.5 * s["eta"], s["eta"]),
            "rises": xp.where(mark, xp.zeros_like(rises), rises),
            "f_max_ckpt": xp.where(mark, f_max, s["f_max_ckpt"]),
            "halved": xp.where(mark, halve, s["halved"]),
        }
        if be.dynamic_shapes:  # only unfinished rows were given: nothing to hold
            return new, fooled
        # rows already done (fixed-shape backends) stay as they were
        return {name: xp.where(bcast(xp, held, v), s[name], v) for name, v in new.items()}, held | fooled

    return be.compile_with_model(model, evaluate), be.compile_with_model(model, step)


def _run(
    model: Model,
    x: Array,
    y: Array,
    x0: Array,
    eps: Array,
    found: Array,
    x_best: Array,
    f_best: Array,
    *,
    evaluate: Callable[..., Any],
    step: Step,
    steps: int,
    alpha: float,
    targeted: bool,
    callback: Callable[[int, Array], None] | None,
) -> tuple[Array, Array, Array, int]:
    """One restart from ``x0`` on the samples not yet ``found``.

    Returns the updated best points (first fooling iterate, else highest loss), their
    losses, the fooled mask and the gradients spent.
    """
    be = model.backend
    xp = be.xp
    # x_0: its loss and gradient; samples it already fools are done
    active = ActiveSet(be, found)
    f0, logits0, g0 = evaluate(active.take(x0), active.take(y))
    zeros_b = xp.zeros_like(f_best)
    f0 = active.put(zeros_b, f0)
    g0 = active.put(xp.zeros_like(x), g0)
    done = found | active.put(found, is_adversarial(xp, logits0, active.take(y), targeted))
    state: dict[str, Array] = {
        "x_k": x0, "x_prev": x0, "g": g0, "f": f0,  # iterate, previous iterate, gradient, loss
        "x_max": x0, "g_max": g0, "f_max": f0,  # best iterate of this restart
        "eta": 2.0 * eps,  # step size
        "rises": zeros_b,  # steps since the last checkpoint where the loss rose
        "f_max_ckpt": f0,  # f_max at the last checkpoint
        "halved": xp.zeros_like(found),  # the step was halved at the last checkpoint
    }
    marks = set(checkpoints(steps))
    yes, no = be.asarray(True), be.asarray(False)
    last_mark, spent, part = 0, 1, None
    for k in range(steps):
        if part is None:  # (re)select the rows still running
            active = ActiveSet(be, done)
            if active.empty():
                break
            part = {name: active.take(v) for name, v in state.items()}
            rows = active.take(x), active.take(y), active.take(eps), active.take(done)
        mark = k + 1 in marks
        part, stop = step(part, *rows, 1.0 if k == 0 else alpha, yes if mark else no, float(k + 1 - last_mark))
        last_mark = k + 1 if mark else last_mark
        spent = k + 2
        if bool(xp.any(stop != rows[3])):  # newly fooled rows: write back, select again
            state = {name: active.put(state[name], part[name]) for name in state}
            done, part = active.put(done, stop), None
        if callback is not None:
            callback(k + 1, state["x_k"] if part is None else active.put(state["x_k"], part["x_k"]))
    if part is not None:
        state = {name: active.put(state[name], part[name]) for name in state}
    fooled_now = done & ~found
    x_best = xp.where(bcast(xp, fooled_now, x), state["x_k"], x_best)  # frozen at its fooling iterate
    improve = ~done & (state["f_max"] > f_best)
    x_best = xp.where(bcast(xp, improve, x), state["x_max"], x_best)
    f_best = xp.where(improve, state["f_max"], f_best)
    return x_best, f_best, done, spent
