"""The trainer: resume equals an uninterrupted run, torch and jax agree, NaN stops cleanly."""

from __future__ import annotations

import numpy as np
import pytest
from defense_helpers import blobs, same_weights, tiny_model

from sparring.core.errors import ConfigError
from sparring.data.dataset import ArrayDataset
from sparring.defenses import Trainer, TrainingDivergedError, TrainSettings, pgd_at, standard
from sparring.defenses.schedules import lr_factor


def _data(n: int = 60, seed: int = 0) -> ArrayDataset:
    x, y = blobs(n, seed=seed)
    return ArrayDataset(x, y, name="blobs", classes=("a", "b", "c"), value_range=(0.0, 1.0))


class _RawBatches:
    """A duck-typed dataset that does not check its arrays (ArrayDataset refuses NaN)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size: int, *, seed=None, drop_last: bool = False):
        for i in range(0, len(self.y), batch_size):
            yield self.x[i : i + batch_size], self.y[i : i + batch_size]


class _Interrupt(Exception):
    pass


class _StopAfter:
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch(self, record: dict) -> None:
        if record["epoch"] == self.epochs:
            raise _Interrupt


@pytest.mark.parametrize("defense", [standard(), pgd_at(eps=0.05, steps=2)], ids=["standard", "pgd-at"])
def test_resume_after_epoch_one_gives_the_uninterrupted_weights(backend_name, defense, tmp_path) -> None:
    settings = TrainSettings(epochs=3, batch_size=16, optimizer="adam", lr=0.01, schedule="cosine")
    data = _data()
    full = tiny_model(backend_name, seed=1)
    Trainer(full, defense, settings, seed=4, checkpoint_dir=tmp_path / "full").fit(data)

    killed = tiny_model(backend_name, seed=1)
    with pytest.raises(_Interrupt):
        Trainer(killed, defense, settings, seed=4, checkpoint_dir=tmp_path / "run", callbacks=[_StopAfter(1)]).fit(data)
    resumed = tiny_model(backend_name, seed=99)  # a fresh process: other initial weights, all overwritten
    trainer = Trainer(resumed, defense, settings, seed=4, checkpoint_dir=tmp_path / "run")
    history = trainer.fit(data, resume=True)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    a, b = full.parameters_numpy(), resumed.parameters_numpy()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_torch_and_jax_trainers_follow_the_same_loss_curve() -> None:
    pytest.importorskip("jax")
    settings = TrainSettings(epochs=3, batch_size=20, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-3,
                             schedule="step", gamma=0.5, clip_norm=5.0)
    data = _data(80)
    ref = tiny_model("torch", seed=2)
    curves = {}
    for be in ("torch", "jax"):
        m = same_weights(be, ref, seed=2)
        curves[be] = [r["loss"] for r in Trainer(m, standard(), settings, seed=3).fit(data)]
    np.testing.assert_allclose(curves["torch"], curves["jax"], rtol=1e-4)
    assert curves["torch"][-1] < curves["torch"][0]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(backend_name, tmp_path) -> None:
    data = _data()
    model = tiny_model(backend_name, seed=1)
    trainer = Trainer(model, standard(), TrainSettings(epochs=1, batch_size=16, lr=0.01), seed=0,
                      checkpoint_dir=tmp_path)
    trainer.fit(data)
    good = model.parameters_numpy()
    x, y = blobs(60)
    x[5, 2] = np.nan  # NaN slipped past the data checks: the loss becomes NaN
    bad = _RawBatches(x, y)
    trainer2 = Trainer(model, standard(), TrainSettings(epochs=2, batch_size=16, lr=0.01), seed=0,
                       checkpoint_dir=tmp_path)
    with pytest.raises(TrainingDivergedError, match="epoch 2"):
        trainer2.fit(bad, resume=True)
    now = model.parameters_numpy()
    for k in good:
        np.testing.assert_array_equal(good[k], now[k])


def test_exploding_learning_rate_is_caught(backend_name) -> None:
    model = tiny_model(backend_name, seed=1)
    initial = model.parameters_numpy()
    x, y = blobs(32)
    x = x * 1e30  # overflow in the logits -> inf/NaN loss
    data = _RawBatches(x.astype(np.float32), y)
    with pytest.raises(TrainingDivergedError, match="initial weights"):
        Trainer(model, standard(), TrainSettings(epochs=1, batch_size=8, optimizer="sgd", lr=1e10), seed=0).fit(data)
    for k, v in model.parameters_numpy().items():
        np.testing.assert_array_equal(v, initial[k])


def test_best_on_robust_keeps_the_best_epoch_and_patience_stops(backend_name, tmp_path) -> None:
    from functools import partial

    from sparring.attacks import pgd

    data, val = _data(48, seed=0), _data(30, seed=1)
    model = tiny_model(backend_name, seed=1)
    trainer = Trainer(model, standard(), TrainSettings(epochs=6, batch_size=16, lr=0.05, best_on="robust",
                                                       patience=2), seed=0, checkpoint_dir=tmp_path,
                      robust_attack=partial(pgd, eps=0.05, steps=3))
    history = trainer.fit(data, val)
    best = max(r["val_robust_accuracy"] for r in history)
    assert trainer.best == best
    assert (tmp_path / "best.safetensors").exists()
    assert len(history) <= 6


def test_schedules() -> None:
    assert lr_factor("constant", 2.5, 4) == 1.0
    assert lr_factor("step", 2.5, 4, step_size=2, gamma=0.1) == pytest.approx(0.1)
    assert lr_factor("cosine", 0.0, 4) == pytest.approx(1.0)
    assert lr_factor("cosine", 2.0, 4) == pytest.approx(0.5)
    assert lr_factor("cosine", 4.0, 4) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("onecycle", 1.2, 4) == pytest.approx(1.0)
    assert lr_factor("onecycle", 0.0, 4) == pytest.approx(1 / 25)
    assert lr_factor("constant", 0.5, 4, warmup_epochs=1.0) == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        lr_factor("exponential", 0.0, 4)


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="epochs"):
        TrainSettings(epochs=0)
    with pytest.raises(ConfigError, match="schedule"):
        TrainSettings(schedule="linear")
    with pytest.raises(ConfigError, match="validation set"):
        Trainer(tiny_model("torch"), standard(), TrainSettings(best_on="clean"), seed=0).fit(_data())


def _noise(x: np.ndarray, seed: int) -> np.ndarray:
    return (x + np.random.default_rng(seed).normal(0, 0.3, x.shape)).astype(np.float32)


def test_augmentation_is_seeded_per_batch_and_survives_resume(tmp_path) -> None:
    settings = TrainSettings(epochs=2, batch_size=20, lr=0.05)
    data = _data()
    seeds: list[int] = []

    def recording(x: np.ndarray, seed: int) -> np.ndarray:
        seeds.append(seed)
        return _noise(x, seed)

    full = tiny_model("torch", seed=1)
    Trainer(full, standard(), settings, seed=4, augment=recording).fit(data)
    assert len(seeds) == 6 and len(set(seeds)) == 6  # 3 batches x 2 epochs, each its own draw
    plain = tiny_model("torch", seed=1)
    Trainer(plain, standard(), settings, seed=4).fit(data)
    assert any(not np.array_equal(a, b) for a, b in zip(full.parameters_numpy().values(),
                                                           plain.parameters_numpy().values()))

    killed = tiny_model("torch", seed=1)
    with pytest.raises(_Interrupt):
        Trainer(killed, standard(), settings, seed=4, augment=_noise, checkpoint_dir=tmp_path,
                callbacks=[_StopAfter(1)]).fit(data)
    resumed = tiny_model("torch", seed=7)
    Trainer(resumed, standard(), settings, seed=4, augment=_noise, checkpoint_dir=tmp_path).fit(data, resume=True)
    for k, v in full.parameters_numpy().items():
        np.testing.assert_array_equal(v, resumed.parameters_numpy()[k], err_msg=k)


def test_eps_warmup_ramps_the_defense_eps_then_holds_it(backend_name) -> None:
    settings = TrainSettings(epochs=4, batch_size=20, lr=0.05, eps_warmup_epochs=2)
    history = Trainer(tiny_model(backend_name, seed=1), pgd_at(eps=0.3, steps=2), settings, seed=0).fit(_data())
    np.testing.assert_allclose([r["eps"] for r in history], [0.1, 0.2, 0.3, 0.3])
    plain = Trainer(tiny_model(backend_name, seed=1), standard(), settings, seed=0).fit(_data())
    assert all("eps" not in r for r in plain)  # nothing to ramp
