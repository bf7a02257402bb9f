"""TRADES: clean cross-entropy plus a KL smoothness term at the worst point of the ball.

    L = mean_i [ CE(f(x_i), y_i) + β · KL( p(x_i) || p(x'_i) ) ],
    x' = argmax_{x' ∈ B_∞(x, ε)} KL( p(x) || p(x') )   (K signed steps of α from x + 0.001·N(0, I))

with ``p = softmax ∘ f`` and ``p(x)`` held fixed during the inner maximisation.
β = 0 is standard training. Reference: H. Zhang et al., "Theoretically Principled
Trade-off between Robustness and Accuracy", ICML 2019, arXiv:1901.08573 (MNIST:
ε = 0.1, α = 0.01, K = 40, β = 6 in their code; CIFAR-10: 8/255, 2/255, 10).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparring.attacks.ascent import maximize
from sparring.attacks.losses import kl_divergence, log_softmax
from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Model

from .base import Objective, check_eps, check_steps, mean_ce

__all__ = ["Trades", "trades", "kl_ball_maximizer"]


def kl_ball_maximizer(model: Model, x: Array, *, eps: float, steps: int, step_size: float, seed: int) -> Array:
    """TRADES's inner maximisation of ``KL(p(x) || p(x'))`` (also used by MART-style terms)."""
    be = model.backend
    xp = be.xp
    with evaluating(model), be.no_grad():
        clean_logp = be.stop_gradient(log_softmax(xp, model(x)))
    lo, hi = model.value_range
    start = xp.clip(x + 0.001 * be.normal(be.key(seed), x.shape, dtype=x.dtype), lo, hi)

    def kl_to_clean(x_: Array, logp: Array) -> tuple[Array, Array]:
        logits = model(x_)
        return xp.sum(kl_divergence(xp, logp, log_softmax(xp, logits))), logits

    return maximize(model, x, clean_logp, kl_to_clean, eps=eps, steps=steps, step_size=step_size, x_start=start)


@dataclass(frozen=True)
class Trades(Objective):
    eps: float = 0.3
    steps: int = 10
    step_size: float = 0.05
    beta: float = 6.0

    def __post_init__(self) -> None:
        check_eps("eps", self.eps)
        check_eps("step_size", self.step_size, positive=True)
        check_eps("beta", self.beta)
        check_steps(self.steps)

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        if not self.beta:
            return (x,)
        return (kl_ball_maximizer(model, x, eps=self.eps, steps=self.steps, step_size=self.step_size, seed=seed),)

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        (x_adv,) = extra
        xp = model.backend.xp
        logits = model(x)
        loss = mean_ce(model, logits, y)
        if self.beta:
            kl = kl_divergence(xp, log_softmax(xp, logits), log_softmax(xp, model(x_adv)))
            loss = loss + self.beta * xp.mean(kl)
        return loss, logits


def trades(eps: float = 0.3, steps: int = 10, step_size: float = 0.05, beta: float = 6.0) -> Trades:
    return Trades(eps=eps, steps=steps, step_size=step_size, beta=beta)
