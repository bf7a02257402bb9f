"""End-to-end pipeline runs through the `sparring` command.

- the README's quickstart, at a tiny setting: the run directory holds the table, the
  CSV, the plots and the resolved config, and Algorithm-1 training raised PGD accuracy;
- SIGTERM in the middle of training, then --resume: the same results table as a run
  never interrupted;
- malformed pipelines (mutations of a valid one): always a sparring error, never a
  traceback, and never a run directory claiming to be complete.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TINY = [
    "--set", "data.train_size=1200", "--set", "data.validation_size=100", "--set", "data.test_size=200",
    "--set", "train.epochs=3", "--set", "models.s4d.params.d_model=8", "--set", "models.s4d.params.state_size=8",
]


def sparring(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sparring.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONHASHSEED": "0"})


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = sparring("run", "quickstart", *TINY, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("results.md", "results.csv", "config.toml", "environment.json", "metrics.jsonl", "run.json",
                 "robust_accuracy.png", "training.png", "examples.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "results.md").read_text().count("| dense | algorithm-1 |") == 1
    assert json.loads((out / "run.json").read_text())["complete"] is True
    assert "epochs = 3" in (out / "config.toml").read_text()
    rows = _rows(out / "results.csv")
    pgd = {(r["model"], r["defense"]): float(r["robust_accuracy"]) for r in rows
           if r["attack"] == "pgd" and float(r["eps"]) == 0.3}
    assert pgd[("dense", "algorithm-1")] > pgd[("dense", "standard")] + 0.1, pgd
    # the report can be re-rendered from the run directory alone
    (out / "results.md").unlink()
    assert sparring("report", str(out)).returncode == 0
    assert (out / "results.md").is_file()


@pytest.mark.slow
def test_quickstart_on_jax_end_to_end(tmp_path: Path) -> None:
    """The same pipeline on the jax backend: compiled training steps and compiled attack
    steps reused across batches, through to the table."""
    out = tmp_path / "run"
    proc = sparring("run", "quickstart", *TINY, "--backend", "jax", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "run.json").read_text())["complete"] is True
    assert 'backend = "jax"' in (out / "config.toml").read_text()
    pgd = {(r["model"], r["defense"]): float(r["robust_accuracy"]) for r in _rows(out / "results.csv")
           if r["attack"] == "pgd" and float(r["eps"]) == 0.3}
    assert pgd[("dense", "algorithm-1")] > pgd[("dense", "standard")] + 0.1, pgd


ROBUST_VS_STANDARD = """
# issue "robust training": Madry PGD-AT and Algorithm 1 against standard training, tiny dense model
name = "robust-vs-standard"
seed = 0
[data]
dataset = "mnist-sample"
value_range = [-1.0, 1.0]
train_size = 1500
test_size = 300
[[models]]
label = "dense"
model = "dense"
params = { hidden = [128] }
[[defenses]]
defense = "standard"
[[defenses]]
label = "madry"
defense = "pgd-at"
params = { eps = 0.3, steps = 3 }
[[defenses]]
label = "algorithm-1"
defense = "minmax"
params = { eps = 0.3, steps = 3, step_size = 0.15 }
[train]
epochs = 3
batch_size = 50
optimizer = "adamw"
lr = 0.005
weight_decay = 0.001
[[attacks]]
attack = "pgd"
eps = [0.3]
params = { steps = 10, rel_step_size = 0.25 }
[report]
plots = false
examples = 0
"""


@pytest.mark.slow
def test_madry_and_algorithm_1_beat_standard_training_under_pgd(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(ROBUST_VS_STANDARD)
    proc = sparring("run", str(pipeline), "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(tmp_path / "run" / "results.csv")
    pgd = {r["defense"]: float(r["robust_accuracy"]) for r in rows if r["attack"] == "pgd"}
    clean = {r["defense"]: float(r["clean_accuracy"]) for r in rows if r["attack"] == "none"}
    assert min(clean.values()) > 0.4, clean  # every model learned the digits (robust ones less well)
    assert pgd["madry"] > pgd["standard"] + 0.1, (pgd, clean)
    assert pgd["algorithm-1"] > pgd["standard"] + 0.1, (pgd, clean)
    assert "| dense | madry |" in (tmp_path / "run" / "results.md").read_text()


SMALL_PIPELINE = """
name = "resume-check"
seed = 3
[data]
dataset = "mnist-sample"
train_size = 3000
test_size = 100
[[models]]
model = "dense"
params = { hidden = [256, 256] }
[[defenses]]
defense = "standard"
[train]
epochs = 4
batch_size = 20
[[attacks]]
attack = "pgd"
eps = [0.05, 0.1]
params = { steps = 5, rel_step_size = 0.5 }
[report]
plots = false
"""


@pytest.mark.slow
def test_sigterm_then_resume_gives_the_uninterrupted_table(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(SMALL_PIPELINE)
    full = tmp_path / "full"
    assert sparring("run", str(pipeline), "--out", str(full)).returncode == 0

    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "sparring.cli", "run", str(pipeline), "--out", str(cut)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (cut / "metrics.jsonl").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-2000:]
    assert "--resume" in err and "Traceback" not in err
    status = json.loads((cut / "run.json").read_text())
    assert status["complete"] is False
    assert not (cut / "results.csv").exists()

    resumed = sparring("run", str(pipeline), "--out", str(cut), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (cut / "results.csv").read_text() == (full / "results.csv").read_text()


VALID = (Path(__file__).parents[1] / "packages/cli/src/sparring/cli/pipelines/quickstart.toml").read_text()


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = VALID.splitlines()
    kind = draw(st.sampled_from(["delete", "duplicate", "replace", "insert", "truncate", "swap"]))
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "replace" and "=" in lines[i]:
        key = lines[i].split("=", 1)[0]
        value = draw(st.one_of(st.integers(-10, 10**20).map(str), st.floats(allow_nan=True).map(repr),
                               st.booleans().map(lambda b: str(b).lower()), st.text(max_size=8).map(json.dumps),
                               st.just("[1, \"a\"]"), st.just("{ x = 1 }"), st.just("-0.5")))
        lines[i] = f"{key}= {value}"
    elif kind == "insert":
        lines.insert(i, draw(st.text(max_size=30)))
    elif kind == "truncate":
        text = "\n".join(lines)
        return text[: draw(st.integers(0, len(text)))]
    elif kind == "swap" and len(lines[i]) > 2:
        j = draw(st.integers(0, len(lines[i]) - 2))
        s = lines[i]
        lines[i] = s[:j] + s[j + 1] + s[j] + s[j + 2:]
    return "\n".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_malformed_pipelines_get_a_sparring_error(tmp_path: Path, text: str) -> None:
    from click.testing import CliRunner

    from sparring.cli.main import cli
    from sparring.core.errors import SparringError

    path = tmp_path / "mutant.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    result = CliRunner().invoke(cli, ["run", str(path), "--check"])
    if result.exit_code != 0:
        assert isinstance(result.exception, SparringError), repr(result.exception)
    assert not (tmp_path / "runs").exists()
