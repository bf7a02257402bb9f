"""Both backends honour the Backend protocol the same way."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.core import Backend
from sparring.core.errors import BackendUnavailableError, InvalidInputError, UnknownNameError
from sparring.models import get_backend


def test_is_a_backend(backend) -> None:
    assert isinstance(backend, Backend)
    assert backend.device == "cpu"
    assert get_backend(backend.name, "cpu") is backend


def test_numpy_round_trip_keeps_values_and_dtype(backend) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    x = backend.asarray(a)
    assert backend.to_numpy(x).dtype == np.float32
    np.testing.assert_array_equal(backend.to_numpy(x), a)
    assert backend.to_numpy(backend.asarray(a, dtype="float16")).dtype == np.float16


def test_asarray_copies_numpy_data_and_keeps_the_dtype_rules(backend) -> None:
    """jax: a numpy array given to ``asarray`` is copied (``device_put`` alone would share
    a large one, and jax may still be computing on it when the caller changes it; torch's
    ``as_tensor`` shares it by design, its ops run before control comes back). float64
    stays float64 only where the framework has it on."""
    big = np.zeros((500, 784), dtype=np.float32)
    x = backend.asarray(big)
    big[0, 0] = 5.0
    assert float(backend.to_numpy(x)[0, 0]) == (0.0 if backend.name == "jax" else 5.0)
    wide = backend.to_numpy(backend.asarray(np.zeros(3))).dtype
    if backend.name == "jax":
        import jax

        assert wide == (np.float64 if jax.config.jax_enable_x64 else np.float32)  # as jnp.asarray does
    else:
        assert wide == np.float64
    assert backend.to_numpy(backend.asarray(np.arange(3), dtype="float32")).dtype == np.float32
    assert backend.to_numpy(backend.asarray(np.arange(3, dtype=np.int64))).dtype.kind == "i"
    assert backend.to_numpy(backend.asarray(np.ones(2, dtype=bool))).dtype == np.bool_


def test_value_and_grad_of_a_quadratic(backend) -> None:
    xp = backend.xp
    x = backend.asarray(np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32))
    value, grad = backend.value_and_grad(lambda v: xp.sum(v * v), x)
    assert float(value) == pytest.approx(14.25)
    np.testing.assert_allclose(backend.to_numpy(grad), 2 * backend.to_numpy(x))


def test_value_and_grad_with_aux_and_extra_args(backend) -> None:
    xp = backend.xp
    x = backend.asarray(np.ones((2, 3), dtype=np.float32))
    w = backend.asarray(np.full((2, 3), 3.0, dtype=np.float32))
    (value, aux), grad = backend.value_and_grad(lambda v, c: (xp.sum(v * c), v * 2), x, w, has_aux=True)
    assert float(value) == 18.0
    np.testing.assert_array_equal(backend.to_numpy(grad), backend.to_numpy(w))
    np.testing.assert_array_equal(backend.to_numpy(aux), 2 * np.ones((2, 3)))


def test_value_and_grad_refuses_non_scalar(backend) -> None:
    x = backend.asarray(np.ones((2,), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="scalar"):
        backend.value_and_grad(lambda v: v * 2, x)


def test_random_numbers_are_keyed(backend) -> None:
    k = backend.key(7)
    a = backend.to_numpy(backend.uniform(k, (1000,)))
    b = backend.to_numpy(backend.uniform(backend.key(7), (1000,)))
    np.testing.assert_array_equal(a, b)
    k1, k2 = backend.split(k, 2)
    c = backend.to_numpy(backend.uniform(k1, (1000,)))
    d = backend.to_numpy(backend.uniform(k2, (1000,)))
    assert not np.array_equal(a, c) and not np.array_equal(c, d)
    assert 0.0 <= a.min() and a.max() < 1.0 and abs(a.mean() - 0.5) < 0.05


def test_uniform_with_per_sample_bounds(backend) -> None:
    low = backend.asarray(np.array([[-1.0], [10.0]], dtype=np.float32))
    u = backend.to_numpy(backend.uniform(backend.key(0), (2, 500), low=low, high=low + 0.5))
    assert (u[0] >= -1).all() and (u[0] < -0.5).all() and (u[1] >= 10).all() and (u[1] < 10.5).all()


def test_normal_sign_permutation(backend) -> None:
    n = backend.to_numpy(backend.normal(backend.key(1), (4000,)))
    assert abs(n.mean()) < 0.1 and abs(n.std() - 1) < 0.1
    s = backend.to_numpy(backend.sign(backend.key(2), (4000,), dtype="float32"))
    assert set(np.unique(s)) == {-1.0, 1.0} and abs(s.mean()) < 0.1
    p = backend.to_numpy(backend.permutation(backend.key(3), 50))
    assert sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))


def test_no_grad_context_and_stop_gradient(backend) -> None:
    xp = backend.xp
    x = backend.asarray(np.ones((3,), dtype=np.float32))
    with backend.no_grad():
        y = x * 2
    _, g = backend.value_and_grad(lambda v: xp.sum(backend.stop_gradient(v) * v), x)
    np.testing.assert_array_equal(backend.to_numpy(g), np.ones(3))
    assert backend.to_numpy(y).tolist() == [2, 2, 2]


def test_compile_returns_a_callable_with_same_result(backend) -> None:
    xp = backend.xp
    f = backend.compile(lambda v: xp.sum(v * 3))
    assert float(f(backend.asarray(np.ones(4, dtype=np.float32)))) == 12.0


def test_unknown_backend_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'torch'"):
        get_backend("troch")


def test_missing_gpu_is_a_clear_error(backend_name: str) -> None:
    if backend_name == "torch":
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present")
    else:
        import jax

        try:
            jax.devices("gpu")
            pytest.skip("a GPU is present")
        except RuntimeError:
            pass
    with pytest.raises(BackendUnavailableError, match="cpu"):
        get_backend(backend_name, "cuda")


def test_wrong_key_type_is_a_clear_error() -> None:
    pytest.importorskip("torch")
    with pytest.raises(InvalidInputError, match="TorchBackend.key"):
        get_backend("torch").uniform(1234, (2,))


def test_put_scatters_rows_without_touching_the_input(backend) -> None:
    x = backend.asarray(np.zeros((4, 2), dtype=np.float32))
    idx = backend.asarray(np.array([3, 1]))
    out = backend.put(x, idx, backend.asarray(np.array([[1, 1], [2, 2]], dtype=np.float32)))
    np.testing.assert_array_equal(backend.to_numpy(out), [[0, 0], [2, 2], [0, 0], [1, 1]])
    np.testing.assert_array_equal(backend.to_numpy(x), np.zeros((4, 2)))
    flags = backend.put(backend.asarray(np.zeros(3, dtype=bool)), backend.asarray(np.array([2])), backend.asarray(np.array([True])))
    assert backend.to_numpy(flags).tolist() == [False, False, True]


def test_value_and_jacobian_rows_are_the_per_column_gradients(backend) -> None:
    xp = backend.xp
    rng = np.random.default_rng(0)
    w = backend.asarray(rng.normal(size=(5, 3)).astype(np.float32))
    x = backend.asarray(rng.normal(size=(4, 5)).astype(np.float32))

    def fn(v, scale):
        return xp.tanh(v @ w) * scale  # (B, 3), per-sample

    out, rows = backend.value_and_jacobian(fn, x, 2.0)
    assert tuple(rows.shape) == (3, 4, 5)
    np.testing.assert_allclose(backend.to_numpy(out), backend.to_numpy(fn(x, 2.0)), rtol=1e-6)
    for k in range(3):
        _, g = backend.value_and_grad(lambda v, k=k: xp.sum(fn(v, 2.0)[:, k]), x)
        np.testing.assert_allclose(backend.to_numpy(rows[k]), backend.to_numpy(g), rtol=1e-5, atol=1e-7)
    (out_aux, aux), rows_aux = backend.value_and_jacobian(lambda v, s: (fn(v, s), v @ w), x, 2.0, has_aux=True)
    np.testing.assert_array_equal(backend.to_numpy(out_aux), backend.to_numpy(out))
    np.testing.assert_array_equal(backend.to_numpy(rows_aux), backend.to_numpy(rows))
    np.testing.assert_allclose(backend.to_numpy(aux), backend.to_numpy(x @ w), rtol=1e-6)
    with pytest.raises(InvalidInputError, match=r"\(B, K\)"):
        backend.value_and_jacobian(lambda v: xp.sum(v, axis=1), x)
