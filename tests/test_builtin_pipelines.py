"""Every built-in pipeline loads, names only registered parts with valid parameters, and
builds its models, defenses and attacks (no training: that is what the pipelines are for)."""

from __future__ import annotations

import pytest

from sparring.cli.plugin import BUILTIN
from sparring.cli.runner import build, check_pipeline, _defense, _attack
from sparring.core.config import dump_toml, load_pipeline
from sparring.core.registry import get_registry


def _config(name: str):
    text = get_registry().get("pipeline", name).load()()
    return load_pipeline(text, origin=f"pipeline {name!r}")


def test_every_builtin_pipeline_is_registered() -> None:
    assert set(BUILTIN) <= set(get_registry().names("pipeline"))


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_pipeline_builds_every_part(name: str) -> None:
    cfg = _config(name)
    assert cfg.name == name and cfg.description
    check_pipeline(cfg)
    assert load_pipeline(dump_toml(cfg)) == cfg
    for d in cfg.defenses:
        assert callable(getattr(_defense(d), "objective"))
    for a in cfg.attacks:
        fn, _ = _attack(a)
        assert callable(fn)
    if cfg.data.dataset == "mnist-sample":  # the others need the user's files
        from sparring.cli.runner import load_data

        info = load_data(cfg)["train"].info
        for m in cfg.models:
            for d in cfg.defenses:
                model = build(cfg, m, info, dropout=d.dropout)
                assert model.num_classes == len(info.classes)
