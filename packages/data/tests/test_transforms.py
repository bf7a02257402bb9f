"""Seeded batch transforms: reproducible, in range, and doing what their formulas say."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.core.errors import ConfigError, InvalidInputError
from sparring.data import transforms as T


def images(shape=(6, 12, 12, 3), *, seed: int = 0, value_range=(0.0, 1.0)) -> np.ndarray:
    lo, hi = value_range
    return (lo + (hi - lo) * np.random.default_rng(seed).uniform(size=shape)).astype(np.float32)


def waves(shape=(4, 4000), *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(shape[-1]) / 16000
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(shape)).astype(np.float32)


IMAGE_TRANSFORMS = [
    T.GaussianNoise(0.2),
    T.UniformNoise(0.1),
    T.RandomResizeCrop(1.5),
    T.RandomRotation(30.0),
    T.RandomTranslation(3),
    T.Compose([T.RandomRotation(20.0), T.RandomResizeCrop(1.3), T.GaussianNoise(0.05)]),
]
AUDIO_TRANSFORMS = [
    T.AudioNoise((10.0, 30.0)),
    T.TimeMasking(400, num_masks=2),
    T.RandomResample((8000, 12000)),
    T.Compose([T.AudioNoise((20.0, 20.0)), T.TimeMasking(100)]),
]


@pytest.mark.parametrize("transform", IMAGE_TRANSFORMS + AUDIO_TRANSFORMS, ids=repr)
def test_reproducible_with_a_seed_and_input_untouched(transform) -> None:
    x = images() if not isinstance(transform.transforms[0] if isinstance(transform, T.Compose) else transform,
                                   (T.AudioNoise, T.TimeMasking, T.RandomResample)) else waves()
    before = x.copy()
    a, b = transform(x, 7), transform(x, 7)
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(transform(x, np.random.default_rng(7)), a)  # int seed = default_rng(seed)
    assert not np.array_equal(transform(x, 8), a)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
@pytest.mark.parametrize("make", [
    lambda r: T.GaussianNoise(0.5, value_range=r),
    lambda r: T.UniformNoise(0.5, value_range=r),
    lambda r: T.RandomResizeCrop(2.0, value_range=r),
    lambda r: T.RandomRotation(45.0, value_range=r),
    lambda r: T.RandomRotation(45.0, fill=r[1], value_range=r),
    lambda r: T.RandomTranslation(4, value_range=r),
])
def test_image_transforms_keep_the_value_range(make, value_range) -> None:
    x = images(value_range=value_range)
    x[:, 0, 0] = value_range[0]
    x[:, -1, -1] = value_range[1]
    out = make(value_range)(x, 0)
    assert out.min() >= value_range[0] and out.max() <= value_range[1]
    grey = make(value_range)(x[..., 0], 0)  # (B, H, W) works too
    assert grey.shape == x.shape[:3] and grey.min() >= value_range[0] and grey.max() <= value_range[1]


def test_noise_statistics() -> None:
    x = np.full((8, 32, 32, 3), 0.5, np.float32)
    diff = T.GaussianNoise(0.05)(x, 0) - x
    assert abs(diff.std() - 0.05) < 0.002 and abs(diff.mean()) < 0.002
    diff = T.UniformNoise(0.1)(x, 0) - x
    assert np.abs(diff).max() <= 0.1 + 1e-6 and abs(diff.std() - 0.1 / np.sqrt(3)) < 0.002
    clipped = T.GaussianNoise(1.0)(np.ones((2, 4, 4), np.float32), 0)
    assert clipped.max() == 1.0 and clipped.min() >= 0.0


def test_resize_crop_enlarges_by_the_drawn_scale() -> None:
    ramp = np.tile(np.linspace(0.0, 1.0, 16), (3, 16, 1)).astype(np.float32)  # (3, 16, 16): value = column / 15
    out = T.RandomResizeCrop(2.0, min_scale=2.0)(ramp, 0)
    steps = np.diff(out, axis=-1)[:, :, 1:-1]
    np.testing.assert_allclose(steps, 0.5 / 15, atol=1e-6)  # twice as large: half the slope
    np.testing.assert_allclose(out, out[:, :1, :].repeat(16, axis=1))  # rows unchanged
    np.testing.assert_allclose(T.RandomResizeCrop(1.0)(ramp, 0), ramp, atol=1e-7)  # scale 1: identity


def test_rotation_turns_counter_clockwise_and_fills_the_corners() -> None:
    x = images((2, 9, 9, 3))
    rot = T.RandomRotation(0.0, fill=0.25)
    np.testing.assert_allclose(rot.rotate(x.astype(np.float64), np.array([90.0, -90.0]))[0], np.rot90(x[0]), atol=1e-6)
    np.testing.assert_allclose(rot.rotate(x.astype(np.float64), np.array([90.0, -90.0]))[1], np.rot90(x[1], -1),
                               atol=1e-6)
    np.testing.assert_allclose(rot(x, 0), x, atol=1e-7)  # degrees 0: identity
    turned = rot.rotate(np.ones((1, 9, 9, 1)), np.array([45.0]))
    assert turned[0, 0, 0, 0] == pytest.approx(0.25) and turned[0, 4, 4, 0] == pytest.approx(1.0)


def test_translation_shifts_by_whole_pixels() -> None:
    x = images((5, 10, 10, 3))
    out = T.RandomTranslation(2, fill=0.0)(x, 3)
    for k in range(len(x)):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                want = np.zeros_like(x[k])
                want[max(dy, 0) : 10 + min(dy, 0), max(dx, 0) : 10 + min(dx, 0)] = (
                    x[k][max(-dy, 0) : 10 + min(-dy, 0), max(-dx, 0) : 10 + min(-dx, 0)])
                matches.append(np.array_equal(out[k], want))
        assert sum(matches) == 1, k


def test_audio_noise_has_the_drawn_snr() -> None:
    x = waves((3, 16000))
    x[2] = 0.0
    out = T.AudioNoise((20.0, 20.0))(x, 0)
    noise = out - x
    rms = lambda v: np.sqrt(np.mean(v.astype(np.float64) ** 2))  # noqa: E731
    for k in range(2):
        assert 20 * np.log10(rms(x[k]) / rms(noise[k])) == pytest.approx(20.0, abs=0.3)
    assert np.all(out[2] == 0.0)  # silence stays silent
    loud = T.AudioNoise((-20.0, -20.0))(x, 0)
    assert loud.min() >= -1.0 and loud.max() <= 1.0 and (np.abs(loud) == 1.0).any()


def test_time_and_frequency_masks() -> None:
    spec = np.random.default_rng(0).uniform(1.0, 2.0, size=(20, 8, 30)).astype(np.float32)
    out = T.TimeMasking(5, num_masks=1, value=0.0)(spec, 1)
    masked = (out == 0.0)
    assert (masked.all(axis=1) == masked.any(axis=1)).all()  # whole time columns
    widths = masked.all(axis=1).sum(axis=1)
    assert widths.max() <= 5 and widths.max() > 0
    for k in range(len(spec)):
        cols = np.flatnonzero(masked[k].all(axis=0))
        assert cols.size == 0 or np.array_equal(cols, np.arange(cols[0], cols[0] + cols.size))  # contiguous
    np.testing.assert_array_equal(out[~masked], spec[~masked])
    out = T.FrequencyMasking(3, num_masks=2, value=-1.0)(spec, 1)
    masked = out == -1.0
    assert (masked.all(axis=2) == masked.any(axis=2)).all()  # whole frequency rows
    assert masked.all(axis=2).sum(axis=1).max() <= 6
    wave = waves()
    silenced = T.TimeMasking(300)(wave, 2)
    assert ((silenced == 0).sum(axis=1) <= 300).all() and (silenced == 0).any()


def test_random_resample_removes_the_band_above_half_the_rate() -> None:
    t = np.arange(8000) / 16000
    low = 0.5 * np.sin(2 * np.pi * 1000 * t)
    high = 0.5 * np.sin(2 * np.pi * 6000 * t)
    x = np.stack([low, high]).astype(np.float32)
    out = T.RandomResample((8000,))(x, 0)
    core = slice(500, -500)
    np.testing.assert_allclose(out[0, core], low[core], atol=0.02)  # below 4 kHz: kept
    assert np.abs(out[1, core]).max() < 0.02  # above 4 kHz: gone
    np.testing.assert_allclose(T.RandomResample((16000,))(x, 0), x, atol=1e-6)
    assert T.Resample(16000, 8000)(x).shape == (2, 4000)


@pytest.mark.parametrize("make", [lambda: T.TimeMasking(300), lambda: T.RandomResample((8000, 11025))])
def test_waveforms_as_sequences_of_one_feature_are_transformed_along_time(make) -> None:
    """(B, T, 1), the layout sequence models read, gives the (B, T) result with the axis kept."""
    wave = waves()
    flat = make()(wave, 7)
    seq = make()(wave[..., None], 7)
    assert seq.shape == wave.shape + (1,)
    np.testing.assert_array_equal(seq[..., 0], flat)
    assert not np.array_equal(flat, wave)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: T.GaussianNoise(-0.1), "std must be >= 0"),
    (lambda: T.UniformNoise(float("nan")), "eps must be a finite number"),
    (lambda: T.RandomResizeCrop(0.5), r"\(min_scale, max_scale\) must be >= 1.0"),
    (lambda: T.RandomResizeCrop(1.2, min_scale=1.5), "low <= high"),
    (lambda: T.RandomRotation(10.0, fill=2.0), r"fill 2.0 lies outside value_range \(0.0, 1.0\)"),
    (lambda: T.RandomTranslation(1.5), "max_shift must be an int"),
    (lambda: T.GaussianNoise(0.1, value_range=(1, 0)), "value_range"),
    (lambda: T.AudioNoise(20.0), "snr_db must be a pair"),
    (lambda: T.TimeMasking(-1), "max_width must be an int >= 0"),
    (lambda: T.RandomResample(()), "at least one sample rate"),
    (lambda: T.GaussianNoise(0.1)(np.zeros((2, 3)), None), "explicit seed"),
    (lambda: T.GaussianNoise(0.1)(np.zeros((2, 3)), -1), "non-negative int seed"),
])
def test_bad_settings_are_config_errors(make, match) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize(("transform", "x", "match"), [
    (T.GaussianNoise(0.1), np.full((2, 4, 4), np.nan), "NaN or infinite"),
    (T.GaussianNoise(0.1), np.full((2, 4, 4), 3.0), r"span \[3, 3\], outside value_range \(0.0, 1.0\)"),
    (T.RandomRotation(10.0), np.zeros((2, 4)), "at least 3 dimensions"),
    (T.RandomRotation(10.0), np.zeros((2, 4, 4, 3, 1)), r"\(B, H, W\) or \(B, H, W, C\)"),
    (T.FrequencyMasking(2), np.zeros((2, 40)), "at least 3 dimensions"),
    (T.TimeMasking(2), [[0.0, 1.0]], "numpy batch"),
    (T.TimeMasking(2), np.zeros((0, 5)), "non-empty"),
])
def test_bad_batches_are_invalid_input_errors(transform, x, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        transform(x, 0)


def test_named_augmentations_chain_in_order_with_the_data_range() -> None:
    chain = T.augmentation([{"transform": "rotation", "degrees": 20}, {"transform": "gaussian-noise", "std": 0.1}],
                           (-1.0, 1.0))
    assert [type(t) for t in chain.transforms] == [T.RandomRotation, T.GaussianNoise]
    assert all(t.value_range == (-1.0, 1.0) for t in chain.transforms)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8)).astype(np.float32)
    by_hand = T.GaussianNoise(0.1, value_range=(-1, 1))(
        T.RandomRotation(20, value_range=(-1, 1))(x, rng := np.random.default_rng(5)), rng)
    np.testing.assert_array_equal(chain(x, 5), by_hand)
    assert T.augmentation([], (0.0, 1.0)).transforms == ()


@pytest.mark.parametrize(
    "entries, match",
    [
        ([{"transform": "rotaton"}], "Did you mean 'rotation'"),
        ([{"transform": "rotation", "angle": 3}], "angle.*degrees"),
        ([{"transform": "gaussian-noise", "std": -1}], r"augment\[0\].*std"),
        ([{"std": 0.1}], "transform"),
        (["rotation"], "table"),
    ],
)
def test_bad_augmentations_name_the_entry(entries, match) -> None:
    with pytest.raises(ConfigError, match=match):
        T.augmentation(entries, (0.0, 1.0))
