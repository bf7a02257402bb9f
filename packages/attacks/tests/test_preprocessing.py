"""A model that normalises its inputs is attacked in raw input space: eps stays on the data's
scale, and the attack equals the one on the same network with the normalisation folded
into its first layer."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.attacks import fgsm, pgd
from sparring.core.errors import ConfigError
from sparring.models import build_model

from attack_helpers import tiny_batch

MEAN, STD = 0.4, 0.2


def _pair(backend_name: str):
    """(normalising model, the same function with (x - MEAN) / STD folded into layer 1)."""
    pre = build_model("dense", backend=backend_name, seed=0, input_shape=(12,), hidden=(16,), num_classes=4,
                      preprocessing={"mean": MEAN, "std": STD})
    folded = build_model("dense", backend=backend_name, seed=0, input_shape=(12,), hidden=(16,), num_classes=4)
    p = pre.parameters_numpy()
    first, bias = "layers.0.weight", "layers.0.bias"  # the dense model's first layer, (out, in)
    q = dict(p)
    q[first] = p[first] / STD
    q[bias] = p[bias] - (p[first] / STD).sum(axis=1) * MEAN
    folded.load_parameters(q)
    return pre, folded


def test_logits_and_attacks_equal_the_folded_network(backend_name: str) -> None:
    pre, folded = _pair(backend_name)
    be = pre.backend
    x, _ = tiny_batch(16)
    xb = be.asarray(x)
    np.testing.assert_allclose(be.to_numpy(pre(xb)), be.to_numpy(folded(xb)), rtol=1e-4, atol=1e-5)
    y = be.to_numpy(pre(xb)).argmax(1)
    a = pgd(pre, x, y, eps=0.05, steps=10, rel_step_size=0.25)
    b = pgd(folded, x, y, eps=0.05, steps=10, rel_step_size=0.25)
    xa, xb_adv = be.to_numpy(a.x_adv), be.to_numpy(b.x_adv)
    # the same raw-space perturbation, at most eps on the data's scale (not eps * STD)
    assert np.abs(xa - x).max() <= 0.05 + 1e-6
    np.testing.assert_allclose(xa, xb_adv, atol=1e-5)
    np.testing.assert_array_equal(be.to_numpy(a.success), be.to_numpy(b.success))
    f = fgsm(pre, x, y, eps=0.1)
    assert np.abs(be.to_numpy(f.x_adv) - x).max() == pytest.approx(0.1, abs=1e-6)


def test_preprocessing_is_not_part_of_the_weights(backend_name: str, tmp_path) -> None:
    pre, _ = _pair(backend_name)
    plain = build_model("dense", backend=backend_name, seed=0, input_shape=(12,), hidden=(16,), num_classes=4)
    assert pre.parameters_numpy().keys() == plain.parameters_numpy().keys()
    pre.save(tmp_path / "w.safetensors")
    plain.load(tmp_path / "w.safetensors")


@pytest.mark.parametrize("pre, match", [
    ({"mean": 0.5, "std": 0.0}, "std"),
    ({"mean": [0.1, 0.2], "std": 1.0}, "broadcast"),
    ({"mean": 0.5}, "mean = ..., std = ..."),
])
def test_bad_preprocessing_is_a_config_error(pre, match) -> None:
    with pytest.raises(ConfigError, match=match):
        build_model("dense", backend="torch", input_shape=(12,), hidden=(4,), num_classes=3, preprocessing=pre)
