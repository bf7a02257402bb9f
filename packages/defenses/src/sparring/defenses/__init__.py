"""sparring.defenses: robust training objectives, written once, and the trainer.

Imports no framework: a defense receives its Backend through the model it is given;
the optimiser comes from ``model.backend.optimizer`` (torch.optim or optax).
"""

from .adversarial import AttackTraining, fgsm_at, mim_at, pgd_at
from .base import Objective
from .gradient import GradAlign, GradientNorm, gradalign, gradient_norm
from .mart import Mart, mart
from .minmax import MinMax, algorithm1, algorithm2
from .multi_attack import MultiAttack, multi_attack
from .standard import Standard, standard
from .trades import Trades, trades
from .trainer import Trainer, TrainingDivergedError, TrainSettings, evaluate_accuracy
from .weights import WeightRegularised, orthogonal, spectral

__all__ = [
    "AttackTraining", "GradAlign", "GradientNorm", "Mart", "MinMax", "MultiAttack", "Objective", "Standard",
    "Trades", "Trainer", "TrainSettings", "TrainingDivergedError", "WeightRegularised", "algorithm1",
    "algorithm2", "evaluate_accuracy", "fgsm_at", "gradalign", "gradient_norm", "mart", "mim_at",
    "multi_attack", "orthogonal", "pgd_at", "spectral", "standard", "trades",
]
