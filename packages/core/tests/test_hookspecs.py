"""Meta-tests: every hook is documented, typed, and known to the registry (datasette's rule)."""

from __future__ import annotations

import inspect
from pathlib import Path

from sparring.core import hookspecs

DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"


def _hooks() -> dict[str, object]:
    return {n: f for n, f in vars(hookspecs).items() if n.startswith("register_") and callable(f)}


def test_every_hook_has_a_docstring_and_return_type() -> None:
    for name, fn in _hooks().items():
        assert inspect.getdoc(fn), f"hook {name} has no docstring"
        assert inspect.signature(fn).return_annotation != inspect.Signature.empty, name


def test_registry_knows_every_hook() -> None:
    assert {hook for hook, _ in hookspecs.HOOKS.values()} == set(_hooks())


def test_every_hook_is_documented_in_the_plugin_guide() -> None:
    text = DOCS.read_text()
    for name in _hooks():
        assert name in text, f"docs/plugins.md does not document {name}"
