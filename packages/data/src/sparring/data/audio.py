"""Audio files and signal helpers: WAV reading, polyphase resampling, fixed lengths.

WAV files (RIFF/WAVE, Microsoft's "Multimedia Programming Interface and Data
Specifications 1.0", 1991, and the WAVE_FORMAT_EXTENSIBLE addendum) are parsed here with
:mod:`struct` and numpy, not with the stdlib :mod:`wave` module: on Python 3.11 ``wave``
refuses IEEE-float and WAVE_FORMAT_EXTENSIBLE files, which UrbanSound8K holds. Layout,
little-endian::

    "RIFF" <u32 size> "WAVE"  then chunks  <4-byte id> <u32 size> <size bytes> [pad byte if odd]
    "fmt " chunk: u16 format tag, u16 channels, u32 sample rate, u32 byte rate,
                  u16 block align (bytes per frame), u16 bits per sample
                  [, u16 extension size, u16 valid bits, u32 channel mask, 16-byte sub-format GUID]
    "data" chunk: frames of interleaved channels

Read: integer PCM of 8 (unsigned), 16, 24 or 32 bits, scaled to ``[-1, 1)`` by
``value / 2**(bits - 1)`` (8-bit: ``(value - 128) / 128``), and IEEE float of 32 or 64 bits
as stored. Other encodings (ADPCM, mu-law, ...) raise DataError saying how to convert.

Resampling (:func:`resample`) is polyphase FIR filtering, the same filter and alignment as
``scipy.signal.resample_poly`` with its default Kaiser window: for ``orig_sr / target_sr =
down / up`` in lowest terms, ``m = max(up, down)``, ``H = 10 m``, the low-pass filter is::

    h[k] = up * g[k] / sum(g),   g[k] = sinc((k - H) / m) / m * kaiser(2H + 1, beta=5)[k],  k = 0..2H

and the output is ``y[n] = sum_j h[n*down + H - j*up] x[j]`` (x zero outside the signal),
``n = 0 .. ceil(len(x) * up / down) - 1``: the input upsampled by ``up`` (zeros between
samples), filtered by ``h`` centred on each sample, kept every ``down``-th sample.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import struct
from pathlib import Path

import numpy as np

from sparring.core.errors import ConfigError, DataError

__all__ = ["read_wav", "wav_info", "resample", "fix_length", "to_mono", "to_value_range", "WavInfo"]

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_FORMAT_NAMES = {
    0x0001: "integer PCM",
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MPEG layer 3",
}
_CONVERT = "convert it to 16-bit PCM, e.g. `ffmpeg -i in.wav -c:a pcm_s16le out.wav`"


class WavInfo:
    """The ``fmt `` chunk of a WAV file: encoding, channels, rate, bits, frames."""

    __slots__ = ("encoding", "channels", "sample_rate", "bits", "frames")

    def __init__(self, encoding: str, channels: int, sample_rate: int, bits: int, frames: int) -> None:
        self.encoding = encoding  # "pcm" or "float"
        self.channels = channels
        self.sample_rate = sample_rate
        self.bits = bits
        self.frames = frames

    def __repr__(self) -> str:
        return (
            f"WavInfo(encoding={self.encoding!r}, channels={self.channels}, sample_rate={self.sample_rate}, "
            f"bits={self.bits}, frames={self.frames})"
        )


def _chunks(path: Path, data: bytes) -> dict[bytes, tuple[int, int]]:
    """``{chunk id: (start, end)}`` of the first chunk of each id; checks the RIFF header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        head = data[:12]
        what = "an empty file" if not data else f"a file starting with {head!r}"
        raise DataError(
            f"{path}: not a RIFF/WAVE file ({what}; a WAV file starts with b'RIFF' <size> b'WAVE'); "
            "is it another format under a .wav name, or damaged? download it again"
        )
    chunks: dict[bytes, tuple[int, int]] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        start, end = pos + 8, pos + 8 + size
        if end > len(data) and cid in (b"fmt ", b"data"):
            raise DataError(
                f"{path}: truncated: its {cid.decode('latin-1').strip()!r} chunk declares {size} bytes "
                f"but only {len(data) - start} follow (file of {len(data)} bytes); download it again"
            )
        chunks.setdefault(cid, (start, end))
        pos = end + (size & 1)
    return chunks


def _parse_fmt(path: Path, body: bytes, data_bytes: int) -> tuple[WavInfo, int]:
    if len(body) < 16:
        raise DataError(
            f"{path}: its 'fmt ' chunk holds {len(body)} bytes, a WAV needs at least 16; the file is damaged"
        )
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE:
        if len(body) < 40:
            raise DataError(
                f"{path}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk of {len(body)} bytes, expected 40; the file is damaged"
            )
        tag = int.from_bytes(body[24:26], "little")  # the sub-format GUID starts with the format tag
    if tag not in (_PCM, _FLOAT):
        name = _FORMAT_NAMES.get(tag, "unknown encoding")
        raise DataError(
            f"{path}: format tag 0x{tag:04X} ({name}) is not supported: sparring reads integer PCM "
            f"(8/16/24/32-bit) and IEEE float (32/64-bit) WAV files; {_CONVERT}"
        )
    encoding = "pcm" if tag == _PCM else "float"
    allowed = (8, 16, 24, 32) if encoding == "pcm" else (32, 64)
    if bits not in allowed or channels < 1 or rate < 1 or block_align != channels * (bits // 8):
        raise DataError(
            f"{path}: inconsistent or unsupported 'fmt ' chunk: {encoding} with {bits} bits per sample "
            f"(supported: {', '.join(map(str, allowed))}), {channels} channels, {rate} Hz, {block_align} bytes "
            f"per frame (expected channels * bits / 8 = {channels * (bits // 8)}); {_CONVERT}"
        )
    if data_bytes % block_align:
        raise DataError(
            f"{path}: its 'data' chunk holds {data_bytes} bytes, not a whole number of {block_align}-byte "
            "frames; the file is truncated or damaged: download it again"
        )
    return WavInfo(encoding, channels, rate, bits, data_bytes // block_align), block_align


def _read(path: str | os.PathLike[str]) -> tuple[Path, bytes]:
    path = Path(path)
    try:
        return path, path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({type(err).__name__}: {err})") from err


def _header(path: Path, data: bytes) -> tuple[WavInfo, int, int]:
    chunks = _chunks(path, data)
    for cid in (b"fmt ", b"data"):
        if cid not in chunks:
            raise DataError(
                f"{path}: no {cid.decode('latin-1').strip()!r} chunk (chunks found: "
                f"{', '.join(repr(c.decode('latin-1')) for c in chunks) or 'none'}); the file is truncated "
                "or is not audio: download it again"
            )
    fmt_start, fmt_end = chunks[b"fmt "]
    start, end = chunks[b"data"]
    info, _ = _parse_fmt(path, data[fmt_start:fmt_end], end - start)
    return info, start, end


def wav_info(path: str | os.PathLike[str]) -> WavInfo:
    """The header of a WAV file (encoding, channels, sample rate, bits, frames); checks it."""
    path, data = _read(path)
    return _header(path, data)[0]


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a WAV file as ``(samples (frames, channels) float32, sample_rate)``.

    Integer PCM is scaled to ``[-1, 1)`` (module docstring); float files are returned as
    stored (they may exceed ``[-1, 1]``; the dataset readers clip).

    Raises:
        DataError: not a RIFF/WAVE file, a truncated file (a chunk longer than the bytes
            left, a partial frame), a missing ``fmt ``/``data`` chunk, an unsupported or
            inconsistent format, or NaN/infinite samples in a float file.
    """
    path, data = _read(path)
    info, start, end = _header(path, data)
    raw = data[start:end]
    if info.encoding == "float":
        dtype = np.dtype("<f4") if info.bits == 32 else np.dtype("<f8")
        samples = np.frombuffer(raw, dtype=dtype).astype(np.float32)
        bad = ~np.isfinite(samples)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            kind = "NaN" if np.isnan(samples[first]) else "infinite values"
            raise DataError(
                f"{path}: holds {kind} (first at frame {first // info.channels}, channel "
                f"{first % info.channels}; {int(bad.sum())} non-finite samples); the recording is corrupt: "
                "replace the file or leave it out"
            )
    elif info.bits == 8:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif info.bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8  # sign-extend 24 -> 32 bits
        samples = (ints / float(1 << 23)).astype(np.float32)
    else:
        ints = np.frombuffer(raw, dtype=np.dtype("<i2") if info.bits == 16 else np.dtype("<i4"))
        samples = (ints / float(1 << (info.bits - 1))).astype(np.float32)
    return samples.reshape(info.frames, info.channels), info.sample_rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    """``(frames, channels) -> (frames,)``: the mean of the channels (a mono mixdown)."""
    samples = np.asarray(samples)
    return samples.mean(axis=1, dtype=np.float64).astype(np.float32) if samples.ndim == 2 else samples


def fix_length(x: np.ndarray, length: int, *, axis: int = -1) -> np.ndarray:
    """``x`` cut to ``length`` samples along ``axis`` (keeping the start) or padded with zeros at the end."""
    x = np.asarray(x)
    n = x.shape[axis]
    if n >= length:
        return np.take(x, np.arange(length), axis=axis)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, length - n)
    return np.pad(x, widths)


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{what} must be a positive int (Hz), got {value!r}")
    return int(value)


@functools.lru_cache(maxsize=32)
def _polyphase_taps(up: int, down: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per output phase ``p = n mod up``: the taps ``(up, K)`` and the first input ``j0[p]``."""
    m = max(up, down)
    half = 10 * m
    k = np.arange(2 * half + 1) - half
    g = np.sinc(k / m) / m * np.kaiser(2 * half + 1, 5.0)
    h = up * g / g.sum()
    taps = 2 * half // up + 2
    p = np.arange(up)
    j0 = -((half - p * down) // up)  # ceil((p*down - H) / up): first input with a tap
    idx = p[:, None] * down + half - (j0[:, None] + np.arange(taps)) * up
    valid = (idx >= 0) & (idx <= 2 * half)
    bank = np.where(valid, h[np.clip(idx, 0, 2 * half)], 0.0)
    return bank, j0, taps


def resample(x: np.ndarray, orig_sr: int, target_sr: int, *, axis: int = -1) -> np.ndarray:
    """Resample ``x`` along ``axis`` from ``orig_sr`` to ``target_sr`` Hz (polyphase FIR).

    The filter and output alignment are those of ``scipy.signal.resample_poly(x, up, down)``
    with ``up / down = target_sr / orig_sr`` in lowest terms (formulas in the module
    docstring); the output has ``ceil(n * up / down)`` samples, float32.
    """
    orig_sr = _positive_int(orig_sr, "orig_sr")
    target_sr = _positive_int(target_sr, "target_sr")
    x = np.asarray(x, dtype=np.float64)
    g = math.gcd(orig_sr, target_sr)
    up, down = target_sr // g, orig_sr // g
    if up == down:
        return x.astype(np.float32)
    moved = np.moveaxis(x, axis, -1)
    lead, n_in = moved.shape[:-1], moved.shape[-1]
    flat = moved.reshape(-1, n_in)
    n_out = -(-n_in * up // down)
    bank, j0, taps = _polyphase_taps(up, down)
    n_q = -(-n_out // up)  # output n = p + q * up
    pad_left = max(0, -int(j0.min()))
    rows = np.arange(n_q)[None, :] * down + j0[:, None] + pad_left  # (up, n_q): first input of each output
    pad_right = max(0, int(rows.max()) + taps - pad_left - n_in)
    padded = np.pad(flat, ((0, 0), (pad_left, pad_right)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, taps, axis=-1)  # (B, S, taps), no copy
    out = np.empty((flat.shape[0], up, n_q))
    block = max(1, (1 << 22) // max(1, flat.shape[0] * up * taps))  # bound the gathered copy
    for q0 in range(0, n_q, block):
        gathered = windows[:, rows[:, q0 : q0 + block]]  # (B, up, qb, taps)
        out[:, :, q0 : q0 + block] = np.einsum("bpqk,pk->bpq", gathered, bank)
    y = out.transpose(0, 2, 1).reshape(flat.shape[0], n_q * up)[:, :n_out]
    return np.moveaxis(y.reshape(*lead, n_out), -1, axis).astype(np.float32)


def to_value_range(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map float32 audio in ``[-1, 1]`` to ``value_range`` in place (clipping first); returns ``x``."""
    np.clip(x, -1.0, 1.0, out=x)
    lo, hi = value_range
    if (lo, hi) != (-1.0, 1.0):
        x *= np.float32((hi - lo) / 2.0)
        x += np.float32((hi + lo) / 2.0)
        np.clip(x, np.float32(lo), np.float32(hi), out=x)
    return x
