"""The catastrophic-overfitting check: its measurement, its rule, and the trainer's rollback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sparring.attacks import fgsm, pgd
from sparring.core.errors import ConfigError
from sparring.data.dataset import ArrayDataset
from sparring.defenses import CatastrophicOverfittingWarning, OverfittingCheck, Trainer, TrainSettings, fgsm_at

from defense_helpers import blobs, tiny_model


class _Scripted(OverfittingCheck):
    """The real rule over a scripted sequence of (fgsm, pgd) accuracies, one per epoch."""

    def __init__(self, script, **kw):
        super().__init__(np.zeros((1, 6), np.float32), np.zeros(1, np.int64), eps=0.1, **kw)
        self.script = list(script)

    def measure(self, model):
        fgsm_acc, pgd_acc = self.script.pop(0)
        return {"fgsm": fgsm_acc, "pgd": pgd_acc}


def _data(n=60):
    x, y = blobs(n)
    return ArrayDataset(x, y, name="blobs", classes=("a", "b", "c"), value_range=(0.0, 1.0))


def test_measure_is_the_accuracy_under_fgsm_and_pgd(backend_name) -> None:
    model = tiny_model(backend_name, seed=0)
    x, y = blobs(40, seed=3)
    check = OverfittingCheck(x, y, eps=0.3, pgd_steps=5, seed=7)
    got = check.measure(model)
    be = model.backend
    xb, yb = be.asarray(x), be.asarray(y)
    clean = be.to_numpy(be.xp.argmax(model(xb), axis=1)) == y
    f = be.to_numpy(fgsm(model, xb, yb, eps=0.3).success)
    p = be.to_numpy(pgd(model, xb, yb, eps=0.3, steps=5, step_size=0.15, random_start=True, seed=7).success)
    assert got == {"fgsm": float(np.mean(clean & ~f)), "pgd": float(np.mean(clean & ~p))}
    assert got["pgd"] <= float(np.mean(clean))


def test_rule_flags_a_pgd_collapse_only_while_fgsm_accuracy_holds() -> None:
    check = _Scripted([(0.5, 0.40), (0.55, 0.45), (0.7, 0.20), (0.3, 0.05)], rollback=False)
    flags = [check.update(None)["catastrophic_overfitting"] for _ in range(2)]
    assert flags == [False, False]
    assert check.update(None)["catastrophic_overfitting"] is True  # PGD 0.45 -> 0.20, FGSM up
    # both accuracies falling is ordinary robust overfitting or a bad step, not the FGSM collapse
    assert check.update(None)["catastrophic_overfitting"] is False


def test_trainer_warns_rolls_back_and_stops(backend_name, tmp_path) -> None:
    model = tiny_model(backend_name, seed=1)
    data = _data()
    settings = TrainSettings(epochs=5, batch_size=20, lr=0.05)
    reference = tiny_model(backend_name, seed=1)
    Trainer(reference, fgsm_at(eps=0.1), TrainSettings(epochs=2, batch_size=20, lr=0.05), seed=2).fit(data)

    check = _Scripted([(0.5, 0.5), (0.5, 0.5), (0.9, 0.1), (0.9, 0.1), (0.9, 0.1)])
    trainer = Trainer(model, fgsm_at(eps=0.1), settings, seed=2, overfitting=check, checkpoint_dir=tmp_path)
    with pytest.warns(CatastrophicOverfittingWarning, match="epoch 3"):
        history = trainer.fit(data)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert [r["catastrophic_overfitting"] for r in history] == [False, False, True]
    assert history[-1]["rolled_back"] is True and "epoch 3" in trainer.stopped
    # the weights are those after epoch 2, as in a run that stopped there
    a, b = reference.parameters_numpy(), model.parameters_numpy()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7, err_msg=k)
    # a resumed run knows it stopped, and does not train on
    again = Trainer(tiny_model(backend_name, seed=5), fgsm_at(eps=0.1), settings, seed=2,
                    overfitting=_Scripted([]), checkpoint_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(again.fit(data, resume=True)) == 3


def test_without_rollback_training_goes_on() -> None:
    model = tiny_model("torch", seed=1)
    check = _Scripted([(0.5, 0.5), (0.9, 0.1), (0.9, 0.1)], rollback=False)
    with pytest.warns(CatastrophicOverfittingWarning):
        history = Trainer(model, fgsm_at(eps=0.1), TrainSettings(epochs=3, batch_size=20), seed=0,
                          overfitting=check).fit(_data())
    assert len(history) == 3 and "rolled_back" not in history[1]


@pytest.mark.parametrize(
    "kw, match",
    [({"eps": 0.0}, "eps"), ({"eps": 0.1, "drop": 1.5}, "drop"), ({"eps": 0.1, "pgd_steps": 0}, "steps")],
)
def test_bad_settings_are_config_errors(kw, match) -> None:
    x, y = blobs(4)
    with pytest.raises(ConfigError, match=match):
        OverfittingCheck(x, y, **kw)
    with pytest.raises(ConfigError, match="validation"):
        OverfittingCheck(x[:0], y[:0], eps=0.1)
