"""A third-party plugin installed into an environment is found, listed, used and checked.

The plugins under ``tests/fixtures/`` are real distributions, built with hatchling and
installed with ``uv pip install`` into temporary virtual environments, exactly as a
user would install a plugin. Two environments are built (module scope, once):

- ``plugin``: the example plugin and the broken plugin;
- ``duplicate``: the example plugin and a plugin that registers a second ``fgsm``.

Each temporary environment sees the dev environment's packages (sparring, torch, jax)
through a ``.pth`` file calling ``site.addsitedir`` on the dev site-packages, so that
the workspace's editable installs (their own ``.pth`` files) are processed as well;
only the fixture plugins are installed into it. Installs are ``--offline``: uv's cache
already holds hatchling after the workspace sync, and tests use no network.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from venv_tools import find_uv, subprocess_env

from sparring.core.registry import Registry

pytestmark = [pytest.mark.venv, pytest.mark.slow]

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = FIXTURES / "sparring-example-plugin"
BROKEN = FIXTURES / "sparring-broken-plugin"
DUPLICATE = FIXTURES / "sparring-duplicate-plugin"
FIXTURE_DISTS = ("sparring-example-plugin", "sparring-broken-plugin", "sparring-duplicate-plugin")
EPS = 0.1
TIMEOUT = 300


def _env() -> dict[str, str]:
    """The test process's environment, minus what would leak the dev env into subprocesses."""
    # JAX_PLATFORMS: no accelerator probing, the scripts run on CPU; COLUMNS: rich wraps
    # table cells to the terminal width, keep errors on one line
    return subprocess_env(JAX_PLATFORMS="cpu", COLUMNS="400")


def _check(cmd: list, returncode: int, stdout: str, stderr: str, expect: int) -> None:
    if returncode != expect:
        pytest.fail(
            f"`{shlex.join(str(c) for c in cmd)}` exited with {returncode}, expected {expect}\n"
            f"--- stdout ---\n{(stdout or '')[-6000:]}\n--- stderr ---\n{(stderr or '')[-6000:]}",
            pytrace=False,
        )


def _run(cmd: list, *, expect: int = 0, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; fail the test with its stdout and stderr unless it exits ``expect``."""
    try:
        proc = subprocess.run(
            [str(c) for c in cmd],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=cwd,
            timeout=TIMEOUT,
            check=expect == 0,
        )
    except subprocess.CalledProcessError as err:
        _check(cmd, err.returncode, err.stdout, err.stderr, expect)
        raise
    _check(cmd, proc.returncode, proc.stdout, proc.stderr, expect)
    return proc


def _run_parallel(cmds: list[list]) -> list[subprocess.CompletedProcess[str]]:
    """Run ``cmds`` side by side (CI has 2 cores); each must exit 0."""
    procs = [
        subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for cmd in cmds
    ]
    done = []
    for cmd, proc in zip(cmds, procs):
        try:
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        _check(cmd, proc.returncode, stdout, stderr, 0)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return done


def _last_json(proc: subprocess.CompletedProcess[str]) -> dict:
    """The JSON object a script printed as its last stdout line."""
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as err:
        pytest.fail(f"no JSON on the last stdout line ({err})\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")


def _env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _make_env(uv: str, root: Path, name: str, *fixtures: Path) -> Path:
    """A venv under ``root`` that sees the dev packages and has ``fixtures`` installed."""
    env_dir = root / name
    _run([uv, "venv", env_dir, "--python", sys.executable, "--quiet"], cwd=root)
    python = _env_python(env_dir)
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    dev_dirs = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(site) / "_sparring_dev_env.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in dev_dirs), encoding="utf-8"
    )
    proc = subprocess.run(
        [uv, "pip", "install", "--python", str(python), "--offline", "--no-deps", *map(str, fixtures)],
        capture_output=True, text=True, env=_env(), cwd=root, timeout=TIMEOUT,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"installing {', '.join(f.name for f in fixtures)} with `uv pip install --offline` failed "
            "(uv's cache must hold hatchling: run `uv sync` first, and do not `uv cache prune --ci` "
            f"before the tests)\n--- stderr ---\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return python


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Python executables of the two environments (see the module docstring)."""
    uv = find_uv()
    root = tmp_path_factory.mktemp("plugin-envs")
    return {
        "plugin": _make_env(uv, root, "plugin", EXAMPLE, BROKEN),
        "duplicate": _make_env(uv, root, "duplicate", EXAMPLE, DUPLICATE),
    }


@pytest.fixture(scope="module")
def plugin_report(envs: dict[str, Path]) -> dict:
    """``sparring plugins --json`` in the environment with the example and broken plugins."""
    proc = _run([envs["plugin"], "-P", "-m", "sparring.cli", "plugins", "--json"])
    return json.loads(proc.stdout)


# Runs the example attack through the registry on a tiny dense model of the backend given
# as argv[2], and on torch sparring's own pgd too (on jax it spends seconds compiling).
ATTACK_SCRIPT = r"""
import json, sys
import numpy as np
import sparring.attacks
from sparring.core import get_registry
from sparring.models import build_model

registry = get_registry()
spec = registry.get_attack("random-sign")
random_sign = spec.load()
out = {
    "provider": registry.provider("attack", "random-sign").distribution,
    "loaded": f"{random_sign.__module__}:{random_sign.__qualname__}",
    "runs": {},
}
EPS, BACKEND = float(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
x_np = rng.uniform(0.0, 1.0, (6, 8)).astype(np.float32)
x_np[0, :4] = [0.0, 1.0, 0.03, 0.98]  # entries the noise may push out of [0, 1]
y_np = rng.integers(0, 3, 6)
for backend in (BACKEND,):  # one backend per process, the two processes side by side
    model = build_model("dense", backend=backend, input_shape=(8,), hidden=(16,), num_classes=3)
    be = model.backend
    x, y = be.asarray(x_np), be.asarray(y_np)
    attacks = [("random-sign", random_sign, {"seed": 1})]
    if backend == "torch":
        attacks.append(("pgd", sparring.attacks.pgd, {"steps": 3}))
    for name, attack, kwargs in attacks:
        r = attack(model, x, y, eps=EPS, **kwargs)
        x_adv = be.to_numpy(r.x_adv)
        success = be.to_numpy(r.success)
        with be.no_grad():
            pred = be.to_numpy(be.xp.argmax(model(be.asarray(x_adv)), axis=1))
        out["runs"][f"{name}/{backend}"] = {
            "result_type": type(r).__name__,
            "x_adv_shape": list(x_adv.shape),
            "x_adv_dtype": str(x_adv.dtype),
            "max_dist": float(np.abs(x_adv - x_np).max()),
            "min": float(x_adv.min()),
            "max": float(x_adv.max()),
            "success_shape": list(success.shape),
            "success_dtype": str(success.dtype),
            "success_is_forward": bool((success == (pred != y_np)).all()),
            "norms": be.to_numpy(r.norms).tolist(),
            "linf": np.abs(x_adv - x_np).max(axis=1).tolist(),
            "norm": r.norm,
            "gradients": r.gradients,
            "forwards": r.forwards,
        }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def attack_runs(envs: dict[str, Path]) -> dict:
    """The script's results, torch and jax runs merged (one process each, side by side)."""
    cmds = [[envs["plugin"], "-P", "-c", ATTACK_SCRIPT, str(EPS), b] for b in ("torch", "jax")]
    outs = [_last_json(proc) for proc in _run_parallel(cmds)]
    merged = dict(outs[0])
    merged["runs"] = {k: v for out in outs for k, v in out["runs"].items()}
    return merged


def _rows(report: dict, kind: str) -> dict[str, dict]:
    return {row["name"]: row for row in report["parts"][kind]}


def _plugin(report: dict, distribution: str) -> dict:
    found = [p for p in report["plugins"] if p["distribution"] == distribution]
    assert len(found) == 1, f"expected one plugin from {distribution}, got {report['plugins']}"
    return found[0]


# -- (a) the dev environment ----------------------------------------------------------
def test_dev_environment_does_not_see_the_fixture_plugins() -> None:
    assert "random-sign" not in Registry().names("attack"), (
        "the dev environment registers random-sign: a fixture plugin was installed into it "
        "(`uv sync` removes it)"
    )
    for dist in FIXTURE_DISTS:
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.distribution(dist)
    for module in ("sparring_example", "sparring_broken", "sparring_duplicate"):
        assert importlib.util.find_spec(module) is None, f"{module} is importable in the dev environment"


# -- (b) the example plugin, installed --------------------------------------------------
def test_cli_lists_the_example_attack(plugin_report: dict) -> None:
    row = _rows(plugin_report, "attack").get("random-sign")
    assert row is not None, f"random-sign not listed: {plugin_report['parts']['attack']}"
    assert row["distribution"] == "sparring-example-plugin"
    assert row["status"] == "ok" and row["error"] is None
    assert row["factory"] == "sparring_example.attack:random_sign"
    assert row["backends"] == ["torch", "jax"]
    assert row["summary"] == "random-sign noise of size eps, a baseline"
    assert row["params"] == {"seed": 0}
    plugin = _plugin(plugin_report, "sparring-example-plugin")
    assert (plugin["name"], plugin["module"], plugin["status"]) == ("example", "sparring_example.plugin", "ok")
    assert plugin["registered"] == {"attack": ["random-sign"]}
    assert plugin_report["versions"]["sparring-example-plugin"] == "0.1.0"


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_example_attack_runs_from_the_registry(attack_runs: dict, backend: str) -> None:
    assert attack_runs["provider"] == "sparring-example-plugin"
    assert attack_runs["loaded"] == "sparring_example.attack:random_sign"
    run = attack_runs["runs"][f"random-sign/{backend}"]
    assert run["result_type"] == "AttackResult"
    assert (run["x_adv_shape"], run["x_adv_dtype"]) == ([6, 8], "float32")
    assert run["max_dist"] <= EPS + 1e-6, f"x_adv is {run['max_dist']} from x, more than eps={EPS}"
    assert run["max_dist"] >= EPS - 1e-6, "no noise of size eps was added"
    assert 0.0 <= run["min"] and run["max"] <= 1.0, f"x_adv outside [0, 1]: [{run['min']}, {run['max']}]"
    assert (run["success_shape"], run["success_dtype"]) == ([6], "bool")
    assert run["success_is_forward"], "success disagrees with argmax(model(x_adv)) != y"
    assert run["norms"] == pytest.approx(run["linf"], abs=1e-6)
    assert (run["norm"], run["gradients"], run["forwards"]) == ("linf", 0, 1)


# -- (c) a broken plugin next to working ones ------------------------------------------
def test_broken_plugin_is_reported_and_the_others_keep_working(plugin_report: dict) -> None:
    broken = _plugin(plugin_report, "sparring-broken-plugin")
    assert broken["status"] == "broken"
    assert "RuntimeError" in broken["error"] and "broken on purpose" in broken["error"], broken["error"]
    assert broken["registered"] == {}
    attacks = _rows(plugin_report, "attack")
    for name in ("fgsm", "pgd", "random-sign"):
        assert name in attacks and attacks[name]["status"] == "ok", f"{name} missing or broken: {attacks}"
    assert attacks["pgd"]["distribution"] == "sparring-attacks"
    assert "dense" in _rows(plugin_report, "model")
    ok = {p["distribution"] for p in plugin_report["plugins"] if p["status"] == "ok"}
    assert {"sparring-attacks", "sparring-models", "sparring-example-plugin"} <= ok
    assert plugin_report["conflicts"] == []


def test_pgd_still_runs_next_to_a_broken_plugin(attack_runs: dict) -> None:
    run = attack_runs["runs"]["pgd/torch"]
    assert run["result_type"] == "AttackResult"
    assert run["max_dist"] <= EPS + 1e-6
    assert 0.0 <= run["min"] and run["max"] <= 1.0
    assert run["success_shape"] == [6] and run["success_is_forward"]
    assert run["norm"] == "linf" and run["gradients"] == 3


def test_check_fails_on_a_broken_plugin(envs: dict[str, Path]) -> None:
    proc = _run([envs["plugin"], "-P", "-m", "sparring.cli", "plugins", "--check"], expect=1)
    assert "broken on purpose" in proc.stdout, proc.stdout
    assert "random-sign" in proc.stdout, proc.stdout


# -- (d) two plugins claiming one name -------------------------------------------------
def test_cli_reports_the_duplicate_name(envs: dict[str, Path]) -> None:
    proc = _run([envs["duplicate"], "-P", "-m", "sparring.cli", "plugins", "--json", "--check"], expect=1)
    report = json.loads(proc.stdout)
    conflicts = [(c["kind"], c["name"]) for c in report["conflicts"]]
    assert conflicts == [("attack", "fgsm")], report["conflicts"]
    (conflict,) = report["conflicts"]
    providers = " ".join(conflict["providers"])
    for dist in ("sparring-attacks", "sparring-duplicate-plugin"):
        assert dist in providers and dist in conflict["error"], conflict
    attacks = _rows(report, "attack")
    assert "fgsm" not in attacks, "a name claimed twice must not be served by either plugin"
    assert {"pgd", "random-sign"} <= set(attacks)
    for dist in ("sparring-attacks", "sparring-duplicate-plugin", "sparring-example-plugin"):
        assert _plugin(report, dist)["status"] == "ok", _plugin(report, dist)  # a conflict breaks no plugin


DUPLICATE_SCRIPT = r"""
import json, sys
from sparring.core import get_registry
from sparring.core.errors import DuplicateNameError

registry = get_registry()
try:
    registry.get("attack", "fgsm")
except DuplicateNameError as err:
    out = {"error": str(err), "providers": list(err.providers)}
else:
    out = {"error": None}
out["pgd"] = registry.get_attack("pgd").factory
out["frameworks"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "jax", "jaxlib"))
print(json.dumps(out))
"""


def test_registry_get_raises_duplicate_name_error(envs: dict[str, Path]) -> None:
    out = _last_json(_run([envs["duplicate"], "-P", "-c", DUPLICATE_SCRIPT]))
    assert out["error"] is not None, "registry.get('attack', 'fgsm') did not raise DuplicateNameError"
    for dist in ("sparring-attacks", "sparring-duplicate-plugin"):
        assert dist in out["error"], out["error"]
    assert len(out["providers"]) == 2
    assert out["pgd"] == "sparring.attacks.pgd:pgd"
    assert out["frameworks"] == [], f"building the registry with the fixture plugins imported {out['frameworks']}"
