"""`sparring train` then `sparring attack`: train once, attack the saved weights later."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sparring.cli.main import cli, main

PIPELINE = """
name = "tiny"
seed = 1
[data]
dataset = "mnist-sample"
train_size = 400
validation_size = 50
test_size = 60
[[models]]
label = "mlp"
model = "dense"
params = { hidden = [16] }
[[defenses]]
defense = "standard"
[[defenses]]
defense = "fgsm-at"
params = { eps = 0.1 }
[train]
epochs = 1
batch_size = 50
lr = 0.01
[[attacks]]
attack = "fgsm"
eps = [0.05]
"""


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    (root / "tiny.toml").write_text(PIPELINE, encoding="utf-8")
    result = CliRunner().invoke(cli, ["train", str(root / "tiny.toml"), "--out", str(root / "run"),
                                      "--set", "train.overfitting_check=true"])
    assert result.exit_code == 0, result.output
    return root


def test_train_writes_weights_curves_and_a_clean_table_without_attacking(trained: Path) -> None:
    run = trained / "run"
    assert {p.name for p in (run / "models").iterdir()} == {"mlp__standard.safetensors", "mlp__fgsm-at.safetensors"}
    rows = _rows(run / "results.csv")
    assert {r["attack"] for r in rows} == {"none"} and len(rows) == 2
    assert json.loads((run / "run.json").read_text())["complete"] is True
    assert (run / "training.png").stat().st_size > 0
    # the catastrophic-overfitting check ran for the defense that trains on an attack, and only for it
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    checked = {r["run"]: "co_pgd_accuracy" in r for r in records}
    assert checked == {"mlp/standard": False, "mlp/fgsm-at": True}


def test_attack_a_run_directory_with_new_attacks(trained: Path) -> None:
    run = trained / "run"
    result = CliRunner().invoke(cli, ["attack", str(run), "--attack", "pgd", "--eps", "0.1", "--eps", "0.3",
                                      "--param", "steps=5", "--param", "rel_step_size=0.3"])
    assert result.exit_code == 0, result.output
    rows = _rows(run / "attacks" / "pgd.csv")
    pgd = {(r["defense"], float(r["eps"])): float(r["robust_accuracy"]) for r in rows if r["attack"] == "pgd"}
    assert set(pgd) == {(d, e) for d in ("standard", "fgsm-at") for e in (0.1, 0.3)}
    clean = {r["defense"]: float(r["clean_accuracy"]) for r in rows if r["attack"] == "none"}
    for d in ("standard", "fgsm-at"):
        assert pgd[(d, 0.3)] <= pgd[(d, 0.1)] <= clean[d]
    # the clean accuracy is that of the trained weights: the same as `sparring train` measured
    trained_clean = {r["defense"]: float(r["clean_accuracy"]) for r in _rows(run / "results.csv")}
    assert clean == trained_clean
    assert "| mlp | fgsm-at |" in result.output


def test_an_attack_without_budget_runs_once(trained: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["attack", str(trained / "run"), "--attack", "spatial", "--model", "mlp",
                                      "--param", "image_shape=[28, 28]", "--param", "rotations=3",
                                      "--param", "translations=3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [r for r in _rows(tmp_path / "spatial.csv") if r["attack"] == "spatial"]
    assert len(rows) == 2 and all(r["eps"] == "" for r in rows)
    assert all(0.0 <= float(r["robust_accuracy"]) <= float(r["clean_accuracy"]) for r in rows)
    assert "| spatial |" in result.output


def test_a_run_whose_first_attack_is_minimum_norm(tmp_path: Path) -> None:
    """The example grid uses the first attack with a budget (DeepFool takes no eps)."""
    path = tmp_path / "p.toml"
    path.write_text(PIPELINE.replace('[[attacks]]\nattack = "fgsm"', '[[attacks]]\nattack = "deepfool"\neps = [0.5]\n'
                                     'params = { steps = 5 }\n[[attacks]]\nattack = "fgsm"')
                    .replace('[[defenses]]\ndefense = "fgsm-at"\nparams = { eps = 0.1 }\n', ""))
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "run"), "--set", "report.examples=4"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "examples.json").read_text())["attack"] == "fgsm"
    rows = _rows(tmp_path / "run" / "results.csv")
    assert {r["attack"] for r in rows} == {"none", "deepfool", "fgsm", "worst-case"}


def test_attack_a_weights_file_with_its_pipeline(trained: Path, tmp_path: Path) -> None:
    weights = trained / "run" / "models" / "mlp__standard.safetensors"
    result = CliRunner().invoke(cli, ["attack", str(weights), "--pipeline", str(trained / "tiny.toml"),
                                      "--set", "evaluation.size=30", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = _rows(tmp_path / "out" / "fgsm.csv")  # the pipeline's own attacks
    fg = [r for r in rows if r["attack"] == "fgsm"]
    assert len(fg) == 1 and 0.0 <= float(fg[0]["robust_accuracy"]) <= float(fg[0]["clean_accuracy"])
    assert np.isclose(float(fg[0]["eps"]), 0.05)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--attack", "pgdd", "--eps", "0.1"], "pgd"),  # a did-you-mean
        (["--eps", "0.1"], "--attack"),
        (["--attack", "pgd", "--param", "steps"], "KEY=VALUE"),
        (["--attack", "pgd", "--eps", "0.1", "--model", "cnn"], "cnn"),
    ],
)
def test_attack_bad_input_is_one_clear_error(trained: Path, args, message, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.argv", ["sparring", "attack", str(trained / "run"), *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_a_weights_file_needs_its_pipeline(trained: Path, capsys, monkeypatch) -> None:
    weights = trained / "run" / "models" / "mlp__standard.safetensors"
    monkeypatch.setattr("sys.argv", ["sparring", "attack", str(weights), "--attack", "fgsm", "--eps", "0.1"])
    with pytest.raises(SystemExit):
        main()
    assert "--pipeline" in capsys.readouterr().err


def test_augmentations_see_the_dataset_shape_of_sequence_fed_samples() -> None:
    from types import SimpleNamespace

    from sparring.cli.runner import _augmentation
    from sparring.core.config import load_pipeline
    from sparring.data.transforms import RandomRotation

    cfg = load_pipeline(PIPELINE, overrides=['data.augment=[{transform="rotation", degrees=30}]'])
    info = SimpleNamespace(input_shape=(28, 28), value_range=(0.0, 1.0))
    augment = _augmentation(cfg, cfg.defenses[0], info, (784, 1))
    x = np.random.default_rng(0).uniform(0, 1, (3, 784, 1)).astype(np.float32)
    expected = RandomRotation(30, value_range=(0.0, 1.0))(x.reshape(3, 28, 28), 11).reshape(3, 784, 1)
    np.testing.assert_array_equal(augment(x, 11), expected)
    plain = load_pipeline(PIPELINE)
    assert _augmentation(plain, plain.defenses[0], info, (784, 1)) is None
    # a defense entry's own list replaces data.augment ([] turns it off)
    off = load_pipeline(PIPELINE, overrides=['data.augment=[{transform="rotation", degrees=30}]',
                                             "defenses[0].augment=[]"])
    assert _augmentation(off, off.defenses[0], info, (784, 1)) is None
    assert _augmentation(off, off.defenses[1], info, (784, 1)) is not None


def test_defense_dropout_needs_a_model_with_dropout(trained: Path) -> None:
    from sparring.core.errors import ConfigError

    result = CliRunner().invoke(cli, ["run", str(trained / "tiny.toml"), "--check", "--set",
                                      "defenses[0].dropout=0.1"])
    assert isinstance(result.exception, ConfigError) and "no dropout" in str(result.exception)
    ok = CliRunner().invoke(cli, ["run", str(trained / "tiny.toml"), "--check", "--set", "defenses[0].dropout=0.1",
                                  "--set", 'models[0].model="stacked"', "--set", "models[0].params={layer=\"ff\"}"])
    assert ok.exit_code == 0, ok.output
    assert "dropout = 0.1" in ok.output


def test_a_model_entry_may_normalise_its_inputs(trained: Path) -> None:
    ok = CliRunner().invoke(cli, ["run", str(trained / "tiny.toml"), "--check", "--set",
                                  "models[0].params.preprocessing={mean=0.1307, std=0.3081}"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(cli, ["run", str(trained / "tiny.toml"), "--check", "--set",
                                   "models[0].params.preprocesing={mean=0.1307, std=0.3081}"])
    assert bad.exit_code != 0 and "preprocesing" in str(bad.exception)


def test_attacks_report_progress(trained: Path) -> None:
    import io

    from rich.console import Console

    from sparring.cli.main import _progress
    from sparring.cli.runner import build, evaluate, load_data
    from sparring.core.config import load_pipeline

    cfg = load_pipeline(PIPELINE, overrides=['attacks[1].attack="pgd"', "attacks[1].eps=[0.05]",
                                             "attacks[1].params={steps=2}"])
    data = load_data(cfg)
    model = build(cfg, cfg.models[0], data["test"].info)
    calls: list[tuple] = []
    evaluate(cfg, model, data["test"], "mlp", "standard", lambda *a: calls.append(a))
    assert calls == [("mlp/standard attacks", 0, 2, "fgsm"), ("mlp/standard attacks", 1, 2, "pgd"),
                     ("mlp/standard attacks", 2, 2, "done")]
    out = io.StringIO()
    bar = _progress(Console(file=out, force_terminal=True, width=100))
    for call in calls:
        bar(*call)
    bar("mlp/standard epoch 1", 3, 3, "loss 0.1000")  # a finished bar is removed, the display stops
    assert "mlp/standard attacks" in out.getvalue()
