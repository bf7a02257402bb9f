"""The dense classifier: one parameter layout on both frameworks, weights files, modes."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.core import Model
from sparring.core.errors import CheckpointMismatchError, ConfigError, DataError
from sparring.models import build_model

TINY = dict(input_shape=(2, 3), hidden=(5, 4), num_classes=3)


def test_builds_a_model_with_torch_layout(backend_name: str) -> None:
    m = build_model("dense", backend=backend_name, **TINY)
    assert isinstance(m, Model)
    shapes = {k: v.shape for k, v in m.parameters_numpy().items()}
    assert shapes == {
        "layers.0.weight": (5, 6), "layers.0.bias": (5,),
        "layers.1.weight": (4, 5), "layers.1.bias": (4,),
        "head.weight": (3, 4), "head.bias": (3,),
    }
    logits = m(m.backend.asarray(np.zeros((7, 2, 3), np.float32)))
    assert tuple(logits.shape) == (7, 3)


def test_same_seed_same_weights(backend_name: str) -> None:
    a = build_model("dense", backend=backend_name, seed=3, **TINY).parameters_numpy()
    b = build_model("dense", backend=backend_name, seed=3, **TINY).parameters_numpy()
    c = build_model("dense", backend=backend_name, seed=4, **TINY).parameters_numpy()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["head.weight"], c["head.weight"])


@pytest.mark.parametrize(("src", "dst"), [("torch", "jax"), ("jax", "torch")])
def test_weights_file_moves_between_frameworks(tmp_path, src: str, dst: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    a = build_model("dense", backend=src, seed=1, **TINY)
    b = build_model("dense", backend=dst, seed=2, **TINY)
    a.save(tmp_path / "w.safetensors")
    b.load(tmp_path / "w.safetensors")
    pa, pb = a.parameters_numpy(), b.parameters_numpy()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    x = np.random.default_rng(0).uniform(size=(9, 2, 3)).astype(np.float32)
    la = a.backend.to_numpy(a(a.backend.asarray(x)))
    lb = b.backend.to_numpy(b(b.backend.asarray(x)))
    np.testing.assert_allclose(la, lb, rtol=1e-5, atol=1e-6)


def test_mismatched_file_lists_every_problem(tmp_path, backend_name: str) -> None:
    build_model("dense", backend=backend_name, input_shape=(6,), hidden=(7,), num_classes=3).save(tmp_path / "w.safetensors")
    m = build_model("dense", backend=backend_name, **TINY)
    before = m.parameters_numpy()
    with pytest.raises(CheckpointMismatchError) as exc:
        m.load(tmp_path / "w.safetensors")
    text = str(exc.value)
    assert "missing from the file: layers.1.weight" in text
    assert "layers.0.weight: file has shape (7, 6), model expects (5, 6)" in text
    after = m.parameters_numpy()
    assert all(np.array_equal(before[k], after[k]) for k in before), "a failed load changed the model"


def test_corrupt_or_missing_file_is_a_data_error(tmp_path, backend_name: str) -> None:
    m = build_model("dense", backend=backend_name, **TINY)
    m.save(tmp_path / "w.safetensors")
    blob = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="truncated"):
        m.load(tmp_path / "cut.safetensors")
    with pytest.raises(DataError, match="does not exist"):
        m.load(tmp_path / "nope.safetensors")


def test_save_is_atomic_and_leaves_no_temporary(tmp_path, backend_name: str) -> None:
    m = build_model("dense", backend=backend_name, **TINY)
    m.save(tmp_path / "sub" / "w.safetensors")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["w.safetensors"]


def test_mode_snapshot_restores_mixed_flags(backend_name: str) -> None:
    m = build_model("dense", backend=backend_name, **TINY)
    m.train()
    assert m.training
    state = m.mode_state()
    m.eval()
    assert not m.training
    m.restore_mode(state)
    assert m.training and m.mode_state() == state


def test_unknown_override_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="did you mean 'hidden'"):
        build_model("dense", backend="torch", hiden=(3,))


def test_float64_on_jax_needs_x64() -> None:
    jax = pytest.importorskip("jax")
    if jax.config.jax_enable_x64:
        pytest.skip("64-bit mode already on")
    with pytest.raises(ConfigError, match="jax_enable_x64"):
        build_model("dense", backend="jax", dtype="float64", **TINY)
