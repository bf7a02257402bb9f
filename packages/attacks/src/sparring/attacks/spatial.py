"""Spatial attack: the worst rotation and translation of a grid (Engstrom et al. 2019).

The threat model is a small rigid motion of the image rather than an Lp ball: a
rotation by θ ∈ [-θ_max, θ_max] about the image centre followed by a shift
(dy, dx) ∈ [-t_max, t_max]². The attack is gradient-free: for every sample it tries
each point of the grid::

    θ  ∈ linspace(-θ_max, θ_max, rotations)        (0 when rotations == 1)
    dy, dx ∈ linspace(-t_max, t_max, translations)  (0 when translations == 1)

in order of increasing size (the normalised L-inf size max(|θ|/θ_max, |dy|/t_max,
|dx|/t_max), then the normalised L1 size, then the values), the identity first (added
when the grid lacks it, so a clean-misclassified sample keeps ``x`` and counts as
fooled), and keeps the **first** grid point that fools the model, or, when none does,
the one with the highest loss (lowest, for a targeted attack). Defaults: the kasl
thesis' evaluation (ch. 5): ±30° and ±3 px, with 31 angles and 7 shifts per axis
(Engstrom et al. use 31 × 5 × 5).

The transform (written once on ``xp``; the same convention as
``sparring.data.transforms.RandomRotation`` / ``RandomTranslation``): output pixel
``p = (i, j)`` is the bilinear sample of the input at::

    q = c + R(θ) (p - t - c),   c = ((H - 1) / 2, (W - 1) / 2),   t = (dy, dx),
    R(θ) = [[cos θ, sin θ], [-sin θ, cos θ]]   in (row, column) coordinates,

so positive θ turns the image counter-clockwise as displayed (row 0 at the top; θ = 90°
is ``np.rot90``) and positive (dy, dx) moves the content down and right (integer shifts
are ``np.roll`` with ``fill`` in place of the wrapped pixels). Input pixels outside the
image take the value ``fill`` (default: the low end of the data range), so samples near
the border blend towards it. Coordinates within 1e-4 px of an integer are snapped to it,
so integer shifts and quarter turns move pixels exactly.

Inputs that are not images (sequence models read an image row by row as ``(784, 1)``,
``(784,)`` or ``(1024, 3)``) are reshaped to the image given by ``image_shape``
(``(H, W)`` or ``(H, W, C)``, row-major, channels last), transformed and reshaped back.
When ``image_shape`` is None it is read from the model's input shape:

- ``(H, W)``: a grey image, unless ``W <= 4`` (then it is a sequence ``(L, C)``);
- ``(H, W, C)`` with ``C <= 4``: channels last;  ``(C, H, W)`` with ``C <= 4``: channels first;
- anything else (e.g. ``(784,)``, ``(784, 1)``, ``(1024, 3)``) needs ``image_shape``.

The grid is evaluated in chunks of at most ``batch_size`` transformed inputs per forward
pass, so memory stays bounded whatever the grid size. The result's ``norms`` are the
L-inf distances ``||x_adv - x||_∞`` (the perturbation is not small in any Lp norm; this
is only a record), with ``norm = "linf"``.

References
----------
L. Engstrom, B. Tran, D. Tsipras, L. Schmidt, A. Madry, "Exploring the Landscape of
Spatial Robustness", ICML 2019, arXiv:1712.02779. Kasl 2024 thesis, sections 3.3.1 and 5
(spatial attack of the evaluation tables).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError
from sparring.core.modes import evaluating
from sparring.core.protocols import Array, Backend, Model
from sparring.core.records import AttackResult

from ._active import ActiveSet
from ._checks import check_positive_int, prepare
from ._compiled import compiled
from ._losses import get_loss
from ._result import finish, is_adversarial

__all__ = ["spatial", "spatial_grid", "spatial_transform", "image_layout"]

_SNAP = 1e-4
"""Sampling coordinates this close to an integer are taken as that integer."""


# --------------------------------------------------------------------------- layout


def image_layout(input_shape: tuple[int, ...], image_shape: Any = None) -> tuple[tuple[int, int, int], bool]:
    """``((H, W, C), channels_first)`` of the images behind inputs of ``input_shape``.

    With ``image_shape`` given (``(H, W)`` or ``(H, W, C)``) an input is that image
    flattened row-major, channels last; otherwise the rule of the module docstring
    applies. Raises ConfigError when neither gives an image of the input's size.
    """
    input_shape = tuple(int(s) for s in input_shape)
    size = math.prod(input_shape)
    if image_shape is not None:
        shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
        if (
            shape is None
            or len(shape) not in (2, 3)
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shape)
        ):
            raise ConfigError(f"image_shape must be (H, W) or (H, W, C) of positive integers, got {image_shape!r}")
        h, w, c = (int(s) for s in (shape + (1,))[:3])
        if h * w * c != size:
            raise ConfigError(
                f"image_shape {tuple(shape)} holds {h * w * c} values, but the model's inputs {input_shape} hold "
                f"{size}; give an image of the same size{_suggest(input_shape)}"
            )
        return (h, w, c), False
    if len(input_shape) == 2 and input_shape[1] > 4:
        return (input_shape[0], input_shape[1], 1), False
    if len(input_shape) == 3 and input_shape[2] <= 4:
        return input_shape, False  # type: ignore[return-value]
    if len(input_shape) == 3 and input_shape[0] <= 4:
        c, h, w = input_shape
        return (h, w, c), True
    raise ConfigError(
        f"the model's inputs have shape {input_shape}, which is not an image ((H, W), (H, W, C) or (C, H, W) "
        f"with at most 4 channels); give image_shape=(H, W) or (H, W, C) of the image they hold"
        f"{_suggest(input_shape)}"
    )


def _suggest(input_shape: tuple[int, ...]) -> str:
    """``, e.g. image_shape=(28, 28)`` when the input holds a square image."""
    size = math.prod(input_shape)
    c = input_shape[-1] if len(input_shape) == 2 and input_shape[-1] <= 4 else 1
    side = math.isqrt(size // c)
    if side * side * c != size:
        return ""
    return f", e.g. image_shape=({side}, {side})" if c == 1 else f", e.g. image_shape=({side}, {side}, {c})"


def _to_image(xp: Any, x: Array, hwc: tuple[int, int, int], channels_first: bool) -> Array:
    """``(B, *input_shape)`` -> ``(B, H, W, C)``."""
    if channels_first:
        return xp.permute_dims(x, (0, 2, 3, 1))
    return xp.reshape(x, (x.shape[0],) + hwc)


def _from_image(xp: Any, img: Array, input_shape: tuple[int, ...], channels_first: bool) -> Array:
    """``(B, H, W, C)`` -> ``(B, *input_shape)``."""
    if channels_first:
        return xp.permute_dims(img, (0, 3, 1, 2))
    return xp.reshape(img, (img.shape[0],) + tuple(input_shape))


# --------------------------------------------------------------------------- transform


def _warp(xp: Any, images: Array, rows: Array, params: Array, fill: float) -> Array:
    """Bilinear warp of ``images[rows]`` (``images``: ``(N, H, W, C)``) by ``params``.

    ``rows`` is ``(M,)`` int32 (which image), ``params`` ``(M, 4)`` = ``(cos θ, sin θ, dy,
    dx)``. Returns ``(M, H, W, C)``: output pixel p samples the image at
    ``c + R(θ)(p - t - c)`` (module docstring), ``fill`` outside.
    """
    n, h, w, c = images.shape
    flat = xp.reshape(images, (n * h * w, c))  # one row per pixel
    dtype = params.dtype
    dev = getattr(params, "device", None)  # None under jax.jit (tracers have no device)
    cos, sin, ty, tx = (xp.reshape(params[:, k], (-1, 1, 1)) for k in range(4))  # each (M, 1, 1)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    py = xp.reshape(xp.arange(h, dtype=dtype, device=dev), (1, h, 1)) - ty - cy  # (M, H, 1)
    px = xp.reshape(xp.arange(w, dtype=dtype, device=dev), (1, 1, w)) - tx - cx  # (M, 1, W)
    ys = cy + cos * py + sin * px  # (M, H, W) source row
    xs = cx - sin * py + cos * px  # (M, H, W) source column
    ys = xp.where(xp.abs(ys - xp.round(ys)) < _SNAP, xp.round(ys), ys)
    xs = xp.where(xp.abs(xs - xp.round(xs)) < _SNAP, xp.round(xs), xs)
    y0, x0 = xp.floor(ys), xp.floor(xs)
    wy, wx = ys - y0, xs - x0  # (M, H, W) in [0, 1)
    y0, x0 = xp.astype(y0, xp.int32), xp.astype(x0, xp.int32)
    base = xp.reshape(rows, (-1, 1, 1)) * (h * w)  # (M, 1, 1) first pixel of each image
    zero = xp.zeros_like(wy)
    out = None
    for oy, ox, weight in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx), (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yi, xi = y0 + oy, x0 + ox
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)  # (M, H, W)
        idx = base + xp.clip(yi, 0, h - 1) * w + xp.clip(xi, 0, w - 1)  # (M, H, W) rows of flat
        values = xp.reshape(xp.take(flat, xp.reshape(idx, (-1,)), axis=0), tuple(idx.shape) + (c,))  # (M, H, W, C)
        w_in = xp.where(inside, weight, zero)[..., None]
        w_out = xp.where(inside, zero, weight)[..., None]
        term = w_in * values + w_out * fill
        out = term if out is None else out + term
    return out


def _transformer(
    be: Backend, fill: float, input_shape: tuple[int, ...] | None, channels_first: bool
) -> Callable[[Array, Array], Array]:
    """``(images (B, H, W, C), params (B·K, 4)) -> (B·K, ...)``: every image under each of
    its K transforms (rows ``b·K .. b·K + K - 1``), as model inputs when ``input_shape``
    is given, else as ``(B·K, H, W, C)`` images."""
    xp = be.xp

    def make() -> Callable[[Array, Array], Array]:
        def transform(images: Array, params: Array) -> Array:
            b = images.shape[0]
            k = params.shape[0] // b
            rows = xp.arange(b, dtype=xp.int32, device=getattr(params, "device", None))
            rows = xp.reshape(xp.broadcast_to(xp.reshape(rows, (-1, 1)), (b, k)), (-1,))  # (B·K,)
            out = _warp(xp, images, rows, params, fill)
            return out if input_shape is None else _from_image(xp, out, input_shape, channels_first)

        return transform

    return compiled(be, ("transform", fill, input_shape, channels_first), make)


def _params(xp: Any, be: Backend, grid: np.ndarray, dtype: Any) -> Array:
    """``(G, 3)`` grid of (θ degrees, dy, dx) -> ``(G, 4)`` backend ``(cos, sin, dy, dx)``."""
    theta = np.deg2rad(grid[:, 0])
    p = np.stack([np.cos(theta), np.sin(theta), grid[:, 1], grid[:, 2]], axis=1)
    return xp.astype(be.asarray(p.astype(np.float32)), dtype)


def spatial_transform(
    be: Backend, images: Array, angle: Any, dy: Any = 0.0, dx: Any = 0.0, *, fill: float = 0.0
) -> Array:
    """Rotate each image by ``angle`` degrees (counter-clockwise) about its centre, then shift
    it by ``(dy, dx)`` pixels (down, right); bilinear, ``fill`` outside (module docstring).

    ``images`` is ``(B, H, W)`` or ``(B, H, W, C)`` on ``be``; ``angle``, ``dy``, ``dx`` are
    scalars or ``(B,)`` sequences (numbers, not backend arrays). Returns the same shape.
    """
    squeeze = images.ndim == 3
    img = images[..., None] if squeeze else images
    if img.ndim != 4:
        raise ConfigError(f"spatial_transform takes (B, H, W) or (B, H, W, C) images, got shape {tuple(images.shape)}")
    b = int(img.shape[0])
    try:
        grid = np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), (b,)) for v in (angle, dy, dx)], axis=1)
    except ValueError as err:
        raise ConfigError(f"angle, dy and dx must be scalars or hold one value per image ({b})") from err
    out = _transformer(be, float(fill), None, False)(img, _params(be.xp, be, grid, img.dtype))
    return out[..., 0] if squeeze else out


# --------------------------------------------------------------------------- grid


def _axis(max_value: float, points: int) -> np.ndarray:
    return np.zeros(1) if points == 1 else np.linspace(-max_value, max_value, points)


def spatial_grid(
    *, max_rotation: float = 30.0, max_translation: float = 3.0, rotations: int = 31, translations: int = 7
) -> np.ndarray:
    """The ``(G, 3)`` grid of (θ degrees, dy, dx) in the order the attack tries it: the
    identity first, then by increasing size (module docstring)."""
    _check_grid(max_rotation, max_translation, rotations, translations)
    ang, sh = _axis(max_rotation, rotations), _axis(max_translation, translations)
    grid = np.stack(np.meshgrid(ang, sh, sh, indexing="ij"), axis=-1).reshape(-1, 3)
    if not np.any(np.all(grid == 0, axis=1)):
        grid = np.concatenate([np.zeros((1, 3)), grid])
    scale = np.array([max_rotation or 1.0, max_translation or 1.0, max_translation or 1.0])
    size = np.abs(grid) / scale
    order = np.lexsort((grid[:, 2], grid[:, 1], grid[:, 0], size.sum(axis=1), size.max(axis=1)))
    return grid[order]


def _check_grid(max_rotation: Any, max_translation: Any, rotations: Any, translations: Any) -> None:
    for name, v, top in (("max_rotation", max_rotation, 180.0), ("max_translation", max_translation, None)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{name} must be a finite number >= 0, got {v!r}")
        if top is not None and v > top:
            raise ConfigError(f"{name} must be at most {top} degrees, got {v!r}")
    check_positive_int(rotations, "rotations (grid points of the angle)")
    check_positive_int(translations, "translations (grid points per shift axis)")


# --------------------------------------------------------------------------- attack


def spatial(
    model: Model,
    x: Any,
    y: Any,
    *,
    max_rotation: float = 30.0,
    max_translation: float = 3.0,
    rotations: int = 31,
    translations: int = 7,
    image_shape: Any = None,
    fill: float | None = None,
    targeted: bool = False,
    loss: str = "ce",
    batch_size: int = 1024,
    eps: Any = None,
) -> AttackResult:
    """Worst case over a grid of rotations and translations, gradient-free.

    Parameters
    ----------
    model : the classifier; its backend, value range, classes and input shape are used.
    x : clean inputs ``(B, *model.input_shape)`` in the model's value range.
    y : true labels ``(B,)``, or target classes when ``targeted``.
    max_rotation : largest angle, degrees (0..180); 0 tries no rotation.
    max_translation : largest shift per axis, pixels (may be fractional); 0 tries none.
    rotations : grid points of the angle (>= 1; 1 means θ = 0 only).
    translations : grid points of each shift axis (>= 1; 1 means no shift).
    image_shape : ``(H, W)`` or ``(H, W, C)`` of the image an input holds when the
        model's input shape is not an image (sequence models); see the module docstring.
    fill : value of pixels brought in from outside the image; None = the data range's low end.
    targeted : look for a transform classified as ``y`` instead of one that is not.
    loss : ``"ce"``, ``"margin"`` or ``"dlr"``: ranks the grid points when none fools.
    batch_size : most transformed inputs per forward pass (memory bound).
    eps : ignored: the threat model is the grid, not an Lp ball. Accepted so that
        evaluation loops that call ``attack(model, x, y, eps=e)`` can run this attack.

    Returns
    -------
    AttackResult with ``norm="linf"`` and ``norms = ||x_adv - x||_∞``; ``gradients`` 0,
    ``forwards`` the grid points tried per sample (at most), plus one.
    """
    del eps
    _check_grid(max_rotation, max_translation, rotations, translations)
    check_positive_int(batch_size, "batch_size")
    get_loss(loss)  # unknown names fail here, before any work
    be = model.backend
    xp = be.xp
    lo, hi = model.value_range
    if fill is None:
        fill = float(lo)
    elif isinstance(fill, bool) or not isinstance(fill, (int, float)) or not lo <= fill <= hi:
        raise ConfigError(f"fill must be a number in the model's value range [{lo}, {hi}], got {fill!r}")
    hwc, channels_first = image_layout(model.input_shape, image_shape)
    x, y, _ = prepare(model, x, y, 0.0)
    grid = spatial_grid(
        max_rotation=max_rotation, max_translation=max_translation, rotations=rotations, translations=translations
    )
    n = x.shape[0]
    with evaluating(model), be.no_grad():
        parts, evaluated = [], 0
        for start in range(0, n, batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            best, tried = _search(model, xb, yb, grid, hwc, channels_first, float(fill), targeted, loss, batch_size)
            parts.append(best)
            evaluated = max(evaluated, tried)
        x_adv = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
        return finish(model, x, x_adv, y, norm="linf", targeted=targeted, gradients=0, forwards=evaluated)


def _updater(be: Backend, loss: str, targeted: bool) -> Callable[..., tuple[Array, Array, Array]]:
    """``(logits (B·K, C), y (B,), g0, found, best_g, best_j) -> (found, best_g, best_j)``
    after trying grid points ``g0 .. g0 + K - 1`` (rows ``b·K + k``) on every sample."""
    xp = be.xp
    loss_fn = get_loss(loss)
    sign = -1.0 if targeted else 1.0

    def make() -> Callable[..., tuple[Array, Array, Array]]:
        def update(
            logits: Array, y: Array, g0: Array, found: Array, best_g: Array, best_j: Array
        ) -> tuple[Array, Array, Array]:
            b = y.shape[0]
            k = logits.shape[0] // b
            y_rep = xp.reshape(xp.broadcast_to(xp.reshape(y, (-1, 1)), (b, k)), (-1,))  # (B·K,)
            fooled = xp.reshape(is_adversarial(xp, logits, y_rep, targeted), (b, k))
            j = xp.reshape(sign * loss_fn(xp, logits, y_rep), (b, k))
            first = xp.astype(xp.argmax(xp.astype(fooled, xp.float32), axis=1), xp.int32) + g0  # first fooling
            top = xp.astype(xp.argmax(j, axis=1), xp.int32) + g0  # highest objective
            j_top = xp.max(j, axis=1)
            hit = xp.any(fooled, axis=1)
            better = ~hit & (j_top > best_j)
            new_g = xp.where(found, best_g, xp.where(hit, first, xp.where(better, top, best_g)))
            new_j = xp.where(found | ~better, best_j, j_top)
            return found | hit, new_g, new_j

        return update

    return compiled(be, ("update", loss, targeted), make)


def _search(
    model: Model,
    x: Array,
    y: Array,
    grid: np.ndarray,
    hwc: tuple[int, int, int],
    channels_first: bool,
    fill: float,
    targeted: bool,
    loss: str,
    batch_size: int,
) -> tuple[Array, int]:
    """Grid search on one block of ``B <= batch_size`` samples: ``(x_adv, grid points tried)``.

    Per sample it keeps ``found`` (a fooling grid point was seen), ``best_g`` (the first
    fooling point, else the highest-objective one so far) and ``best_j`` (that objective).
    """
    be = model.backend
    xp = be.xp
    b = x.shape[0]
    dev = getattr(x, "device", None)
    g = grid.shape[0]
    k = max(1, min(batch_size // b, g))  # grid points per chunk
    padded = np.concatenate([grid, np.repeat(grid[-1:], (-g) % k, axis=0)])  # fixed chunk shapes (jax)
    params = _params(xp, be, padded, x.dtype)  # (Gp, 4)
    img = _to_image(xp, x, hwc, channels_first)  # (B, H, W, C)
    transform = _transformer(be, fill, tuple(model.input_shape), channels_first)
    update = _updater(be, loss, targeted)
    found = xp.zeros((b,), dtype=xp.bool, device=dev)
    best_g = xp.zeros((b,), dtype=xp.int32, device=dev)
    best_j = xp.full((b,), -float("inf"), dtype=x.dtype, device=dev)
    tried = 0
    for g0 in range(0, g, k):
        active = ActiveSet(be, found)
        if active.empty():
            break
        img_a = active.take(img)
        ba = img_a.shape[0]
        pairs = xp.reshape(xp.broadcast_to(params[None, g0 : g0 + k, :], (ba, k, 4)), (-1, 4))  # (Ba·K, 4)
        logits = model(transform(img_a, pairs))  # (Ba·K, classes)
        new_found, new_g, new_j = update(
            logits, active.take(y), be.asarray(g0, dtype=xp.int32), active.take(found), active.take(best_g),
            active.take(best_j),
        )
        found, best_g, best_j = active.put(found, new_found), active.put(best_g, new_g), active.put(best_j, new_j)
        tried = min(g0 + k, g)
    return transform(img, xp.take(params, best_g, axis=0)), tried
