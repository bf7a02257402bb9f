"""The built-in pipelines: each factory returns the text of its TOML file in ``pipelines/``."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

from .plugin import BUILTIN

__all__ = ["pipeline_text", *(name.replace("-", "_") for name in BUILTIN)]


def pipeline_text(name: str) -> str:
    return (files("sparring.cli") / "pipelines" / f"{name}.toml").read_text(encoding="utf-8")


def _factory(name: str) -> Callable[[], str]:
    def load() -> str:
        return pipeline_text(name)

    load.__name__ = load.__qualname__ = name.replace("-", "_")
    load.__doc__ = f"The text of the built-in pipeline {name!r}."
    return load


for _name in BUILTIN:
    globals()[_name.replace("-", "_")] = _factory(_name)
