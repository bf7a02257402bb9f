"""sparring.defenses: robust training objectives, written once, and the trainer.

Imports no framework: a defense receives its Backend through the model it is given;
the optimiser comes from ``model.backend.optimizer`` (torch.optim or optax).
"""

from .adversarial import AttackTraining, fgsm_at, mim_at, pgd_at
from .base import Objective
from .critic import AdversaryCritic, adversary_critic
from .gaussian_latent import GaussianLatent, gaussian_latent
from .gradient import GradAlign, GradientNorm, gradalign, gradient_norm
from .margin import MarginMaximization, margin_maximization
from .mart import Mart, mart
from .minmax import MinMax, algorithm1, algorithm2
from .multi_attack import MultiAttack, multi_attack
from .overfitting import CatastrophicOverfittingWarning, OverfittingCheck
from .standard import Standard, standard
from .trades import Trades, trades
from .trainer import Trainer, TrainingDivergedError, TrainSettings, evaluate_accuracy
from .weights import WeightRegularised, orthogonal, spectral

__all__ = [
    "AdversaryCritic", "AttackTraining", "CatastrophicOverfittingWarning", "GaussianLatent", "GradAlign",
    "GradientNorm", "MarginMaximization", "Mart", "MinMax", "MultiAttack", "Objective", "OverfittingCheck",
    "Standard", "Trades", "TrainSettings", "Trainer", "TrainingDivergedError", "WeightRegularised",
    "adversary_critic", "algorithm1", "algorithm2", "evaluate_accuracy", "fgsm_at", "gaussian_latent",
    "gradalign", "gradient_norm", "margin_maximization", "mart", "mim_at", "multi_attack", "orthogonal",
    "pgd_at", "spectral", "standard", "trades",
]
