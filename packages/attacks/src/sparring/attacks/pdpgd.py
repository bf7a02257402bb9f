"""PDGD and PDPGD: minimum-norm attacks as a two-player game between r and λ (Matyasko 2020, ch. 5).

The attack looks for the smallest ``||r||`` with ``x + r`` misclassified and inside the data
range [lo, hi]. With the margin m(x') = Z_y - max_{j≠y} Z_j (untargeted; targeted:
max_{j≠t} Z_j - Z_t), the surrogate of the constraint m <= 0 is the hinge
g(x') = max(0, m(x')) (target margin δ = 0), and the r-player's proxy Lagrangian is::

    L_r(r, λ) = λ_1 ||r|| + λ_2 g(x + r),      (λ_1, λ_2) on the 2-simplex, λ = λ_1 / λ_2

Each of the ``steps`` iterations k = 0..T-1 (one forward and one backward pass) does:

1. Record ``x + r_k`` if it fools the model (prediction ≠ y; targeted: = y) with a
   smaller norm than the best so far (per sample).
2. Primal step: Adam (β1 = 0.9, β2 = 0.999, ε = 1e-8) on G with learning rate θ_k::

       PDGD:  G = λ̄_1 ∂||r_k|| + λ̄_2 ∇_r g(x + r_k)   r_{k+1} = Π_C( r_k - θ_k m̂ / D )
       PDPGD: G = ∇_r g(x + r_k)                     r_{k+1} = Π_C( prox^D_{θ_k λ̄ ||·||}(r_k - θ_k m̂ / D) )

   with m̂, v̂ Adam's bias-corrected moments of G, D = sqrt(v̂) + ε, λ̄ = λ̄_1 / λ̄_2, and
   Π_C(r) = clip(x + r, lo, hi) - x. prox^D is the proximal point in Adam's metric,
   argmin_z θ_k λ̄ ||z|| + ½ (z - r̂)ᵀ diag(D) (z - r̂) (proximal Adam), computed exactly by
   :mod:`.prox` for L-inf, L2, L1, L0 and group L0 over ``channel_axis``. ∂||r|| is
   r / ||r||_2 (L2), sign(r) (L1), or sign(r) spread evenly over the entries of largest
   magnitude (L-inf).
3. Dual ascent in the log domain on s = log(λ_2 / λ_1), a multiplicative-weights update on
   (λ_1, λ_2) = softmax(0, s): s ← clip(s + θ_λ,k · c_k, ±log(1/ρ)) with c_k = +1 while
   x + r_k is not adversarial and -1 once it is (ρ = ``dual_min_ratio``), then an
   exponential moving average λ̄ ← β_λ λ̄ + (1 - β_λ) softmax(0, s) smooths the weights the
   r-player uses (λ̄_1 / λ̄_2 starts at ``dual_ratio_init``).

Both step sizes fall linearly over the run: θ_k = θ (1 - (1 - d) k / (T - 1)) down to d θ
(d = ``primal_lr_decrease``), and θ_λ,k likewise down to ``dual_lr_decrease`` · θ_λ.
``restarts`` runs start from r = 0, then from r ~ U(-a, a) · (hi - lo) (a = ``random_init``,
clipped to the range, drawn from ``seed``); the smallest adversarial example over all runs is
kept. Minimum-norm attack: returns the smallest successful perturbation per sample; a sample
never fooled returns x unchanged (success False); a clean-misclassified sample gets a zero
perturbation (the first iterate, r = 0, already fools the model). The whole batch runs at
once; on jax each iteration is compiled once per call (``Backend.compile``).

Notes
-----
Step sizes are stated for a [0, 1] range and scaled by hi - lo (the primal learning rate
and the random start), so the same settings suit a [-1, 1] model. The thesis tunes
θ ∈ {0.01, 0.05, 0.1, 0.5, 1.0} per model; 0.1 is the middle of that grid and the default
of the reference code. Where the thesis is silent this follows the reference code
(aam-at/cpgd, and adv_lib's PyTorch port of it): c_k is the sign of the margin and the
log-ratio is clipped to [1e-6, 1e6]; from the port, the dual step decays linearly to a
tenth and the proximal step is taken in Adam's metric (the TensorFlow code applies a plain
prox after the optimiser's step). The port approximates that metric prox by five
forward-backward sub-iterations; here it is solved exactly (on a trained MNIST MLP, 200
iterations: a plain Euclidean prox after the Adam step left L2 perturbations ~50% and L0
~25x larger, five sub-iterations L2 ~9% larger, than the exact metric prox). The thesis writes the hinge as
max(0, -m_y) with m_y = Z_y - max Z_j, a sign slip: the penalty must be positive while the
sample is still classified correctly, as here. The group-L0 operator keeps a group iff
its metric-weighted energy exceeds 2t, the exact minimiser (:mod:`.prox`); with
``channel_axis`` the best iterate is chosen by the number of changed pixels, while
``AttackResult.norms`` reports L0 as changed values.

References
----------
A. Matyasko, "Robust Deep Neural Networks", PhD thesis, NTU 2020, ch. 5 (Algorithms 2 and
3; 500 iterations, Adam, linear decay to 1e-2 of the primal learning rate, dual learning
rate 0.1 in the log domain with an exponential moving average, initial λ = 0.01, random
restarts from U[-0.5, 0.5] on MNIST); A. Matyasko, L.-P. Chau, "PDPGD: Primal-Dual
Proximal Gradient Descent Adversarial Attack", arXiv:2106.01538. P. Melchior, R. Joseph,
F. Moolekamp, "Proximal Adam", arXiv:1910.10094.
"""

from __future__ import annotations

import math
from typing import Any

from sparring.core.errors import ConfigError
from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Model
from sparring.core.records import AttackResult

from ._checks import check_positive_int, prepare
from ._losses import margin
from ._lp import TINY, bcast, check_norm, clip_to_range, lp_norm
from ._result import finish, is_adversarial
from .prox import PROX, prox_group_l0

__all__ = ["pdgd", "pdpgd"]

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8


def _check_settings(
    *,
    steps: int,
    restarts: int,
    random_init: float,
    primal_lr: float,
    primal_lr_decrease: float,
    dual_ratio_init: float,
    dual_lr: float,
    dual_lr_decrease: float,
    dual_ema: float,
    dual_min_ratio: float,
) -> None:
    check_positive_int(steps, "steps")
    check_positive_int(restarts, "restarts")
    for name, value, ok, want in (
        ("random_init", random_init, random_init >= 0, ">= 0"),
        ("primal_lr", primal_lr, primal_lr > 0, "> 0"),
        ("primal_lr_decrease", primal_lr_decrease, 0 < primal_lr_decrease <= 1, "in (0, 1]"),
        ("dual_ratio_init", dual_ratio_init, dual_ratio_init > 0, "> 0"),
        ("dual_lr", dual_lr, dual_lr >= 0, ">= 0"),
        ("dual_lr_decrease", dual_lr_decrease, 0 <= dual_lr_decrease <= 1, "in [0, 1]"),
        ("dual_ema", dual_ema, 0 <= dual_ema < 1, "in [0, 1)"),
        ("dual_min_ratio", dual_min_ratio, 0 < dual_min_ratio <= 1, "in (0, 1]"),
    ):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and ok and math.isfinite(value)):
            raise ConfigError(f"{name} must be {want}, got {value!r}")


def _norm_subgradient(xp: Any, r: Array, norm: str) -> Array:
    """A subgradient of ``||r_b||`` per sample (0 at r = 0)."""
    if norm == "l2":
        n = lp_norm(xp, r, "l2")
        return r / bcast(xp, xp.maximum(n, xp.asarray(TINY, dtype=n.dtype)), r)
    if norm == "l1":
        return xp.sign(r)
    mag = xp.abs(r)  # linf: the average of sign(r_i) e_i over the entries i of largest |r_i|
    top = xp.astype(mag == bcast(xp, lp_norm(xp, r, "linf"), r), r.dtype)
    count = xp.sum(xp.reshape(top, (r.shape[0], -1)), axis=1)
    return xp.sign(r) * top / bcast(xp, count, r)


def _primal_dual(
    model: Model,
    x: Any,
    y: Any,
    *,
    norm: str,
    proximal: bool,
    channel_axis: int | None,
    targeted: bool,
    steps: int,
    restarts: int,
    random_init: float,
    primal_lr: float,
    primal_lr_decrease: float,
    dual_ratio_init: float,
    dual_lr: float,
    dual_lr_decrease: float,
    dual_ema: float,
    dual_min_ratio: float,
    seed: int,
) -> AttackResult:
    """Algorithms 2 (``proximal=False``) and 3 (``proximal=True``) with restarts."""
    _check_settings(
        steps=steps, restarts=restarts, random_init=random_init, primal_lr=primal_lr,
        primal_lr_decrease=primal_lr_decrease, dual_ratio_init=dual_ratio_init, dual_lr=dual_lr,
        dual_lr_decrease=dual_lr_decrease, dual_ema=dual_ema, dual_min_ratio=dual_min_ratio,
    )
    be = model.backend
    xp = be.xp
    x, y, _ = prepare(model, x, y, 0.0)
    lo, hi = model.value_range
    width = hi - lo
    if channel_axis is not None:
        ndim = len(x.shape)
        ok = isinstance(channel_axis, int) and not isinstance(channel_axis, bool) and -ndim <= channel_axis < ndim
        if not ok or channel_axis % ndim == 0:
            raise ConfigError(
                f"channel_axis must be a non-batch axis of x (shape {tuple(x.shape)}), got {channel_axis!r}"
            )
        axis = channel_axis % ndim

        def prox(v: Array, t: Array, metric: Array) -> Array:
            return prox_group_l0(xp, v, t, metric, axis=axis)

        def size(r: Array) -> Array:  # changed pixels
            changed = xp.any(r != 0, axis=axis)
            return xp.sum(xp.reshape(xp.astype(changed, r.dtype), (r.shape[0], -1)), axis=1)
    else:
        op = PROX[norm]

        def prox(v: Array, t: Array, metric: Array) -> Array:
            return op(xp, v, t, metric)

        def size(r: Array) -> Array:
            return lp_norm(xp, r, norm)

    def hinge(r: Array, x0: Array, y0: Array, w_cls: Array) -> tuple[Array, Array]:
        logits = model(x0 + r)
        m = margin(xp, logits, y0)  # max_{j≠y} Z_j - Z_y
        m = m if targeted else -m  # > 0 while the constraint is violated
        g = xp.where(m > 0, m, xp.zeros_like(m))  # max(0, m), gradient 0 at the kink on both backends
        return xp.sum(w_cls * g), logits

    log_max = -math.log(dual_min_ratio)

    def step(s: dict[str, Array], x0: Array, y0: Array, lr: Any, dual_step: Any, t: Any) -> dict[str, Array]:
        """Iteration t (1-based): record r_t if it is the best, then update r and the duals."""
        r = s["r"]
        w_norm, w_cls = s["lam_norm"], s["lam_cls"]  # λ̄_1, λ̄_2
        (_, logits), grad = be.value_and_grad(hinge, r, x0, y0, w_cls if not proximal else xp.ones_like(w_cls),
                                              has_aux=True)
        fooled = is_adversarial(xp, logits, y0, targeted)
        n = size(r)
        better = fooled & (n < s["best_norm"])
        if not proximal:
            grad = grad + bcast(xp, w_norm, r) * _norm_subgradient(xp, r, norm)
        m = _BETA1 * s["m"] + (1.0 - _BETA1) * grad
        v = _BETA2 * s["v"] + (1.0 - _BETA2) * grad * grad
        D = xp.sqrt(v / (1.0 - _BETA2**t)) + _ADAM_EPS  # Adam's diagonal metric
        r_new = clip_to_range(xp, x0 + r - lr * (m / (1.0 - _BETA1**t)) / D, (lo, hi)) - x0
        if proximal:  # proximal Adam: argmin_z θλ||z|| + ½ (z - r̂)ᵀ D (z - r̂), then Π_C
            r_new = clip_to_range(xp, x0 + prox(r_new, lr * w_norm / w_cls, D), (lo, hi)) - x0
        c = xp.where(fooled, -xp.ones_like(w_cls), xp.ones_like(w_cls))
        log_ratio = xp.clip(s["log_ratio"] + dual_step * c, -log_max, log_max)
        lam_cls = 1.0 / (1.0 + xp.exp(-log_ratio))  # softmax(0, s)[1]
        lam_cls = dual_ema * w_cls + (1.0 - dual_ema) * lam_cls
        return {
            "r": r_new, "m": m, "v": v, "log_ratio": log_ratio,
            "lam_norm": 1.0 - lam_cls, "lam_cls": lam_cls,
            "best_x": xp.where(bcast(xp, better, x0), clip_to_range(xp, x0 + r, (lo, hi)), s["best_x"]),
            "best_norm": xp.where(better, n, s["best_norm"]),
        }

    step_fn = be.compile_with_model(model, step)  # jax: one compiled iteration, reused across calls
    keys = be.split(be.key(seed), restarts) if restarts > 1 else ()
    like_b = xp.zeros(x.shape[:1], dtype=x.dtype, device=getattr(x, "device", None))
    s0 = min(max(-math.log(dual_ratio_init), -log_max), log_max)  # log(λ_2 / λ_1) at the start
    lam_cls0 = 1.0 / (1.0 + math.exp(-s0))
    with evaluating(model):
        best_x, best_norm = x, like_b + float("inf")
        for run in range(restarts):
            r0 = xp.zeros_like(x)
            if run > 0 and random_init > 0:
                a = random_init * width
                noise = be.uniform(keys[run], x.shape, low=-a, high=a, dtype=x.dtype)
                r0 = clip_to_range(xp, x + noise, (lo, hi)) - x
            state = {
                "r": r0, "m": xp.zeros_like(x), "v": xp.zeros_like(x),  # Adam on r
                "log_ratio": like_b + s0, "lam_norm": like_b + (1.0 - lam_cls0), "lam_cls": like_b + lam_cls0,
                "best_x": best_x, "best_norm": best_norm,
            }
            for k in range(steps):
                frac = k / max(steps - 1, 1)  # linear decay of both step sizes
                lr = primal_lr * width * (1.0 - (1.0 - primal_lr_decrease) * frac)
                dual_step = dual_lr * (1.0 - (1.0 - dual_lr_decrease) * frac)
                state = step_fn(state, x, y, lr, dual_step, k + 1)
            best_x, best_norm = state["best_x"], state["best_norm"]
        # keep only what an ordinary forward pass confirms (the compiled pass may round differently)
        with be.no_grad():
            confirmed = is_adversarial(xp, model(best_x), y, targeted)
        x_out = xp.where(bcast(xp, confirmed & (best_norm < float("inf")), x), best_x, x)
        spent = steps * restarts
        return finish(model, x, x_out, y, norm=norm, targeted=targeted, gradients=spent, forwards=spent + 1)


def pdgd(
    model: Model,
    x: Any,
    y: Any,
    *,
    norm: str = "l2",
    targeted: bool = False,
    steps: int = 500,
    restarts: int = 1,
    random_init: float = 0.5,
    primal_lr: float = 0.1,
    primal_lr_decrease: float = 0.01,
    dual_ratio_init: float = 0.01,
    dual_lr: float = 0.1,
    dual_lr_decrease: float = 0.1,
    dual_ema: float = 0.9,
    dual_min_ratio: float = 1e-6,
    seed: int = 0,
) -> AttackResult:
    """Primal-dual gradient descent (Algorithm 2): Adam on λ_1 ||r|| + λ_2 max(0, m), duals in the log domain.

    Parameters
    ----------
    model : the classifier; its backend, value range and classes are used.
    x : clean inputs ``(B, *model.input_shape)`` in the model's value range.
    y : true labels ``(B,)``, or target classes when ``targeted``.
    norm : ``"l2"`` (the thesis' use), or ``"l1"`` / ``"linf"`` by subgradients (slower to
        converge: prefer :func:`pdpgd` for those).
    targeted : reach class ``y`` instead of leaving it.
    steps : iterations per run (>= 1), one forward and one backward pass each.
    restarts : runs (>= 1); the first starts at r = 0, the others at random.
    random_init : a of the random starts r ~ U(-a, a) · (hi - lo); 0 starts every run at 0.
    primal_lr : Adam's learning rate θ on r, for a [0, 1] range (scaled by hi - lo).
    primal_lr_decrease : the learning rate falls linearly to this fraction of θ at the last step.
    dual_ratio_init : λ_1 / λ_2 at the start (smaller weighs the constraint more).
    dual_lr : θ_λ, the step of the dual ascent on log(λ_2 / λ_1); 0 keeps λ fixed.
    dual_lr_decrease : the dual step falls linearly to this fraction of θ_λ at the last step.
    dual_ema : β_λ, the moving-average coefficient of the dual weights (0: none).
    dual_min_ratio : ρ, the log-ratio is kept in [log ρ, -log ρ].
    seed : seed of the random starts; the same seed gives the same result.

    Returns
    -------
    AttackResult in ``norm``; ``gradients`` = steps · restarts, ``forwards`` two more (the
    confirming pass and the final check).
    """
    check_norm(norm, ("l2", "l1", "linf"))
    return _primal_dual(
        model, x, y, norm=norm, proximal=False, channel_axis=None, targeted=targeted, steps=steps,
        restarts=restarts, random_init=random_init, primal_lr=primal_lr, primal_lr_decrease=primal_lr_decrease,
        dual_ratio_init=dual_ratio_init, dual_lr=dual_lr, dual_lr_decrease=dual_lr_decrease,
        dual_ema=dual_ema, dual_min_ratio=dual_min_ratio, seed=seed,
    )


def pdpgd(
    model: Model,
    x: Any,
    y: Any,
    *,
    norm: str = "linf",
    channel_axis: int | None = None,
    targeted: bool = False,
    steps: int = 500,
    restarts: int = 1,
    random_init: float = 0.5,
    primal_lr: float = 0.1,
    primal_lr_decrease: float = 0.01,
    dual_ratio_init: float = 0.01,
    dual_lr: float = 0.1,
    dual_lr_decrease: float = 0.1,
    dual_ema: float = 0.9,
    dual_min_ratio: float = 1e-6,
    seed: int = 0,
) -> AttackResult:
    """Primal-dual proximal gradient descent (Algorithm 3): Adam on max(0, m), then prox of θ_k λ ||·||.

    Parameters
    ----------
    norm : ``"linf"``, ``"l2"``, ``"l1"`` or ``"l0"``.
    channel_axis : with ``norm="l0"`` only: minimise the number of changed pixels, the
        entries along this axis of x (e.g. 1 for ``(B, C, H, W)``, -1 for ``(B, H, W, C)``)
        forming one pixel (group L0); None counts single values.

    The other parameters and the result are those of :func:`pdgd`.
    """
    check_norm(norm, ("linf", "l2", "l1", "l0"))
    if channel_axis is not None and norm != "l0":
        raise ConfigError(f"channel_axis groups values for norm='l0' only; got norm={norm!r} (drop channel_axis)")
    return _primal_dual(
        model, x, y, norm=norm, proximal=True, channel_axis=channel_axis, targeted=targeted, steps=steps,
        restarts=restarts, random_init=random_init, primal_lr=primal_lr, primal_lr_decrease=primal_lr_decrease,
        dual_ratio_init=dual_ratio_init, dual_lr=dual_lr, dual_lr_decrease=dual_lr_decrease,
        dual_ema=dual_ema, dual_min_ratio=dual_min_ratio, seed=seed,
    )
