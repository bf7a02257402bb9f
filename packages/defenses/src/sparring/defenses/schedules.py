"""Learning-rate schedules: the factor multiplying the base learning rate at time t.

``t`` is the fractional epoch (``epoch + batch / batches_per_epoch``), ``T`` the
number of epochs:

- constant: 1
- step: ``γ^⌊epoch / step_size⌋``
- cosine: ``½ (1 + cos(π t / T))`` (Loshchilov & Hutter, SGDR, 2017)
- onecycle: linear from 1/25 up to 1 over the first 30 % of T, then cosine down to
  1/(25·10⁴) (Smith & Topin 2018; torch's OneCycleLR defaults)

A linear warm-up over ``warmup_epochs`` multiplies any of them.
"""

from __future__ import annotations

import math

from sparring.core.errors import ConfigError

__all__ = ["SCHEDULES", "lr_factor"]

SCHEDULES = ("constant", "step", "cosine", "onecycle")


def lr_factor(
    schedule: str, t: float, total: int, *, step_size: int = 1, gamma: float = 0.1, warmup_epochs: float = 0.0
) -> float:
    if schedule == "constant":
        f = 1.0
    elif schedule == "step":
        f = gamma ** math.floor(int(t) / max(step_size, 1))
    elif schedule == "cosine":
        f = 0.5 * (1.0 + math.cos(math.pi * min(t / total, 1.0)))
    elif schedule == "onecycle":
        peak = 0.3 * total
        start, end = 1 / 25, 1 / 25 / 1e4
        if t < peak:
            f = start + (1.0 - start) * t / peak
        else:
            f = end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * min((t - peak) / (total - peak), 1.0)))
    else:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if warmup_epochs > 0 and t < warmup_epochs:
        f *= (t + 1e-8) / warmup_epochs
    return f
