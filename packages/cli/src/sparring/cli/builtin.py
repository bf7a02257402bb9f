"""The built-in pipelines: each factory returns the text of its TOML file."""

from __future__ import annotations

from importlib.resources import files

__all__ = ["pipeline_text", "quickstart"]


def pipeline_text(name: str) -> str:
    return (files("sparring.cli") / "pipelines" / f"{name}.toml").read_text(encoding="utf-8")


def quickstart() -> str:
    return pipeline_text("quickstart")
