"""A run directory: what a pipeline run writes, atomically, and which stages are done.

``run.json`` records the pipeline, each finished stage and ``complete``: it says
``complete: true`` only after every stage and every report file was written, so an
interrupted or failed run never looks finished; ``--resume`` skips the stages it lists.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from sparring.core.atomic import write_text
from sparring.core.errors import ConfigError

__all__ = ["RunDir", "environment"]


class RunDir:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.status_path = self.root / "run.json"

    @classmethod
    def choose(cls, out: str | None, name: str, *, resume: bool) -> RunDir:
        """``out`` as given; else ``runs/<name>`` (a fresh ``runs/<name>-N`` when it is taken and not resuming)."""
        if out is not None:
            run = cls(out)
            if run.root.exists() and any(run.root.iterdir()) and not resume:
                raise ConfigError(
                    f"run directory {run.root} already holds a run; add --resume to continue it or give another --out"
                )
            if resume and not run.status_path.exists():
                raise ConfigError(f"--resume: {run.root} holds no run (no run.json); drop --resume to start one")
            return run
        base = Path("runs") / name
        if resume:
            if not (base / "run.json").exists():
                raise ConfigError(f"--resume: {base} holds no run; give the run directory with --out")
            return cls(base)
        candidate, i = base, 2
        while candidate.exists() and any(candidate.iterdir()):
            candidate, i = Path(f"{base}-{i}"), i + 1
        return cls(candidate)

    def status(self) -> dict[str, Any]:
        if not self.status_path.exists():
            return {"stages": {}, "complete": False}
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ConfigError(f"{self.status_path} is unreadable ({err}); start a new run") from err

    def _write_status(self, status: dict[str, Any]) -> None:
        write_text(self.status_path, json.dumps(status, indent=1))

    def start(self, pipeline: str, config_toml: str, *, resume: bool) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        status = self.status() if resume else {"stages": {}}
        if resume and status.get("config") and (self.root / "config.toml").exists():
            if (self.root / "config.toml").read_text(encoding="utf-8") != config_toml:
                raise ConfigError(
                    f"--resume: the resolved configuration differs from the one in {self.root / 'config.toml'}; "
                    "resume with the same pipeline and --set options, or start a new run"
                )
        write_text(self.root / "config.toml", config_toml)
        write_text(self.root / "environment.json", json.dumps(environment(), indent=1))
        status.update({"pipeline": pipeline, "config": "config.toml", "complete": False, "error": None,
                       "started": status.get("started") or time.strftime("%Y-%m-%dT%H:%M:%S")})
        self._write_status(status)

    def done(self, stage: str) -> bool:
        return self.status()["stages"].get(stage) == "done"

    def mark(self, stage: str) -> None:
        status = self.status()
        status["stages"][stage] = "done"
        self._write_status(status)

    def finish(self, error: str | None = None) -> None:
        status = self.status()
        status["complete"] = error is None
        status["error"] = error
        status["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        self._write_status(status)


def environment() -> dict[str, Any]:
    import importlib.metadata as md

    packages = {}
    for name in ("torch", "jax", "jaxlib", "flax", "optax", "numpy", "matplotlib"):
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    for dist in md.distributions():
        n = dist.metadata["Name"] or ""
        if n.startswith("sparring"):
            packages[n] = dist.version
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "packages": dict(sorted(packages.items()))}
