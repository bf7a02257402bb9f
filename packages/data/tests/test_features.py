"""Audio features written once over the array API: librosa's numbers on numpy, torch and
jax inputs, and gradients back to the waveform on torch and jax."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sparring.core.errors import ConfigError, InvalidInputError
from sparring.data import features as F

FRAMEWORKS = ["numpy", "torch", "jax"]


def to_framework(x: np.ndarray, framework: str):
    if framework == "torch":
        torch = pytest.importorskip("torch")
        return torch.from_numpy(np.ascontiguousarray(x))
    if framework == "jax":
        jnp = pytest.importorskip("jax.numpy")
        return jnp.asarray(x)
    return x


def to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x)


def close(got, want, rtol: float = 1e-4) -> None:
    """Equal within ``rtol`` relative to the largest magnitude of ``want``."""
    got, want = to_numpy(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * float(np.abs(want).max()))


@pytest.fixture(scope="module")
def librosa():
    return pytest.importorskip("librosa")


@pytest.fixture(scope="module")
def wave() -> np.ndarray:
    """A second of a chirp in noise, then silence (exact zeros), at 16 kHz, float32."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    x = 0.5 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.05 * rng.standard_normal(16000)
    x[12000:] = 0.0
    return x.astype(np.float32)


# -- librosa agreement -----------------------------------------------------------------
@pytest.mark.parametrize(("kwargs"), [
    {"sample_rate": 16000, "n_fft": 1024},
    {"sample_rate": 22050, "n_fft": 2048, "n_mels": 40, "fmin": 50.0, "fmax": 8000.0},
    {"sample_rate": 16000, "n_fft": 512, "n_mels": 64, "htk": True},
])
def test_mel_filterbank_matches_librosa(librosa, kwargs) -> None:
    ours = F.mel_filterbank(**kwargs)
    ref_kwargs = {("sr" if k == "sample_rate" else k): v for k, v in kwargs.items()}
    ref = librosa.filters.mel(**ref_kwargs)
    assert ours.dtype == np.float32 and ours.shape == ref.shape == (kwargs.get("n_mels", 128), kwargs["n_fft"] // 2 + 1)
    close(ours, ref)


def test_unnormalised_filterbank_is_librosa_without_the_slaney_scaling(librosa) -> None:
    # (librosa's own norm=None path JIT-compiles a numba kernel: slow; compare through the scaling)
    plain = F.mel_filterbank(sample_rate=8000, n_fft=256, n_mels=20, norm=None, dtype=np.float64)
    edges = librosa.mel_frequencies(n_mels=22, fmin=0.0, fmax=4000.0)
    close(plain * (2.0 / (edges[2:] - edges[:-2]))[:, None], librosa.filters.mel(sr=8000, n_fft=256, n_mels=20))
    assert plain.max() <= 1.0 + 1e-12 and plain.max() > 0.9  # triangles of peak (about) 1


def test_mel_scale_round_trip() -> None:
    hz = np.array([0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0])
    for htk in (False, True):
        np.testing.assert_allclose(F.mel_to_hz(F.hz_to_mel(hz, htk=htk), htk=htk), hz, atol=1e-9)
    assert F.hz_to_mel(1000.0) == pytest.approx(15.0)  # Slaney: 3 f / 200 below 1 kHz
    assert F.hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)  # 27 Mels per factor 6.4 above


def numpy_stft(x: np.ndarray, n_fft: int, hop: int, win: int, center: bool, pad_mode: str) -> np.ndarray:
    """The textbook STFT, frame by frame: np.pad, periodic Hann (np.hanning of win + 1
    without its last value), np.fft.rfft; ``(freqs, frames)``."""
    if center:
        x = np.pad(x, n_fft // 2, mode=pad_mode)
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left : left + win] = np.hanning(win + 1)[:-1]
    frames = [x[t : t + n_fft] * window for t in range(0, len(x) - n_fft + 1, hop)]
    return np.fft.rfft(np.array(frames), axis=-1).T


STFT_CASES = [
    {"n_fft": 1024, "hop_length": 256, "win_length": 1024, "center": True, "pad_mode": "reflect"},
    {"n_fft": 512, "hop_length": 160, "win_length": 400, "center": True, "pad_mode": "constant"},
    {"n_fft": 256, "hop_length": 100, "win_length": 256, "center": False, "pad_mode": "reflect"},
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_stft_matches_the_textbook_stft(wave, framework) -> None:
    x = to_framework(wave[:6000], framework)
    cases = STFT_CASES if framework != "jax" else STFT_CASES[:1]  # jax compiles every new shape: keep it short
    for case in cases:
        ref = numpy_stft(wave[:6000].astype(np.float64), case["n_fft"], case["hop_length"], case["win_length"],
                         case["center"], case["pad_mode"])
        close(F.stft(x, **case), ref)


def test_stft_matches_librosa(librosa, wave) -> None:
    close(F.stft(wave, n_fft=1024, hop_length=256), librosa.stft(wave, n_fft=1024, hop_length=256, pad_mode="reflect"))
    close(F.stft(wave, n_fft=512, pad_mode="constant"), librosa.stft(wave, n_fft=512))  # librosa >= 0.10's default


@pytest.fixture(scope="module")
def reference(librosa, wave) -> dict[str, np.ndarray]:
    """librosa's Mel spectrograms of a batch of two waveforms and their decibels."""
    batch = np.stack([wave, wave[::-1].copy()])
    mel = np.stack([librosa.feature.melspectrogram(y=w, sr=16000, n_fft=1024, hop_length=256, pad_mode="reflect")
                    for w in batch])
    return {"batch": batch, "mel": mel, "db": librosa.power_to_db(mel),
            "db_max": librosa.power_to_db(mel, ref=np.max, top_db=None),
            "db_args": librosa.power_to_db(mel, ref=3.0, amin=1e-6, top_db=40),
            "db_each": np.stack([librosa.power_to_db(m) for m in mel]),
            "amp_db": librosa.amplitude_to_db(np.sqrt(mel)),
            "amp_db_max": librosa.amplitude_to_db(np.sqrt(mel), ref=np.max)}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mel_spectrogram_and_db_match_librosa(reference, framework) -> None:
    mel = F.MelSpectrogram()(to_framework(reference["batch"], framework))
    assert tuple(mel.shape) == (2, 128, 63) and F.Spectrogram().frames(16000) == 63
    close(mel, reference["mel"])
    power = to_framework(reference["mel"].astype(np.float32), framework)
    xp = F.array_namespace(power)
    close(F.power_to_db(power), reference["db"])  # librosa: one max over the whole batch
    close(F.AmplitudeToDB()(power), reference["db_each"])  # top_db per spectrogram: axis (-2, -1)
    magnitude = to_framework(np.sqrt(reference["mel"]).astype(np.float32), framework)
    close(F.amplitude_to_db(magnitude, ref=xp.max), reference["amp_db_max"])
    if framework == "numpy":  # the other options (jax compiles every new op: keep its part short)
        close(F.power_to_db(power, ref=xp.max, top_db=None), reference["db_max"])
        close(F.power_to_db(power, ref=3.0, amin=1e-6, top_db=40.0), reference["db_args"])
        close(F.power_to_db(power, axis=(-2, -1)), reference["db_each"])
        close(F.amplitude_to_db(magnitude), reference["amp_db"])
        close(F.AmplitudeToDB(stype="magnitude", axis=None)(magnitude), reference["amp_db"])


def test_magnitude_spectrogram_and_float64(librosa, wave) -> None:
    x = wave.astype(np.float64)
    got = F.spectrogram(x, n_fft=512, power=1.0)
    assert got.dtype == np.float64
    close(got, np.abs(librosa.stft(x, n_fft=512, pad_mode="reflect")), rtol=1e-9)


def test_torchaudio_style_options(wave, librosa) -> None:
    got = F.MelSpectrogram(n_fft=1024, hop_length=512, htk=True, norm=None, n_mels=64)(wave)
    ref = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=1024, hop_length=512, n_mels=64, htk=True, norm=None,
                                         pad_mode="reflect")
    close(got, ref)


# -- gradients -------------------------------------------------------------------------
def log_mel(x):
    return F.AmplitudeToDB()(F.MelSpectrogram()(x))


def test_gradients_flow_to_the_waveform_on_torch(wave) -> None:
    torch = pytest.importorskip("torch")
    x = torch.tensor(np.stack([wave, wave[::-1].copy()]), requires_grad=True)
    log_mel(x).sum().backward()
    grad = x.grad.numpy()
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0
    assert (np.abs(grad) > 0).mean() > 0.5  # not only a few samples: every frame contributes


def test_gradients_flow_to_the_waveform_on_jax_and_agree_with_torch(wave) -> None:
    jax = pytest.importorskip("jax")
    torch = pytest.importorskip("torch")
    batch = np.stack([wave, wave[::-1].copy()])
    grad = np.asarray(jax.jit(jax.grad(lambda x: log_mel(x).sum()))(jax.numpy.asarray(batch)))
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0
    xt = torch.tensor(batch, requires_grad=True)
    log_mel(xt).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), grad, rtol=1e-3, atol=1e-3 * np.abs(grad).max())


def test_torch_gradient_is_the_derivative() -> None:
    """The gradient's directional derivatives match central differences (float64)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((2, 400)), requires_grad=True)
    mel = F.MelSpectrogram(sample_rate=8000, n_fft=128, n_mels=16)
    to_db = F.AmplitudeToDB(top_db=None)
    loss = lambda w: (to_db(mel(w)) * torch.linspace(0.5, 1.5, 13, dtype=torch.float64)).sum()  # noqa: E731
    loss(x).backward()
    with torch.no_grad():
        for _ in range(3):
            v = torch.tensor(rng.standard_normal((2, 400)))
            numeric = (loss(x + 1e-6 * v) - loss(x - 1e-6 * v)) / 2e-6
            assert float((x.grad * v).sum()) == pytest.approx(float(numeric), rel=1e-5)
    magnitude = F.Spectrogram(n_fft=64, power=1.0)
    silent = torch.zeros((1, 200), dtype=torch.float64, requires_grad=True)
    magnitude(silent).sum().backward()  # |X| at X = 0: a finite (zero) gradient, not NaN
    assert torch.isfinite(silent.grad).all()


# -- errors and the namespace ----------------------------------------------------------
@pytest.mark.parametrize(("make", "match"), [
    (lambda: F.MelSpectrogram(n_fft=1), "n_fft must be an int >= 2"),
    (lambda: F.MelSpectrogram(win_length=2048), r"win_length \(2048\) must not exceed n_fft \(1024\)"),
    (lambda: F.Spectrogram(pad_mode="edge"), "pad_mode must be one of 'reflect', 'constant'"),
    (lambda: F.Spectrogram(power=0), "power must be > 0"),
    (lambda: F.MelSpectrogram(fmin=9000.0), "need 0 <= fmin < fmax"),
    (lambda: F.mel_filterbank(sample_rate=16000, n_fft=512, norm="l2"), "norm must be 'slaney' or None"),
    (lambda: F.AmplitudeToDB(top_db=-1.0), "top_db must be >= 0"),
    (lambda: F.AmplitudeToDB(amin=0.0), "amin must be > 0"),
    (lambda: F.AmplitudeToDB(stype="energy"), "stype must be 'power' or 'magnitude'"),
    (lambda: F.AmplitudeToDB(axis="time"), "axis must be None"),
])
def test_bad_settings_are_config_errors(make, match) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


def test_bad_inputs_are_invalid_input_errors() -> None:
    with pytest.raises(InvalidInputError, match="real floating-point"):
        F.stft(np.zeros(2000, dtype=np.int16))
    with pytest.raises(InvalidInputError, match="shorter than n_fft = 1024"):
        F.stft(np.zeros(300, dtype=np.float32), center=False)
    with pytest.raises(InvalidInputError, match="numpy, torch or jax arrays"):
        F.stft([0.0] * 2000)
    with pytest.raises(InvalidInputError, match="real floating-point"):
        F.power_to_db(np.zeros((4, 4), dtype=np.complex64))
    with pytest.raises(InvalidInputError, match="axis"):
        F.power_to_db(np.ones((4, 4), dtype=np.float32), axis=(-3, -1))


def test_without_array_api_compat(monkeypatch, wave) -> None:
    expected = F.mel_spectrogram(wave[:4000])
    monkeypatch.setitem(sys.modules, "array_api_compat", None)  # its import now raises ImportError
    close(F.mel_spectrogram(wave[:4000]), expected, rtol=1e-6)  # numpy's own __array_namespace__
    assert F.array_namespace(wave) is np
    torch = pytest.importorskip("torch")
    with pytest.raises(InvalidInputError, match="install array-api-compat"):
        F.stft(torch.zeros(2000))


def test_features_and_transforms_import_no_framework() -> None:
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import sparring.data.features as F, sparring.data.transforms as T\n"
        "F.MelSpectrogram()(np.zeros(16000, np.float32)); T.GaussianNoise(0.1)(np.zeros((2, 4, 4)), 0)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
