"""Pipeline configuration: parsing, defaults, error messages, overrides, round trips, names."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.core import (
    AttackEntry,
    AttackSpec,
    BackendSpec,
    DataConfig,
    DatasetSpec,
    DefenseEntry,
    DefenseSpec,
    EvalConfig,
    ModelEntry,
    ModelSpec,
    PipelineConfig,
    PluginInfo,
    Registry,
    ReportConfig,
    TrainConfig,
    apply_overrides,
    check_names,
    config_to_dict,
    dump_toml,
    get_registry,
    hookimpl,
    load_pipeline,
)
from sparring.core.errors import ConfigError, SparringError

FULL = """\
name = "s4d-robustness"
description = "S4D vs LSTM on MNIST under PGD"
seed = 7
backend = "jax"
device = "cuda:0"

[data]
dataset = "mnist"
params = {sha256 = "abc"}
train_split = "train"
test_split = "test"
value_range = [-1, 1]
train_size = 1000
test_size = 200
validation_size = 100

[[models]]
label = "s4d"
model = "s4d-mnist"
params = {d_model = 32, n_layers = 2}

[[models]]
model = "lstm-mnist"

[[defenses]]
defense = "standard"

[[defenses]]
label = "madry"
defense = "pgd-at"
[defenses.params]
eps = 0.3
steps = 7

[train]
epochs = 3
batch_size = 128
optimizer = "adamw"
lr = 0.01
momentum = 0.5
nesterov = true
weight_decay = 1e-4
schedule = "step"
step_size = 2
gamma = 0.5
warmup_epochs = 0.5
clip_norm = 1.0
drop_last = true
ssm_lr = 0.001
best_on = "robust"
patience = 2
shuffle = false

[[attacks]]
attack = "fgsm"
eps = [0.1, 0.3]

[[attacks]]
label = "pgd-40"
attack = "pgd"
eps = [0.3]
params = {steps = 40, random_start = true}

[[attacks]]
attack = "deepfool"

[evaluation]
batch_size = 500
size = 100

[report]
plots = false
examples = 4
formats = ["md", "csv", "json"]
"""

EXPECTED = PipelineConfig(
    name="s4d-robustness",
    description="S4D vs LSTM on MNIST under PGD",
    seed=7,
    backend="jax",
    device="cuda:0",
    data=DataConfig(
        dataset="mnist", params={"sha256": "abc"}, value_range=(-1.0, 1.0),
        train_size=1000, test_size=200, validation_size=100,
    ),
    models=(
        ModelEntry(label="s4d", model="s4d-mnist", params={"d_model": 32, "n_layers": 2}),
        ModelEntry(label="lstm-mnist", model="lstm-mnist"),
    ),
    defenses=(
        DefenseEntry(label="standard", defense="standard"),
        DefenseEntry(label="madry", defense="pgd-at", params={"eps": 0.3, "steps": 7}),
    ),
    train=TrainConfig(
        epochs=3, batch_size=128, optimizer="adamw", lr=0.01, momentum=0.5, nesterov=True,
        weight_decay=1e-4, schedule="step", step_size=2, gamma=0.5, warmup_epochs=0.5, clip_norm=1.0,
        drop_last=True, ssm_lr=0.001, best_on="robust", patience=2, shuffle=False,
    ),
    attacks=(
        AttackEntry(label="fgsm", attack="fgsm", eps=(0.1, 0.3)),
        AttackEntry(label="pgd-40", attack="pgd", eps=(0.3,), params={"steps": 40, "random_start": True}),
        AttackEntry(label="deepfool", attack="deepfool"),
    ),
    evaluation=EvalConfig(batch_size=500, size=100),
    report=ReportConfig(plots=False, examples=4, formats=("md", "csv", "json")),
)

MINIMAL = """\
[data]
dataset = "mnist-sample"

[[models]]
model = "dense"
"""


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def _error(source: object, **kw: object) -> str:
    with pytest.raises(ConfigError) as exc:
        load_pipeline(source, **kw)  # type: ignore[arg-type]
    assert isinstance(exc.value, SparringError) and isinstance(exc.value, ValueError)
    return str(exc.value)


# -- parsing and defaults ---------------------------------------------------------------
def test_full_example_parses_to_expected_objects(tmp_path: Path) -> None:
    path = tmp_path / "full.toml"
    path.write_text(FULL, encoding="utf-8")
    for source in (path, str(path), FULL, FULL.encode()):
        assert load_pipeline(source) == EXPECTED
    cfg = load_pipeline(path)
    assert isinstance(cfg.train.lr, float) and isinstance(cfg.data.value_range[0], float)
    assert cfg.models[1].label == "lstm-mnist" and cfg.attacks[2].eps == ()


def test_defaults() -> None:
    cfg = load_pipeline(MINIMAL)
    assert (cfg.name, cfg.description, cfg.seed, cfg.backend, cfg.device) == ("pipeline", "", 0, "torch", "cpu")
    assert cfg.data == DataConfig(dataset="mnist-sample")
    assert cfg.data.params == {} and cfg.data.value_range is None and cfg.data.validation_size == 0
    assert (cfg.data.train_split, cfg.data.test_split) == ("train", "test")
    assert cfg.models == (ModelEntry(label="dense", model="dense", params={}),)
    assert cfg.defenses == (DefenseEntry(label="standard", defense="standard"),)
    assert cfg.train == TrainConfig()
    t = cfg.train
    assert (t.epochs, t.batch_size, t.optimizer, t.lr, t.momentum, t.schedule) == (1, 64, "adam", 1e-3, 0.9, "constant")
    assert (t.clip_norm, t.ssm_lr, t.patience, t.best_on, t.shuffle) == (None, None, None, "last", True)
    assert cfg.attacks == () and cfg.evaluation == EvalConfig(batch_size=250, size=None)
    assert cfg.report == ReportConfig(plots=True, examples=8, formats=("md", "csv"))


def test_mapping_source_and_python_construction_validate_too() -> None:
    data = {"data": {"dataset": "mnist"}, "models": ({"model": "dense", "params": {"hidden": (8, 8)}},)}
    cfg = load_pipeline(data)
    assert cfg.models[0].params == {"hidden": [8, 8]}  # tuples become lists, as from TOML
    assert data["models"][0]["params"]["hidden"] == (8, 8)  # the input is not touched
    assert ModelEntry(model="dense").label == "dense"
    assert TrainConfig(lr=1).lr == 1.0 and isinstance(TrainConfig(lr=1).lr, float)
    with pytest.raises(ConfigError, match=r"TrainConfig: epochs: must be >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match=r"optimizer.*Did you mean 'sgd'"):
        TrainConfig(optimizer="sdg")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"models\[1\]\.label: duplicate label 'a'"):
        PipelineConfig(data=DataConfig(dataset="d"), models=(ModelEntry(model="a"), ModelEntry(model="a")))
    with pytest.raises(Exception):  # frozen
        cfg.seed = 3  # type: ignore[misc]


# -- error messages ---------------------------------------------------------------------
ERROR_CASES = [
    # (replace this, with this, key path, [substrings])
    ("epochs = 3", "epoch = 3", "train.epoch", ["unknown key 'epoch'", "Did you mean 'epochs'", "batch_size"]),
    ("seed = 7", "epochs = 3", "epochs", ["Did you mean train.epochs", "Keys accepted at the top level"]),
    ("[[attacks]]\nattack = \"fgsm\"", "[[attacks]]\nattak = \"fgsm\"", "attacks[0].attak",
     ["Did you mean 'attack'", "in [[attacks]]"]),
    ("epochs = 3", "epochs = \"3\"", "train.epochs", ["expected an integer", "'3' (a string)", ">= 1"]),
    ("epochs = 3", "epochs = true", "train.epochs", ["expected an integer", "true (a boolean)"]),
    ("epochs = 3", "epochs = 2.5", "train.epochs", ["expected an integer", "2.5"]),
    ("epochs = 3", "epochs = 0", "train.epochs", ["must be >= 1", "got 0"]),
    ("epochs = 3", "epochs = 99999999999999999999", "train.epochs", ["out of range", "64-bit"]),
    ("lr = 0.01", "lr = 0", "train.lr", ["must be > 0"]),
    ("lr = 0.01", "lr = nan", "train.lr", ["finite number"]),
    ("lr = 0.01", "lr = \"fast\"", "train.lr", ["expected a number", "'fast'"]),
    ("momentum = 0.5", "momentum = 1.0", "train.momentum", ["must be >= 0 and < 1"]),
    ("nesterov = true", "nesterov = 1", "train.nesterov", ["expected a boolean", "1 (an integer)"]),
    ("optimizer = \"adamw\"", "optimizer = \"adma\"", "train.optimizer",
     ["must be one of 'sgd', 'adam', 'adamw'", "Did you mean 'adam'"]),
    ("schedule = \"step\"", "schedule = \"cosin\"", "train.schedule", ["'onecycle'", "Did you mean 'cosine'"]),
    ("best_on = \"robust\"", "best_on = 1", "train.best_on", ["must be one of 'last', 'clean', 'robust'"]),
    ("clip_norm = 1.0", "clip_norm = -1.0", "train.clip_norm", ["must be > 0"]),
    ("patience = 2", "patience = 0", "train.patience", ["must be >= 1"]),
    ("eps = [0.1, 0.3]", "eps = [0.1, -0.3]", "attacks[0].eps[1]", ["must be >= 0", "-0.3"]),
    ("eps = [0.1, 0.3]", "eps = 0.3", "attacks[0].eps", ["expected an array of numbers", "0.3 (a number)"]),
    ("eps = [0.1, 0.3]", "eps = [0.1, \"x\"]", "attacks[0].eps[1]", ["expected a number"]),
    ("label = \"pgd-40\"", "label = \"fgsm\"", "attacks[1].label", ["duplicate label 'fgsm'", "unique"]),
    ("label = \"s4d\"", "label = \"lstm-mnist\"", "models[1].label", ["duplicate label 'lstm-mnist'"]),
    ("label = \"madry\"", "label = \"standard\"", "defenses[1].label", ["duplicate label 'standard'"]),
    ("label = \"s4d\"", "label = \"\"", "models[0].label", ["must be a non-empty string"]),
    ("dataset = \"mnist\"", "", "data.dataset", ["required key is missing", "registered dataset name"]),
    ("[[models]]\nmodel = \"lstm-mnist\"", "[[models]]\nlabel = \"x\"", "models[1].model", ["required key is missing"]),
    ("value_range = [-1, 1]", "value_range = [1, -1]", "data.value_range", ["low < high", "[1.0, -1.0]"]),
    ("value_range = [-1, 1]", "value_range = [0, 0.5, 1]", "data.value_range",
     ["exactly 2 numbers", "[0, 0.5, 1]"]),
    ("train_size = 1000", "train_size = -5", "data.train_size", ["must be > 0"]),
    ("validation_size = 100", "validation_size = -1", "data.validation_size", ["must be >= 0"]),
    ("params = {sha256 = \"abc\"}", "params = {split = \"test\"}", "data.params.split", ["data.train_split"]),
    ("params = {sha256 = \"abc\"}", "params = 3", "data.params", ["expected a table"]),
    ("\nsize = 100", "\nsize = 0", "evaluation.size", ["must be > 0"]),
    ("formats = [\"md\", \"csv\", \"json\"]", "formats = \"md\"", "report.formats", ["expected an array of strings"]),
    ("examples = 4", "examples = -1", "report.examples", ["must be >= 0"]),
    ("name = \"s4d-robustness\"", "name = 3", "name", ["expected a string (write it in quotes)"]),
]


@pytest.mark.parametrize(("old", "new", "path", "parts"), ERROR_CASES, ids=[c[2] + ":" + c[1] for c in ERROR_CASES])
def test_errors_name_source_path_problem_and_hint(
    tmp_path: Path, old: str, new: str, path: str, parts: list[str]
) -> None:
    assert old in FULL
    file = tmp_path / "exp.toml"
    file.write_text(FULL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_pipeline(file)
    message = str(exc.value)
    assert message.startswith(f"{file}: {path}: "), message
    assert exc.value.key_path == path and exc.value.source == str(file)  # type: ignore[attr-defined]
    for part in parts:
        assert part in message, (part, message)


def test_missing_sections_and_empty_lists() -> None:
    assert "data: required key is missing" in _error('[[models]]\nmodel = "dense"\n')
    assert "models: required key is missing" in _error('[data]\ndataset = "d"\n')
    assert "models: must be at least one entry" in _error('models = []\n[data]\ndataset = "d"\n')
    assert "data: expected a table, got 3 (an integer)" in _error('data = 3\n[[models]]\nmodel = "m"\n')
    assert "defenses: must be at least one entry" in _error("defenses = []\n" + MINIMAL)
    message = _error(MINIMAL.replace("[[models]]", "[models]"))
    assert "models: expected an array of tables" in message and "[[models]]" in message
    assert "models[0]: expected a table, got 3" in _error({"data": {"dataset": "d"}, "models": [3]})


def test_malformed_toml_gives_file_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "broken.toml"
    file.write_text('name = "x"\n[data]\ndataset = \n', encoding="utf-8")
    message = _error(file)
    assert message.startswith(f"{file}: invalid TOML") and "line 3" in message and "column" in message
    assert "<string>: invalid TOML" in _error('name = "x"\nseed = = 1\n')


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("no/such/pipeline.toml", "no/such/pipeline.toml: no such pipeline file"),
        (b"\xff\xfe\x00garbage", "<bytes>: not a UTF-8 text file"),
        (b"name = \n", "<bytes>: invalid TOML"),
        (3, "expected a path to a .toml file, TOML text or a mapping, got 3"),
        (None, "expected a path"),
        ([1, 2], "expected a path"),
        ("x = " + "9" * 5000 + "\n", "invalid TOML"),
        ("x = " + "[" * 5000 + "\n", "invalid TOML"),
        ("seed = 1e999\n" + MINIMAL, "seed: expected an integer, got inf"),
        ("seed = " + "9" * 400 + "\n" + MINIMAL, "seed: integer out of range"),
        ("[train]\nlr = " + "9" * 400 + "\n" + MINIMAL, "train.lr: number too large"),
        ({1: 2}, "<mapping>: (top level): keys must be strings"),
        ({"data": {"dataset": "d", "params": {"a": None}}, "models": [{"model": "m"}]}, "data.params.a: None"),
        ({"data": {"dataset": "d", "params": {"a": object()}}, "models": [{"model": "m"}]}, "a Python object"),
        ({"data": {"dataset": "d\ud800"}, "models": [{"model": "m"}]}, "lone surrogate"),
        ({"data": {"dataset": "d"}, "models": [{"model": "m", "params": {"a": _deep(40)}}]}, "nested more than"),
    ],
)
def test_any_bad_input_is_a_config_error(source: object, expected: str) -> None:
    assert expected in _error(source)


def test_unreadable_files(tmp_path: Path) -> None:
    assert "cannot read the pipeline file" in _error(tmp_path)  # a directory
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    assert "not a UTF-8 text file" in _error(tmp_path / "latin1.toml")
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_pipeline(tmp_path / "bom.toml").data.dataset == "mnist-sample"


def test_path_or_text_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipe").write_text(MINIMAL, encoding="utf-8")
    assert load_pipeline("pipe").models[0].model == "dense"  # no "=": a path
    assert load_pipeline('name = "one-line"\n' + MINIMAL).name == "one-line"
    assert "(top level)" not in _error("")  # empty text: missing keys, not a missing file
    assert "data: required" in _error("")


# -- overrides --------------------------------------------------------------------------
def test_override_syntaxes() -> None:
    cfg = load_pipeline(
        FULL,
        overrides=[
            "train.epochs=5",
            "attacks[0].eps=[0.05, 0.1]",
            "models.s4d.params.d_model=16",  # an entry by its label
            "models[1].params.hidden = [8, 8]",
            'data.dataset="fashion-mnist"',
            "backend=torch",  # a bare word is a string
            "device=cuda:1",
            "train.optimizer=sgd",
            "attacks.pgd-40.eps[0]=0.25",
            "attacks[3].attack=mim",  # index == length appends an entry
            "defenses.madry.params.eps=0.1",
            'models."s4d".label="s4"',
            "report.formats[2]=png",
            "train.clip_norm=0.5",
            "evaluation={batch_size = 10}",
            "data.params.nested.deep=1",
        ],
    )
    assert cfg.train.epochs == 5 and cfg.attacks[0].eps == (0.05, 0.1)
    assert cfg.models[0].params == {"d_model": 16, "n_layers": 2} and cfg.models[0].label == "s4"
    assert cfg.models[1].params == {"hidden": [8, 8]}
    assert (cfg.data.dataset, cfg.backend, cfg.device, cfg.train.optimizer) == ("fashion-mnist", "torch", "cuda:1", "sgd")
    assert cfg.attacks[1].eps == (0.25,) and cfg.attacks[3] == AttackEntry(attack="mim")
    assert cfg.defenses[1].params == {"eps": 0.1, "steps": 7}
    assert cfg.report.formats == ("md", "csv", "png") and cfg.train.clip_norm == 0.5
    assert cfg.evaluation == EvalConfig(batch_size=10) and cfg.data.params["nested"] == {"deep": 1}


def test_overrides_fill_absent_tables_and_defaults() -> None:
    cfg = load_pipeline(MINIMAL, overrides=["train.lr=0.1", "defenses[0].params.eps=0.3", "attacks[0].attack=fgsm",
                                            "attacks.fgsm.eps[0]=0.1", "models.0.params.hidden=[4]"])
    assert cfg.train.lr == 0.1 and cfg.defenses == (DefenseEntry(defense="standard", params={"eps": 0.3}),)
    assert cfg.attacks == (AttackEntry(attack="fgsm", eps=(0.1,)),) and cfg.models[0].params == {"hidden": [4]}


def test_a_single_override_string_is_one_override() -> None:
    assert load_pipeline(MINIMAL, overrides="train.epochs=4").train.epochs == 4  # type: ignore[arg-type]


def test_apply_overrides_returns_a_new_dict() -> None:
    data = {"data": {"dataset": "d"}, "models": [{"model": "m", "params": {"a": 1}}]}
    out = apply_overrides(data, ["models.m.params.a=2", "seed=4"])
    assert out == {"data": {"dataset": "d"}, "models": [{"model": "m", "params": {"a": 2}}], "seed": 4}
    assert data == {"data": {"dataset": "d"}, "models": [{"model": "m", "params": {"a": 1}}]}


@pytest.mark.parametrize(
    ("override", "parts"),
    [
        ("train.epochz=3", ["--set 'train.epochz=3'", "unknown key 'epochz'", "Did you mean 'epochs'"]),
        ("trian.epochs=3", ["Did you mean 'train'", "Keys accepted at the top level"]),
        ("epochs=3", ["Did you mean train.epochs"]),
        ("models.s4e.params.x=1", ["label 's4e' matches no entry of models", "Did you mean 's4d'", "models[0]"]),
        ("attacks[7].eps=[1]", ["attacks[7] does not exist", "3 entries"]),
        ("train.epochs.x=1", ["train.epochs is an integer", "no key 'x'"]),
        ("train[0]=1", ["train is a table, not an array"]),
        ("attacks[0].eps.x=1", ["which is an array"]),
        ("data.value_range[5]=1", ["data.value_range[5] does not exist"]),
        ("train.epochs", ["expected key.path=value"]),
        ("=3", ["key path is empty"]),
        ("train..epochs=3", ["empty key"]),
        ("train.=3", ["ends with a dot"]),
        ("train epochs=3", ["separated by dots"]),
        ("train.ep{chs=3", ["cannot read the key path"]),
    ],
)
def test_override_errors(override: str, parts: list[str]) -> None:
    message = _error(FULL, overrides=[override])
    for part in parts:
        assert part in message, (part, message)
    with pytest.raises(ConfigError):
        apply_overrides({"data": {}}, [override])


def test_override_value_errors_say_where_the_value_came_from() -> None:
    message = _error(FULL, overrides=["train.epochs=0"])
    assert message.startswith("<string>: train.epochs: must be >= 1") and "--set 'train.epochs=0'" in message
    assert "expected a boolean" in _error(FULL, overrides=["report.plots=yes"])
    assert "data.value_range is not set" in _error(MINIMAL, overrides=["data.value_range[0]=1"])


# -- writing ----------------------------------------------------------------------------
def test_dump_toml_and_dict_round_trip(tmp_path: Path) -> None:
    text = dump_toml(EXPECTED)
    assert "[[models]]" in text and "[train]" in text and "clip_norm = 1.0" in text
    assert load_pipeline(text) == EXPECTED
    assert load_pipeline(config_to_dict(EXPECTED)) == EXPECTED
    assert load_pipeline(json.loads(json.dumps(config_to_dict(EXPECTED)))) == EXPECTED
    minimal = load_pipeline(MINIMAL)
    assert "value_range" not in dump_toml(minimal) and "value_range" not in config_to_dict(minimal)["data"]
    (tmp_path / "resolved.toml").write_text(dump_toml(minimal), encoding="utf-8")
    assert load_pipeline(tmp_path / "resolved.toml") == minimal


def test_dump_toml_escapes_strings_keys_and_special_floats() -> None:
    params = {
        "plain": 'a "quoted" \\ back\tslash\nnew\x00line\x7f é 😀',
        "key with spaces": {"ünï": [1, 2.5, "x", True, [], {}]},
        "": float("inf"),
        "neg": float("-inf"),
        "tables": [{"a": 1}, {"b": {"c": 2}}],
        "when": datetime.datetime(2024, 5, 1, 12, 30, 0, 5),
        "day": datetime.date(2024, 5, 1),
    }
    cfg = load_pipeline({"data": {"dataset": "d"}, "models": [{"model": "m", "params": params}]})
    assert load_pipeline(dump_toml(cfg)) == cfg
    assert dump_toml({"a": 1, "b": None, "c": {"d": None, "e": 2}}) == "a = 1\n\n[c]\ne = 2\n"
    with pytest.raises(ConfigError):
        dump_toml({"a": object()})
    with pytest.raises(ConfigError):
        config_to_dict({"not": "a config"})  # type: ignore[arg-type]


_INT64 = st.integers(-(2**63), 2**63 - 1)
_TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
_NAMES = st.text("abcdxyz019-", min_size=1, max_size=6)
_SCALARS = st.one_of(
    st.booleans(), _INT64, st.floats(allow_nan=False), _TEXT,
    st.dates(), st.datetimes(), st.times(),
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=6
)
_PARAMS = st.dictionaries(_TEXT, _VALUES, max_size=3)
_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_NONEMPTY = _TEXT.filter(lambda s: s.strip() != "")


def _opt(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


def _entries(cls: type, key: str) -> st.SearchStrategy:
    extra = {"eps": st.lists(st.floats(min_value=0, allow_infinity=False), max_size=3).map(tuple)} if key == "attack" else {}
    return st.lists(_NAMES, min_size=1, max_size=3, unique=True).flatmap(
        lambda labels: st.tuples(*[
            st.builds(cls, label=st.just(lab), **{key: _NAMES}, params=_PARAMS, **extra) for lab in labels
        ])
    )


@st.composite
def _value_range(draw: st.DrawFn) -> tuple[float, float]:
    a, b = draw(_FINITE), draw(_FINITE)
    if a == b:
        b = math.nextafter(a, math.inf) if math.isfinite(math.nextafter(a, math.inf)) else math.nextafter(a, -math.inf)
    return (min(a, b), max(a, b))


_CONFIGS = st.builds(
    PipelineConfig,
    name=_NONEMPTY, description=_TEXT, seed=st.integers(0, 2**63 - 1), backend=_NAMES, device=_NONEMPTY,
    data=st.builds(
        DataConfig, dataset=_NAMES, params=_PARAMS.map(lambda p: {k: v for k, v in p.items() if k != "split"}),
        train_split=_NONEMPTY, test_split=_NONEMPTY, value_range=_opt(_value_range()),
        train_size=_opt(st.integers(1, 2**63 - 1)), test_size=_opt(st.integers(1, 10**6)),
        validation_size=st.integers(0, 10**6),
    ),
    models=_entries(ModelEntry, "model"),
    defenses=_entries(DefenseEntry, "defense"),
    attacks=st.just(()) | _entries(AttackEntry, "attack"),
    train=st.builds(
        TrainConfig, epochs=st.integers(1, 1000), batch_size=st.integers(1, 4096),
        optimizer=st.sampled_from(["sgd", "adam", "adamw"]), lr=st.floats(min_value=1e-300, max_value=1e300),
        momentum=st.floats(0, 1, exclude_max=True), nesterov=st.booleans(), weight_decay=st.floats(0, 1e10),
        schedule=st.sampled_from(["constant", "step", "cosine", "onecycle"]), step_size=st.integers(1, 100),
        gamma=st.floats(1e-10, 10), warmup_epochs=st.floats(0, 100), clip_norm=_opt(st.floats(1e-6, 1e6)),
        drop_last=st.booleans(), ssm_lr=_opt(st.floats(1e-9, 1.0)),
        best_on=st.sampled_from(["last", "clean", "robust"]), patience=_opt(st.integers(1, 50)), shuffle=st.booleans(),
    ),
    evaluation=st.builds(EvalConfig, batch_size=st.integers(1, 10**6), size=_opt(st.integers(1, 10**6))),
    report=st.builds(ReportConfig, plots=st.booleans(), examples=st.integers(0, 100),
                     formats=st.lists(_NONEMPTY, max_size=3).map(tuple)),
)


def _has_dates(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_dates(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_dates(v) for v in value)
    return isinstance(value, (datetime.date, datetime.time))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_CONFIGS)
def test_generated_configs_round_trip_exactly(cfg: PipelineConfig) -> None:
    assert load_pipeline(dump_toml(cfg)) == cfg
    plain = config_to_dict(cfg)
    assert load_pipeline(plain) == cfg
    if not _has_dates(plain):
        assert load_pipeline(json.loads(json.dumps(plain))) == cfg


# -- names against a registry -----------------------------------------------------------
def _fake_registry(*, min_norm: bool = True) -> Registry:
    @hookimpl
    def register_backends() -> list[BackendSpec]:
        return [BackendSpec(name=n, summary=n, factory="x:y") for n in ("torch", "jax")]

    @hookimpl
    def register_datasets() -> list[DatasetSpec]:
        return [DatasetSpec(name="mnist", summary="d", factory="x:y", params={"root": None, "sha256": None})]

    @hookimpl
    def register_models() -> list[ModelSpec]:
        return [
            ModelSpec(name="s4d-mnist", summary="m", factory="x:y", params={"d_model": 128, "n_layers": 1}),
            ModelSpec(name="lstm-mnist", summary="m", factory="x:y", backends=("torch", "jax")),
        ]

    @hookimpl
    def register_defenses() -> list[DefenseSpec]:
        return [
            DefenseSpec(name="standard", summary="s", factory="x:y"),
            DefenseSpec(name="pgd-at", summary="s", factory="x:y", params={"eps": 0.3, "steps": 10}),
        ]

    @hookimpl
    def register_attacks() -> list[AttackSpec]:
        return [
            AttackSpec(name="fgsm", summary="a", factory="x:y"),
            AttackSpec(name="pgd", summary="a", factory="x:y", params={"steps": 40, "random_start": False}),
            AttackSpec(name="deepfool", summary="a", factory="x:y", minimum_norm=min_norm, backends=("torch",)),
        ]

    plugin = type("Plugin", (), {
        "register_backends": staticmethod(register_backends), "register_datasets": staticmethod(register_datasets),
        "register_models": staticmethod(register_models), "register_defenses": staticmethod(register_defenses),
        "register_attacks": staticmethod(register_attacks),
    })
    info = PluginInfo(name="fake", distribution="fake-dist", version="1", module="fake.plugin")
    return Registry(entry_points=[], plugins=[(plugin, info)])


def test_check_names_accepts_a_registered_pipeline() -> None:
    cfg = load_pipeline(FULL, overrides=["backend=torch"])
    check_names(cfg, _fake_registry())


@pytest.mark.parametrize(
    ("override", "parts"),
    [
        ("backend=jx", ["backend: unknown backend 'jx'", "Did you mean 'jax'"]),
        ('data.dataset="mnits"', ["data.dataset: unknown dataset 'mnits'", "Did you mean 'mnist'"]),
        ("models.s4d.model=s4d-mnsit", ["models[0].model: unknown model 's4d-mnsit'", "Did you mean 's4d-mnist'"]),
        ("defenses.madry.defense=pgd-ta", ["defenses[1].defense: unknown defense 'pgd-ta'", "Did you mean 'pgd-at'"]),
        ("attacks[0].attack=fgms", ["attacks[0].attack: unknown attack 'fgms'", "Did you mean 'fgsm'"]),
        ("models.s4d.params.d_modle=8", ["models[0].params: ", "no parameter 'd_modle'", "did you mean 'd_model'"]),
        ("data.params.roots=1", ["data.params: ", "no parameter 'roots'"]),
        ("attacks.pgd-40.params.stepz=1", ["attacks[1].params: ", "did you mean 'steps'"]),
        ("defenses.madry.params.epz=1", ["defenses[1].params: ", "did you mean 'eps'"]),
        ("attacks.fgsm.eps=[]", ["attacks[0].eps: attack 'fgsm' works inside an eps-ball"]),
        ("backend=jax", ["attacks[2].attack: attack 'deepfool' does not run on backend 'jax'; it supports: torch"]),
    ],
)
def test_check_names_errors(override: str, parts: list[str]) -> None:
    cfg = load_pipeline(FULL, overrides=["backend=torch", override])
    with pytest.raises(ConfigError) as exc:
        check_names(cfg, _fake_registry())
    for part in parts:
        assert part in str(exc.value), (part, str(exc.value))


def test_check_names_reports_every_problem_at_once() -> None:
    cfg = load_pipeline(FULL, overrides=["backend=torch", "models.s4d.model=nope", "attacks[0].attack=nope"])
    with pytest.raises(ConfigError, match=r"2 problems") as exc:
        check_names(cfg, _fake_registry())
    assert "models[0].model" in str(exc.value) and "attacks[0].attack" in str(exc.value)


def test_check_names_with_the_installed_registry() -> None:
    registry = get_registry()
    cfg = load_pipeline(
        MINIMAL,
        overrides=['data.dataset="mnist-sample"', "models[0].model=s4d-mnist", "models.s4d-mnist.params.d_model=16",
                   "attacks[0].attack=pgd", "attacks.pgd.eps=[0.1]", "attacks.pgd.params.steps=5",
                   "attacks[1].attack=deepfool"],
    )
    if "standard" in registry.names("defense"):
        check_names(cfg, registry)
    cfg = load_pipeline(config_to_dict(cfg), overrides=["defenses[0].defense=no-such-defense"])
    with pytest.raises(ConfigError) as exc:  # the only problem reported is the defense
        check_names(cfg, registry)
    assert str(exc.value).startswith("defenses[0].defense: unknown defense 'no-such-defense'")
    assert "problems" not in str(exc.value)
    cfg = load_pipeline(MINIMAL, overrides=["models[0].model=s4d-mnsit"])
    with pytest.raises(ConfigError, match=r"models\[0\]\.model: unknown model 's4d-mnsit'.*Did you mean 's4d-mnist'"):
        check_names(cfg, registry)


# -- fuzzing: nothing but a PipelineConfig or a ConfigError ------------------------------
_LINES = FULL.splitlines(keepends=True)
_JUNK = st.one_of(
    _TEXT.map(json.dumps),
    st.integers().map(str),
    st.floats().map(lambda f: repr(f).replace("nan", "nan").replace("inf", "inf")),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.lists(st.one_of(st.integers(-10, 10), st.floats(-1, 1), _TEXT.map(json.dumps)), max_size=4).map(
        lambda xs: "[" + ", ".join(map(str, xs)) + "]"
    ),
    st.sampled_from(["{}", "{a = 1}", "[[1]]", "1979-05-27", "1e999", "-0", "0x1F", "'''x'''", "[", "{", '"\\u0000"',
                     "9" * 4400, "[" * 3000]),
    _TEXT,
)


@st.composite
def _mutated(draw: st.DrawFn) -> str | bytes:
    lines = list(_LINES)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "value", "insert", "truncate"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap" and len(lines[i]) > 1:
            j = draw(st.integers(0, len(lines[i]) - 2))
            line = lines[i]
            lines[i] = line[:j] + line[j + 1] + line[j] + line[j + 2 :]
        elif kind == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=", 1)[0] + "= " + draw(_JUNK) + "\n"
        elif kind == "insert":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.text(min_size=1, max_size=5)) + lines[i][j:]
        elif kind == "truncate":
            lines = lines[:i] + [lines[i][: draw(st.integers(0, len(lines[i])))]]
        if not lines:
            lines = [""]
    text = "".join(lines)
    if draw(st.booleans()):
        return text
    raw = text.encode("utf-8", "surrogatepass")
    j = draw(st.integers(0, len(raw)))
    return raw[:j] + draw(st.binary(max_size=4)) + raw[j:]


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _load_or_config_error(source: object, **kw: object) -> None:
    try:
        cfg = load_pipeline(source, **kw)  # type: ignore[arg-type]
    except ConfigError as err:
        assert "internal error" not in str(err), str(err)  # caught by the safety net = a bug
    else:
        assert isinstance(cfg, PipelineConfig)
        text = dump_toml(cfg)
        assert dump_toml(load_pipeline(text)) == text  # (text, not objects: NaN != NaN)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=_mutated(), via_file=st.booleans())
def test_mutated_pipelines_load_or_raise_config_error(fuzz_dir: Path, source: str | bytes, via_file: bool) -> None:
    if via_file:
        path = fuzz_dir / "mutated.toml"
        path.write_bytes(source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source)
        source = path  # type: ignore[assignment]
    elif isinstance(source, str) and "\n" not in source:
        source += "\n"  # keep one-line text from being taken for a path
    _load_or_config_error(source)


_PYTHON_JUNK = st.one_of(
    _VALUES, st.none(), st.just(float("nan")), st.just(object()), st.binary(max_size=3), st.sets(st.integers(), max_size=2),
    st.integers(), st.text(max_size=4), st.lists(st.dictionaries(st.text(max_size=4), _VALUES, max_size=2), max_size=2),
    st.dictionaries(st.integers(), st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(where=st.lists(st.sampled_from(["", "data", "train", "models", "report", "attacks"]), max_size=2),
       key=st.sampled_from(["name", "seed", "data", "dataset", "models", "params", "eps", "epochs", "label", "x"]),
       value=_PYTHON_JUNK)
def test_mapping_with_junk_values_loads_or_raises_config_error(where: list[str], key: str, value: object) -> None:
    data = config_to_dict(EXPECTED)
    node: object = data
    for part in where:
        if isinstance(node, dict) and part in node:
            node = node[part]
            if isinstance(node, list) and node:
                node = node[0]
    if isinstance(node, dict):
        node[key] = value
    _load_or_config_error(data)


@settings(max_examples=150, deadline=None)
@given(override=st.one_of(
    st.text(max_size=30),
    st.tuples(st.sampled_from(["train.epochs", "attacks[0].eps", "models.s4d.params.x", "data", "models[9]",
                               "attacks[3]", "report.formats[1]", "x", 'models."s4d"', "defenses.madry"]),
              _JUNK).map("=".join),
))
def test_random_overrides_load_or_raise_config_error(override: str) -> None:
    _load_or_config_error(FULL, overrides=[override])
