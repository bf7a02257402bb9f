"""sparring-core and sparring-attacks install into a bare environment and work without a framework.

A fresh virtual environment (no access to the dev environment) receives real, non-editable
installs of ``packages/core`` and ``packages/attacks`` plus the third-party packages their
``pyproject.toml`` files declare (pluggy, numpy), and nothing else: then ``import
sparring.attacks`` must work, the registry must list the attacks, and neither torch nor jax
may be importable there.

Offline: the declared dependencies are installed at the versions of the dev environment,
which the workspace sync left in uv's cache, with ``--no-deps`` (uv's offline resolver
would want index metadata the lock-based sync never fetched); ``uv pip check`` then
confirms every requirement of the environment is met, as a resolver would have ensured.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from venv_tools import find_uv, subprocess_env
from packaging.requirements import Requirement

pytestmark = [pytest.mark.venv, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "packages" / "core", ROOT / "packages" / "attacks"]
TIMEOUT = 300

SCRIPT = r"""
import importlib.util, json, sys
import sparring.attacks
import sparring.core
from sparring.core import get_registry

registry = get_registry()
print(json.dumps({
    "core_file": sparring.core.__file__,
    "pgd_callable": callable(sparring.attacks.pgd),
    "pgd_from_registry": registry.get_attack("pgd").load() is sparring.attacks.pgd,
    "torch": importlib.util.find_spec("torch") is not None,
    "jax": importlib.util.find_spec("jax") is not None,
    "attacks": registry.names("attack"),
    "plugins": {p.distribution: p.error for p in registry.plugins()},
}))
"""


def _run(cmd: list, cwd: Path, hint: str = "") -> subprocess.CompletedProcess[str]:
    env = subprocess_env()
    cmd = [str(c) for c in cmd]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=TIMEOUT, check=True)
    except subprocess.CalledProcessError as err:
        pytest.fail(
            f"`{shlex.join(cmd)}` exited with {err.returncode}{hint}\n"
            f"--- stdout ---\n{err.stdout[-6000:]}\n--- stderr ---\n{err.stderr[-6000:]}",
            pytrace=False,
        )


def _declared_dependencies() -> list[str]:
    """``name==version`` (the dev environment's version) of every third-party dependency
    that the installed packages declare."""
    names = set()
    for pkg in PACKAGES:
        project = tomllib.loads((pkg / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        for dep in project.get("dependencies", []):
            req = Requirement(dep)
            if not req.name.startswith("sparring") and (req.marker is None or req.marker.evaluate()):
                names.add(req.name)
    return [f"{name}=={metadata.version(name)}" for name in sorted(names)]


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory):
    uv = find_uv()
    root = tmp_path_factory.mktemp("fresh-venv")
    env_dir = root / "env"
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run([uv, "venv", env_dir, "--python", sys.executable, "--quiet"], root)
    _run(
        [uv, "pip", "install", "--python", python, "--offline", "--no-deps", *_declared_dependencies(), *PACKAGES],
        root,
        hint=" (uv's cache must hold hatchling and the locked wheels: run `uv sync` first, "
        "and do not `uv cache prune --ci` before the tests)",
    )
    _run([uv, "pip", "check", "--python", python], root)
    yield python, env_dir, root
    shutil.rmtree(root, ignore_errors=True)  # holds a copy of numpy


def test_attacks_work_in_a_fresh_env_without_frameworks(fresh_env) -> None:
    python, env_dir, root = fresh_env
    out = json.loads(_run([python, "-P", "-c", SCRIPT], root).stdout.strip().splitlines()[-1])
    assert Path(out["core_file"]).resolve().is_relative_to(env_dir.resolve()), (
        f"sparring.core came from {out['core_file']}, not from the fresh environment"
    )
    assert out["pgd_callable"] and out["pgd_from_registry"]
    assert not out["torch"], "torch is importable in an environment with only sparring-core and sparring-attacks"
    assert not out["jax"], "jax is importable in an environment with only sparring-core and sparring-attacks"
    assert {"fgsm", "pgd"} <= set(out["attacks"]), out["attacks"]
    assert out["plugins"] == {"sparring-attacks": None}, out["plugins"]
