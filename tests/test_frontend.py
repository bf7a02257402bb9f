"""A Mel front-end inside a model: attacks perturb the waveform through the spectrogram."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.attacks import pgd
from sparring.cli.runner import _attach_frontend
from sparring.core.errors import ConfigError
from sparring.data.features import MelFrontend
from sparring.models import build_model

SETTINGS = {"sample_rate": 4000, "n_fft": 256, "hop_length": 128, "n_mels": 16, "htk": True, "norm": "none",
            "db": True}
T = 2000  # 0.5 s at 4 kHz -> 1 + 2000 // 128 = 16 frames


def _model(backend: str):
    pytest.importorskip(backend)
    model = build_model("stacked", backend=backend, seed=0, layer="s4d", input_shape=(16, 16), d_model=8,
                        state_size=8, num_classes=3, value_range=(-1.0, 1.0))
    _attach_frontend(model, dict(SETTINGS), (T,), "s4d")
    return model


def _waves(n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(T) / 4000.0
    f = rng.uniform(200, 1500, (n, 1))
    return (0.5 * np.sin(2 * np.pi * f * t) + 0.05 * rng.normal(size=(n, T))).astype(np.float32)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_the_model_takes_waveforms_and_equals_network_of_features(backend: str) -> None:
    model = _model(backend)
    assert model.input_shape == (T,) and model.network_input_shape == (16, 16)
    be = model.backend
    x = _waves()
    feats = MelFrontend(**SETTINGS)(x)  # numpy
    assert feats.shape == (4, 16, 16)
    model.frontend, saved = None, model.frontend  # the bare network on the numpy features
    direct = be.to_numpy(model(be.asarray(feats.astype(np.float32))))
    model.frontend = saved
    np.testing.assert_allclose(be.to_numpy(model(be.asarray(x))), direct, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_gradients_reach_the_waveform_and_pgd_stays_on_its_scale(backend: str) -> None:
    model = _model(backend)
    be = model.backend
    x = _waves()
    y = be.to_numpy(model(be.asarray(x))).argmax(1)

    def loss(xb, yb):
        return be.xp.sum(model(xb)[be.xp.arange(xb.shape[0]), yb])

    _, g = be.value_and_grad(loss, be.asarray(x), be.asarray(y))
    g = be.to_numpy(g)
    assert g.shape == x.shape and np.isfinite(g).all() and np.abs(g).max() > 0
    r = pgd(model, x, y, eps=0.01, steps=3, rel_step_size=0.5)
    assert np.abs(be.to_numpy(r.x_adv) - x).max() <= 0.01 + 1e-6


def test_a_frontend_that_does_not_fit_the_network_is_a_config_error() -> None:
    pytest.importorskip("torch")
    model = build_model("stacked", backend="torch", layer="s4d", input_shape=(20, 16), d_model=8, state_size=8,
                        num_classes=3)
    with pytest.raises(ConfigError, match=r"makes \(16, 16\).*input_shape = \[16, 16\]"):
        _attach_frontend(model, dict(SETTINGS), (T,), "s4d")
    with pytest.raises(ConfigError, match="frontend"):
        _attach_frontend(model, {"n_ftt": 256}, (T,), "s4d")


@pytest.mark.parametrize(("pipeline", "raw_shape"), [("kasl-speech-mel", (16000,)), ("kasl-us8k-mel", (40000,))])
def test_builtin_mel_pipelines_fit_their_presets(pipeline: str, raw_shape: tuple[int, ...]) -> None:
    """Each model's front-end turns the dataset's waveforms (Speech Commands: 1 s at 16 kHz;
    UrbanSound8K: 4 s at 10 kHz; the datasets' samples are (T,)) into exactly the frames x Mels
    its preset reads."""
    pytest.importorskip("torch")
    from sparring.cli.builtin import pipeline_text
    from sparring.core.config import load_pipeline

    cfg = load_pipeline(pipeline_text(pipeline))
    for entry in cfg.models:
        params = dict(entry.params)
        settings = dict(params.pop("frontend"))
        model = build_model(entry.model, backend="torch")
        _attach_frontend(model, settings, raw_shape, entry.label)  # raises ConfigError on a mismatch
        assert model.input_shape == raw_shape
        x = np.zeros((1, *raw_shape), dtype=np.float32)
        assert tuple(model.frontend(x).shape[1:]) == model.network_input_shape
