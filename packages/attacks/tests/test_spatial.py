"""Spatial attack: the transform against numpy references, the grid search, layouts, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sparring.attacks import spatial
from sparring.attacks.spatial import image_layout, spatial_grid, spatial_transform
from sparring.core.errors import ConfigError
from sparring.models import build_model

from attack_helpers import mnist_dense, mnist_test


def _backend(name: str):
    pytest.importorskip(name)
    return build_model("dense", backend=name, seed=0, input_shape=(4,), hidden=(3,), num_classes=2).backend


def _warp_ref(img: np.ndarray, angle: float, dy: float, dx: float, fill: float) -> np.ndarray:
    """Pixel by pixel: output p samples img bilinearly at c + R(θ)(p - t - c), fill outside."""
    h, w, c = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    th = math.radians(angle)
    out = np.zeros_like(img, dtype=np.float64)

    def pixel(r: int, s: int) -> np.ndarray:
        return img[r, s] if 0 <= r < h and 0 <= s < w else np.full(c, fill)

    for i in range(h):
        for j in range(w):
            py, px = i - dy - cy, j - dx - cx
            qy = cy + math.cos(th) * py + math.sin(th) * px
            qx = cx - math.sin(th) * py + math.cos(th) * px
            y0, x0 = math.floor(qy), math.floor(qx)
            ay, ax = qy - y0, qx - x0
            out[i, j] = ((1 - ay) * (1 - ax) * pixel(y0, x0) + (1 - ay) * ax * pixel(y0, x0 + 1)
                         + ay * (1 - ax) * pixel(y0 + 1, x0) + ay * ax * pixel(y0 + 1, x0 + 1))
    return out


def _images(seed: int = 0, shape=(3, 6, 6)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def test_transform_matches_rot90_roll_and_identity(backend_name: str) -> None:
    be = _backend(backend_name)
    for img in (_images(0, (3, 6, 6)), _images(1, (2, 5, 5, 3))):
        x = be.asarray(img)
        t = lambda *a, **k: be.to_numpy(spatial_transform(be, x, *a, **k))  # noqa: E731
        np.testing.assert_array_equal(t(0.0), img)
        np.testing.assert_array_equal(t(0.0, 0.0, 0.0, fill=0.5), img)
        for k, angle in ((1, 90.0), (2, 180.0), (-1, -90.0), (3, 270.0)):
            np.testing.assert_allclose(t(angle), np.rot90(img, k, axes=(1, 2)), atol=1e-6)
        for dy, dx in ((1, 0), (0, -2), (2, 3), (-3, -1)):
            ref = np.roll(img, (dy, dx), axis=(1, 2))
            if dy:
                ref[:, slice(0, dy) if dy > 0 else slice(dy, None)] = -1.0
            if dx:
                ref[:, :, slice(0, dx) if dx > 0 else slice(dx, None)] = -1.0
            np.testing.assert_array_equal(t(0.0, float(dy), float(dx), fill=-1.0), ref)


def test_transform_matches_pixel_reference_and_backends_agree() -> None:
    img = _images(2, (4, 7, 6, 2))
    params = [(17.0, 0.0, 0.0), (-30.0, 1.5, -0.5), (45.0, -2.0, 3.0), (8.0, 0.25, 0.0)]
    ref = np.stack([_warp_ref(im, *p, fill=0.1) for im, p in zip(img, params)])
    angle, dy, dx = (list(v) for v in zip(*params))
    outs = []
    for name in ("torch", "jax"):
        be = _backend(name)
        out = be.to_numpy(spatial_transform(be, be.asarray(img), angle, dy, dx, fill=0.1))
        np.testing.assert_allclose(out, ref, atol=2e-6)
        outs.append(out)
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-6)


def test_rotation_agrees_with_the_data_augmentation(backend_name: str) -> None:
    from sparring.data.transforms import RandomRotation

    be = _backend(backend_name)
    img = _images(3, (5, 9, 9))
    angles = np.array([-30.0, -7.5, 3.0, 22.0, 30.0])
    ref = RandomRotation(30.0).rotate(img, angles)
    np.testing.assert_allclose(be.to_numpy(spatial_transform(be, be.asarray(img), angles)), ref, atol=2e-6)


def test_grid_order_and_size() -> None:
    grid = spatial_grid()
    assert grid.shape == (31 * 7 * 7, 3)
    np.testing.assert_array_equal(grid[0], 0)
    assert len({tuple(g) for g in grid}) == len(grid)
    size = np.max(np.abs(grid) / [30.0, 3.0, 3.0], axis=1)
    assert (np.diff(size) >= 0).all()  # mildest first
    even = spatial_grid(rotations=4, translations=2)  # no zero on either axis: identity added first
    assert even.shape == (4 * 2 * 2 + 1, 3) and (even[0] == 0).all()
    np.testing.assert_array_equal(spatial_grid(rotations=1, translations=1), [[0.0, 0.0, 0.0]])


class _Wrapped:
    """A model whose logits are ``logits_fn(x)``; everything else from a real model."""

    def __init__(self, inner, logits_fn, input_shape=None, num_classes=None) -> None:
        self._inner, self._fn = inner, logits_fn
        self.input_shape = input_shape or inner.input_shape
        self.num_classes = num_classes or inner.num_classes

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __call__(self, x):
        return self._fn(x)


def test_a_model_right_only_on_the_clean_image_is_fooled_by_the_first_grid_point(backend_name: str) -> None:
    inner = build_model("dense", backend=backend_name, seed=0, input_shape=(8, 8), hidden=(4,), num_classes=2)
    be, xp = inner.backend, inner.backend.xp
    clean = _images(4, (3, 8, 8))
    ref = be.asarray(clean)

    def logits(x):  # class 0 iff x is (within 1e-6) the clean image of its row
        d = xp.sum(xp.reshape((x - ref) ** 2, (x.shape[0], -1)), axis=1)
        return xp.stack([1e-6 - d, xp.zeros_like(d)], axis=1)

    model = _Wrapped(inner, logits)
    y = np.zeros(3, dtype=np.int64)
    assert (be.to_numpy(model(ref)).argmax(1) == 0).all()
    r = spatial(model, clean, y, rotations=5, translations=3, batch_size=3)  # one grid point per chunk
    assert be.to_numpy(r.success).all()
    first = spatial_grid(rotations=5, translations=3)[1]
    expected = be.to_numpy(spatial_transform(be, ref, *first))
    np.testing.assert_array_equal(be.to_numpy(r.x_adv), expected)
    np.testing.assert_allclose(be.to_numpy(r.norms), np.abs(expected - clean).reshape(3, -1).max(1))
    assert r.norm == "linf" and r.gradients == 0 and r.forwards == 2 + 1


def test_without_a_fooling_point_the_highest_loss_is_kept(backend_name: str) -> None:
    inner = mnist_dense(backend_name)
    be = inner.backend
    boost = be.asarray(np.eye(10, dtype=np.float32)[0] * 100.0)
    model = _Wrapped(inner, lambda x: inner(x) + boost)  # always class 0: nothing fools it
    n = 6
    x, _ = mnist_test(n)
    y = np.zeros(n, dtype=np.int64)
    kw = dict(rotations=5, translations=3, max_rotation=20.0, max_translation=2.0)
    r = spatial(model, x, y, batch_size=12, **kw)
    assert not be.to_numpy(r.success).any()
    grid = spatial_grid(**kw)  # (G, 3): brute force every (grid point, sample) pair at once
    g = len(grid)
    every = be.to_numpy(spatial_transform(be, be.asarray(np.tile(x, (g, 1, 1))), *np.repeat(grid, n, axis=0).T))
    z = be.to_numpy(model(be.asarray(every))).astype(np.float64).reshape(g, n, 10)
    ce = np.log(np.exp(z - z.max(2, keepdims=True)).sum(2)) + z.max(2) - z[:, :, 0]  # (G, n)
    best = np.argmax(ce, axis=0)
    expected = every.reshape(g, n, 28, 28)[best, np.arange(n)]
    np.testing.assert_allclose(be.to_numpy(r.x_adv), expected, atol=1e-6)


def test_sequence_inputs_give_the_image_result(backend_name: str) -> None:
    image_model = mnist_dense(backend_name)
    be = image_model.backend
    x, y = mnist_test(16)
    kw = dict(rotations=7, translations=3)
    ref = spatial(image_model, x, y, **kw)
    for shape in ((784, 1),):
        seq = build_model("dense", backend=backend_name, seed=0, input_shape=shape, hidden=(64,), num_classes=10)
        seq.load_parameters(image_model.parameters_numpy())
        r = spatial(seq, x.reshape(16, *shape), y, image_shape=(28, 28), **kw)
        np.testing.assert_array_equal(be.to_numpy(r.success), be.to_numpy(ref.success))
        np.testing.assert_allclose(be.to_numpy(r.x_adv).reshape(16, 28, 28), be.to_numpy(ref.x_adv), atol=1e-6)
        np.testing.assert_allclose(be.to_numpy(r.norms), be.to_numpy(ref.norms), atol=1e-6)


def test_chunking_does_not_change_the_result(backend_name: str) -> None:
    model = mnist_dense(backend_name)
    be = model.backend
    x, y = mnist_test(8)
    kw = dict(rotations=3, translations=3, max_rotation=10.0, max_translation=1.0)
    a = spatial(model, x, y, batch_size=4096, **kw)
    b = spatial(model, x, y, batch_size=4, **kw)  # two sample blocks of 4, one grid point per chunk
    np.testing.assert_array_equal(be.to_numpy(a.success), be.to_numpy(b.success))
    np.testing.assert_allclose(be.to_numpy(a.x_adv), be.to_numpy(b.x_adv), atol=1e-6)
    assert 0 < be.to_numpy(a.success).mean() < 1  # both kinds of sample are exercised


def test_clean_misclassified_samples_are_not_robust(backend_name: str) -> None:
    model = mnist_dense(backend_name)
    be = model.backend
    x, y = mnist_test(64)
    wrong = be.to_numpy(model(be.asarray(x))).argmax(1) != y
    assert wrong.any()
    for kw in (dict(rotations=3, translations=1), dict(rotations=4, translations=2)):  # with / without 0 in grid
        r = spatial(model, x, y, **kw)
        assert be.to_numpy(r.success)[wrong].all()
        np.testing.assert_array_equal(be.to_numpy(r.x_adv)[wrong], x[wrong])
        np.testing.assert_array_equal(be.to_numpy(r.norms)[wrong], 0)


def test_image_layout_rule() -> None:
    assert image_layout((28, 28)) == ((28, 28, 1), False)
    assert image_layout((32, 32, 3)) == ((32, 32, 3), False)
    assert image_layout((3, 32, 32)) == ((32, 32, 3), True)
    assert image_layout((784, 1), (28, 28)) == ((28, 28, 1), False)
    assert image_layout((1024, 3), (32, 32, 3)) == ((32, 32, 3), False)
    with pytest.raises(ConfigError, match=r"not an image.*e\.g\. image_shape=\(28, 28\)"):
        image_layout((784, 1))
    with pytest.raises(ConfigError, match=r"e\.g\. image_shape=\(32, 32, 3\)"):
        image_layout((1024, 3))
    with pytest.raises(ConfigError, match="not an image"):
        image_layout((784,))


def test_channels_first_inputs(backend_name: str) -> None:
    be = _backend(backend_name)
    chw = build_model("dense", backend=backend_name, seed=0, input_shape=(2, 6, 6), hidden=(8,), num_classes=3)
    hwc = build_model("dense", backend=backend_name, seed=0, input_shape=(6, 6, 2), hidden=(8,), num_classes=3)
    img = _images(5, (4, 6, 6, 2))
    w = hwc.parameters_numpy()  # same weights after moving the channel axis of the first layer's inputs
    first = "layers.0.weight"
    out = w[first].shape[0]
    chw_w = dict(w)
    chw_w[first] = w[first].reshape(out, 6, 6, 2).transpose(0, 3, 1, 2).reshape(out, -1)
    chw.load_parameters(chw_w)
    y = np.array([0, 1, 2, 0])
    kw = dict(rotations=5, translations=3, max_translation=1.0)
    a = spatial(hwc, img, y, **kw)
    b = spatial(chw, img.transpose(0, 3, 1, 2), y, **kw)
    np.testing.assert_array_equal(be.to_numpy(a.success), be.to_numpy(b.success))
    np.testing.assert_allclose(be.to_numpy(b.x_adv).transpose(0, 2, 3, 1), be.to_numpy(a.x_adv), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(max_rotation=-1.0), "max_rotation must be a finite number >= 0"),
        (dict(max_rotation=200.0), "max_rotation must be at most 180"),
        (dict(max_translation=float("nan")), "max_translation must be a finite number"),
        (dict(rotations=0), r"rotations \(grid points of the angle\) must be an integer >= 1"),
        (dict(translations=1.5), "translations"),
        (dict(image_shape=(27, 27)), r"image_shape \(27, 27\) holds 729 values.*\(784, 1\) hold 784"),
        (dict(image_shape=(28, 28, 0)), r"image_shape must be \(H, W\) or \(H, W, C\)"),
        (dict(image_shape=None), r"not an image.*image_shape=\(28, 28\)"),
        (dict(fill=2.0), r"fill must be a number in the model's value range \[0.0, 1.0\]"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(loss="cee"), "Did you mean 'ce'"),
    ],
)
def test_bad_arguments(backend_name: str, kwargs, match) -> None:
    model = build_model("dense", backend=backend_name, seed=0, input_shape=(784, 1), hidden=(4,), num_classes=10)
    x, y = mnist_test(2)
    base = dict(image_shape=(28, 28))
    with pytest.raises(ConfigError, match=match):
        spatial(model, x.reshape(2, 784, 1), y, **{**base, **kwargs})
