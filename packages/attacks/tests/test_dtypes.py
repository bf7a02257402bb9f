"""Every registered attack keeps the caller's float64 (inputs, adversarial inputs, norms)."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.core import get_registry
from sparring.models import build_model

from attack_helpers import tiny_batch

QUICK = {  # small budgets: dtype is the point here
    "pgd": {"steps": 3}, "mim": {"steps": 3}, "apgd": {"steps": 5}, "cw-l2": {"steps": 5, "binary_search_steps": 2},
    "deepfool": {"steps": 5}, "pdgd": {"steps": 5}, "pdpgd": {"steps": 5}, "class-targeted": {"steps": 2},
    "spatial": {"rotations": 3, "translations": 1, "image_shape": (3, 4)},
}


@pytest.mark.parametrize("name", sorted(n for n in get_registry().names("attack")
                                        if get_registry().provider("attack", n).distribution == "sparring-attacks"))
def test_float64_in_float64_out(name: str) -> None:
    pytest.importorskip("torch")
    spec = get_registry().get_attack(name)
    model = build_model("dense", backend="torch", seed=0, input_shape=(12,), hidden=(8,), num_classes=4,
                        dtype="float64")
    x, _ = tiny_batch(6)
    x = x.astype(np.float64)
    y = model.backend.to_numpy(model(model.backend.asarray(x, dtype=model.dtype))).argmax(1)
    fn = spec.load()
    kwargs = dict(QUICK.get(name, {}))
    if spec.budgeted and not spec.minimum_norm:
        kwargs["eps"] = 0.1
    result = fn(model, x, y, **kwargs)
    be = model.backend
    assert be.to_numpy(result.x_adv).dtype == np.float64, name
    if getattr(result, "norms", None) is not None:
        assert be.to_numpy(result.norms).dtype == np.float64, name


def _own_attacks() -> list[str]:
    reg = get_registry()
    return sorted(n for n in reg.names("attack") if reg.provider("attack", n).distribution == "sparring-attacks")


def _low_precision_model(backend_name: str, dtype: str):
    """The trained MNIST dense model (88% clean) with its weights in ``dtype``."""
    from attack_helpers import mnist_dense

    trained = mnist_dense("torch").parameters_numpy()
    model = build_model("dense", backend=backend_name, seed=0, input_shape=(28, 28), hidden=(64,), num_classes=10,
                        dtype=dtype)
    model.load_parameters(trained)
    return model


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_model_keeps_dtype_and_computes_the_loss_in_float32(backend_name: str, dtype: str) -> None:
    pytest.importorskip(backend_name)
    from attack_helpers import mnist_test

    from sparring.attacks._objective import objective

    model = _low_precision_model(backend_name, dtype)
    be = model.backend
    x_np, y_np = mnist_test(20)
    x, y = be.asarray(x_np, dtype=model.dtype), be.asarray(y_np)
    value, _ = objective(model, "ce", False)(x, y)
    assert str(value.dtype).endswith("float32")
    tol = float(np.finfo(np.float16).eps) * 4 if dtype == "float16" else 2.0**-6  # a few ulps of 1.0
    for name in _own_attacks():
        spec = get_registry().get_attack(name)
        kwargs = dict(QUICK.get(name, {}))
        kwargs.pop("image_shape", None)  # 28x28 digits: the default image
        if spec.budgeted and not spec.minimum_norm:
            kwargs["eps"] = 0.1
        result = spec.load()(model, x, y, **kwargs)
        assert result.x_adv.dtype == x.dtype, name
        adv = be.to_numpy(result.x_adv).astype(np.float32)
        assert np.isfinite(adv).all(), name
        assert adv.min() >= 0.0 and adv.max() <= 1.0, name
        if "eps" in kwargs and name != "spatial":
            assert np.abs(adv - be.to_numpy(x).astype(np.float32)).max() <= 0.1 + tol, name


@pytest.mark.parametrize("name", ["fgsm", "pgd", "mim", "apgd", "deepfool", "cw-l2"])
def test_torch_autocast_keeps_float32_inputs_and_still_attacks(name: str) -> None:
    torch = pytest.importorskip("torch")
    from attack_helpers import mnist_dense, mnist_test

    model = mnist_dense("torch").eval()
    x_np, y_np = mnist_test(40)
    spec = get_registry().get_attack(name)
    kwargs = {"pgd": {"steps": 10, "step_size": 0.03}, "mim": {"steps": 10}, "apgd": {"steps": 20},
              "cw-l2": {"steps": 100, "binary_search_steps": 5, "initial_const": 1.0, "lr": 0.05}, "deepfool": {"steps": 20}}.get(name, {})
    if not spec.minimum_norm:
        kwargs["eps"] = 0.15
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(torch.as_tensor(x_np)).dtype == torch.bfloat16  # autocast is on
        result = spec.load()(model, x_np, y_np, **kwargs)
    assert result.x_adv.dtype == torch.float32
    adv = result.x_adv.numpy()
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    if "eps" in kwargs:
        assert np.abs(adv - x_np).max() <= 0.15 + 1e-6
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # the model that was attacked
        fooled = model(result.x_adv).argmax(1).numpy() != y_np
    np.testing.assert_array_equal(fooled, result.success.numpy())
    assert fooled.mean() > 0.5, (name, fooled.mean())  # the bfloat16 gradients still find adversarial examples
