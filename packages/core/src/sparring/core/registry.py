"""The plugin registry: every backend, model, dataset, attack, defense and pipeline.

Plugins are found through the entry-point group ``sparring`` (first-party packages
register themselves exactly like third-party ones). The registry is built once,
lazily, on first use. A plugin that fails to import or whose hook raises is recorded
as broken (see :meth:`Registry.plugins`) and the others keep working; two plugins
claiming one name make that name unusable with a :class:`DuplicateNameError` naming
both distributions; an unknown name raises :class:`UnknownNameError` with the closest
registered names.
"""

from __future__ import annotations

import importlib.metadata as metadata
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
import pluggy

from . import hookspecs
from .errors import DuplicateNameError, UnknownNameError
from .records import (
    AttackSpec,
    BackendSpec,
    DatasetSpec,
    DefenseSpec,
    ModelSpec,
    PipelineSpec,
    PluginSpec,
)

__all__ = ["PluginInfo", "Registry", "get_registry", "reset_registry"]


@dataclass
class PluginInfo:
    """One plugin as loaded: where it came from, what it registered, what went wrong."""

    name: str
    distribution: str
    version: str
    module: str
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "broken" if self.error else "ok"


@dataclass(frozen=True)
class _Entry:
    spec: PluginSpec
    plugin: PluginInfo


def _describe(err: BaseException) -> str:
    last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(err).__name__}: {err}{where}"


class Registry:
    """Typed access to everything the installed plugins register.

    Args:
        entry_points: the entry points to load; default: the ``sparring`` group of the
            installed distributions.
        plugins: extra ``(plugin object, PluginInfo)`` pairs registered directly (tests,
            embedding applications).
    """

    def __init__(
        self,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
        plugins: Iterable[tuple[object, PluginInfo]] = (),
    ) -> None:
        self._entry_points = entry_points
        self._extra = list(plugins)
        self._lock = threading.Lock()
        self._built = False
        self._plugins: list[PluginInfo] = []
        self._parts: dict[str, dict[str, list[_Entry]]] = {}

    # -- building ---------------------------------------------------------------------
    def _ensure_built(self) -> None:
        if self._built:
            return
        with self._lock:
            if not self._built:
                self._build()
                self._built = True

    def _build(self) -> None:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        loaded: list[tuple[object, PluginInfo]] = []
        eps = (
            self._entry_points
            if self._entry_points is not None
            else metadata.entry_points(group=hookspecs.PROJECT)
        )
        for ep in sorted(eps, key=lambda e: (e.dist.name if e.dist else "", e.name)):
            dist = ep.dist
            info = PluginInfo(
                name=ep.name,
                distribution=dist.name if dist else "<unknown>",
                version=dist.version if dist else "?",
                module=ep.value,
            )
            self._plugins.append(info)
            try:
                obj = ep.load()
                pm.register(obj, name=f"{info.distribution}:{ep.name}")
            except Exception as err:  # third-party import failures must not stop the others
                info.error = _describe(err)
                continue
            loaded.append((obj, info))
        for obj, info in self._extra:
            self._plugins.append(info)
            try:
                pm.register(obj, name=f"{info.distribution}:{info.name}")
            except Exception as err:
                info.error = _describe(err)
                continue
            loaded.append((obj, info))
        by_name = {f"{info.distribution}:{info.name}": info for _, info in loaded}
        while True:  # an impl named after no hook (a typo) breaks its plugin only
            try:
                pm.check_pending()
                break
            except pluggy.PluginValidationError as err:
                name = pm.get_name(err.plugin)
                by_name[name].error = f"PluginValidationError: {err}"
                pm.unregister(err.plugin)
        for kind, (hook_name, record_type) in hookspecs.HOOKS.items():
            table: dict[str, list[_Entry]] = {}
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                info = by_name[impl.plugin_name]
                if info.error is not None:
                    continue
                try:
                    specs = list(impl.function() or [])
                    bad = [s for s in specs if not isinstance(s, record_type)]
                    if bad:
                        raise TypeError(
                            f"{hook_name} must return {record_type.__name__} records, "
                            f"got {type(bad[0]).__name__}"
                        )
                except Exception as err:  # a broken hook must not stop the others
                    info.error = _describe(err)
                    continue
                for spec in specs:
                    table.setdefault(spec.name, []).append(_Entry(spec, info))
                    info.registered.setdefault(kind, []).append(spec.name)
            self._parts[kind] = table
        # parts of a plugin that broke part-way are not served
        for kind, table in self._parts.items():
            for name in list(table):
                table[name] = [e for e in table[name] if e.plugin.error is None]
                if not table[name]:
                    del table[name]

    # -- queries ----------------------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        """Every plugin found, broken ones included (``info.error`` says why)."""
        self._ensure_built()
        return list(self._plugins)

    def conflicts(self) -> list[DuplicateNameError]:
        """One error per name claimed by more than one plugin."""
        self._ensure_built()
        return [
            DuplicateNameError(kind, name, [_provider(e) for e in entries])
            for kind, table in self._parts.items()
            for name, entries in sorted(table.items())
            if len(entries) > 1
        ]

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind (``"attack"``, ``"model"``, ...), sorted."""
        return sorted(self._table(kind))

    def specs(self, kind: str) -> dict[str, PluginSpec]:
        """Name -> spec for one kind; names claimed twice are left out (see conflicts())."""
        return {n: e[0].spec for n, e in sorted(self._table(kind).items()) if len(e) == 1}

    def provider(self, kind: str, name: str) -> PluginInfo:
        """The plugin that registered ``name``."""
        self.get(kind, name)
        return self._table(kind)[name][0].plugin

    def get(self, kind: str, name: str) -> PluginSpec:
        """The spec registered under ``name``; unknown or duplicated names raise."""
        table = self._table(kind)
        entries = table.get(name)
        if not entries:
            raise UnknownNameError(kind, name, table)
        if len(entries) > 1:
            raise DuplicateNameError(kind, name, [_provider(e) for e in entries])
        return entries[0].spec

    def _table(self, kind: str) -> dict[str, list[_Entry]]:
        self._ensure_built()
        if kind not in self._parts:
            raise UnknownNameError("kind of part", kind, self._parts)
        return self._parts[kind]

    # typed shortcuts (tox's pattern: no raw pm.hook outside this module)
    def get_backend(self, name: str) -> BackendSpec:
        return self.get("backend", name)  # type: ignore[return-value]

    def get_model(self, name: str) -> ModelSpec:
        return self.get("model", name)  # type: ignore[return-value]

    def get_dataset(self, name: str) -> DatasetSpec:
        return self.get("dataset", name)  # type: ignore[return-value]

    def get_attack(self, name: str) -> AttackSpec:
        return self.get("attack", name)  # type: ignore[return-value]

    def get_defense(self, name: str) -> DefenseSpec:
        return self.get("defense", name)  # type: ignore[return-value]

    def get_pipeline(self, name: str) -> PipelineSpec:
        return self.get("pipeline", name)  # type: ignore[return-value]


def _provider(entry: _Entry) -> str:
    return f"{entry.plugin.distribution} ({entry.plugin.module})"


_REGISTRY: Registry | None = None
_REGISTRY_LOCK = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry of installed plugins, built lazily once."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = Registry()
        return _REGISTRY


def reset_registry() -> None:
    """Forget the process-wide registry (after installing a plugin at run time)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        _REGISTRY = None
