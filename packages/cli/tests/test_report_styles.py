"""Plot styles of the report: every run of a grid is told apart, the same way in every plot."""

from __future__ import annotations

import itertools

from sparring.cli.report import _styles


def test_a_grid_of_runs_gets_distinct_styles_keyed_by_model_and_defense() -> None:
    models, defenses = ["ff", "gru", "lstm", "s4"], ["plain", "robust", "regularised", "robust+regularised"]
    keys = list(itertools.product(models, defenses))
    styles = _styles(keys)
    assert len({(s["color"], s["marker"]) for s in styles.values()}) == len(keys)  # 16 distinct lines
    assert len({styles[(m, "plain")]["color"] for m in models}) == 4  # colour: the model
    assert len({styles[("ff", d)]["marker"] for d in defenses}) == 4  # marker: the defense
    assert {styles[(m, "robust")]["marker"] for m in models} == {styles[("ff", "robust")]["marker"]}
    assert _styles(list(reversed(keys))) == styles  # the same in a plot that lists runs in another order


def test_one_model_gets_one_colour_per_run() -> None:
    keys = [("dense", f"d{i}") for i in range(12)]
    styles = _styles(keys)
    assert len({(s["color"], s["marker"]) for s in styles.values()}) == 12
    assert _styles(list(reversed(keys))) == styles  # a re-rendered report may list the runs in another order
