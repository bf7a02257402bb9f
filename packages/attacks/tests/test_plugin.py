"""The registered specs match the functions they point to."""

from __future__ import annotations

import inspect

import pytest

from sparring.attacks import plugin


@pytest.mark.parametrize("spec", plugin.register_attacks(), ids=lambda s: s.name)
def test_spec_params_are_the_function_defaults(spec) -> None:
    fn = spec.load()
    defaults = {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
    }
    assert dict(spec.params) == defaults
    assert spec.backends == ("torch", "jax")
    assert fn.__module__.split(".")[-1] in spec.factory
