from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

BACKENDS = ["torch", "jax"]


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    pytest.importorskip(request.param)
    return request.param


@pytest.fixture
def backend(backend_name: str):
    from sparring.models import get_backend

    return get_backend(backend_name, "cpu")


@pytest.fixture(autouse=True)
def _strict_jax_dtypes() -> Iterator[None]:
    """Catch silent float64/complex promotions in the JAX code (equinox's test setting)."""
    if importlib.util.find_spec("jax") is None:
        yield
        return
    import jax

    with jax.numpy_dtype_promotion("strict"):
        yield
