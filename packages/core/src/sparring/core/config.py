"""Typed, validated pipeline configuration: TOML in, frozen dataclasses out.

A pipeline names registered parts (dataset, models, defenses, attacks) and the
training, evaluation and report settings. :func:`load_pipeline` reads a ``.toml``
file, TOML text or a mapping (what a registered ``PipelineSpec`` factory returns),
applies ``--set key.path=value`` overrides and converts the result into
:class:`PipelineConfig`. The conversion is generic: it is driven by the dataclass
fields, their type hints and their metadata (``help``, ``check``, ``each``,
``default_from``), so adding a setting means adding one field.

Every problem raises :class:`~sparring.core.errors.ConfigError` whose message gives
the source, the key path (``train.epochs``, ``attacks[1].eps[0]``), what was wrong,
what is accepted and, for unknown keys or choices, the closest valid ones. The error
carries ``source`` and ``key_path`` attributes too.

:func:`check_names` checks the names against a registry; :func:`config_to_dict` and
:func:`dump_toml` write a resolved config back out (it loads to an equal config).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import numbers
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import ConfigError, SparringError

__all__ = [
    "PipelineConfig",
    "DataConfig",
    "ModelEntry",
    "DefenseEntry",
    "TrainConfig",
    "AttackEntry",
    "EvalConfig",
    "ReportConfig",
    "load_pipeline",
    "apply_overrides",
    "config_to_dict",
    "dump_toml",
    "check_names",
]

Path = tuple[str | int, ...]
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1  # TOML integers are 64-bit
_MAX_DEPTH = 32  # nesting of free-form ``params`` values
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# -- internal error ---------------------------------------------------------------------
class _Invalid(Exception):
    """A problem at ``path``; turned into a ConfigError once the source is known."""

    def __init__(self, path: Path, problem: str, help: str | None = None) -> None:
        super().__init__(problem)
        self.path = tuple(path)
        self.problem = problem
        self.help = help


def _fmt_path(path: Sequence[str | int]) -> str:
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            text = seg if _BARE_KEY.fullmatch(seg) else _quote(_clip(seg, 40))
            out += ("." if out else "") + text
    return out or "(top level)"


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(ch) or _esc_ctrl(ch) for ch in text) + '"'


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _esc_ctrl(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code < 0x20 or code == 0x7F else ch


def _show(value: Any) -> str:
    """A short description of a user value in TOML words: ``'adma' (a string)``."""
    if value is None:
        return "nothing (None)"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a boolean)"
    if isinstance(value, numbers.Integral):
        value = int(value)
        if value.bit_length() > 128:
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        return f"{value} (an integer)"
    if isinstance(value, numbers.Real):
        return f"{float(value)!r} (a number)"
    if isinstance(value, str):
        return f"{_clip(repr(value))} (a string)"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        scalars = (bool, numbers.Real, str)
        if len(value) <= 6 and all(isinstance(v, scalars) for v in value):
            try:
                return f"{_clip(_toml_value(value), 80)} (an array)"
            except (ConfigError, ValueError):  # a lone surrogate, an int too long to print
                pass
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, (datetime.date, datetime.time)):
        return f"{value.isoformat()} (a date/time)"
    return f"a Python {type(value).__name__}"


def _suggest(word: Any, choices: Sequence[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word[:100], list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


# -- checks used in field metadata ------------------------------------------------------
@dataclass(frozen=True)
class _Check:
    """``value -> problem | None``; ``describe`` says what is accepted."""

    describe: str
    test: Callable[[Any], bool]

    def __call__(self, value: Any) -> str | None:
        return None if self.test(value) else f"must be {self.describe}, got {_show(value)}"


def _ge(bound: float) -> _Check:
    return _Check(f">= {bound}", lambda v: v >= bound)


_positive = _Check("> 0", lambda v: v > 0)
_nonempty = _Check("a non-empty string", lambda v: bool(v.strip()))
_fraction = _Check(">= 0 and < 1", lambda v: 0 <= v < 1)
_increasing = _Check("[low, high] with low < high", lambda v: v[0] < v[1])
_some_entries = _Check("at least one entry", lambda v: len(v) >= 1)


def _unique_labels(entries: tuple[Any, ...]) -> tuple[Path, str] | None:
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.label in seen:
            return (i, "label"), (
                f"duplicate label {entry.label!r}: entry [{seen[entry.label]}] already uses it; "
                'labels must be unique in this list (set label = "..." to tell the entries apart)'
            )
        seen[entry.label] = i
    return None


def _no_split_param(params: dict[str, Any]) -> tuple[Path, str] | None:
    if "split" in params:
        return ("split",), "is set by data.train_split and data.test_split; remove it from data.params"
    return None


def _field(
    default: Any = MISSING,
    *,
    help: str,
    check: Sequence[Callable[[Any], Any]] = (),
    each: Sequence[Callable[[Any], Any]] = (),
    default_factory: Any = MISSING,
    default_from: str | None = None,
) -> Any:
    meta: dict[str, Any] = {"help": help, "check": tuple(check), "each": tuple(each)}
    if default_from:
        meta["default_from"] = default_from
    return field(default=default, default_factory=default_factory, metadata=meta)


# -- the schema -------------------------------------------------------------------------
class _Section:
    """Validates (and normalises) every field on construction, also when built in Python."""

    def __post_init__(self) -> None:
        cls = type(self)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            source = f.metadata.get("default_from")
            if source and getattr(self, f.name) == "" and isinstance(getattr(self, source), str):
                object.__setattr__(self, f.name, getattr(self, source))
        hints = _hints(cls)
        try:
            for f in _ordered_fields(cls):
                value = _convert_field(getattr(self, f.name), f, hints[f.name], (f.name,))
                object.__setattr__(self, f.name, value)
        except _Invalid as err:
            raise _as_error(err, cls.__name__) from None


@dataclass(frozen=True, kw_only=True)
class DataConfig(_Section):
    """The dataset: its registered name, factory parameters, splits and sizes."""

    dataset: str = _field(help='registered dataset name, e.g. "mnist"', check=[_nonempty])
    params: dict[str, Any] = _field(
        default_factory=dict, help="parameters passed to the dataset factory", check=[_no_split_param]
    )
    train_split: str = _field("train", help="split used for training", check=[_nonempty])
    test_split: str = _field("test", help="split used for evaluation", check=[_nonempty])
    value_range: tuple[float, float] | None = _field(
        None, help="input range [low, high] to rescale the data to, low < high (not set: the dataset's own range)",
        check=[_increasing],
    )
    train_size: int | None = _field(None, help="use only the first N training examples (> 0)", check=[_positive])
    test_size: int | None = _field(None, help="use only the first N test examples (> 0)", check=[_positive])
    validation_size: int = _field(0, help="training examples held out for validation (>= 0)", check=[_ge(0)])
    augment: tuple[dict[str, Any], ...] = _field(
        (), help='training-time augmentations in order, each a table { transform = "rotation", degrees = 15 } '
        "(names: sparring.data.transforms.AUGMENTATIONS)",
    )


@dataclass(frozen=True, kw_only=True)
class ModelEntry(_Section):
    """One model to train: a registered model name and its parameters."""

    label: str = _field("", help="name of this entry in results (default: the model name)",
                        check=[_nonempty], default_from="model")
    model: str = _field(help='registered model name, e.g. "s4d-mnist"', check=[_nonempty])
    params: dict[str, Any] = _field(default_factory=dict, help="parameters passed to the model factory")


@dataclass(frozen=True, kw_only=True)
class DefenseEntry(_Section):
    """One training objective: a registered defense name and its parameters."""

    label: str = _field("", help="name of this entry in results (default: the defense name)",
                        check=[_nonempty], default_from="defense")
    defense: str = _field(help='registered defense name, e.g. "standard"', check=[_nonempty])
    params: dict[str, Any] = _field(default_factory=dict, help="parameters passed to the defense factory")
    augment: tuple[dict[str, Any], ...] | None = _field(
        None, help="augmentations for this entry's training, replacing data.augment (same form; [] for none)"
    )
    dropout: float | None = _field(
        None, help="dropout rate set on every model trained with this entry (0 <= p < 1; the model must take "
        "a dropout parameter)", check=[_fraction],
    )


@dataclass(frozen=True, kw_only=True)
class TrainConfig(_Section):
    """Optimiser, schedule and stopping rules shared by every (model, defense) run."""

    epochs: int = _field(1, help="passes over the training set (>= 1)", check=[_ge(1)])
    batch_size: int = _field(64, help="training batch size (>= 1)", check=[_ge(1)])
    optimizer: Literal["sgd", "adam", "adamw"] = _field("adam", help='optimiser: "sgd", "adam" or "adamw"')
    lr: float = _field(1e-3, help="learning rate (> 0)", check=[_positive])
    momentum: float = _field(0.9, help="SGD momentum (0 <= m < 1)", check=[_fraction])
    nesterov: bool = _field(False, help="Nesterov momentum (SGD)")
    weight_decay: float = _field(0.0, help="weight decay (>= 0)", check=[_ge(0)])
    schedule: Literal["constant", "step", "cosine", "onecycle"] = _field(
        "constant", help='learning-rate schedule: "constant", "step", "cosine" or "onecycle"'
    )
    step_size: int = _field(1, help="epochs between decays of the step schedule (>= 1)", check=[_ge(1)])
    gamma: float = _field(0.1, help="decay factor of the step schedule (> 0)", check=[_positive])
    warmup_epochs: float = _field(0.0, help="linear warm-up length in epochs (>= 0)", check=[_ge(0)])
    clip_norm: float | None = _field(None, help="clip the gradient norm to this value (> 0)", check=[_positive])
    drop_last: bool = _field(False, help="drop the last incomplete training batch")
    ssm_lr: float | None = _field(
        None, help="learning rate of S4/S4D SSM parameters, which also get no weight decay (> 0)",
        check=[_positive],
    )
    best_on: Literal["last", "clean", "robust"] = _field(
        "last", help='checkpoint kept: the "last" epoch\'s, or the best "clean" or "robust" accuracy'
    )
    patience: int | None = _field(None, help="stop after this many epochs without improvement (>= 1)",
                                  check=[_ge(1)])
    shuffle: bool = _field(True, help="shuffle the training set every epoch")
    eps_warmup_epochs: int = _field(
        0, help="ramp the defense's eps over the first N epochs: epoch e (from 0) trains at eps * (e + 1) / (N + 1)",
        check=[_ge(0)],
    )
    amp: bool = _field(False, help="bfloat16 autocast on CUDA (the loss stays float32); ignored on CPU")
    overfitting_check: bool = _field(
        False, help="after every epoch compare PGD and FGSM accuracy on a validation batch and flag "
        "catastrophic overfitting, for defenses that train on attacks of radius eps (needs data.validation_size > 0)",
    )
    overfitting_drop: float = _field(0.2, help="fall of PGD accuracy below its best that counts as a collapse "
                                     "(0 < d <= 1)", check=[_positive])
    overfitting_rollback: bool = _field(True, help="at a collapse, put the previous epoch's weights back and stop")


@dataclass(frozen=True, kw_only=True)
class AttackEntry(_Section):
    """One attack to evaluate with: a registered attack name, budgets and parameters."""

    label: str = _field("", help="name of this entry in results (default: the attack name)",
                        check=[_nonempty], default_from="attack")
    attack: str = _field(help='registered attack name, e.g. "pgd"', check=[_nonempty])
    eps: tuple[float, ...] = _field(
        (), help="perturbation budgets, each >= 0 (empty: minimum-norm attacks report their median norm, "
        "attacks without a budget such as spatial run once)", each=[_ge(0)]
    )
    params: dict[str, Any] = _field(default_factory=dict, help="parameters passed to the attack")


@dataclass(frozen=True, kw_only=True)
class EvalConfig(_Section):
    """Evaluation batch size and test-set size."""

    batch_size: int = _field(250, help="evaluation batch size (>= 1)", check=[_ge(1)])
    size: int | None = _field(None, help="evaluate on the first N test examples only (> 0)", check=[_positive])


@dataclass(frozen=True, kw_only=True)
class ReportConfig(_Section):
    """What the run directory's report contains."""

    plots: bool = _field(True, help="write PNG plots")
    examples: int = _field(8, help="adversarial examples to show (>= 0)", check=[_ge(0)])
    formats: tuple[str, ...] = _field(("md", "csv"), help='result table formats, e.g. ["md", "csv"]',
                                      each=[_nonempty])


def _default_defenses() -> tuple[DefenseEntry, ...]:
    return (DefenseEntry(label="standard", defense="standard"),)


@dataclass(frozen=True, kw_only=True)
class PipelineConfig(_Section):
    """A whole experiment: every model trained with every defense, evaluated under every attack."""

    name: str = _field("pipeline", help="pipeline name", check=[_nonempty])
    description: str = _field("", help="free text")
    seed: int = _field(0, help="seed of every random choice (>= 0)", check=[_ge(0)])
    backend: str = _field("torch", help='registered backend name, "torch" or "jax"', check=[_nonempty])
    device: str = _field("cpu", help='device, e.g. "cpu" or "cuda:0"', check=[_nonempty])
    data: DataConfig = _field(help="the [data] table: dataset = \"...\"")
    models: tuple[ModelEntry, ...] = _field(
        help='one [[models]] table per model, each with model = "..."', check=[_some_entries, _unique_labels]
    )
    defenses: tuple[DefenseEntry, ...] = _field(
        default_factory=_default_defenses,
        help="one [[defenses]] table per training objective (leave out for standard training)",
        check=[_some_entries, _unique_labels],
    )
    train: TrainConfig = _field(default_factory=TrainConfig, help="the [train] table")
    attacks: tuple[AttackEntry, ...] = _field(
        (), help='one [[attacks]] table per attack, each with attack = "..."', check=[_unique_labels]
    )
    evaluation: EvalConfig = _field(default_factory=EvalConfig, help="the [evaluation] table")
    report: ReportConfig = _field(default_factory=ReportConfig, help="the [report] table")


# -- the generic converter --------------------------------------------------------------
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _ordered_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """Fields in declaration order, those defaulting from another field last."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    return sorted(fields, key=lambda f: "default_from" in f.metadata)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (Union, UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _entry_class(tp: Any) -> type | None:
    """The dataclass of a ``tuple[Dataclass, ...]`` hint, else None."""
    if get_origin(tp) is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis and dataclasses.is_dataclass(args[0]):
            return args[0]
    return None


def _expected(tp: Any) -> str:
    """What a type accepts, in TOML words."""
    base, optional = _strip_optional(tp)
    if optional:
        return f"{_expected(base)} (or leave the key out)"
    if tp is bool:
        return "a boolean (true or false)"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if tp is Any:
        return "a TOML value (string, number, boolean, date, array or table)"
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(tp))
    if get_origin(tp) is dict:
        return "a table"
    entry = _entry_class(tp)
    if entry is not None:
        return "an array of tables ([[...]] sections)"
    if get_origin(tp) is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"an array of {_plural(args[0])}"
        return f"an array of exactly {len(args)} {_plural(args[0])}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return str(tp)


def _plural(tp: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(tp, "values")


def _convert_field(value: Any, f: dataclasses.Field[Any], tp: Any, path: Path) -> Any:
    """Convert one field's value and run the checks of its metadata."""
    try:
        out = _convert(value, tp, path)
        if out is None:
            return out
        for check in f.metadata.get("each", ()):
            for i, item in enumerate(out):
                _run_check(check, item, path + (i,))
        for check in f.metadata.get("check", ()):
            _run_check(check, out, path)
        return out
    except _Invalid as err:
        base, _ = _strip_optional(tp)
        if err.help is None and not dataclasses.is_dataclass(base) and _entry_class(base) is None:
            err.help = f"{f.name}: {f.metadata.get('help', '')}{_default_text(f)}"
        raise


def _run_check(check: Callable[[Any], Any], value: Any, path: Path) -> None:
    problem = check(value)
    if problem is None:
        return
    if isinstance(problem, tuple):
        sub, problem = problem
        raise _Invalid(path + tuple(sub), problem)
    raise _Invalid(path, problem)


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.default is MISSING:
        return "; required" if f.default_factory is MISSING else ""
    if f.default is None:
        return "; default: not set"
    if f.metadata.get("default_from"):
        return ""
    try:
        return f"; default {_toml_value(f.default)}"
    except ConfigError:
        return ""


def _convert(value: Any, tp: Any, path: Path) -> Any:
    """Convert ``value`` (from TOML or a mapping) to the type hint ``tp`` or raise _Invalid."""
    base, optional = _strip_optional(tp)
    if optional:
        return None if value is None else _convert(value, base, path)
    if tp is Any:
        return _plain(value, path, 0)
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if any(type(value) is type(c) and value == c for c in choices):
            return value
        accepted = ", ".join(repr(c) for c in choices)
        raise _Invalid(path, f"must be one of {accepted}, got {_show(value)}.{_suggest(value, choices)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Invalid(path, f"expected a boolean (true or false), got {_show(value)}")
    if tp is int:
        return _to_int(value, path)
    if tp is float:
        return _to_float(value, path)
    if tp is str:
        if isinstance(value, str):
            return _to_str(value, path)
        quote = " (write it in quotes)" if isinstance(value, (int, float)) else ""
        raise _Invalid(path, f"expected a string{quote}, got {_show(value)}")
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Invalid(path, f"expected a table, got {_show(value)}")
        return _plain(value, path, 0)
    if origin is tuple:
        return _to_tuple(value, tp, path)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise _Invalid(path, f"expected a table, got {_show(value)}")
        return _build(tp, value, path)  # type: ignore[arg-type]
    raise TypeError(f"unsupported type hint {tp!r} in the pipeline schema")  # a schema bug


def _to_int(value: Any, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _Invalid(path, f"expected an integer, got {_show(value)}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        number = float(value)
        if not (math.isfinite(number) and number.is_integer()):
            raise _Invalid(path, f"expected an integer, got {_show(value)}")
        out = int(number)
    if not _INT_MIN <= out <= _INT_MAX:
        raise _Invalid(path, f"integer out of range (TOML integers are 64-bit), got {_show(out)}")
    return out


def _to_float(value: Any, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _Invalid(path, f"expected a number, got {_show(value)}")
    try:
        out = float(value)
    except (OverflowError, ValueError):
        raise _Invalid(path, f"number too large, got {_show(value)}") from None
    if not math.isfinite(out):
        raise _Invalid(path, f"expected a finite number, got {_show(value)}")
    return out


def _to_str(value: str, path: Path) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(path, f"string is not valid Unicode (it holds a lone surrogate), got {_show(value)}") from None
    return str(value)


def _to_tuple(value: Any, tp: Any, path: Path) -> tuple[Any, ...]:
    args = get_args(tp)
    entry = _entry_class(tp)
    if entry is not None and isinstance(value, Mapping):
        raise _Invalid(path, "expected an array of tables: write each entry as a [[" + _fmt_path(path)
                       + "]] section (double brackets), got a single table")
    if not isinstance(value, (list, tuple)):
        raise _Invalid(path, f"expected {_expected(tp)}, got {_show(value)}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(item, args[0], path + (i,)) for i, item in enumerate(value))
    if len(value) != len(args):
        raise _Invalid(path, f"expected {_expected(tp)}, got {_show(value)}")
    return tuple(_convert(item, t, path + (i,)) for i, (item, t) in enumerate(zip(value, args)))


def _plain(value: Any, path: Path, depth: int) -> Any:
    """A free-form value normalised to what TOML can hold (tuples become lists)."""
    if depth > _MAX_DEPTH:
        raise _Invalid(path, f"nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return _to_int(value, path)
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except (OverflowError, ValueError):
            raise _Invalid(path, f"number too large, got {_show(value)}") from None
    if isinstance(value, str):
        return _to_str(value, path)
    if isinstance(value, (datetime.date, datetime.time)):
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Invalid(path, f"keys must be strings, got {_show(key)}")
            out[_to_str(key, path)] = _plain(item, path + (key,), depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, path + (i,), depth + 1) for i, item in enumerate(value)]
    if value is None:
        raise _Invalid(path, "None cannot be written in TOML; leave the key out to use the default")
    raise _Invalid(path, f"expected a TOML value (string, number, boolean, date, array or table), got {_show(value)}")


def _build(cls: type, mapping: Mapping[Any, Any], path: Path) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in mapping:
        if not isinstance(key, str):
            raise _Invalid(path, f"keys must be strings, got {_show(key)}")
        if key not in fields:
            raise _Invalid(path + (key,), _unknown_key(cls, key, path))
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in _ordered_fields(cls):
        if f.name in mapping:
            kwargs[f.name] = _convert_field(mapping[f.name], f, hints[f.name], path + (f.name,))
        elif f.default is MISSING and f.default_factory is MISSING:
            raise _Invalid(path + (f.name,), f"required key is missing: {f.metadata.get('help', '')}")
    return cls(**kwargs)


def _section_name(path: Path) -> str:
    if not path:
        return "at the top level"
    if isinstance(path[-1], int):
        return f"in [[{_fmt_path(path[:-1])}]]"
    return f"in [{_fmt_path(path)}]"


def _unknown_key(cls: type, key: str, path: Path) -> str:
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    hint = _suggest(key, names)
    if not hint:  # a key of a sub-table written at the wrong level, e.g. epochs at the top
        hints = _hints(cls)
        for name in names:
            sub, _ = _strip_optional(hints[name])
            sub = _entry_class(sub) or sub
            if dataclasses.is_dataclass(sub) and key in {f.name for f in dataclasses.fields(sub)}:
                hint = f" Did you mean {name}.{key} (the key {key!r} belongs in [{name}])?"
                break
    return f"unknown key {_clip(key)!r}.{hint} Keys accepted {_section_name(path)}: {', '.join(names)}"


def _as_error(err: _Invalid, source: str, note: str = "") -> ConfigError:
    message = f"{source}: {_fmt_path(err.path)}: {err.problem}"
    if not message.rstrip().endswith((".", "?")):
        message += "."
    if err.help:
        message += f" ({err.help})"
    error = ConfigError(message + note)
    error.source = source  # type: ignore[attr-defined]
    error.key_path = _fmt_path(err.path)  # type: ignore[attr-defined]
    return error


# -- reading ----------------------------------------------------------------------------
def _looks_like_path(text: str) -> bool:
    if not text.strip() or "\n" in text:
        return False
    return text.endswith(".toml") or "=" not in text or os.path.isfile(text)


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None
    except ValueError as err:  # e.g. an integer with more digits than Python converts
        raise ConfigError(f"{source}: invalid TOML: {_clip(str(err), 200)}") from None


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{source}: not a UTF-8 text file (byte {err.start} cannot be decoded); TOML files are UTF-8"
        ) from None


def _read(source: Any, origin: str | None) -> tuple[str, Any]:
    """(name of the source for messages, the raw data)."""
    if isinstance(source, Mapping):
        return origin or "<mapping>", source
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = origin or "<bytes>"
        return name, _parse_toml(_decode(bytes(source), name), name)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        path = os.fspath(source)
        name = origin or (os.fsdecode(path) if isinstance(path, bytes) else path)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            raise ConfigError(f"{name}: no such pipeline file; give a path to a .toml file") from None
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise ConfigError(f"{name}: cannot read the pipeline file: {reason}") from None
        return name, _parse_toml(_decode(raw, name), name)
    if isinstance(source, str):
        name = origin or "<string>"
        return name, _parse_toml(source, name)
    raise ConfigError(
        f"{origin or '<pipeline>'}: expected a path to a .toml file, TOML text or a mapping, "
        f"got {_show(source)}"
    )


def load_pipeline(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    overrides: Sequence[str] = (),
    origin: str | None = None,
) -> PipelineConfig:
    """Read, override and validate a pipeline.

    Args:
        source: a path to a ``.toml`` file, TOML text (a string with a newline or an
            ``=``) or a mapping (e.g. what a registered ``PipelineSpec`` factory returns).
        overrides: ``--set`` strings ``key.path=value`` applied before validation (see
            :func:`apply_overrides`).
        origin: name of the source in error messages (default: the file name,
            ``<string>`` or ``<mapping>``).

    Raises:
        ConfigError: for every problem, naming the source and the key path.
    """
    name = origin or "<pipeline>"
    try:
        name, data = _read(source, origin)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{name}: a pipeline must be a table of settings, got {_show(data)}")
        applied: list[tuple[Path, str]] = []
        if overrides:
            data, applied = _apply(data, overrides)
        try:
            return _convert(data, PipelineConfig, ())
        except _Invalid as err:
            note = "".join(
                f" (this value comes from --set {text!r})"
                for where, text in applied
                if err.path[: len(where)] == where or where[: len(err.path)] == err.path
            )
            raise _as_error(err, name, note) from None
    except SparringError:
        raise
    except RecursionError:
        raise ConfigError(f"{name}: the pipeline is nested too deeply") from None
    except Exception as err:  # a bug, or a mapping that misbehaves: still a ConfigError
        raise ConfigError(
            f"{name}: internal error while reading the pipeline ({type(err).__name__}: {err}); "
            "please report this"
        ) from err


# -- overrides --------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<dot>\.)
      | \[\s*(?P<index>[0-9]+|"(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)\s*\]
      | (?P<bare>[A-Za-z0-9_-]+)
      | (?P<quoted>"(?:[^"\\]|\\.)*")
    )\s*""",
    re.VERBOSE,
)


def _unquote(text: str) -> str:
    try:
        return tomllib.loads(f"k = {text}")["k"]
    except (tomllib.TOMLDecodeError, ValueError, KeyError):
        raise ConfigError(f"invalid quoted key {text}") from None


def _parse_key(key: str, where: str) -> list[str | int]:
    """``attacks[0].eps`` -> ``["attacks", 0, "eps"]``; ``models."my model"`` works too."""
    segments: list[str | int] = []
    pos, expect_name = 0, True
    while pos < len(key):
        m = _TOKEN.match(key, pos)
        if m is None or m.end() == pos:
            raise ConfigError(f"{where}: cannot read the key path at {_clip(key[pos:], 30)!r}")
        pos = m.end()
        if m.group("dot") is not None:
            if expect_name:
                raise ConfigError(f"{where}: empty key in the key path")
            expect_name = True
        elif m.group("index") is not None:
            if expect_name:
                raise ConfigError(f"{where}: [index] must follow a key, as in attacks[0]")
            inner = m.group("index")
            segments.append(int(inner) if inner.isascii() and inner.isdigit()
                            else _unquote(inner) if inner.startswith('"') else inner)
        else:
            if not expect_name:
                raise ConfigError(f"{where}: keys must be separated by dots")
            bare = m.group("bare")
            segments.append(bare if bare is not None else _unquote(m.group("quoted")))
            expect_name = False
    if not segments or expect_name:
        raise ConfigError(f"{where}: the key path is empty or ends with a dot")
    return segments


def _split_override(text: str) -> tuple[str, str]:
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "=" and not quoted:
            return text[:i].strip(), text[i + 1 :].strip()
    raise ConfigError(f"--set {_clip(text)!r}: expected key.path=value, e.g. train.epochs=3")


def _parse_value(text: str) -> Any:
    """A TOML value (``3``, ``[0.1, 0.3]``, ``"mnist"``, ``{a = 1}``); bare words stay strings."""
    try:
        doc = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return text
    return doc["v"] if set(doc) == {"v"} else text


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


def _label_of(entry: Any, cls: type) -> str | None:
    if not isinstance(entry, Mapping):
        return None
    label = entry.get("label")
    if isinstance(label, str):
        return label
    source = next((f.metadata["default_from"] for f in dataclasses.fields(cls) if "default_from" in f.metadata), None)
    name = entry.get(source) if source else None
    return name if isinstance(name, str) else None


def _empty_child(f: dataclasses.Field[Any], tp: Any) -> Any:
    """What to create for a key the data lacks, so a path below it can be set."""
    base, _ = _strip_optional(tp)
    default = f.default_factory() if f.default_factory is not MISSING else f.default
    if dataclasses.is_dataclass(base) or get_origin(base) is dict:
        return {}
    if isinstance(default, tuple):
        return _thaw(_to_plain(default))
    return None


def _apply_one(data: dict[str, Any], text: str) -> Path:
    """Apply one ``key.path=value`` in place; return the path it set (indices resolved)."""
    if not isinstance(text, str):
        raise ConfigError(f"--set: expected a 'key.path=value' string, got {_show(text)}")
    where = f"--set {_clip(text)!r}"
    key, raw = _split_override(text)
    segments = _parse_key(key, where)
    value = _parse_value(raw)
    node: Any = data
    tp: Any = PipelineConfig
    done: list[str | int] = []

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{where}: {problem}")

    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        here = _fmt_path(done)
        tp, _ = _strip_optional(tp)
        entry = _entry_class(tp)
        if dataclasses.is_dataclass(tp):
            if not isinstance(node, dict):
                raise fail(f"{here} is {_show(node)} in the pipeline, not a table")
            if isinstance(seg, int):
                raise fail(f"{here} is a table, not an array: use .key instead of [{seg}]")
            fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
            if seg not in fields:
                raise fail(_unknown_key(tp, seg, tuple(done)))  # type: ignore[arg-type]
            done.append(seg)
            if last:
                node[seg] = value
                break
            if seg not in node:
                child_tp = _hints(tp)[seg]  # type: ignore[arg-type]
                child = _empty_child(fields[seg], child_tp)
                if child is None:
                    if get_origin(_strip_optional(child_tp)[0]) is tuple:
                        raise fail(f"{_fmt_path(done)} is not set; set it whole, e.g. {_fmt_path(done)}=[...]")
                    raise fail(f"{_fmt_path(done)} is {_expected(child_tp)}; "
                               f"it has no key {_clip(str(segments[i + 1]))!r} below it")
                node[seg] = child
            node, tp = node[seg], _hints(tp)[seg]  # type: ignore[arg-type]
        elif entry is not None:
            if not isinstance(node, list):
                raise fail(f"{here} is {_show(node)} in the pipeline, not an array of tables")
            labels = [_label_of(e, entry) for e in node]
            if isinstance(seg, str) and seg not in labels and seg.isascii() and seg.isdigit():
                seg = int(seg)
            if isinstance(seg, int):
                if seg > len(node):
                    raise fail(f"{here}[{seg}] does not exist: {here} has {len(node)} entries "
                               f"(use [{len(node)}] to add one)")
                if seg == len(node):
                    node.append({})
                index = seg
            else:
                matches = [j for j, label in enumerate(labels) if label == seg]
                if len(matches) != 1:
                    known = [label for label in labels if label is not None]
                    problem = "is used by more than one entry" if matches else "matches no entry"
                    raise fail(f"the label {_clip(seg)!r} {problem} of {here}.{_suggest(seg, known)} "
                               f"Labels: {', '.join(known) or '(none)'}; or use an index, e.g. {here}[0]")
                index = matches[0]
            done.append(index)
            if last:
                node[index] = value
                break
            node, tp = node[index], entry
        elif get_origin(tp) is tuple or get_origin(tp) is dict or tp is Any:
            free = get_origin(tp) is dict or tp is Any
            if isinstance(node, dict) and isinstance(seg, str) and free:
                done.append(seg)
                if last:
                    node[seg] = value
                    break
                node = node.setdefault(seg, {} if isinstance(segments[i + 1], str) else [])
                tp = Any
            elif isinstance(node, list) and isinstance(seg, int):
                if seg > len(node):
                    raise fail(f"{here}[{seg}] does not exist: {here} has {len(node)} items")
                if seg == len(node):
                    node.append({} if not last and isinstance(segments[i + 1], str) else [])
                done.append(seg)
                if last:
                    node[seg] = value
                    break
                if not free:
                    raise fail(f"{_fmt_path(done)} is a single value; it has no keys below it")
                node, tp = node[seg], Any
            else:
                kind = "an array: use [index]" if isinstance(node, list) else f"{_show(node)}"
                raise fail(f"cannot address {_clip(str(seg))!r} in {here}, which is {kind}")
        else:
            raise fail(f"{here} is {_expected(tp)}; it has no key {_clip(str(seg))!r} below it")
    return tuple(done)


def _apply(data: Mapping[str, Any], overrides: Sequence[str]) -> tuple[dict[str, Any], list[tuple[Path, str]]]:
    if isinstance(overrides, str):
        overrides = [overrides]
    if not isinstance(data, Mapping):
        raise ConfigError(f"--set: the pipeline must be a table of settings, got {_show(data)}")
    out = _thaw(data)
    applied = [(_apply_one(out, text), text) for text in overrides]
    return out, applied


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with ``--set`` style ``key.path=value`` overrides applied.

    The value is read as a TOML value (``train.epochs=3``, ``attacks[0].eps=[0.1, 0.3]``,
    ``data.dataset="mnist"``); a bare word that is not TOML stays a string
    (``backend=jax``). An entry of ``models``/``defenses``/``attacks`` is addressed by
    index or by label (``models.s4d.params.d_model=16``); index ``len`` appends one.
    A key path outside the schema raises ConfigError with the closest valid key.
    Values are not validated here: :func:`load_pipeline` does that.
    """
    try:
        return _apply(data, overrides)[0]
    except RecursionError:
        raise ConfigError("--set: the pipeline is nested too deeply") from None


# -- writing ----------------------------------------------------------------------------
def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items() if v is not None}
    return value


def config_to_dict(cfg: PipelineConfig) -> dict[str, Any]:
    """``cfg`` as plain dicts, lists and scalars (None values left out); JSON- and
    TOML-serialisable, and ``load_pipeline(config_to_dict(cfg)) == cfg``."""
    if not (dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)):
        raise ConfigError(f"config_to_dict: expected a PipelineConfig, got {_show(cfg)}")
    return _to_plain(cfg)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_str(key)


def _toml_str(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"cannot write {_show(text)} to TOML: it holds a lone surrogate") from None
    return _quote(text)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(items) + "}"
    raise ConfigError(f"cannot write {_show(value)} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _write_table(lines: list[str], prefix: list[str], table: Mapping[str, Any], header: str | None) -> None:
    children = []
    if header is not None:
        if lines:
            lines.append("")
        lines.append(header)
    for key, value in table.items():
        if value is None:
            continue
        if (isinstance(value, Mapping) and value) or _is_table_array(value):
            children.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in children:
        dotted = ".".join(_toml_key(k) for k in [*prefix, key])
        if isinstance(value, Mapping):
            _write_table(lines, [*prefix, key], value, f"[{dotted}]")
        else:
            for item in value:
                _write_table(lines, [*prefix, key], item, f"[[{dotted}]]")


def dump_toml(cfg: PipelineConfig | Mapping[str, Any]) -> str:
    """TOML text of a config (or of a plain mapping); None values are left out.

    ``load_pipeline(dump_toml(cfg)) == cfg``.
    """
    data = cfg if isinstance(cfg, Mapping) else config_to_dict(cfg)
    lines: list[str] = []
    _write_table(lines, [], data, None)
    return "\n".join(lines) + "\n"


# -- names against the registry ---------------------------------------------------------
def check_names(cfg: PipelineConfig, registry: Any) -> None:
    """Check every part name against ``registry`` (``registry.get(kind, name)``).

    Each backend, dataset, model, defense and attack must be registered, support the
    pipeline's backend, accept its ``params`` (``spec.resolve_params``), and an attack
    that is not minimum-norm needs at least one eps. All problems are reported together
    in one ConfigError, each with its key path.
    """
    problems: list[str] = []

    def get(kind: str, name: str, path: Path) -> Any:
        try:
            return registry.get(kind, name)
        except (SparringError, LookupError) as err:
            problems.append(f"{_fmt_path(path)}: {err}")
            return None

    def params(spec: Any, values: Mapping[str, Any], path: Path) -> None:
        try:
            spec.resolve_params(dict(values))
        except ConfigError as err:
            problems.append(f"{_fmt_path(path)}: {err}")

    def backend(spec: Any, path: Path) -> None:
        supported = tuple(getattr(spec, "backends", ()) or ())
        if supported and cfg.backend not in supported:
            problems.append(
                f"{_fmt_path(path)}: {spec.kind} {spec.name!r} does not run on backend {cfg.backend!r}; "
                f"it supports: {', '.join(supported)}"
            )

    get("backend", cfg.backend, ("backend",))
    spec = get("dataset", cfg.data.dataset, ("data", "dataset"))
    if spec is not None:
        params(spec, cfg.data.params, ("data", "params"))
        backend(spec, ("data", "dataset"))
    groups: list[tuple[str, str, tuple[Any, ...]]] = [
        ("model", "models", cfg.models), ("defense", "defenses", cfg.defenses), ("attack", "attacks", cfg.attacks)
    ]
    for kind, key, entries in groups:
        for i, entry in enumerate(entries):
            spec = get(kind, getattr(entry, kind), (key, i, kind))
            if spec is None:
                continue
            values = dict(entry.params)
            if kind == "model":  # every model takes preprocessing (build_model) and a frontend (the runner)
                values.pop("preprocessing", None)
                values.pop("frontend", None)
            params(spec, values, (key, i, "params"))
            backend(spec, (key, i, kind))
            if (kind == "attack" and not entry.eps and not getattr(spec, "minimum_norm", False)
                    and getattr(spec, "budgeted", True)):
                problems.append(
                    f"{_fmt_path((key, i, 'eps'))}: attack {spec.name!r} works inside an eps-ball: "
                    "give at least one budget, e.g. eps = [0.03] (only minimum-norm attacks may leave it empty)"
                )
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} problems with the pipeline's names:\n  " + "\n  ".join(problems))
