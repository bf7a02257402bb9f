"""The adversary-critic defense (Matyasko thesis ch. 4): the high-confidence attack (Algorithm 1,
Eq. 4.8) and its straight-through gradient, the critic loss (Eq. 4.3 + gradient penalties) and the
classifier objective (Eq. 4.4-4.5) against numpy computations on linear models, the critic's
updates, the compiled jax step seeing the current critic, and a seeded training run."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pytest
from defense_helpers import blobs, ce_np, logits_np, softmax_np, tiny_model

from sparring.core import get_registry
from sparring.core.errors import ConfigError
from sparring.data.dataset import ArrayDataset
from sparring.defenses import AdversaryCritic, Trainer, TrainSettings, standard
from sparring.defenses.critic import critic_loss, high_confidence_attack
from sparring.models import build_model


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Tiny models: extra torch threads only spin on a busy machine."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _threads() -> Iterator[None]:
    with _one_torch_thread():
        yield


def _np(model: Any, value: Any) -> np.ndarray:
    return np.asarray(model.backend.to_numpy(value), dtype=np.float64)


def _params(model: Any) -> dict[str, np.ndarray]:
    return {k: v.astype(np.float64) for k, v in model.parameters_numpy().items()}


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _attack_np(w: np.ndarray, b: np.ndarray, x: np.ndarray, t: np.ndarray, c: Any, *, steps: int,
               overshoot: float, lo: float = 0.0, hi: float = 1.0, frozen: list | None = None,
               record: list | None = None) -> np.ndarray:
    """Eq. 4.8 iterated on f(x) = W x + b, where ∇_x log p_t = W_t - Σ_j p_j W_j.

    ``frozen`` (the (x̄_i, hard_i, soft_i) of a first run, saved in ``record``) evaluates the
    straight-through surrogate instead: linearisation points and hard gates held fixed, the gate
    moving as ``hard + sigmoid(C - p) - soft``, whose derivative is the estimator's.
    """
    n = len(x)
    c = np.broadcast_to(np.asarray(c, dtype=np.float64), (n,))
    r = np.zeros_like(x)
    alive = np.ones(n)
    for i in range(steps):
        x_i = np.clip(x + (1 + overshoot) * r, lo, hi) if frozen is None else frozen[i][0]
        p = softmax_np(x_i @ w.T + b)
        p_t = p[np.arange(n), t]
        grad = w[t] - p @ w  # (B, D)
        soft = _sigmoid(c - p_t)
        if frozen is None:
            gate = (p_t < c).astype(np.float64)
        else:
            gate = frozen[i][1] + soft - frozen[i][2]
        if record is not None:
            record.append((x_i, (p_t < c).astype(np.float64), soft))
        alive = alive * gate
        r = r + (alive * (np.log(c) - np.log(p_t)) / ((grad * grad).sum(1) + 1e-8))[:, None] * grad
    return np.clip(x + (1 + overshoot) * r, lo, hi)


def _other_classes(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    return (y + np.random.default_rng(seed).integers(1, k, len(y))) % k


# -- the high-confidence attack ---------------------------------------------------------------------
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_attack_iterates_match_numpy(backend_name: str, steps: int) -> None:
    m = tiny_model(backend_name, hidden=(), seed=1)
    be = m.backend
    p = _params(m)
    x, y = blobs(16, seed=2)
    t = _other_classes(y, 3, 0)
    c = np.linspace(0.4, 0.95, 16)  # per-sample confidences
    expected = _attack_np(p["head.weight"], p["head.bias"], x.astype(np.float64), t, c, steps=steps, overshoot=0.05)
    args = (m, be.asarray(x), be.asarray(t), be.asarray(c, dtype=be.asarray(x).dtype))
    plain = _np(m, high_confidence_attack(*args, steps=steps, differentiable=False))
    through = _np(m, high_confidence_attack(*args, steps=steps, differentiable=True))
    assert np.abs(expected - x).max() > 0.05  # the attack moved the inputs
    np.testing.assert_allclose(plain, expected, rtol=1e-4, atol=2e-5)
    np.testing.assert_array_equal(through, plain)  # straight-through: the forward value is the hard one


def test_attack_reaches_the_confidence_only_with_overshoot(backend_name: str) -> None:
    """log p_t is concave in x for a linear model: an exact Newton step lands below C (Algorithm 1
    alone never stops); with the reference code's 5 % overshoot every target is reached."""
    m = build_model("dense", backend=backend_name, input_shape=(6,), hidden=(), num_classes=3, seed=3,
                    value_range=(-10.0, 10.0))
    be = m.backend
    x, y = blobs(24, seed=4)
    t = _other_classes(y, 3, 1)
    xs, ts = be.asarray(x), be.asarray(t)
    p_start = softmax_np(logits_np(m, x))[np.arange(24), t]
    assert p_start.max() < 0.9
    for overshoot in (0.05, 0.0):
        x_adv = be.to_numpy(high_confidence_attack(m, xs, ts, 0.9, steps=5, overshoot=overshoot))
        p_t = softmax_np(logits_np(m, x_adv).astype(np.float64))[np.arange(24), t]
        if overshoot:
            assert (p_t >= 0.9).all(), p_t
        else:
            assert (p_t <= 0.9 + 1e-5).all() and p_t.min() > 0.85, p_t
    w, b = (v.astype(np.float64) for v in (m.parameters_numpy()["head.weight"], m.parameters_numpy()["head.bias"]))
    exact = _attack_np(w, b, x.astype(np.float64), t, 0.9, steps=5, overshoot=0.0, lo=-10, hi=10)
    assert (softmax_np(exact @ w.T + b)[np.arange(24), t] < 0.9).all()


def test_straight_through_gradient_matches_the_surrogate(backend_name: str) -> None:
    """One SGD step of lr 1 on Σ v·A_f(x; t) moves W, b by minus the gradient; it equals the finite
    differences of the straight-through surrogate (fixed linearisation points, gate = hard +
    sigmoid(C - p) - const), and differs from those of the piecewise-smooth forward alone."""
    m = tiny_model(backend_name, hidden=(), seed=5)
    be = m.backend
    p0 = _params(m)
    x, y = blobs(12, seed=6)
    x64 = x.astype(np.float64)
    t = _other_classes(y, 3, 2)
    c, steps = 0.4, 3
    v = np.random.default_rng(7).standard_normal(x.shape)

    def loss_fn(model: Any, xs: Any, ts: Any, vs: Any) -> tuple[Any, Any]:
        xp = model.backend.xp
        x_adv = high_confidence_attack(model, xs, ts, c, steps=steps, overshoot=0.05)
        return xp.sum(x_adv * vs), x_adv

    opt = be.optimizer(m, name="sgd", lr=1.0, momentum=0.0)
    _, x_adv = opt.step(loss_fn, be.asarray(x), be.asarray(t), be.asarray(v, dtype=be.asarray(x).dtype))
    p1 = _params(m)
    grad = {k: p0[k] - p1[k] for k in ("head.weight", "head.bias")}

    record: list = []
    forward = _attack_np(p0["head.weight"], p0["head.bias"], x64, t, c, steps=steps, overshoot=0.05, record=record)
    np.testing.assert_allclose(_np(m, x_adv), forward, rtol=1e-4, atol=2e-5)
    stopped = np.array([r[1] for r in record])  # (steps, B): hard gates
    assert (stopped == 0).any() and (stopped == 1).any()  # some samples stop early

    def fd(frozen: list | None) -> dict[str, np.ndarray]:
        out = {}
        for name in grad:
            g = np.zeros_like(p0[name])
            for idx in np.ndindex(*g.shape):
                vals = []
                for h in (1e-6, -1e-6):
                    q = {k: a.copy() for k, a in p0.items()}
                    q[name][idx] += h
                    a = _attack_np(q["head.weight"], q["head.bias"], x64, t, c, steps=steps, overshoot=0.05,
                                   frozen=frozen)
                    vals.append((a * v).sum())
                g[idx] = (vals[0] - vals[1]) / 2e-6
            out[name] = g
        return out

    surrogate, smooth = fd(record), fd(None)
    for name, g in grad.items():
        assert np.isfinite(g).all() and np.abs(g).max() > 1e-3
        np.testing.assert_allclose(g, surrogate[name], rtol=2e-3, atol=2e-4)
    gap = max(np.abs(surrogate[k] - smooth[k]).max() for k in grad)
    assert gap > 1e-2  # the estimator's term is there and not negligible


# -- the critic --------------------------------------------------------------------------------------
def _critic_np(q: dict[str, np.ndarray], x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z = D(x)_k and ∇_x z for the ReLU MLP D(x) = V2 relu(V1 x + c1) + c2."""
    pre = x @ q["layers.0.weight"].T + q["layers.0.bias"]
    z = np.maximum(pre, 0) @ q["head.weight"].T + q["head.bias"]
    grad = ((pre > 0) * q["head.weight"][k]) @ q["layers.0.weight"]
    return z[np.arange(len(k)), k], grad


def _critic_loss_np(q: dict[str, np.ndarray], x, y, x_adv, t, mask, lam_grad: float) -> float:
    z_real, g_real = _critic_np(q, x, y)
    z_adv, g_adv = _critic_np(q, x_adv, t)
    n = max(mask.sum(), 1)
    bce = _softplus(-z_real).mean() + (mask * _softplus(z_adv)).sum() / n
    pen = (((np.linalg.norm(g_real, axis=1) - 1) ** 2).mean()
           + (mask * (np.linalg.norm(g_adv, axis=1) - 1) ** 2).sum() / n)
    return bce + lam_grad * pen


def test_critic_loss_and_its_gradient_match_numpy(backend_name: str) -> None:
    critic = tiny_model(backend_name, hidden=(5,), seed=8)
    be = critic.backend
    q = _params(critic)
    rng = np.random.default_rng(9)
    x, y = blobs(10, seed=10)
    x_adv = np.clip(x + 0.2 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    t = _other_classes(y, 3, 3)
    mask = np.arange(10) % 3 != 0
    args = [be.asarray(a) for a in (x, y, x_adv, t, mask)]
    for lam_grad in (0.0, 10.0):
        loss, z_real = critic_loss(critic, *args, lam_grad=lam_grad)
        expected = _critic_loss_np(q, *(a.astype(np.float64) if a.dtype == np.float32 else a
                                        for a in (x, y, x_adv, t, mask)), lam_grad)
        assert float(_np(critic, loss)) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(_np(critic, z_real), _critic_np(q, x.astype(np.float64), y)[0], rtol=1e-5, atol=1e-6)

    # the penalty is differentiated w.r.t. the critic's weights (double back-prop): one SGD step of lr 1
    be.optimizer(critic, name="sgd", lr=1.0, momentum=0.0).step(partial(critic_loss, lam_grad=10.0), *args)
    q1 = _params(critic)
    data = tuple(a.astype(np.float64) if a.dtype == np.float32 else a for a in (x, y, x_adv, t, mask))
    for name in q:
        g = np.zeros_like(q[name])
        for idx in np.ndindex(*g.shape):
            hi, lo = ({k: a.copy() for k, a in q.items()} for _ in range(2))
            hi[name][idx] += 1e-6
            lo[name][idx] -= 1e-6
            g[idx] = (_critic_loss_np(hi, *data, 10.0) - _critic_loss_np(lo, *data, 10.0)) / 2e-6
        np.testing.assert_allclose(q[name] - q1[name], g, rtol=1e-3, atol=1e-4, err_msg=name)


# -- the classifier objective ------------------------------------------------------------------------
def test_targets_confidences_and_objective_match_numpy(backend_name: str) -> None:
    m = tiny_model(backend_name, hidden=(), seed=11)
    be = m.backend
    d = AdversaryCritic(lam=0.5, lam_cycle=0.1, steps=2, critic_params={"hidden": ()})
    x, y = blobs(12, seed=12)
    xs, ys = be.asarray(x), be.asarray(y)
    targets, c_t, c_s, module = d.inputs(m, xs, ys, 3, 0)
    p = _params(m)
    w, b = p["head.weight"], p["head.bias"]
    x64 = x.astype(np.float64)
    z = x64 @ w.T + b
    n = np.arange(12)
    # closest boundary: |z_j - z_y| / ||W_j - W_y||, j != y
    dist = np.abs(z - z[n, y][:, None]) / (np.linalg.norm(w[None] - w[y][:, None], axis=2) + 1e-12)
    dist[n, y] = np.inf
    t = dist.argmin(1)
    np.testing.assert_array_equal(be.to_numpy(targets), t)
    # C_t: the class's mean confidence on the first batch (see the next test for the running mean)
    prob = softmax_np(z)
    np.testing.assert_allclose(_np(m, c_t), _class_means(prob, prob.max(1).mean())[t], rtol=1e-5)
    np.testing.assert_allclose(_np(m, c_s), prob[n, y], rtol=1e-5)

    cq = _params(d.critic_for(m))  # after its first update
    # C below p_t(x) leaves a sample where it is (a miss of the mask), C = 0.6 > 1/2 makes t the arg-max
    c_mix = np.where(n % 3 == 0, 0.05, 0.6)
    x_adv = _attack_np(w, b, x64, t, c_mix, steps=2, overshoot=0.05)
    hit = (x_adv @ w.T + b).argmax(1) == t
    assert hit.any() and not hit.all()
    z_adv = (x_adv @ cq["head.weight"].T + cq["head.bias"])[n, t]
    x_back = _attack_np(w, b, x_adv, y, _np(m, c_s), steps=2, overshoot=0.05)
    cyc = np.linalg.norm(x_back - x64, axis=1)
    ce = ce_np(z, y).mean()
    gan = (hit * _softplus(-z_adv)).sum() / hit.sum()
    c_mix = be.asarray(c_mix, dtype=xs.dtype)  # the objective is a pure function of its inputs
    loss, logits = d.objective(m, xs, ys, targets, c_mix, c_s, module)
    np.testing.assert_allclose(_np(m, logits), z, rtol=1e-5, atol=1e-6)
    assert float(_np(m, loss)) == pytest.approx(ce + 0.5 * gan + 0.1 * (hit * cyc).sum() / hit.sum(), rel=1e-4)
    squared = AdversaryCritic(lam=0.0, lam_cycle=0.1, steps=2, cycle_squared=True)
    loss2, _ = squared.objective(m, xs, ys, targets, c_mix, c_s, module)  # the critic is not read when lam = 0
    assert float(_np(m, loss2)) == pytest.approx(ce + 0.1 * (hit * cyc**2).sum() / hit.sum(), rel=1e-4)


def _class_means(prob: np.ndarray, absent: Any) -> np.ndarray:
    pred, conf = prob.argmax(1), prob.max(1)
    absent = np.broadcast_to(absent, (prob.shape[1],))
    return np.array([conf[pred == k].mean() if (pred == k).any() else absent[k] for k in range(prob.shape[1])])


def test_confidences_are_running_class_means() -> None:
    """C_t = the running mean (decay 0.5) of max_k p_k(x) over the samples predicted as t, started
    from the first batch (a class never predicted: that batch's mean confidence); C_s = p_y(x),
    both clipped to [1e-6, 1]."""
    d = AdversaryCritic()
    rng = np.random.default_rng(15)
    mean = None
    for i in range(3):
        logits = 2 * rng.standard_normal((16, 4))
        logits[:, 3] -= 10  # class 3 is never predicted
        y, t = rng.integers(0, 4, 16), rng.integers(0, 4, 16)
        prob = softmax_np(logits)
        if mean is None:
            mean = _class_means(prob, prob.max(1).mean())
        mean = 0.5 * mean + 0.5 * _class_means(prob, mean)
        c_t, c_s = d._confidences(logits, y, t)
        np.testing.assert_allclose(c_t, mean[t], rtol=1e-12)
        np.testing.assert_allclose(c_s, np.clip(prob[np.arange(16), y], 1e-6, 1), rtol=1e-12)  # log C finite
    fixed = AdversaryCritic(confidence=0.9)._confidences(logits, y, t)[0]
    np.testing.assert_array_equal(fixed, np.full(16, 0.9))


# -- training ------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["torch", "jax"])
def trained(request: pytest.FixtureRequest) -> dict[str, Any]:
    pytest.importorskip(request.param)
    with _one_torch_thread():
        x, y = blobs(60, seed=14)
        data = ArrayDataset(x, y, name="blobs", classes=("a", "b", "c"))
        settings = TrainSettings(epochs=2, batch_size=20, lr=3e-2)
        # pre-training without regularisation, as in the thesis (an untrained net puts every target
        # class out of reach inside the [0, 1] box); on torch where it is there: cheaper than a jax compile
        pretrained = tiny_model("torch" if importlib.util.find_spec("torch") else request.param, hidden=(8,), seed=13)
        Trainer(pretrained, standard(), settings, seed=1).fit(data)
        model = tiny_model(request.param, hidden=(8,), seed=13)
        model.load_parameters(pretrained.parameters_numpy())
        defense = AdversaryCritic(steps=2, critic_params={"hidden": (8,)}, critic_lr=1e-2)
        before = model.parameters_numpy()
        ce_before = ce_np(logits_np(model, x).astype(np.float64), y).mean()
        critic_before = defense.critic_for(model, seed=0).parameters_numpy()  # built early: the run uses it
        success: list[float] = []

        class Record:
            def on_step(self, epoch: int, batch: int, batches: int, loss: float) -> None:
                success.append(defense.last_attack_success)

        trainer = Trainer(model, defense, replace(settings, epochs=3), seed=0, callbacks=[Record()])
        history = trainer.fit(data)
    return dict(model=model, defense=defense, trainer=trainer, history=history, x=x, y=y, before=before,
                ce_before=ce_before, critic_before=critic_before, success=success)


def test_training_lowers_the_loss_and_moves_both_networks(trained: dict[str, Any]) -> None:
    model, defense, x, y = trained["model"], trained["defense"], trained["x"], trained["y"]
    history = trained["history"]
    assert len(history) == 3 and all(np.isfinite(h["loss"]) for h in history)
    assert history[-1]["loss"] < history[0]["loss"]
    z = logits_np(model, x).astype(np.float64)
    assert ce_np(z, y).mean() < 0.95 * trained["ce_before"]
    assert (z.argmax(1) == y).mean() > 0.7
    assert len(trained["success"]) == 9 and np.mean(trained["success"]) > 0.5  # the adversarial terms are active
    moved = [np.abs(model.parameters_numpy()[k] - v).max() for k, v in trained["before"].items()]
    assert min(moved) > 1e-3
    critic = defense.critic_for(model)
    moved = [np.abs(critic.parameters_numpy()[k] - v).max() for k, v in trained["critic_before"].items()]
    assert min(moved) > 1e-3
    assert defense.last_critic_loss is not None and np.isfinite(defense.last_critic_loss)


def test_the_compiled_step_sees_the_current_critic(trained: dict[str, Any]) -> None:
    """The trainer's step (compiled at the first batch on jax, not retraced since: same shapes and
    placements) returns the loss at the critic's *current* weights, which moved since that trace; a
    critic frozen at its first-trace weights gives another loss."""
    model, defense, trainer = trained["model"], trained["defense"], trained["trainer"]
    be = model.backend
    xs, ys = be.asarray(trained["x"][:20]), be.asarray(trained["y"][:20])
    extra = defense.inputs(model, xs, ys, 5, 0)  # one more critic step
    eager = float(be.to_numpy(defense.objective(model, xs, ys, *extra)[0]))
    compiled, _ = trainer.optimizer.step(defense.objective, xs, ys, *extra)
    assert float(be.to_numpy(compiled)) == pytest.approx(eager, rel=1e-5)
    first = tiny_model(be.name, hidden=(8,), seed=0)  # the critic as it was at the first trace
    first.load_parameters(trained["critic_before"])
    stale = float(be.to_numpy(defense.objective(model, xs, ys, *extra[:3], first.module)[0]))
    assert abs(stale - eager) > 1e-3


def test_critic_steps_and_state_round_trip(trained: dict[str, Any]) -> None:
    """Each critic step changes the critic and lowers its loss on a fixed batch; a copy restored
    from ``state_numpy`` takes exactly the same next step."""
    model, defense = trained["model"], trained["defense"]
    be = model.backend
    xs, ys = be.asarray(trained["x"][:20]), be.asarray(trained["y"][:20])
    critic = defense.critic_for(model)
    losses = []
    for i in range(6):
        before = critic.parameters_numpy()
        defense.inputs(model, xs, ys, 7, i)
        losses.append(defense.last_critic_loss)
        assert max(np.abs(critic.parameters_numpy()[k] - v).max() for k, v in before.items()) > 0
    assert losses[-1] < losses[0]

    # a classifier step back-propagates into the critic too (torch leaves .grad on its weights): the
    # critic's next step must not see it
    trained["trainer"].optimizer.step(defense.objective, xs, ys, *defense.inputs(model, xs, ys, 8, 0))
    copy = AdversaryCritic(steps=2, critic_params={"hidden": (8,)}, critic_lr=1e-2)
    copy.load_state_numpy(model, defense.state_numpy())
    out_a = defense.inputs(model, xs, ys, 9, 0)
    out_b = copy.inputs(model, xs, ys, 9, 0)
    for a, b in zip(out_a[:3], out_b[:3]):
        np.testing.assert_array_equal(be.to_numpy(a), be.to_numpy(b))
    after_a, after_b = critic.parameters_numpy(), copy.critic_for(model).parameters_numpy()
    for k in after_a:
        np.testing.assert_allclose(after_b[k], after_a[k], rtol=1e-6, atol=1e-7)


# -- configuration --------------------------------------------------------------------------------
def test_registry_entry_and_checks() -> None:
    spec = get_registry().get_defense("adversary-critic")
    d = spec.load()(**spec.resolve_params({"critic_params": {"hidden": [4]}, "steps": 2}))
    assert isinstance(d, AdversaryCritic) and d.steps == 2 and (d.lam, d.lam_cycle, d.lam_grad) == (0.5, 0.01, 10.0)
    assert d.describe()["critic_params"] == {"hidden": (4,)} and "_state" not in d.describe()
    assert hash(d) == hash(AdversaryCritic(steps=2, critic_params={"hidden": (4,)}))
    assert AdversaryCritic().describe()["critic_params"] == {"hidden": (1200, 1200)}  # the thesis's critic
    for bad in ({"confidence": 1.5}, {"target": "far"}, {"steps": 0}, {"lam": -1.0}, {"critic_betas": (0.5, 1.0)},
                {"critic_params": [4]}, {"critic": ""}):
        with pytest.raises(ConfigError):
            AdversaryCritic(**bad)


def test_with_module_views_another_module(backend_name: str) -> None:
    a, b = tiny_model(backend_name, seed=0), tiny_model(backend_name, seed=1)
    x, _ = blobs(4)
    view = a.with_module(b.module)
    np.testing.assert_array_equal(logits_np(view, x), logits_np(b, x))
    assert a.module is not b.module and view.input_shape == a.input_shape and view.backend is a.backend
    assert not np.allclose(logits_np(a, x), logits_np(b, x))


class _StopAfterFirstEpoch(Exception):
    pass


def test_resume_restores_the_critic_and_continues_exactly(tmp_path) -> None:
    pytest.importorskip("torch")
    x, y = blobs(60, seed=14)
    data = ArrayDataset(x, y, name="blobs", classes=("a", "b", "c"))
    settings = TrainSettings(epochs=2, batch_size=20, lr=3e-2)

    def fresh() -> tuple[Any, AdversaryCritic]:
        model = tiny_model("torch", hidden=(8,), seed=13)
        Trainer(model, standard(), settings, seed=1).fit(data)  # pre-training, as in the thesis
        return model, AdversaryCritic(steps=2, critic_params={"hidden": (8,)}, critic_lr=1e-2)

    full, d_full = fresh()
    Trainer(full, d_full, settings, seed=0).fit(data)

    class Stop:
        def on_epoch(self, record: dict) -> None:
            raise _StopAfterFirstEpoch

    cut, d_cut = fresh()
    with pytest.raises(_StopAfterFirstEpoch):
        Trainer(cut, d_cut, settings, seed=0, checkpoint_dir=tmp_path, callbacks=[Stop()]).fit(data)
    assert sorted(p.name for p in tmp_path.glob("*.defense.npz")) == ["epoch-1.defense.npz"]
    resumed, d_resumed = fresh()  # a new process: a new critic object, restored from the checkpoint
    Trainer(resumed, d_resumed, settings, seed=0, checkpoint_dir=tmp_path).fit(data, resume=True)
    for k, v in full.parameters_numpy().items():
        np.testing.assert_allclose(resumed.parameters_numpy()[k], v, rtol=1e-6, atol=1e-7, err_msg=k)
    critic_full, critic_resumed = d_full.state_numpy(), d_resumed.state_numpy()
    assert critic_full.keys() == critic_resumed.keys()
    for k, v in critic_full.items():
        np.testing.assert_allclose(critic_resumed[k], v, rtol=1e-6, atol=1e-7, err_msg=k)
