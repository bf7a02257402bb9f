"""Hook specifications of sparring (pluggy project name ``"sparring"``).

A plugin is a module (or object) with functions marked ``@hookimpl`` and named after
these specs, advertised through the entry-point group ``sparring``::

    [project.entry-points.sparring]
    my-attacks = "my_package.plugin"

Each ``register_*`` hook is called once, when the registry is first built, and
returns a list of spec records (``[]`` for none). Implementations must not import
torch or jax: factories are ``"module:attr"`` strings imported only when used.
"""

from __future__ import annotations

import pluggy

from .records import AttackSpec, BackendSpec, DatasetSpec, DefenseSpec, ModelSpec, PipelineSpec

__all__ = ["PROJECT", "hookspec", "hookimpl", "HOOKS"]

PROJECT = "sparring"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backends() -> list[BackendSpec]:  # type: ignore[empty-body]
    """Return the framework backends this plugin provides (``BackendSpec`` records)."""


@hookspec
def register_models() -> list[ModelSpec]:  # type: ignore[empty-body]
    """Return the model architectures and presets this plugin provides."""


@hookspec
def register_datasets() -> list[DatasetSpec]:  # type: ignore[empty-body]
    """Return the dataset readers this plugin provides."""


@hookspec
def register_attacks() -> list[AttackSpec]:  # type: ignore[empty-body]
    """Return the attacks this plugin provides."""


@hookspec
def register_defenses() -> list[DefenseSpec]:  # type: ignore[empty-body]
    """Return the robust training objectives this plugin provides."""


@hookspec
def register_pipelines() -> list[PipelineSpec]:  # type: ignore[empty-body]
    """Return the named experiment pipelines this plugin provides."""


HOOKS: dict[str, tuple[str, type]] = {
    "backend": ("register_backends", BackendSpec),
    "model": ("register_models", ModelSpec),
    "dataset": ("register_datasets", DatasetSpec),
    "attack": ("register_attacks", AttackSpec),
    "defense": ("register_defenses", DefenseSpec),
    "pipeline": ("register_pipelines", PipelineSpec),
}
"""Kind of part -> (hook name, record type)."""
