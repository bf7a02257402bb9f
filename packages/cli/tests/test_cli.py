"""The `sparring` command: --version, plugins (table, --json, --check, --load)."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from sparring.cli import cli


def test_version_lists_every_installed_package() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("sparring 0.")
    for pkg in ("core", "models", "attacks", "defenses", "data", "cli"):
        assert f"sparring-{pkg} " in result.output


def test_plugins_json_lists_parts_with_their_distribution() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    attacks = {r["name"]: r for r in report["parts"]["attack"]}
    assert attacks["pgd"]["distribution"] == "sparring-attacks"
    assert attacks["pgd"]["params"]["steps"] == 40 and attacks["pgd"]["backends"] == ["torch", "jax"]
    assert {r["name"] for r in report["parts"]["backend"]} >= {"torch", "jax"}
    assert {"dense", "dense-mnist"} <= {r["name"] for r in report["parts"]["model"]}
    assert set(report["parts"]) == {"backend", "model", "dataset", "attack", "defense", "pipeline"}
    assert all(p["status"] == "ok" for p in report["plugins"]) and report["conflicts"] == []


def test_plugins_table_and_check_on_a_healthy_install() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check"])
    assert result.exit_code == 0, result.output
    assert "sparring-attacks" in result.output and "pgd" in result.output


def test_plugins_load_imports_every_factory() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json", "--load"])
    assert result.exit_code == 0, result.output
    rows = [r for rows in json.loads(result.output)["parts"].values() for r in rows]
    assert rows and all(r["status"] == "ok" for r in rows)


def test_console_script_runs_as_a_module() -> None:
    out = subprocess.run([sys.executable, "-m", "sparring.cli", "--help"], capture_output=True, text=True, check=True)
    assert "plugins" in out.stdout
