"""The contract every attack keeps, on both backends (one table of attacks drives it)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.attacks import fgsm, mim, pgd
from sparring.core.errors import ConfigError, InvalidInputError

from attack_helpers import tiny_batch, tiny_model

ATTACKS = {
    "fgsm": fgsm,
    "fgm-l2": functools.partial(fgsm, norm="l2"),
    "pgd": functools.partial(pgd, steps=5),
    "pgd-rs": functools.partial(pgd, steps=5, random_start=True),
    "pgd-l2": functools.partial(pgd, norm="l2", steps=5, random_start=True),
    "pgd-targeted": functools.partial(pgd, steps=5, targeted=True),
    "pgd-dlr": functools.partial(pgd, steps=5, loss="dlr"),
    "mim": functools.partial(mim, steps=5),
    "mim-l2": functools.partial(mim, norm="l2", steps=5),
}
NORM_OF = {"fgm-l2": "l2", "pgd-l2": "l2", "mim-l2": "l2"}


@pytest.fixture(params=list(ATTACKS))
def attack_name(request: pytest.FixtureRequest) -> str:
    return request.param


def _np(model, a):
    return model.backend.to_numpy(a)


def test_eps_zero_returns_the_input(model, attack_name: str) -> None:
    x, y = tiny_batch()
    result = ATTACKS[attack_name](model, x, y, eps=0.0)
    np.testing.assert_array_equal(_np(model, result.x_adv), x)
    np.testing.assert_array_equal(_np(model, result.norms), 0)


def test_already_fooled_samples_keep_the_clean_input(model) -> None:
    x, y = tiny_batch(16)
    wrong = _np(model, model(model.backend.asarray(x))).argmax(1) != y
    assert wrong.any()
    r = pgd(model, x, y, eps=0.3, steps=5)
    np.testing.assert_array_equal(_np(model, r.x_adv)[wrong], x[wrong])
    assert _np(model, r.success)[wrong].all()


def test_result_is_consistent(model, attack_name: str) -> None:
    x, y = tiny_batch()
    r = ATTACKS[attack_name](model, x, y, eps=0.3)
    x_adv = _np(model, r.x_adv)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    pred = _np(model, model(model.backend.asarray(x_adv))).argmax(1)
    expected = pred == y if "targeted" in attack_name else pred != y
    np.testing.assert_array_equal(_np(model, r.success), expected)
    assert r.norm == NORM_OF.get(attack_name, "linf")
    assert r.forwards == r.gradients + 1


def test_model_mode_weights_and_grads_untouched(backend_name: str, attack_name: str) -> None:
    model = tiny_model(backend_name)
    model.train()
    if backend_name == "torch":
        model.module.layers[0].training = False  # a caller's mixed setting must survive
    modes = model.mode_state()
    before = model.parameters_numpy()
    x, y = tiny_batch()
    ATTACKS[attack_name](model, x, y, eps=0.2)
    assert model.mode_state() == modes and model.training
    after = model.parameters_numpy()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    if backend_name == "torch":
        assert all(p.grad is None for p in model.module.parameters())


def test_seed_reproduces_and_changes_random_start(model) -> None:
    x, y = tiny_batch()
    a = pgd(model, x, y, eps=0.2, steps=3, random_start=True, seed=1)
    b = pgd(model, x, y, eps=0.2, steps=3, random_start=True, seed=1)
    c = pgd(model, x, y, eps=0.2, steps=3, random_start=True, seed=2)
    np.testing.assert_array_equal(_np(model, a.x_adv), _np(model, b.x_adv))
    assert not np.array_equal(_np(model, a.x_adv), _np(model, c.x_adv))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    eps=st.floats(0.0, 0.6),
    steps=st.integers(1, 6),
    rel=st.floats(0.05, 1.0),
    norm=st.sampled_from(["linf", "l2"]),
    random_start=st.booleans(),
    value_range=st.sampled_from([(0.0, 1.0), (-1.0, 1.0)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_pgd_stays_in_ball_and_range_after_every_step(
    backend_name: str, eps: float, steps: int, rel: float, norm: str, random_start: bool, value_range, seed: int
) -> None:
    model = tiny_model(backend_name, seed=seed % 5, value_range=value_range)
    x, y = tiny_batch(6, seed=seed, value_range=value_range)
    lo, hi = value_range
    seen = []
    tol = 1e-6 * max(1.0, eps)

    def check(t: int, x_t) -> None:
        xt = _np(model, x_t)
        d = (xt - x).reshape(len(x), -1)
        n = np.abs(d).max(1) if norm == "linf" else np.sqrt((d.astype(np.float64) ** 2).sum(1))
        assert (n <= eps + tol).all(), f"step {t}: norm {n.max()} > eps {eps}"
        assert xt.min() >= lo and xt.max() <= hi, f"step {t}: outside [{lo}, {hi}]"
        seen.append(t)

    r = pgd(model, x, y, eps=eps, norm=norm, steps=steps, rel_step_size=rel, random_start=random_start,
            seed=seed, callback=check)
    assert 1 <= len(seen) <= steps and seen == list(range(1, len(seen) + 1))
    check(steps + 1, r.x_adv)


def test_per_sample_eps(model) -> None:
    x, y = tiny_batch(4)
    eps = np.array([0.0, 0.1, 0.2, 0.4], dtype=np.float32)
    r = pgd(model, x, y, eps=eps, steps=5)
    norms = _np(model, r.norms)
    assert norms[0] == 0 and (norms <= eps + 1e-6).all()


def test_one_full_pgd_step_is_fgsm(model) -> None:
    x, _ = tiny_batch(16)
    y = _np(model, model(model.backend.asarray(x))).argmax(1)  # none fooled at the start
    for norm in ("linf", "l2"):
        a = fgsm(model, x, y, eps=0.2, norm=norm)
        b = pgd(model, x, y, eps=0.2, norm=norm, steps=1, rel_step_size=1.0)
        np.testing.assert_allclose(_np(model, a.x_adv), _np(model, b.x_adv), atol=1e-7)


def test_more_pgd_steps_fool_more(backend_name: str) -> None:
    model = tiny_model(backend_name, hidden=(32,), seed=1)
    x, y = tiny_batch(64, seed=3)
    rates = [_np(model, pgd(model, x, y, eps=0.1, steps=s, rel_step_size=0.25).success).mean() for s in (1, 10)]
    assert rates[1] >= rates[0] and rates[1] > 0


def test_targeted_reaches_the_target(backend_name: str) -> None:
    model = tiny_model(backend_name, hidden=(32,), seed=1)
    x, _ = tiny_batch(64, seed=3)
    logits = _np(model, model(model.backend.asarray(x)))
    target = np.argsort(logits, axis=1)[:, -2]  # runner-up class: reachable inside the box
    t = pgd(model, x, target, eps=1.0, steps=40, rel_step_size=0.05, targeted=True)
    assert _np(model, t.success).mean() > 0.9
    pred = _np(model, model(t.x_adv)).argmax(1)
    np.testing.assert_array_equal(pred == target, _np(model, t.success))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(eps=-0.1), InvalidInputError, "eps must be finite and >= 0"),
        (dict(eps=float("nan")), InvalidInputError, "eps must be finite"),
        (dict(eps=np.ones(3, np.float32)), InvalidInputError, r"eps must be a scalar or have shape \(8,\)"),
        (dict(eps="large"), InvalidInputError, "eps must be a number or a"),
        (dict(eps=0.1, steps=0), ConfigError, "steps must be an integer >= 1"),
        (dict(eps=0.1, norm="l3"), ConfigError, "norm 'l3'"),
        (dict(eps=0.1, loss="cee"), ConfigError, "Did you mean 'ce'"),
    ],
)
def test_bad_arguments(model, kwargs, error, match) -> None:
    x, y = tiny_batch()
    with pytest.raises(error, match=match):
        pgd(model, x, y, **kwargs)


def test_bad_eps_given_as_backend_arrays(model) -> None:
    """Per-sample budgets already on the device are checked there, with the same messages."""
    x, y = tiny_batch()
    be = model.backend
    with pytest.raises(InvalidInputError, match="eps must be finite and >= 0"):
        pgd(model, x, y, eps=be.asarray(np.full(8, -0.1, np.float32)))
    with pytest.raises(InvalidInputError, match="eps must be finite"):
        pgd(model, x, y, eps=be.asarray(np.full(8, np.inf, np.float32)))
    with pytest.raises(InvalidInputError, match=r"eps must be a scalar or have shape \(8,\)"):
        pgd(model, x, y, eps=be.asarray(np.ones(3, np.float32)))
    r = pgd(model, x, y, eps=be.asarray(np.linspace(0, 0.2, 8).astype(np.float32)), steps=2)
    assert np.all(_np(model, r.norms) <= np.linspace(0, 0.2, 8) + 1e-6)


def test_bad_inputs(model) -> None:
    x, y = tiny_batch()
    with pytest.raises(InvalidInputError, match=r"shape \(8, 3, 4\).*expects \(batch, 12\)"):
        pgd(model, x.reshape(8, 3, 4), y, eps=0.1)
    with pytest.raises(InvalidInputError, match="add a batch axis"):
        fgsm(model, x[0], y[:1], eps=0.1)
    bad = x.copy()
    bad[2, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        pgd(model, bad, y, eps=0.1)
    bad[2, 3] = -np.inf  # infinite values are caught through the min/max as well
    with pytest.raises(InvalidInputError, match="infinite"):
        pgd(model, bad, y, eps=0.1)
    with pytest.raises(InvalidInputError, match="outside the model's value range"):
        pgd(model, x * 255, y, eps=0.1)
    with pytest.raises(InvalidInputError, match="labels outside"):
        pgd(model, x, y + 4, eps=0.1)
    with pytest.raises(InvalidInputError, match="one label per sample"):
        pgd(model, x, y[:3], eps=0.1)
    with pytest.raises(InvalidInputError, match="integer class"):
        pgd(model, x, y.astype(np.float32), eps=0.1)


@pytest.mark.parametrize("attack", ["pgd", "mim"])
def test_active_set_compaction_changes_only_the_work(attack: str) -> None:
    """Both loop paths on torch: exact compaction (torch) and the fixed-shape path (jax's:
    the full batch while more than half runs, then padded sizes whose padding rows ``put``
    drops, as the jax backend does)."""
    import copy

    sizes: list[int] = []

    def put_dropping(x: Any, index: Any, values: Any) -> Any:
        keep = index < x.shape[0]
        sizes.append(int(index.shape[0]))
        return x.index_copy(0, index[keep], values[keep].to(x.dtype))

    pytest.importorskip("torch")
    model = tiny_model("torch", hidden=(32,), seed=1)
    x, _ = tiny_batch(32, seed=3)
    x = np.concatenate([x, x[::-1]])  # 64 rows: the fixed-shape path shrinks to 32, 16, 8 as they are fooled
    y = _np(model, model(model.backend.asarray(x))).argmax(1)
    fn = functools.partial(mim if attack == "mim" else pgd, steps=30, step_size=0.1)
    results = {}
    be = model.backend
    for compact in (True, False):
        other = copy.copy(be)
        other.dynamic_shapes = compact
        if not compact:
            other.put = put_dropping
        model.backend = other
        try:
            results[compact] = fn(model, x, y, eps=1.0)
        finally:
            model.backend = be
    np.testing.assert_array_equal(_np(model, results[True].x_adv), _np(model, results[False].x_adv))
    np.testing.assert_array_equal(_np(model, results[True].success), _np(model, results[False].success))
    assert _np(model, results[True].success).all()
    assert results[True].gradients == results[False].gradients < 30  # both stop once all are fooled
    assert min(sizes) < 64  # the fixed-shape path did shrink
