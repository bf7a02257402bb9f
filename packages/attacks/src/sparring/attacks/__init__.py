"""sparring.attacks: every attack written once over the Backend protocol.

Attacks are plain functions ``attack(model, x, y, *, eps, ...) -> AttackResult`` that
run unchanged on torch and JAX models. Importing this package imports no framework.
"""

from .fgsm import fgsm
from .mim import mim
from .pgd import pgd

__all__ = ["fgsm", "mim", "pgd"]
