"""sparring.attacks: every attack written once over the Backend protocol.

Attacks are plain functions ``attack(model, x, y, *, eps, ...) -> AttackResult`` that
run unchanged on torch and JAX models. Importing this package imports no framework.
"""

from .apgd import apgd
from .ascent import maximize
from .class_copies import class_copies, class_targeted
from .cw import cw_l2
from .deepfool import deepfool
from .evaluate import RobustnessReport, accuracy_at_thresholds, median_norm, robust_accuracy
from .fgsm import fgsm
from .mim import mim
from .pdpgd import pdgd, pdpgd
from .pgd import pgd
from .sanity import SanityReport, random_search, sanity_report
from .spatial import spatial

__all__ = [
    "RobustnessReport",
    "SanityReport",
    "accuracy_at_thresholds",
    "apgd",
    "class_copies",
    "class_targeted",
    "cw_l2",
    "deepfool",
    "fgsm",
    "maximize",
    "median_norm",
    "mim",
    "pdgd",
    "pdpgd",
    "pgd",
    "random_search",
    "robust_accuracy",
    "sanity_report",
    "spatial",
]
