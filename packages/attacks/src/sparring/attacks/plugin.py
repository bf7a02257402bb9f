"""sparring.attacks registers its attacks (imports only sparring.core)."""

from __future__ import annotations

from sparring.core import AttackSpec, hookimpl

_BOTH = ("torch", "jax")
_PRIMAL_DUAL = {
    "targeted": False, "steps": 500, "restarts": 1, "random_init": 0.5, "primal_lr": 0.1, "primal_lr_decrease": 0.01,
    "dual_ratio_init": 0.01, "dual_lr": 0.1, "dual_lr_decrease": 0.1, "dual_ema": 0.9, "dual_min_ratio": 1e-6, "seed": 0,
}
"""Settings PDGD and PDPGD share (their keyword defaults)."""


@hookimpl
def register_attacks() -> list[AttackSpec]:
    return [
        AttackSpec(
            name="fgsm",
            summary="Fast gradient sign method, one step (Goodfellow et al. 2015)",
            factory="sparring.attacks.fgsm:fgsm",
            backends=_BOTH,
            params={"norm": "linf", "targeted": False, "loss": "ce"},
        ),
        AttackSpec(
            name="pgd",
            summary="Projected gradient descent in an Linf/L2/L1 ball (Madry et al. 2018; L1: SLIDE)",
            factory="sparring.attacks.pgd:pgd",
            backends=_BOTH,
            params={
                "norm": "linf",
                "steps": 40,
                "step_size": None,
                "rel_step_size": 0.01 / 0.3,
                "random_start": False,
                "targeted": False,
                "loss": "ce",
                "seed": 0,
                "early_stop": True,
                "callback": None,
            },
        ),
        AttackSpec(
            name="mim",
            summary="Momentum iterative method over L1-normalised gradients (Dong et al. 2018)",
            factory="sparring.attacks.mim:mim",
            backends=_BOTH,
            params={
                "norm": "linf",
                "steps": 10,
                "step_size": None,
                "momentum": 1.0,
                "targeted": False,
                "loss": "ce",
                "early_stop": True,
                "callback": None,
            },
        ),
        AttackSpec(
            name="class-targeted",
            summary="Worst of C class-targeted signed-step copies per sample (Kasl 2024, Algorithm 1 inner loop)",
            factory="sparring.attacks.class_copies:class_targeted",
            backends=_BOTH,
            params={"steps": 8, "step_size": 0.15},
        ),
        AttackSpec(
            name="deepfool",
            summary="DeepFool minimum-norm attack, L2 or Linf, fully batched (Moosavi-Dezfooli et al. 2016)",
            factory="sparring.attacks.deepfool:deepfool",
            backends=_BOTH,
            params={"norm": "l2", "steps": 50, "overshoot": 0.02},
            minimum_norm=True,
        ),
        AttackSpec(
            name="apgd",
            summary="Auto-PGD: momentum and self-tuned step size in an Linf/L2 ball, CE or DLR (Croce & Hein 2020)",
            factory="sparring.attacks.apgd:apgd",
            backends=_BOTH,
            params={
                "norm": "linf",
                "steps": 100,
                "n_restarts": 1,
                "loss": "ce",
                "rho": 0.75,
                "momentum": 0.75,
                "targeted": False,
                "seed": 0,
                "callback": None,
            },
        ),
        AttackSpec(
            name="cw-l2",
            summary="Carlini & Wagner L2 minimum-norm attack, Adam in tanh space, per-sample search on c (2017)",
            factory="sparring.attacks.cw:cw_l2",
            backends=_BOTH,
            params={
                "targeted": False,
                "confidence": 0.0,
                "initial_const": 1e-3,
                "binary_search_steps": 9,
                "steps": 1000,
                "lr": 0.01,
                "abort_early": True,
            },
            minimum_norm=True,
        ),
        AttackSpec(
            name="spatial",
            summary="Worst rotation and translation of a grid, gradient-free (Engstrom et al. 2019)",
            factory="sparring.attacks.spatial:spatial",
            backends=_BOTH,
            params={
                "max_rotation": 30.0,
                "max_translation": 3.0,
                "rotations": 31,
                "translations": 7,
                "image_shape": None,
                "fill": None,
                "targeted": False,
                "loss": "ce",
                "batch_size": 1024,
                "eps": None,
            },
            budgeted=False,
        ),
        AttackSpec(
            name="pdgd",
            summary="Primal-dual gradient descent minimum-norm attack, Adam + log-domain dual ascent (Matyasko 2020)",
            factory="sparring.attacks.pdpgd:pdgd",
            backends=_BOTH,
            params={"norm": "l2", **_PRIMAL_DUAL},
            minimum_norm=True,
        ),
        AttackSpec(
            name="pdpgd",
            summary="Primal-dual proximal gradient descent minimum-norm attack, Linf/L2/L1/L0 (Matyasko 2020)",
            factory="sparring.attacks.pdpgd:pdpgd",
            backends=_BOTH,
            params={"norm": "linf", "channel_axis": None, **_PRIMAL_DUAL},
            minimum_norm=True,
        ),
    ]
