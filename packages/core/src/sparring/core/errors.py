"""Errors raised by sparring for bad input, bad plugins and bad files.

Every error is a :class:`SparringError`; the specific subclasses also inherit the
builtin exception they refine (``ValueError``, ``LookupError``, ...), so callers can
catch either. Messages say what was wrong, the value received and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "SparringError",
    "ConfigError",
    "InvalidInputError",
    "UnknownNameError",
    "DuplicateNameError",
    "PluginLoadError",
    "UnsupportedBackendError",
    "BackendUnavailableError",
    "CheckpointMismatchError",
    "DataError",
]


class SparringError(Exception):
    """Base class of every error sparring raises on purpose."""


class ConfigError(SparringError, ValueError):
    """A configuration value (pipeline file, keyword argument) is malformed or impossible."""


class InvalidInputError(SparringError, ValueError):
    """An array given to sparring has the wrong shape, dtype or values (NaN, out of range)."""


class UnknownNameError(SparringError, LookupError):
    """A plugin name is not registered; the message suggests the closest registered names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(self.known) if self.known else "(none registered)"
        super().__init__(
            f"unknown {kind} {name!r}.{hint} Registered {kind}s: {listing}. "
            "Run `sparring plugins` to see every plugin and its status."
        )


class DuplicateNameError(SparringError, LookupError):
    """Two plugins registered the same name for the same kind of part."""

    def __init__(self, kind: str, name: str, providers: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.providers = tuple(providers)
        super().__init__(
            f"{kind} {name!r} is registered by more than one plugin: "
            f"{' and '.join(self.providers)}. Uninstall one of these distributions, or "
            "rename the part in the plugin you control."
        )


class PluginLoadError(SparringError, ImportError):
    """A plugin (or a spec's lazy factory) could not be imported or called."""


class UnsupportedBackendError(SparringError, ValueError):
    """A part was asked to run on a backend it does not support."""


class BackendUnavailableError(SparringError, ImportError):
    """A backend's framework (torch, jax) or device is not installed or not present."""


class CheckpointMismatchError(SparringError, ValueError):
    """A weights file does not match the model: lists every missing, unexpected and misshaped entry."""

    def __init__(
        self,
        path: str,
        *,
        missing: Iterable[str] = (),
        unexpected: Iterable[str] = (),
        shapes: Iterable[tuple[str, tuple[int, ...], tuple[int, ...]]] = (),
    ) -> None:
        self.missing = tuple(missing)
        self.unexpected = tuple(unexpected)
        self.shapes = tuple(shapes)
        lines = [f"weights in {path} do not match the model:"]
        lines += [f"  missing from the file: {name}" for name in self.missing]
        lines += [f"  not in the model: {name}" for name in self.unexpected]
        lines += [
            f"  {name}: file has shape {fs}, model expects {ms}" for name, fs, ms in self.shapes
        ]
        lines.append("Build the model with the same architecture and sizes the file was saved from.")
        super().__init__("\n".join(lines))


class DataError(SparringError, ValueError):
    """A dataset file is missing, truncated, corrupt or holds invalid values."""
