"""``sparring attack``: saved weights + their dataset + attacks -> a robust-accuracy table.

The weights come from a run directory (every ``models/<model>__<defense>.safetensors``
a ``sparring run`` or ``sparring train`` wrote, with the run's ``config.toml`` giving
the model and the data) or from one ``.safetensors`` file with a pipeline that
describes its model (``--pipeline`` and ``--model``). The attacks are the config's,
or those given on the command line, which replace them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sparring.core.atomic import write_text
from sparring.core.config import PipelineConfig, load_pipeline
from sparring.core.errors import ConfigError

from .report import markdown_table, rows_csv
from .runner import _reshaped, build, check_pipeline, defense_of, evaluate, evaluation_subset, load_data, slug

__all__ = ["attack_saved", "attack_overrides", "load_config"]


def attack_overrides(names: Sequence[str], eps: Sequence[float], params: Sequence[str]) -> list[str]:
    """``--set`` overrides that replace the config's attacks by those named on the command
    line, each with the budgets ``eps`` and the ``KEY=VALUE`` parameters ``params``."""
    if not names:
        if eps or params:
            raise ConfigError("--eps and --param apply to the attacks given with --attack; name at least one")
        return []
    sets = ["attacks=[]"]
    for i, name in enumerate(names):
        sets += [f"attacks[{i}].attack={json.dumps(name)}", f"attacks[{i}].eps={json.dumps([float(e) for e in eps])}"]
        for item in params:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--param {item!r}: write KEY=VALUE, e.g. --param steps=100")
            sets.append(f"attacks[{i}].params.{key.strip()}={value.strip()}")
    return sets


def _weights(source: Path, cfg: PipelineConfig, model_label: str | None) -> list[tuple[Any, str, Path]]:
    """(model entry, defense label, weights file) for every model to attack."""
    labels = [m.label for m in cfg.models]
    if model_label is not None and model_label not in labels:
        raise ConfigError(f"--model {model_label!r} is not a model of the pipeline; use one of {', '.join(labels)}")
    if source.is_dir():
        found = []
        for m in cfg.models:
            for d in cfg.defenses:
                path = source / "models" / f"{slug(m.label, d.label)}.safetensors"
                if path.exists() and (model_label is None or model_label == m.label):
                    found.append((m, d.label, path))
        if not found:
            raise ConfigError(f"{source} holds no trained weights (models/*.safetensors); train with "
                              "`sparring train` or `sparring run` first")
        return found
    if model_label is None:
        if len(labels) != 1:
            raise ConfigError(f"the pipeline has several models ({', '.join(labels)}): say which one the weights "
                              "are with --model")
        model_label = labels[0]
    entry = cfg.models[labels.index(model_label)]
    return [(entry, defense_of(source.stem), source)]


def load_config(source: Path, pipeline: str | None, overrides: Sequence[str],
                resolve: Callable[[str, list[str]], PipelineConfig]) -> PipelineConfig:
    """The config describing ``source``'s model and data, with the attacks to run:
    the run directory's ``config.toml``, or ``resolve(pipeline, overrides)`` for a weights file."""
    if source.is_dir():
        path = source / "config.toml"
        if not path.exists():
            raise ConfigError(f"{source} is not a sparring run directory (no config.toml)")
        cfg = load_pipeline(path, overrides=overrides)
    else:
        if source.suffix != ".safetensors":
            raise ConfigError(f"{source}: give a run directory or a .safetensors weights file")
        if pipeline is None:
            raise ConfigError("a weights file needs --pipeline (a .toml file or a registered name) describing its "
                              "model and dataset")
        cfg = resolve(pipeline, list(overrides))
    if not cfg.attacks:
        raise ConfigError("no attacks to run: name one with --attack (and --eps)")
    return cfg


def attack_saved(cfg: PipelineConfig, source: Path, *, model_label: str | None = None, out: Path | None = None,
                 log: Callable[[str], None] = print,
                 progress: Callable[..., None] | None = None) -> list[dict[str, Any]]:
    """Attack every saved model of ``source``; write ``results.csv`` / ``results.md`` to
    ``out`` (default ``<run dir>/attacks`` or next to the weights file) and return the rows."""
    check_pipeline(cfg)
    targets = _weights(source, cfg, model_label)
    data = load_data(cfg)
    rows: list[dict[str, Any]] = []
    for entry, defense_label, path in targets:
        model = build(cfg, entry, data["test"].info)
        model.load(str(path))
        test = evaluation_subset(cfg, _reshaped(data["test"], tuple(model.input_shape)))
        log(f"{entry.label}/{defense_label}: attacking {len(test)} test samples ({path.name})")
        rows += evaluate(cfg, model, test, entry.label, defense_label, progress)
    if out is None:
        out = source / "attacks" if source.is_dir() else source.with_suffix("").parent / f"{source.stem}-attacks"
    names = "-".join(a.label for a in cfg.attacks)
    write_text(out / f"{names}.csv", rows_csv(rows))
    write_text(out / f"{names}.md", f"# {cfg.name}: {names}\n\n{markdown_table(rows)}\n")
    return rows
