"""The training loop, written once: epochs of ``defense`` steps with checkpoints and metrics.

Per batch: ``extra = defense.inputs(...)`` (attack phase, no parameter gradients),
then one optimiser step on ``defense.objective`` (the Backend's optimiser: torch.optim,
or optax under ``nnx.jit``). Everything random is derived from ``seed``: the batch
order of epoch e, the attack seed of batch (e, i), the dropout stream of epoch e, so a
run resumed from the checkpoint of epoch e ends with the same weights as one that was
never interrupted. After each epoch: validation (clean and, with ``robust_attack``,
robust accuracy), an atomic checkpoint, the best weights by ``best_on``, early
stopping after ``patience`` epochs without improvement. A NaN or infinite loss stops
the run with :class:`TrainingDivergedError`; the model is put back to the last good
checkpoint (or its initial weights).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
import dataclasses
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sparring.core.config import TrainConfig
from sparring.core.errors import ConfigError, SparringError
from sparring.core.modes import evaluating
from sparring.core.protocols import Dataset, Model
from sparring.core.records import AttackResult

from .base import Objective
from .checkpoint import CheckpointDir
from .overfitting import CatastrophicOverfittingWarning, OverfittingCheck
from .schedules import lr_factor

__all__ = [
    "TrainSettings", "optimizer_settings", "Trainer", "TrainingDivergedError", "TrainCallback", "evaluate_accuracy",
    "SSM_PARAMETERS",
]

SSM_PARAMETERS = frozenset({"log_dt", "log_step", "log_A_real", "A_real", "A_imag", "Lambda_re", "Lambda_im", "P", "B"})
"""Last name components of S4/S4D state-space parameters (own lr, no weight decay)."""


class TrainingDivergedError(SparringError, ArithmeticError):
    """The loss became NaN or infinite."""


TrainSettings = TrainConfig
"""The trainer's settings are the ``[train]`` table of a pipeline (validated on construction)."""


def _settings(obj: Any) -> TrainConfig:
    """A TrainConfig from a TrainConfig, a mapping of (some of) its keys, or None."""
    if isinstance(obj, TrainConfig):
        return obj
    if obj is None:
        return TrainConfig()
    if isinstance(obj, dict):
        return TrainConfig(**obj)
    raise ConfigError(f"training settings must be a TrainConfig or a mapping, got {type(obj).__name__}")


def optimizer_settings(s: TrainConfig) -> dict[str, Any]:
    """Keyword arguments of ``Backend.optimizer`` for these settings (SSM parameter group)."""
    groups = []
    if s.ssm_lr is not None:
        groups.append((lambda name: name.rsplit(".", 1)[-1] in SSM_PARAMETERS, {"lr": s.ssm_lr, "weight_decay": 0.0}))
    return {
        "name": s.optimizer, "lr": s.lr, "momentum": s.momentum, "nesterov": s.nesterov,
        "weight_decay": s.weight_decay, "clip_norm": s.clip_norm, "groups": groups, "amp": s.amp,
    }


class TrainCallback(Protocol):
    def on_step(self, epoch: int, batch: int, batches: int, loss: float) -> None: ...

    def on_epoch(self, record: dict[str, Any]) -> None: ...


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1, np.uint32)[0])


def evaluate_accuracy(
    model: Model, dataset: Dataset, *, batch_size: int = 250,
    attack: Callable[[Model, Any, Any], AttackResult] | None = None,
) -> tuple[float, float | None]:
    """Clean accuracy and (with ``attack``) robust accuracy of ``model`` on ``dataset``."""
    be = model.backend
    xp = be.xp
    correct = robust = total = 0
    with evaluating(model):
        for x_np, y_np in dataset.batches(batch_size):
            x, y = be.asarray(x_np, dtype=getattr(model, "dtype", None)), be.asarray(y_np)
            with be.no_grad():
                ok = be.to_numpy(xp.argmax(model(x), axis=1) == y)
            correct += int(ok.sum())
            total += len(y_np)
            if attack is not None:
                res = attack(model, x, y)
                robust += int((ok & ~be.to_numpy(res.success)).sum())
    if total == 0:
        raise ConfigError("the validation set is empty")
    return correct / total, (robust / total if attack is not None else None)


class Trainer:
    """Trains ``model`` with ``defense`` (an :class:`Objective`).

    Args:
        model: a sparring Model (torch or jax); trained in place.
        defense: the training objective.
        settings: the ``[train]`` settings: a :class:`~sparring.core.config.TrainConfig`
            (alias ``TrainSettings``) or a mapping of its keys.
        seed: the root of every random choice of the run.
        checkpoint_dir: where checkpoints go (None: no checkpoints, no resume).
        robust_attack: ``attack(model, x, y) -> AttackResult`` for robust validation.
        callbacks: objects with ``on_step`` / ``on_epoch`` (progress bars, metric logs).
        augment: ``augment(x, seed) -> x'`` applied to every training batch (numpy, before
            the attack phase), e.g. :func:`sparring.data.transforms.augmentation`; the seed
            is derived from ``seed``, the epoch and the batch, so resume stays exact.
        overfitting: an :class:`OverfittingCheck` run after every epoch (FGSM-AT's
            catastrophic overfitting: warn, and with ``rollback`` restore the weights of
            the epoch before and stop).
    """

    def __init__(
        self,
        model: Model,
        defense: Objective,
        settings: Any = None,
        *,
        seed: int = 0,
        checkpoint_dir: str | Path | None = None,
        robust_attack: Callable[[Model, Any, Any], AttackResult] | None = None,
        validation_batch_size: int = 250,
        callbacks: Sequence[Any] = (),
        augment: Callable[[np.ndarray, int], np.ndarray] | None = None,
        overfitting: OverfittingCheck | None = None,
    ) -> None:
        self.model = model
        self.defense = defense
        self.settings = _settings(settings)
        self.seed = int(seed)
        self.checkpoints = CheckpointDir(checkpoint_dir) if checkpoint_dir is not None else None
        self.robust_attack = robust_attack
        self.validation_batch_size = validation_batch_size
        self.callbacks = list(callbacks)
        self.optimizer = model.backend.optimizer(model, **optimizer_settings(self.settings))
        self.overfitting = overfitting
        self.augment = augment
        self.stopped: str | None = None  # why training stopped before settings.epochs
        self.history: list[dict[str, Any]] = []
        self.epoch = 0  # epochs completed
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._initial = model.parameters_numpy()

    # -- state -------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "history": self.history, "best": self.best, "best_epoch": self.best_epoch,
            "seed": self.seed, "settings": asdict(self.settings), "stopped": self.stopped,
            "overfitting": self.overfitting.state() if self.overfitting is not None else None,
        }

    def resume(self) -> bool:
        """Load the last checkpoint if there is one; True when something was loaded."""
        if self.checkpoints is None or not self.checkpoints.exists():
            return False
        state = self.checkpoints.restore(self.model, self.optimizer, self.defense)
        if state.get("seed") != self.seed:
            raise ConfigError(
                f"the checkpoints in {self.checkpoints.root} were made with seed {state.get('seed')}, "
                f"not {self.seed}; resume with the same seed or start a new run directory"
            )
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
        self.stopped = state.get("stopped")
        if self.overfitting is not None and state.get("overfitting"):
            self.overfitting.load_state(state["overfitting"])
        return True

    # -- training ------------------------------------------------------------------------
    def fit(self, train: Dataset, validation: Dataset | None = None, *, resume: bool = False) -> list[dict[str, Any]]:
        """Train up to ``settings.epochs`` epochs (continuing after a checkpoint with ``resume``)."""
        s = self.settings
        if resume:
            self.resume()
        if len(train) == 0:
            raise ConfigError("the training set is empty")
        n = len(train)
        per_epoch = n // s.batch_size if s.drop_last else -(-n // s.batch_size)
        if per_epoch == 0:
            raise ConfigError(f"batch_size {s.batch_size} with drop_last leaves no batch of {n} samples")
        while self.epoch < s.epochs and self.stopped is None:
            if s.patience is not None and self.best_epoch is not None and self.epoch - self.best_epoch >= s.patience:
                break
            self._run_epoch(train, validation, per_epoch)
        if s.best_on != "last" and self.checkpoints is not None:
            best = self.checkpoints.root / "best.safetensors"
            if best.exists():
                self.model.load(str(best))
        return self.history

    def _run_epoch(self, train: Dataset, validation: Dataset | None, per_epoch: int) -> None:
        s, be, model = self.settings, self.model.backend, self.model
        xp = be.xp
        e = self.epoch
        start = time.perf_counter()
        rollback = self.overfitting is not None and self.overfitting.rollback
        before = (model.parameters_numpy(), self.optimizer.state_numpy(), self._defense_state()) if rollback else None
        model.train()
        model.set_dropout_seed(_seed(self.seed, e, 1))
        order_seed = _seed(self.seed, e, 0) if s.shuffle else None
        dtype = getattr(model, "dtype", None)
        defense = self.epoch_defense(e)
        loss_sum = correct = seen = 0.0
        for i, (x_np, y_np) in enumerate(train.batches(s.batch_size, seed=order_seed, drop_last=s.drop_last)):
            self.optimizer.set_lr_scale(
                lr_factor(s.schedule, e + i / per_epoch, s.epochs, step_size=s.step_size, gamma=s.gamma,
                          warmup_epochs=s.warmup_epochs)
            )
            if self.augment is not None:
                x_np = self.augment(x_np, _seed(self.seed, e, 3, i))
            x, y = be.asarray(x_np, dtype=dtype), be.asarray(y_np)
            extra = defense.inputs(model, x, y, _seed(self.seed, e, 2, i), e * per_epoch + i)
            loss, logits = self.optimizer.step(defense.objective, x, y, *extra)
            value = float(be.to_numpy(loss))
            if not np.isfinite(value):
                self._diverged(e, i, value)
            correct += float(be.to_numpy(xp.sum(xp.astype(xp.argmax(logits, axis=1) == y, xp.float32))))
            loss_sum += value * len(y_np)
            seen += len(y_np)
            for cb in self.callbacks:
                if hasattr(cb, "on_step"):
                    cb.on_step(e, i, per_epoch, value)
        record: dict[str, Any] = {
            "epoch": e + 1, "loss": loss_sum / seen, "train_accuracy": correct / seen,
            "lr": s.lr * lr_factor(s.schedule, e + 1 - 1e-9, s.epochs, step_size=s.step_size, gamma=s.gamma,
                                   warmup_epochs=s.warmup_epochs),
            "train_seconds": time.perf_counter() - start,
        }
        if getattr(defense, "eps", None) is not None:
            record["eps"] = float(defense.eps)
        if validation is not None and len(validation):
            clean, robust = evaluate_accuracy(model, validation, batch_size=self.validation_batch_size,
                                              attack=self.robust_attack)
            record["val_clean_accuracy"] = clean
            if robust is not None:
                record["val_robust_accuracy"] = robust
        if self.overfitting is not None:
            record.update(self._check_overfitting(e, before))
        self.epoch = e + 1
        self.history.append(record)
        improved = self._update_best(record)
        if self.checkpoints is not None:
            self.checkpoints.save(model, self.optimizer, self._state(), best=improved,
                                  defense_state=self._defense_state())
        for cb in self.callbacks:
            if hasattr(cb, "on_epoch"):
                cb.on_epoch(record)

    def epoch_defense(self, e: int) -> Objective:
        """The defense of epoch ``e``: with ``eps_warmup_epochs = N`` its eps is scaled by
        ``(e + 1) / (N + 1)`` for e < N (adversarial training from scratch at a large eps
        can stay at the uniform prediction; a ramp lets the model learn first)."""
        n = self.settings.eps_warmup_epochs
        eps = getattr(self.defense, "eps", None)
        if not n or e >= n or not eps or "eps" not in getattr(self.defense, "__dataclass_fields__", {}):
            return self.defense
        return dataclasses.replace(self.defense, eps=float(eps) * (e + 1) / (n + 1))

    def _defense_state(self) -> dict[str, np.ndarray]:
        """The defense's own trained state (e.g. the adversary critic), if it has any."""
        get = getattr(self.defense, "state_numpy", None)
        return dict(get()) if callable(get) else {}

    def _check_overfitting(self, e: int, before: tuple[dict, dict, dict] | None) -> dict[str, Any]:
        assert self.overfitting is not None
        out = self.overfitting.update(self.model)
        if out["catastrophic_overfitting"]:
            what = (f"PGD accuracy on the held-out batch fell to {out['co_pgd_accuracy']:.3f} in epoch {e + 1} "
                    f"while FGSM accuracy stayed at {out['co_fgsm_accuracy']:.3f}: catastrophic overfitting")
            if before is not None:
                self.model.load_parameters(before[0])
                self.optimizer.load_state_numpy(before[1])
                if before[2]:
                    self.defense.load_state_numpy(self.model, before[2])
                self.stopped = f"catastrophic overfitting in epoch {e + 1}; weights of epoch {e} kept"
                out["rolled_back"] = True
                what += f"; the weights of epoch {e} were put back and training stopped"
            warnings.warn(what + " (try a smaller step, GradAlign, or PGD-AT)", CatastrophicOverfittingWarning,
                          stacklevel=3)
        return out

    def _update_best(self, record: dict[str, Any]) -> bool:
        key = {"clean": "val_clean_accuracy", "robust": "val_robust_accuracy"}.get(self.settings.best_on)
        if key is None:
            return False
        if key not in record:
            raise ConfigError(
                f"train.best_on = {self.settings.best_on!r} needs a validation set"
                + (" and a robust validation attack" if key == "val_robust_accuracy" else "")
            )
        if self.best is None or record[key] > self.best:
            self.best, self.best_epoch = record[key], record["epoch"]
            return True
        return False

    def _diverged(self, epoch: int, batch: int, value: float) -> None:
        where = "the initial weights"
        if self.checkpoints is not None and self.checkpoints.exists():
            self.checkpoints.restore(self.model, self.optimizer, self.defense)
            where = f"the checkpoint of epoch {self.epoch} in {self.checkpoints.root}"
        else:
            self.model.load_parameters(self._initial)
        raise TrainingDivergedError(
            f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1}; the model was put back to {where}. "
            "Lower the learning rate, set train.clip_norm, or check the data for NaN"
        )
