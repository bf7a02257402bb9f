"""The registry: lazy build, broken plugins recorded, duplicates and unknown names."""

from __future__ import annotations

import importlib.metadata as metadata
import sys
import types

import pytest

from sparring.core import AttackSpec, DatasetSpec, ModelSpec, PluginInfo, Registry, hookimpl
from sparring.core.errors import DuplicateNameError, PluginLoadError, SparringError, UnknownNameError


def _plugin(name: str, **hooks: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(**hooks, __name__=name)


def _attacks(*names: str, dist: str = "pkg-a") -> types.SimpleNamespace:
    @hookimpl
    def register_attacks() -> list[AttackSpec]:
        return [AttackSpec(name=n, summary=f"{n} attack", factory=f"{dist}.mod:{n}") for n in names]

    return _plugin(dist, register_attacks=register_attacks)


def _info(name: str, dist: str) -> PluginInfo:
    return PluginInfo(name=name, distribution=dist, version="1.0", module=f"{dist}.plugin")


def _registry(*plugins: tuple[object, str]) -> Registry:
    return Registry(entry_points=[], plugins=[(p, _info("p", d)) for p, d in plugins])


def test_collects_specs_of_every_plugin() -> None:
    reg = _registry((_attacks("pgd", "fgsm", dist="a"), "a"), (_attacks("cw-l2", dist="b"), "b"))
    assert reg.names("attack") == ["cw-l2", "fgsm", "pgd"]
    assert reg.get_attack("cw-l2").summary == "cw-l2 attack"
    assert reg.provider("attack", "pgd").distribution == "a"
    assert reg.names("model") == []


def test_built_lazily_once() -> None:
    calls = []

    @hookimpl
    def register_models() -> list[ModelSpec]:
        calls.append(1)
        return [ModelSpec(name="m", summary="m", factory="x:y")]

    reg = _registry((_plugin("p", register_models=register_models), "p"))
    assert calls == []
    reg.names("model")
    reg.get_model("m")
    reg.plugins()
    assert calls == [1]


def test_duplicate_name_names_both_distributions() -> None:
    reg = _registry((_attacks("pgd", "fgsm", dist="sparring-attacks"), "sparring-attacks"),
                    (_attacks("pgd", dist="other-dist"), "other-dist"))
    with pytest.raises(DuplicateNameError) as exc:
        reg.get_attack("pgd")
    message = str(exc.value)
    assert "sparring-attacks" in message and "other-dist" in message and "'pgd'" in message
    assert [c.name for c in reg.conflicts()] == ["pgd"]
    assert "pgd" not in reg.specs("attack")
    assert reg.get_attack("fgsm").name == "fgsm"  # the rest still works


def test_unknown_name_suggests_close_names() -> None:
    reg = _registry((_attacks("pgd", "fgsm", "apgd-ce"), "a"))
    with pytest.raises(UnknownNameError, match="Did you mean 'fgsm'") as exc:
        reg.get_attack("fgms")
    assert isinstance(exc.value, LookupError) and isinstance(exc.value, SparringError)
    with pytest.raises(UnknownNameError, match="kind of part"):
        reg.names("attacks")


def test_hook_that_raises_marks_its_plugin_broken_only() -> None:
    @hookimpl
    def register_attacks() -> list[AttackSpec]:
        raise RuntimeError("boom in hook")

    reg = _registry((_plugin("bad", register_attacks=register_attacks), "bad"), (_attacks("pgd"), "good"))
    status = {p.distribution: p for p in reg.plugins()}
    assert status["bad"].status == "broken" and "boom in hook" in status["bad"].error
    assert status["good"].status == "ok"
    assert reg.names("attack") == ["pgd"]


def test_wrong_record_type_is_reported() -> None:
    @hookimpl
    def register_attacks() -> list[DatasetSpec]:
        return [DatasetSpec(name="d", summary="d", factory="a:b")]

    reg = _registry((_plugin("bad", register_attacks=register_attacks), "bad"))
    (info,) = reg.plugins()
    assert info.status == "broken" and "AttackSpec" in info.error
    assert reg.names("attack") == []


def test_partially_registered_plugin_serves_nothing() -> None:
    @hookimpl
    def register_attacks() -> list[AttackSpec]:
        return [AttackSpec(name="half", summary="h", factory="a:b")]

    @hookimpl
    def register_models() -> list[ModelSpec]:
        raise ValueError("models hook fails after attacks registered")

    reg = _registry((_plugin("half", register_attacks=register_attacks, register_models=register_models), "half"))
    assert reg.names("attack") == [] and reg.plugins()[0].status == "broken"


def test_misnamed_hook_breaks_only_that_plugin() -> None:
    @hookimpl
    def register_attack() -> list[AttackSpec]:  # typo: no such hook
        return []

    reg = _registry((_plugin("typo", register_attack=register_attack), "typo"), (_attacks("pgd"), "good"))
    status = {p.distribution: p for p in reg.plugins()}
    assert status["typo"].status == "broken" and "register_attack" in status["typo"].error
    assert reg.names("attack") == ["pgd"]


def test_entry_point_that_fails_to_import_is_recorded(tmp_path, monkeypatch) -> None:
    (tmp_path / "raising_plugin.py").write_text("raise RuntimeError('cannot import me')\n")
    (tmp_path / "fine_plugin.py").write_text(
        "from sparring.core import AttackSpec, hookimpl\n"
        "@hookimpl\n"
        "def register_attacks():\n"
        "    return [AttackSpec(name='fine', summary='f', factory='fine_plugin:run')]\n"
        "def run(model, x, y, *, eps):\n"
        "    return 'ran'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [
        metadata.EntryPoint(name="raising", value="raising_plugin", group="sparring"),
        metadata.EntryPoint(name="missing", value="no_such_module_xyz", group="sparring"),
        metadata.EntryPoint(name="fine", value="fine_plugin", group="sparring"),
    ]
    reg = Registry(entry_points=eps)
    status = {p.name: p for p in reg.plugins()}
    assert "cannot import me" in status["raising"].error
    assert "no_such_module_xyz" in status["missing"].error
    assert status["fine"].status == "ok"
    assert reg.get_attack("fine").load()(None, None, None, eps=0) == "ran"
    sys.modules.pop("fine_plugin", None)


def test_factory_import_error_is_a_plugin_load_error() -> None:
    spec = AttackSpec(name="ghost", summary="g", factory="no_such_module_abc:attack")
    with pytest.raises(PluginLoadError, match="attack 'ghost'.*no_such_module_abc"):
        spec.load()


def test_installed_first_party_plugins_are_healthy() -> None:
    from sparring.core import get_registry

    reg = get_registry()
    broken = [p for p in reg.plugins() if p.status != "ok"]
    assert not broken, broken
    assert {"fgsm", "pgd"} <= set(reg.names("attack"))
    assert {"torch", "jax"} <= set(reg.names("backend"))
    assert reg.conflicts() == []
