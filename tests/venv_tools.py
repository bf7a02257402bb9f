"""What the tests that build temporary environments share (imported by name)."""

from __future__ import annotations

import os
import shutil

import pytest

# variables that would leak the dev environment into a subprocess's interpreter
LEAKY_VARIABLES = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"})


def find_uv() -> str:
    """The uv binary; skip without it, but fail under CI, which must provide it."""
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets UV to its own binary
    if uv is None:
        if os.environ.get("CI"):
            pytest.fail("uv is not on PATH; the CI image must provide it")
        pytest.skip("uv is not on PATH")
    return uv


def subprocess_env(**extra: str) -> dict[str, str]:
    """This process's environment without the leaky variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_VARIABLES}
    env.update(extra)
    return env
