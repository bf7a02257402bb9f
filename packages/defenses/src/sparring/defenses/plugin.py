"""sparring.defenses registers its training objectives (imports no framework)."""

from __future__ import annotations

from sparring.core import DefenseSpec, hookimpl

_BOTH = ("torch", "jax")
_M = "sparring.defenses"


def _spec(name: str, summary: str, factory: str, params: dict) -> DefenseSpec:
    return DefenseSpec(name=name, summary=summary, factory=f"{_M}.{factory}", backends=_BOTH, params=params)


@hookimpl
def register_defenses() -> list[DefenseSpec]:
    at = {"eps": 0.3, "steps": 7, "step_size": None, "norm": "linf"}
    return [
        _spec("standard", "Cross-entropy on clean data", "standard:standard", {}),
        _spec("pgd-at", "Madry PGD adversarial training, random start (Madry et al. 2018)", "adversarial:pgd_at", at),
        _spec("fgsm-at", "FGSM from a random start, step 1.25 eps (Wong et al. 2020)", "adversarial:fgsm_at",
              {"eps": 0.3, "step_size": None, "norm": "linf"}),
        _spec("mim-at", "Momentum iterative method adversarial training", "adversarial:mim_at",
              {**at, "steps": 10}),
        _spec("minmax", "Kasl Algorithm 1: max over class-targeted copies of the CE", "minmax:algorithm1",
              {"eps": 0.3, "steps": 8, "step_size": 0.15}),
        _spec("minmax-clean", "Kasl Algorithm 2: Algorithm 1 plus the weighted clean CE", "minmax:algorithm2",
              {"eps": 0.3, "steps": 8, "step_size": 0.15, "clean_weight": 1.0}),
        _spec("trades", "TRADES: CE + beta KL at the KL-worst point (Zhang et al. 2019)", "trades:trades",
              {"eps": 0.3, "steps": 10, "step_size": 0.05, "beta": 6.0}),
        _spec("mart", "Misclassification-aware adversarial training (Wang et al. 2020)", "mart:mart",
              {"eps": 0.3, "steps": 10, "step_size": None, "lam": 6.0, "norm": "linf"}),
        _spec("multi-attack", "Cyclic PGD / FGSM / MIM training by batch index mod 3 (slides)",
              "multi_attack:multi_attack", at),
        _spec("gradient-norm", "CE + lambda ||grad_x CE||^2 at clean or PGD points (double back-prop)",
              "gradient:gradient_norm", {"lam": 1.0, "at": "clean", "eps": 0.3, "steps": 7}),
        _spec("gradalign", "FGSM-AT + gradient alignment (Andriushchenko & Flammarion 2020)", "gradient:gradalign",
              {"eps": 0.3, "lam": 0.2, "step_size": None}),
        _spec("orthogonal", "Any defense + lambda sum |W W^T - I| over weight matrices", "weights:orthogonal",
              {"lam": 1e-4, "base": "standard", "base_params": None}),
        _spec("spectral", "Any defense + lambda sum sigma_max(W)^2 by power iteration", "weights:spectral",
              {"lam": 1e-3, "iterations": 10, "base": "standard", "base_params": None}),
        _spec("margin", "Multiclass hinge + C max_j ||grad f_y - grad f_j||_q (Matyasko thesis Eq. 3.18)",
              "margin:margin_maximization", {"norm": "l2", "lam": None, "squared": False}),
        _spec("gaussian-latent", "Logits per class: KL to N(mu_T e_k, I) + F_k |kurtosis - 3| (Volpato Eq. 2.6)",
              "gaussian_latent:gaussian_latent",
              {"mu_target": 10.0, "kurtosis_weight": 0.2, "sigma_target": 1.0, "ridge": 1e-4,
               "min_class_samples": 2}),
        _spec("adversary-critic", "NLL + fool a k-output critic with a differentiable high-confidence attack "
              "+ cycle consistency (Matyasko thesis ch. 4)", "critic:adversary_critic",
              {"lam": 0.5, "lam_cycle": 1e-2, "lam_grad": 10.0, "steps": 5, "confidence": None, "overshoot": 0.05,
               "target": "closest", "cycle_squared": False, "critic": "dense", "critic_params": None,
               "critic_lr": 1e-3}),
    ]
