"""Sanity report: signs that a robustness number comes from gradient masking.

A model can look robust because the gradient attacks cannot see its loss surface
(zero, shattered or saturated gradients) rather than because it is robust. Following
the checklist of Carlini et al. (2019) and the warning signs of Athalye et al. (2018),
:func:`sanity_report` measures, on a batch ``(x, y)`` at radius ``eps``:

(a) **zero gradients**: the fraction of samples whose input gradient of the CE loss
    has ``||∇_x L||_2 <= 1e-12``; flagged above ``zero_grad_tol`` (5%).
(b) **gradient-free beats gradient**: the fraction of samples fooled by a random search
    (``random_samples`` random points of the eps-sphere per sample, corners for linf:
    :func:`random_search`) but by neither PGD run; flagged above ``gap_tol`` (2%). An attack that ignores the
    gradient should never do better than one that follows it.
(c) **unbounded attack does not win**: robust accuracy under PGD at a radius that covers
    the whole data range (``large_eps``: ``hi - lo`` for linf, ``(hi - lo)·sqrt(d)`` for
    l2, ``(hi - lo)·d`` for l1); flagged above ``large_eps_tol`` (1%): with the whole
    range allowed any image can be reached, so accuracy must fall to ~0.
(d) **not converged**: robust accuracy under PGD with ``steps`` vs ``long_steps`` steps
    (step size ``2.5·ε/steps`` each, Madry et al.'s rule, so both can cross the ball);
    flagged when the long run is lower by more than ``convergence_tol`` (3 points).

Robust accuracy counts a sample robust when it is classified correctly and the attack
does not fool it. The attacks are :func:`sparring.attacks.pgd.pgd` (no random start,
so a zero gradient leaves it where it is) and :func:`random_search`.

References
----------
A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of Security",
ICML 2018, arXiv:1802.00420 (section 3.1, "characteristics of obfuscated gradients").
N. Carlini et al., "On Evaluating Adversarial Robustness", 2019, arXiv:1902.06705.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError, InvalidInputError
from sparring.core.modes import evaluating
from sparring.core.protocols import Model
from sparring.core.records import AttackResult

from ._checks import check_positive_int, prepare
from ._lp import TINY, bcast, check_norm, clip_to_range, lp_norm, random_in_ball
from ._objective import objective
from ._result import finish, is_adversarial
from .pgd import pgd

__all__ = ["SanityReport", "sanity_report", "random_search"]

ZERO_GRAD = 1e-12
"""A per-sample input gradient with L2 norm at most this counts as zero."""


def random_search(
    model: Model,
    x: Any,
    y: Any,
    *,
    eps: Any,
    norm: str = "linf",
    samples: int = 20,
    surface: bool = True,
    targeted: bool = False,
    seed: int = 0,
) -> AttackResult:
    """Gradient-free baseline: ``samples`` random points of the eps-ball per sample.

    Tries ``x`` itself, then ``clip(x + δ_s, lo, hi)`` for ``s = 1..samples`` and keeps the
    first point that fools the model; samples never fooled return ``x``. With ``surface``
    (default) ``δ_s`` lies on the sphere ``||δ||_p = ε``: random corners ``ε · sign`` for
    linf, ``ε · u / ||u||_p`` with ``u ~ U(B_p)`` for l2 and l1 (both uniform on the
    sphere); these fool far more often than interior points (linf MNIST digits: about
    twice as often). ``surface=False`` draws ``δ_s ~ U(B_p(0, ε))``
    (:func:`._lp.random_in_ball`). ``norm`` is ``"linf"``, ``"l2"`` or ``"l1"``.

    Returns
    -------
    AttackResult with no gradients and at most ``samples + 2`` forward passes per sample.
    """
    check_norm(norm, ("linf", "l2", "l1"))
    check_positive_int(samples, "samples")
    be = model.backend
    xp = be.xp
    x, y, eps_b = prepare(model, x, y, eps)
    keys = be.split(be.key(seed), samples)
    with evaluating(model), be.no_grad():
        found = is_adversarial(xp, model(x), y, targeted)
        best = x
        spent = 1
        for key in keys:
            if bool(xp.all(found)):
                break
            delta = random_in_ball(be, key, x, eps_b, norm)
            if surface and norm == "linf":
                delta = bcast(xp, eps_b, x) * xp.sign(delta)
            elif surface:
                n = xp.maximum(lp_norm(xp, delta, norm), xp.asarray(TINY, dtype=x.dtype))
                delta = delta * bcast(xp, eps_b / n, x)
            x_r = clip_to_range(xp, x + delta, model.value_range)
            hit = ~found & is_adversarial(xp, model(x_r), y, targeted)
            best = xp.where(bcast(xp, hit, x), x_r, best)
            found = found | hit
            spent += 1
        return finish(model, x, best, y, norm=norm, targeted=targeted, gradients=0, forwards=spent)


@dataclass(frozen=True)
class SanityReport:
    """What :func:`sanity_report` measured (fractions in [0, 1]) and the flags it raised.

    Attributes:
        eps, norm: the threat model checked; ``large_eps`` the radius of check (c).
        samples: number of samples.
        clean_accuracy: accuracy on the clean inputs.
        zero_gradient_fraction: samples whose CE input gradient is zero (check a).
        pgd_accuracy / pgd_long_accuracy: robust accuracy under PGD with ``steps`` and
            ``long_steps`` steps (check d).
        random_accuracy: robust accuracy under the random search (check b).
        random_only_fraction: samples fooled by the random search and by neither PGD run.
        large_eps_accuracy: robust accuracy under PGD at ``large_eps`` (check c).
        flags: short names of the raised flags (``"zero-gradients"``,
            ``"random-beats-pgd"``, ``"large-eps-not-zero"``, ``"not-converged"``).
        warnings: one sentence per flag, in the same order: what it means, what to try.
    """

    eps: float
    norm: str
    samples: int
    steps: int
    long_steps: int
    clean_accuracy: float
    zero_gradient_fraction: float
    pgd_accuracy: float
    pgd_long_accuracy: float
    random_accuracy: float
    random_only_fraction: float
    large_eps: float
    large_eps_accuracy: float
    flags: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """No flag raised."""
        return not self.flags

    def to_text(self) -> str:
        """A small readable report."""
        pct = lambda v: f"{100 * v:5.1f}%"  # noqa: E731
        lines = [
            f"sanity report: {self.samples} samples, {self.norm} eps={self.eps:g}",
            f"  clean accuracy                        {pct(self.clean_accuracy)}",
            f"  zero input gradients (CE)             {pct(self.zero_gradient_fraction)}",
            f"  PGD-{self.steps:<4d} robust accuracy             {pct(self.pgd_accuracy)}",
            f"  PGD-{self.long_steps:<4d} robust accuracy             {pct(self.pgd_long_accuracy)}",
            f"  random search robust accuracy         {pct(self.random_accuracy)}",
            f"  fooled by random search, not by PGD   {pct(self.random_only_fraction)}",
            f"  PGD at eps={self.large_eps:<10.4g} robust accuracy {pct(self.large_eps_accuracy)}",
        ]
        if self.ok:
            lines.append("no sign of gradient masking")
        else:
            lines.extend(f"WARNING [{f}] {w}" for f, w in zip(self.flags, self.warnings))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _diameter(model: Model, norm: str) -> float:
    """Radius that covers the whole data range in ``norm``."""
    lo, hi = model.value_range
    d = math.prod(int(s) for s in model.input_shape)
    return float((hi - lo) * {"linf": 1.0, "l2": math.sqrt(d), "l1": float(d)}[norm])


def _fraction(tol: Any, name: str) -> float:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0.0 <= tol < 1.0:
        raise ConfigError(f"{name} must be a fraction in [0, 1), got {tol!r}")
    return float(tol)


def sanity_report(
    model: Model,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 10,
    long_steps: int = 100,
    random_samples: int = 20,
    large_eps: float | None = None,
    loss: str = "ce",
    seed: int = 0,
    batch_size: int = 256,
    zero_grad_tol: float = 0.05,
    gap_tol: float = 0.02,
    large_eps_tol: float = 0.01,
    convergence_tol: float = 0.03,
) -> SanityReport:
    """Run checks (a)-(d) of the module docstring on ``(x, y)`` at radius ``eps``.

    Parameters
    ----------
    model : the classifier.
    x, y : clean inputs ``(N, *model.input_shape)`` and labels ``(N,)`` (numpy or backend).
    eps : the radius whose robustness is in question (a scalar > 0).
    norm : ``"linf"``, ``"l2"`` or ``"l1"``.
    steps, long_steps : PGD steps of the short and the long run (``long_steps > steps``).
    random_samples : random points of the ball per sample in the random search.
    large_eps : radius of check (c); None = the whole data range (module docstring).
    loss : loss of the PGD runs (``"ce"``, ``"margin"``, ``"dlr"``); check (a) always uses CE.
    seed : seed of the random search.
    batch_size : samples per batch.
    zero_grad_tol, gap_tol, large_eps_tol, convergence_tol : flag thresholds (fractions).

    Returns
    -------
    SanityReport; ``report.flags`` is empty when nothing suspicious was seen.
    """
    check_norm(norm, ("linf", "l2", "l1"))
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise ConfigError(f"eps must be a finite number > 0 (the radius to check), got {eps!r}")
    check_positive_int(steps, "steps")
    check_positive_int(long_steps, "long_steps", minimum=steps + 1)
    check_positive_int(random_samples, "random_samples")
    check_positive_int(batch_size, "batch_size")
    tols = {n: _fraction(v, n) for n, v in (("zero_grad_tol", zero_grad_tol), ("gap_tol", gap_tol),
                                             ("large_eps_tol", large_eps_tol), ("convergence_tol", convergence_tol))}
    big = _diameter(model, norm) if large_eps is None else large_eps
    if isinstance(big, bool) or not isinstance(big, (int, float)) or not math.isfinite(big) or big <= eps:
        raise ConfigError(f"large_eps must be a finite number > eps ({eps}), got {large_eps!r}")
    be = model.backend
    xp = be.xp
    x_np = x if isinstance(x, np.ndarray) else be.to_numpy(be.asarray(x))
    y_np = y if isinstance(y, np.ndarray) else be.to_numpy(be.asarray(y))
    if len(x_np) != len(y_np) or len(x_np) == 0:
        raise InvalidInputError(f"x and y must hold the same, non-zero number of samples: {len(x_np)} vs {len(y_np)}")

    def robust(result: AttackResult) -> np.ndarray:
        return ~be.to_numpy(result.success)

    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("clean", "zero", "short", "long", "random", "big")}
    for start in range(0, len(x_np), batch_size):
        xb, yb, _ = prepare(model, x_np[start : start + batch_size], y_np[start : start + batch_size], 0.0)
        with evaluating(model):
            (_, logits), grad = be.value_and_grad(objective(model, "ce", False), xb, yb, has_aux=True)
        cols["clean"].append(~be.to_numpy(is_adversarial(xp, logits, yb, False)))
        cols["zero"].append(be.to_numpy(lp_norm(xp, grad, "l2")) <= ZERO_GRAD)
        cols["short"].append(robust(pgd(model, xb, yb, eps=eps, norm=norm, steps=steps, rel_step_size=2.5 / steps,
                                        loss=loss)))
        cols["long"].append(robust(pgd(model, xb, yb, eps=eps, norm=norm, steps=long_steps,
                                       rel_step_size=2.5 / long_steps, loss=loss)))
        cols["random"].append(robust(random_search(model, xb, yb, eps=eps, norm=norm, samples=random_samples,
                                                   seed=seed + start)))
        cols["big"].append(robust(pgd(model, xb, yb, eps=big, norm=norm, steps=steps, rel_step_size=2.5 / steps,
                                      loss=loss)))
    m = {k: np.concatenate(v) for k, v in cols.items()}
    clean = m["clean"]
    acc = {k: float((clean & m[k]).mean()) for k in ("short", "long", "random", "big")}
    random_only = float((clean & m["short"] & m["long"] & ~m["random"]).mean())
    zero = float(m["zero"].mean())

    found: list[tuple[str, str]] = []
    if zero > tols["zero_grad_tol"]:
        found.append(("zero-gradients",
                      f"{zero:.0%} of the samples have a zero input gradient of the CE loss: the loss is flat or "
                      "saturated there (non-differentiable or quantising layers, huge logits), so gradient attacks "
                      "cannot move; try the margin or DLR loss, BPDA through non-differentiable layers, or a "
                      "gradient-free attack."))
    if random_only > tols["gap_tol"]:
        found.append(("random-beats-pgd",
                      f"random points of the eps-ball fool {random_only:.0%} of the samples that PGD did not: the "
                      "gradients point the wrong way (masked or shattered); the PGD numbers overstate robustness. "
                      "Try random restarts, EOT/BPDA, the DLR loss, or a gradient-free attack."))
    if acc["big"] > tols["large_eps_tol"]:
        found.append(("large-eps-not-zero",
                      f"PGD at eps={big:.4g}, which covers the whole data range, leaves {acc['big']:.0%} robust "
                      "accuracy where ~0% is reachable: the attack is failing, not the model resisting; check the "
                      "gradients, the loss and the step size."))
    if acc["short"] - acc["long"] > tols["convergence_tol"]:
        found.append(("not-converged",
                      f"PGD-{long_steps} lowers robust accuracy by {acc['short'] - acc['long']:.1%} against "
                      f"PGD-{steps}: the attack had not converged; evaluate with more steps (and restarts) until "
                      "the accuracy stops falling."))
    return SanityReport(
        eps=float(eps), norm=norm, samples=len(x_np), steps=steps, long_steps=long_steps,
        clean_accuracy=float(clean.mean()), zero_gradient_fraction=zero, pgd_accuracy=acc["short"],
        pgd_long_accuracy=acc["long"], random_accuracy=acc["random"], random_only_fraction=random_only,
        large_eps=float(big), large_eps_accuracy=acc["big"],
        flags=tuple(f for f, _ in found), warnings=tuple(w for _, w in found),
    )
