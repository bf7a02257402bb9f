from __future__ import annotations

import pytest

BACKENDS = ["torch", "jax"]


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    pytest.importorskip(request.param)
    return request.param
