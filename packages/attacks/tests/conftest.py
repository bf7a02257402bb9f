from __future__ import annotations

import pytest

from attack_helpers import tiny_model


@pytest.fixture(params=["torch", "jax"])
def backend_name(request: pytest.FixtureRequest) -> str:
    pytest.importorskip(request.param)
    return request.param


@pytest.fixture
def model(backend_name: str):
    return tiny_model(backend_name)
