"""Spec records are frozen, validated and lazy."""

from __future__ import annotations

import dataclasses

import pytest

from sparring.core import AttackSpec, ModelSpec
from sparring.core.errors import ConfigError, SparringError
from sparring.core.records import SPEC_KINDS


def test_frozen_and_params_read_only() -> None:
    spec = AttackSpec(name="pgd", summary="s", factory="m:f", backends=["torch"], params={"steps": 40})
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.params["steps"] = 1  # type: ignore[index]
    assert spec.backends == ("torch",) and spec.kind == "attack" and spec.minimum_norm is False


@pytest.mark.parametrize("factory", ["no_colon", "", 3])
def test_factory_must_be_module_colon_attr(factory: object) -> None:
    with pytest.raises(ConfigError, match="module:attribute"):
        ModelSpec(name="m", summary="s", factory=factory)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", " padded", None])
def test_name_must_be_a_clean_string(name: object) -> None:
    with pytest.raises(ConfigError, match="name"):
        AttackSpec(name=name, summary="s", factory="a:b")  # type: ignore[arg-type]


def test_load_resolves_lazily() -> None:
    spec = AttackSpec(name="join", summary="s", factory="os.path:join")
    import os.path

    assert spec.load() is os.path.join


def test_every_kind_has_a_record() -> None:
    assert set(SPEC_KINDS) == {"backend", "model", "dataset", "attack", "defense", "pipeline"}


def test_config_error_is_also_value_error() -> None:
    with pytest.raises(ValueError):
        AttackSpec(name="", summary="s", factory="a:b")
    assert issubclass(ConfigError, SparringError)
