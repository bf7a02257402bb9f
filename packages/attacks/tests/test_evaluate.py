"""Robust accuracy over attacks and eps: per-sample worst case, minimum-norm summaries."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from sparring.attacks import accuracy_at_thresholds, fgsm, median_norm, pgd, robust_accuracy
from sparring.core.errors import ConfigError, InvalidInputError
from sparring.core.records import AttackResult

from attack_helpers import tiny_batch


def _scripted(fooled: np.ndarray):
    """An 'attack' that fools exactly the samples marked in ``fooled`` (by their first feature)."""

    def attack(model, x, y, *, eps):
        be = model.backend
        ids = be.to_numpy(x)[:, 0].round(6)
        return AttackResult(x, be.asarray(np.isin(ids, fooled)), be.asarray(np.zeros(len(ids))), "linf")

    return attack


def test_worst_case_is_sample_wise(model) -> None:
    x, _ = tiny_batch(12)
    x[:, 0] = np.arange(12) / 100  # an id per sample
    y = model.backend.to_numpy(model(model.backend.asarray(x))).argmax(1)  # all clean-correct
    ids = x[:, 0].round(6)
    report = robust_accuracy(
        model, x, y, {"even": _scripted(ids[::2]), "odd": _scripted(ids[1::2])}, eps=[0.1], batch_size=5
    )
    acc = report.accuracy()
    assert acc["even"] == [0.5] and acc["odd"] == [0.5]
    assert acc["worst-case"] == [0.0]  # min of the two would say 0.5
    assert report.clean_accuracy == 1.0
    assert {r["attack"] for r in report.rows()} == {"even", "odd", "worst-case"}


def test_clean_misclassified_samples_are_never_robust(model) -> None:
    x, _ = tiny_batch(10)
    pred = model.backend.to_numpy(model(model.backend.asarray(x))).argmax(1)
    y = pred.copy()
    y[:4] = (pred[:4] + 1) % 4  # four wrong on clean inputs
    report = robust_accuracy(model, x, y, {"none": _scripted(np.array([]))}, eps=[0.0, 0.2])
    np.testing.assert_array_equal(report.robust["none"], np.tile(np.arange(10) >= 4, (2, 1)))


def test_batching_does_not_change_the_result(model) -> None:
    x, y = tiny_batch(20, seed=7)
    attacks = {"fgsm": fgsm, "pgd": functools.partial(pgd, steps=5)}
    a = robust_accuracy(model, x, y, attacks, eps=[0.05, 0.2], batch_size=3)
    b = robust_accuracy(model, x, y, attacks, eps=[0.05, 0.2], batch_size=64)
    for name in a.robust:
        np.testing.assert_array_equal(a.robust[name], b.robust[name])
    assert a.accuracy()["pgd"][1] <= a.accuracy()["pgd"][0] <= a.clean_accuracy


def test_minimum_norm_summaries() -> None:
    norms = np.array([0.0, 0.1, 0.3, 0.5, 9.9])
    success = np.array([True, True, True, False, True])
    np.testing.assert_allclose(accuracy_at_thresholds(norms, success, [0.0, 0.1, 0.4, 10.0]), [0.8, 0.6, 0.4, 0.2])
    assert median_norm(norms, success) == 0.3
    assert median_norm(norms, np.zeros(5, bool)) == np.inf


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(attacks={}), ConfigError, "at least one attack"),
        (dict(eps=[-0.1]), ConfigError, "eps must be"),
        (dict(attacks={"worst-case": fgsm}), ConfigError, "rename"),
        (dict(batch_size=0), ConfigError, "batch_size"),
    ],
)
def test_bad_arguments(model, kwargs, error, match) -> None:
    x, y = tiny_batch(4)
    args = dict(attacks={"fgsm": fgsm}, eps=[0.1], batch_size=8) | kwargs
    with pytest.raises(error, match=match):
        robust_accuracy(model, x, y, **args)
    with pytest.raises(InvalidInputError, match="same"):
        robust_accuracy(model, x, y[:2], {"fgsm": fgsm}, [0.1])
