"""Importing the framework-free packages loads neither torch nor jax."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMEWORKS = ("torch", "jax", "jaxlib", "flax", "optax")


@pytest.mark.parametrize(
    "module",
    ["sparring.core", "sparring.attacks", "sparring.defenses", "sparring.models", "sparring.data", "sparring.cli"],
)
def test_import_loads_no_framework(module: str) -> None:
    code = (
        "import sys, importlib\n"
        f"importlib.import_module({module!r})\n"
        "from sparring.core import get_registry\n"
        "get_registry().plugins()\n"  # building the registry must not import them either
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing {module} loaded {out.stdout.strip()}"
