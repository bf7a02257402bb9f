"""Differentiable audio front-ends written once over the array API (numpy, torch, jax).

Every function takes the array namespace of its input (:func:`array_namespace`), so the
same code runs on numpy arrays, torch tensors and jax arrays, and gradients flow back to
the waveform through ``torch.autograd`` and ``jax.grad`` alike. Constants (window, Mel
filterbank, frame indices) are built in numpy and moved to the input's dtype and device.
Shapes follow librosa: a waveform ``(..., time)`` gives a spectrogram
``(..., n_fft // 2 + 1, frames)`` and a Mel spectrogram ``(..., n_mels, frames)``.

Formulas (``x`` the waveform, ``w`` the periodic Hann window of ``win_length`` samples,
zero-padded to ``n_fft`` at both ends, ``hop`` the hop length)::

    w[n]      = 0.5 - 0.5 cos(2 pi n / win_length),   n = 0 .. win_length - 1
    x_pad     = x padded by n_fft // 2 on both sides (center=True; "reflect": x[1], x[2], ...
                mirrored about the edge samples, as numpy.pad(mode="reflect"); "constant": zeros)
    X[f, t]   = sum_n w[n] x_pad[t hop + n] exp(-2 pi i f n / n_fft),   f = 0 .. n_fft // 2
    S[f, t]   = |X[f, t]|^power                                  (power 2: re^2 + im^2)
    M[m, t]   = sum_f B[m, f] S[f, t]                            (B: mel_filterbank)
    dB        = 10 log10(max(S, amin)) - 10 log10(max(ref, amin)), then
                max(dB, max(dB over axis) - top_db)

The Mel filterbank is librosa's (``librosa.filters.mel`` defaults): Slaney's Mel scale
(linear below 1 kHz, ``mel = 3 f / 200``; logarithmic above, 27 Mels per factor 6.4),
``n_mels`` triangles between ``n_mels + 2`` points equally spaced in Mel from ``fmin`` to
``fmax``, each scaled by ``2 / (f[m + 2] - f[m])`` ("slaney" area normalisation);
``htk=True`` gives the HTK scale ``mel = 2595 log10(1 + f / 700)``. The defaults of
:class:`MelSpectrogram` (n_fft 1024, hop n_fft // 4, 128 Mels, Slaney) are librosa's with
n_fft 1024 (the Kasl thesis's value). torchaudio's ``MelSpectrogram`` instead defaults to
hop n_fft // 2, the HTK scale and no normalisation: pass ``hop_length=512, htk=True,
norm=None`` to reproduce it. librosa >= 0.10 pads with zeros by default
(``pad_mode="constant"``); here the default is ``"reflect"`` (torchaudio's, and librosa's
before 0.10).

array-api-compat supplies the namespaces (torch tensors have no ``__array_namespace__``).
It is installed with sparring-models; without it numpy >= 2 and jax arrays still work
through their own ``__array_namespace__``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError, InvalidInputError

__all__ = [
    "array_namespace",
    "hann_window",
    "stft",
    "spectrogram",
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "mel_spectrogram",
    "power_to_db",
    "amplitude_to_db",
    "Spectrogram",
    "MelSpectrogram",
    "MelFrontend",
    "AmplitudeToDB",
]

PAD_MODES = ("reflect", "constant")


# -- namespaces ------------------------------------------------------------------------
def array_namespace(*arrays: Any) -> Any:
    """The array-API namespace of ``arrays`` (numpy, torch or jax.numpy flavoured).

    Uses ``array_api_compat.array_namespace`` when array-api-compat is installed (it is a
    dependency of sparring-models), else the arrays' own ``__array_namespace__()``.

    Raises:
        InvalidInputError: not arrays, arrays of different libraries, or a torch tensor
            without array-api-compat installed.
    """
    compat: Any
    try:
        import array_api_compat as compat
    except ImportError:
        compat = None
    if compat is not None:
        try:
            return compat.array_namespace(*arrays)
        except TypeError as err:
            kinds = ", ".join(sorted({type(a).__module__ + "." + type(a).__name__ for a in arrays}))
            raise InvalidInputError(
                f"expected numpy, torch or jax arrays (all of one library), got {kinds}: {err}"
            ) from err
    spaces = []
    for a in arrays:
        get = getattr(a, "__array_namespace__", None)
        if get is None:
            raise InvalidInputError(
                f"a {type(a).__module__}.{type(a).__name__} has no array-API namespace; install "
                "array-api-compat (`pip install array-api-compat`, it comes with sparring-models) to "
                "pass torch tensors, or pass numpy >= 2 / jax arrays"
            )
        spaces.append(get())
    if any(s is not spaces[0] for s in spaces):
        raise InvalidInputError("arrays of different libraries given together; convert them to one")
    return spaces[0]


def _device(x: Any) -> Any:
    try:
        from array_api_compat import device
    except ImportError:
        return getattr(x, "device", None)
    return device(x)


def _const(xp: Any, value: np.ndarray, like: Any) -> Any:
    """A numpy constant as an array of ``like``'s namespace, dtype and device."""
    return xp.asarray(value, dtype=like.dtype, device=_device(like))


def _index(xp: Any, value: np.ndarray, like: Any) -> Any:
    dtype = xp.int32 if value.size == 0 or int(value.max()) < 2**31 - 1 else xp.int64
    return xp.asarray(value.astype(np.int64), dtype=dtype, device=_device(like))


def _check_real(xp: Any, x: Any, what: str, *, min_ndim: int = 1) -> None:
    if not xp.isdtype(x.dtype, "real floating"):
        raise InvalidInputError(
            f"{what} takes real floating-point arrays (float32 or float64), got dtype {x.dtype}; "
            "convert integers with astype, take the power of complex values first"
        )
    if x.ndim < min_ndim:
        raise InvalidInputError(f"{what} takes arrays of at least {min_ndim} dimensions, got shape {tuple(x.shape)}")


# -- argument checks -------------------------------------------------------------------
def _int_arg(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _float_arg(value: Any, name: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return float(value)


def _stft_args(
    n_fft: Any, hop_length: Any, win_length: Any, pad_mode: Any
) -> tuple[int, int, int]:
    n_fft = _int_arg(n_fft, "n_fft", minimum=2)
    win = n_fft if win_length is None else _int_arg(win_length, "win_length")
    if win > n_fft:
        raise ConfigError(f"win_length ({win}) must not exceed n_fft ({n_fft})")
    hop = win // 4 if hop_length is None else _int_arg(hop_length, "hop_length")
    if hop < 1:
        raise ConfigError(f"the default hop_length win_length // 4 is 0 for win_length {win}; give hop_length")
    if pad_mode not in PAD_MODES:
        raise ConfigError(f"pad_mode must be one of {', '.join(map(repr, PAD_MODES))}, got {pad_mode!r}")
    return n_fft, hop, win


# -- STFT ------------------------------------------------------------------------------
def hann_window(win_length: int, n_fft: int | None = None) -> np.ndarray:
    """The periodic Hann window of ``win_length`` samples, zero-padded to ``n_fft`` at both
    ends (left ``(n_fft - win_length) // 2``), float64 (``scipy.signal.get_window("hann")``)."""
    win_length = _int_arg(win_length, "win_length")
    n_fft = win_length if n_fft is None else _int_arg(n_fft, "n_fft")
    if win_length > n_fft:
        raise ConfigError(f"win_length ({win_length}) must not exceed n_fft ({n_fft})")
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(w, (left, n_fft - win_length - left))


def _frame_indices(n: int, n_fft: int, hop: int, center: bool, pad_mode: str) -> tuple[np.ndarray, int, int]:
    """Indices into ``x`` (or into ``x`` zero-padded by ``pad`` on each side) of every frame."""
    pad = n_fft // 2 if center else 0
    padded = n + 2 * pad
    if padded < n_fft:
        raise InvalidInputError(
            f"stft: a signal of {n} samples is shorter than n_fft = {n_fft}"
            + ("" if center else " (center=False)")
            + "; pad it or use a smaller n_fft"
        )
    frames = 1 + (padded - n_fft) // hop
    idx = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    if pad and pad_mode == "reflect":
        if n < 2:
            raise InvalidInputError(f"stft: reflect padding needs at least 2 samples, got {n}")
        period = 2 * (n - 1)
        src = np.mod(idx - pad, period)
        idx = np.where(src >= n, period - src, src)
        pad = 0  # the reflection is folded into the indices: no padding of x needed
    return idx.reshape(-1), frames, pad


def stft(
    x: Any,
    *,
    n_fft: int = 1024,
    hop_length: int | None = None,
    win_length: int | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Any:
    """Short-time Fourier transform ``(..., time) -> complex (..., n_fft // 2 + 1, frames)``.

    Hann window, ``hop_length`` default ``win_length // 4``, ``win_length`` default
    ``n_fft``; with ``center`` the signal is padded by ``n_fft // 2`` on both sides
    (``pad_mode`` "reflect" or "constant") so frame ``t`` is centred on sample ``t * hop``.
    Equals ``librosa.stft(x, n_fft=..., hop_length=..., pad_mode=...)``.
    """
    n_fft, hop, win = _stft_args(n_fft, hop_length, win_length, pad_mode)
    xp = array_namespace(x)
    _check_real(xp, x, "stft")
    n = x.shape[-1]
    idx, frames, zero_pad = _frame_indices(n, n_fft, hop, bool(center), pad_mode)
    if zero_pad:
        zeros = xp.zeros((*x.shape[:-1], zero_pad), dtype=x.dtype, device=_device(x))
        x = xp.concat([zeros, x, zeros], axis=-1)
    framed = xp.take(x, _index(xp, idx, x), axis=-1)
    framed = xp.reshape(framed, (*x.shape[:-1], frames, n_fft)) * _const(xp, hann_window(win, n_fft), x)
    spec = xp.fft.rfft(framed, axis=-1)
    return xp.matrix_transpose(spec)


def _power(xp: Any, z: Any, power: float) -> Any:
    p = xp.real(z) ** 2 + xp.imag(z) ** 2
    if power == 2.0:
        return p
    positive = p > 0  # |X|^power with a finite gradient where X = 0 (silence)
    safe = xp.where(positive, p, xp.ones_like(p))
    return xp.where(positive, safe ** (power / 2.0), xp.zeros_like(p))


def spectrogram(
    x: Any,
    *,
    n_fft: int = 1024,
    hop_length: int | None = None,
    win_length: int | None = None,
    power: float = 2.0,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Any:
    """``|stft(x)|^power``, real ``(..., n_fft // 2 + 1, frames)``; ``power`` 2 (power) or 1 (magnitude)."""
    power = _float_arg(power, "power")
    z = stft(x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, center=center, pad_mode=pad_mode)
    return _power(array_namespace(z), z, power)


# -- Mel -------------------------------------------------------------------------------
_F_SP = 200.0 / 3  # Slaney: Hz per Mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies: Any, *, htk: bool = False) -> np.ndarray:
    """Hz to Mel (numpy): Slaney's scale (librosa's default) or HTK's (``htk=True``)."""
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mels: Any, *, htk: bool = False) -> np.ndarray:
    """Mel to Hz (numpy), the inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = _F_SP * m
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(
    *,
    sample_rate: int,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    dtype: Any = np.float32,
) -> np.ndarray:
    """The Mel filterbank ``(n_mels, n_fft // 2 + 1)`` as a numpy array (librosa.filters.mel).

    Args:
        sample_rate: of the audio, Hz.
        n_fft: FFT size; the filters cover the ``n_fft // 2 + 1`` rfft bins.
        n_mels: number of triangular filters.
        fmin, fmax: frequency span in Hz; ``fmax`` default ``sample_rate / 2``.
        htk: HTK's Mel scale instead of Slaney's.
        norm: ``"slaney"`` (each triangle divided by its width in Hz / 2: constant energy
            per channel) or ``None`` (peak 1).
    """
    sample_rate = _int_arg(sample_rate, "sample_rate")
    n_fft = _int_arg(n_fft, "n_fft", minimum=2)
    n_mels = _int_arg(n_mels, "n_mels")
    fmin = _float_arg(fmin, "fmin", positive=False)
    fmax = sample_rate / 2.0 if fmax is None else _float_arg(fmax, "fmax")
    if not 0.0 <= fmin < fmax:
        raise ConfigError(f"mel_filterbank: need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    if norm not in ("slaney", None):
        raise ConfigError(f"mel_filterbank: norm must be 'slaney' or None, got {norm!r}")
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels + 2), htk=htk)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(dtype)


def mel_spectrogram(
    x: Any,
    *,
    sample_rate: int = 16000,
    n_fft: int = 1024,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    power: float = 2.0,
    center: bool = True,
    pad_mode: str = "reflect",
    htk: bool = False,
    norm: str | None = "slaney",
) -> Any:
    """Mel spectrogram ``(..., time) -> (..., n_mels, frames)``: ``mel_filterbank @ spectrogram``."""
    return MelSpectrogram(
        sample_rate=sample_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        power=power,
        center=center,
        pad_mode=pad_mode,
        htk=htk,
        norm=norm,
    )(x)


# -- decibels --------------------------------------------------------------------------
RefType = float | Callable[[Any], Any]


def _db_args(ref: Any, amin: Any, top_db: Any) -> tuple[Any, float, float | None]:
    amin = _float_arg(amin, "amin")
    if top_db is not None:
        top_db = _float_arg(top_db, "top_db", positive=False)
        if top_db < 0:
            raise ConfigError(f"top_db must be >= 0 or None, got {top_db!r}")
    if not callable(ref):
        ref = _float_arg(ref, "ref")
    return ref, amin, top_db


def _axis(axis: Any) -> int | tuple[int, ...] | None:
    if axis is None:
        return None
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return int(axis)
    if isinstance(axis, Sequence) and all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
        return tuple(int(a) for a in axis)
    raise ConfigError(f"axis must be None, an int or a tuple of ints, got {axis!r}")


def _to_db(xp: Any, power: Any, ref: Any, amin: float, top_db: float | None, axis: Any, what: str) -> Any:
    floor = _const(xp, np.asarray(amin), power)
    log_spec = 10.0 * xp.log10(xp.maximum(power, floor))
    if callable(ref):
        ref_value = xp.asarray(ref(power), dtype=power.dtype, device=_device(power))
        log_spec = log_spec - 10.0 * xp.log10(xp.maximum(ref_value, floor))
    else:
        log_spec = log_spec - 10.0 * math.log10(max(amin, ref))
    if top_db is not None:
        if axis is not None:
            dims = (axis,) if isinstance(axis, int) else axis
            if any(not -power.ndim <= a < power.ndim for a in dims):
                raise InvalidInputError(
                    f"{what}: axis {axis} is out of range for an array of shape {tuple(power.shape)}"
                )
        peak = xp.max(log_spec, axis=axis, keepdims=True)
        log_spec = xp.maximum(log_spec, peak - top_db)
    return log_spec


def power_to_db(
    S: Any,
    *,
    ref: RefType = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    axis: int | tuple[int, ...] | None = None,
) -> Any:
    """Power to decibels, ``10 log10(max(S, amin)) - 10 log10(max(ref, amin))`` (librosa).

    Args:
        S: a real, non-negative power spectrogram of any shape.
        ref: the reference power (0 dB), or a function of ``S`` giving it (``xp.max``).
        amin: floor on ``S`` and ``ref`` (no log of zero).
        top_db: if not None, values are raised to at least ``max - top_db``.
        axis: the axes the max of ``top_db`` is taken over: None (librosa: the whole
            array, so the samples of a batch depend on each other) or, per sample,
            ``(-2, -1)`` for a batch of spectrograms.
    """
    ref, amin, top_db = _db_args(ref, amin, top_db)
    xp = array_namespace(S)
    _check_real(xp, S, "power_to_db", min_ndim=0)
    return _to_db(xp, S, ref, amin, top_db, _axis(axis), "power_to_db")


def amplitude_to_db(
    S: Any,
    *,
    ref: RefType = 1.0,
    amin: float = 1e-5,
    top_db: float | None = 80.0,
    axis: int | tuple[int, ...] | None = None,
) -> Any:
    """Amplitude to decibels, ``power_to_db(S**2, ref=ref**2, amin=amin**2, top_db)`` (librosa).

    ``S`` real magnitudes; a callable ``ref`` is applied to ``S`` (``|S|``), then squared.
    """
    ref, amin, top_db = _db_args(ref, amin, top_db)
    xp = array_namespace(S)
    _check_real(xp, S, "amplitude_to_db", min_ndim=0)
    power = S * S
    if callable(ref):
        fn = ref
        sq_ref: RefType = lambda _: fn(xp.abs(S)) ** 2  # noqa: E731 - librosa's ref(|S|)^2
    else:
        sq_ref = ref * ref
    return _to_db(xp, power, sq_ref, amin * amin, top_db, _axis(axis), "amplitude_to_db")


# -- transforms as objects -------------------------------------------------------------
class Spectrogram:
    """``x (..., time) -> |STFT|^power (..., n_fft // 2 + 1, frames)``; see :func:`stft`."""

    def __init__(
        self,
        *,
        n_fft: int = 1024,
        hop_length: int | None = None,
        win_length: int | None = None,
        power: float = 2.0,
        center: bool = True,
        pad_mode: str = "reflect",
    ) -> None:
        self.n_fft, self.hop_length, self.win_length = _stft_args(n_fft, hop_length, win_length, pad_mode)
        self.power = _float_arg(power, "power")
        self.center = bool(center)
        self.pad_mode = pad_mode

    def frames(self, num_samples: int) -> int:
        """Number of frames for a signal of ``num_samples`` samples."""
        pad = self.n_fft // 2 if self.center else 0
        return 1 + (num_samples + 2 * pad - self.n_fft) // self.hop_length

    def __call__(self, x: Any) -> Any:
        return spectrogram(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            power=self.power,
            center=self.center,
            pad_mode=self.pad_mode,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
            f"power={self.power}, center={self.center}, pad_mode={self.pad_mode!r})"
        )


class MelSpectrogram(Spectrogram):
    """``x (..., time) -> (..., n_mels, frames)``: the Mel filterbank applied to :class:`Spectrogram`.

    Defaults: 16 kHz, n_fft 1024, hop 256, 128 Mels on Slaney's scale with Slaney
    normalisation, power 2, reflect padding (see the module docstring for torchaudio's).
    The filterbank is :attr:`filterbank` ``(n_mels, n_fft // 2 + 1)`` float64 numpy.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int | None = None,
        win_length: int | None = None,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        power: float = 2.0,
        center: bool = True,
        pad_mode: str = "reflect",
        htk: bool = False,
        norm: str | None = "slaney",
    ) -> None:
        super().__init__(
            n_fft=n_fft, hop_length=hop_length, win_length=win_length, power=power, center=center, pad_mode=pad_mode
        )
        self.sample_rate = _int_arg(sample_rate, "sample_rate")
        self.filterbank = mel_filterbank(
            sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
            dtype=np.float64,
        )
        self.n_mels = int(n_mels)

    def __call__(self, x: Any) -> Any:
        spec = super().__call__(x)
        xp = array_namespace(spec)
        return xp.matmul(_const(xp, self.filterbank, spec), spec)

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, sample_rate={self.sample_rate}, n_mels={self.n_mels})"


class AmplitudeToDB:
    """Decibels of a power (``stype="power"``) or magnitude (``"magnitude"``) spectrogram.

    ``power_to_db(S)`` or ``power_to_db(S**2)`` with ``ref`` on the same scale as ``S``
    (squared for magnitudes), ``amin`` a floor on the POWER scale (1e-10: amplitude 1e-5),
    ``top_db`` relative to the max over ``axis``: default ``(-2, -1)``, each spectrogram
    of a batch on its own (torchaudio's choice; librosa's ``axis=None`` mixes the batch).
    """

    def __init__(
        self,
        *,
        stype: str = "power",
        ref: RefType = 1.0,
        amin: float = 1e-10,
        top_db: float | None = 80.0,
        axis: int | tuple[int, ...] | None = (-2, -1),
    ) -> None:
        if stype not in ("power", "magnitude"):
            raise ConfigError(f"stype must be 'power' or 'magnitude', got {stype!r}")
        self.stype = stype
        self.ref, self.amin, self.top_db = _db_args(ref, amin, top_db)
        self.axis = _axis(axis)

    def __call__(self, S: Any) -> Any:
        xp = array_namespace(S)
        _check_real(xp, S, "AmplitudeToDB", min_ndim=0)
        ref = self.ref
        if self.stype == "magnitude":
            if callable(ref):
                fn = ref
                ref = lambda power: fn(xp.sqrt(power)) ** 2  # noqa: E731
            else:
                ref = ref * ref
            S = S * S
        return _to_db(xp, S, ref, self.amin, self.top_db, self.axis, "AmplitudeToDB")

    def __repr__(self) -> str:
        return (
            f"AmplitudeToDB(stype={self.stype!r}, ref={self.ref!r}, amin={self.amin}, top_db={self.top_db}, "
            f"axis={self.axis})"
        )


class MelFrontend:
    """A model front-end: waveforms ``(B, T)`` or ``(B, T, 1)`` -> Mel frames ``(B, frames, n_mels)``
    (optionally in dB), differentiable on either backend, so that attacks perturb the waveform
    through the spectrogram (the Kasl thesis's spectrogram models: n_fft 1024, +- AmplitudeToDB).

    ``settings`` are :class:`MelSpectrogram`'s keywords (``norm = "none"`` for no filterbank
    normalisation, as TOML has no null), plus ``db`` (bool) and ``top_db``.
    """

    def __init__(self, **settings: Any) -> None:
        settings = dict(settings)
        self.db = bool(settings.pop("db", False))
        top_db = settings.pop("top_db", 80.0)
        if settings.get("norm") == "none":
            settings["norm"] = None
        try:
            self.mel = MelSpectrogram(**settings)
        except TypeError as err:
            raise ConfigError(f"frontend: {err}; it takes MelSpectrogram's settings, db and top_db") from None
        self.to_db = AmplitudeToDB(stype="power", top_db=top_db) if self.db else None

    def __call__(self, x: Any) -> Any:
        xp = array_namespace(x)
        if x.ndim == 3 and x.shape[-1] == 1:
            x = xp.reshape(x, x.shape[:2])
        s = self.mel(x)  # (B, n_mels, frames)
        if self.to_db is not None:
            s = self.to_db(s)
        return xp.permute_dims(s, (0, 2, 1))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-sample shape this front-end makes of samples of ``input_shape``."""
        return tuple(self(np.zeros((1, *input_shape), dtype=np.float32)).shape[1:])
