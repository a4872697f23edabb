"""Images: model inputs to displayable RGB, heatmaps coloured and blended over them.

Every function is pure over NumPy arrays (Pillow only resizes); see
:mod:`keras_viz.render` for the conventions.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image

from keras_viz.render._checks import _check_positive_int, _finite_float_array
from keras_viz.render.colour import (
    _DEFAULT_DIVERGING,
    _DEFAULT_SEQUENTIAL,
    _DIVERGING,
    _apply_colormap,
    _check_colormap_name,
    _rescale,
    normalize,
)

__all__ = [
    "heatmap_to_rgb",
    "overlay",
    "sequence_strip",
    "to_uint8_image",
]


def _check_alpha(alpha: float) -> float:
    """Checks that ``alpha`` is a number in [0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(
            f"`alpha` must be a number in [0, 1]; received alpha={alpha!r}."
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must be in [0, 1]; received alpha={alpha!r}.")
    return float(alpha)


def _as_channels_last(array: np.ndarray, name: str) -> np.ndarray:
    """Returns an ``(H, W, C)`` view of an ``(H, W)`` or ``(H, W, C)`` array."""
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3 or array.shape[-1] not in (1, 3):
        raise ValueError(
            f"`{name}` must have shape (H, W), (H, W, 1) or (H, W, 3); "
            f"received shape {array.shape}."
        )
    return array


def _grey_to_rgb(image: np.ndarray) -> np.ndarray:
    """Repeats a single channel three times; leaves RGB unchanged."""
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def _unit_to_uint8(values: np.ndarray) -> np.ndarray:
    """Maps floats in [0, 1] (clipped) to uint8 in [0, 255]."""
    return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_value_range(value_range: tuple[float, float]) -> tuple[float, float]:
    """Checks that ``value_range`` is a finite pair ``(lo, hi)`` with lo < hi."""
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(
            "`value_range` must be a pair (lo, hi); received "
            f"value_range={value_range!r}."
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(
            "`value_range` must be finite with lo < hi; received "
            f"value_range={value_range!r}."
        )
    return lo, hi


def _is_displayable_integer(array: np.ndarray) -> bool:
    """Whether ``array`` is of integer dtype with all values in [0, 255]."""
    return (
        array.dtype.kind in "iu"
        and int(array.min()) >= 0
        and int(array.max()) <= 255
    )


def to_uint8_image(
    image: ArrayLike, *, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """Converts a model input image to displayable RGB uint8.

    The scaling rule, in order:

    1. ``value_range=(lo, hi)`` given: ``lo`` maps to 0 and ``hi`` to 255,
       values outside are clipped. Use this for known preprocessing, e.g.
       ``(-1, 1)`` or ``(0, 1)``.
    2. Integer dtype with all values in ``[0, 255]``: kept as they are.
    3. Otherwise min-max scaling to ``[0, 255]``; a constant image becomes
       black.

    Args:
        image: Numeric array of shape ``(H, W)``, ``(H, W, 1)`` or
            ``(H, W, 3)``. One channel is shown as grey.
        value_range: Optional ``(lo, hi)`` range of the input values.

    Returns:
        A uint8 array of shape ``(H, W, 3)``.

    Raises:
        TypeError: If ``image`` is not numeric.
        ValueError: If ``image`` has an unsupported shape, is empty or holds
            NaN/infinity, or ``value_range`` is not a finite ``(lo, hi)``
            pair with ``lo < hi``.
    """
    raw = np.asarray(image)
    values = _as_channels_last(_finite_float_array(raw, "image"), "image")
    if value_range is not None:
        lo, hi = _check_value_range(value_range)
        return _grey_to_rgb(_unit_to_uint8((values - lo) / (hi - lo)))
    if _is_displayable_integer(raw):
        return _grey_to_rgb(values.astype(np.uint8))
    unit = _rescale(values, float(values.min()), float(values.max()))
    return _grey_to_rgb(_unit_to_uint8(unit))


def _resize_float(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resizes a 2-D float map to ``size = (H, W)``."""
    if values.shape == size:
        return values
    picture = Image.fromarray(values.astype(np.float32))  # Pillow mode "F".
    resized = picture.resize((size[1], size[0]), resample=Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def _resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resizes an ``(h, w, 3)`` uint8 picture to ``size = (H, W)``."""
    if rgb.shape[:2] == size:
        return rgb
    picture = Image.fromarray(rgb).resize(
        (size[1], size[0]), resample=Image.Resampling.BILINEAR
    )
    return np.asarray(picture, dtype=np.uint8)


def _is_coloured(heatmap: np.ndarray) -> bool:
    """Whether ``heatmap`` is an already coloured ``(h, w, 3)`` uint8 picture."""
    return heatmap.dtype == np.uint8 and heatmap.ndim == 3 and heatmap.shape[-1] == 3


def _heat_colour_and_weight(
    heatmap: np.ndarray, size: tuple[int, int], name: str, percentile: float
) -> tuple[np.ndarray, np.ndarray]:
    """Colours a raw map at ``size`` and returns ``(colour, blend weight)``."""
    if heatmap.ndim == 3 and heatmap.shape[-1] == 1:
        heatmap = heatmap[..., 0]
    if heatmap.ndim != 2:
        raise ValueError(
            "`heatmap` must have shape (h, w) (raw) or (h, w, 3) uint8 (coloured); "
            f"received shape {heatmap.shape} with dtype {heatmap.dtype}."
        )
    signed = name in _DIVERGING
    heat = normalize(heatmap, percentile=percentile, symmetric=signed)
    heat = _resize_float(heat, size)
    weight = np.abs(heat) if signed else heat
    return _apply_colormap(heat, name).astype(np.float64), weight[..., np.newaxis]


def overlay(
    image: ArrayLike,
    heatmap: ArrayLike,
    *,
    alpha: float = 0.5,
    colormap: str = "viridis",
    percentile: float = 99.0,
) -> np.ndarray:
    """Blends a heatmap over an image.

    ``out = (1 - alpha * w) * image + alpha * w * colour``, where ``w`` is the
    normalised heat of each pixel for a raw heatmap (so cold regions keep the
    image and only hot regions are tinted; for a diverging colour map ``w`` is
    ``|heat|``) and ``w = 1`` for an already coloured heatmap (a plain alpha
    blend). With ``alpha=0`` the image is returned unchanged (as RGB uint8).

    A raw heatmap is normalised with `normalize` (symmetrically when the colour
    map is diverging) and resized bilinearly to the image size, which is how a
    low-resolution Grad-CAM map is upsampled.

    Args:
        image: Model input image; anything `to_uint8_image` accepts (it is
            min-max scaled unless of integer dtype in ``[0, 255]``).
        heatmap: Raw float map of shape ``(h, w)`` or ``(h, w, 1)``, or an
            already coloured uint8 ``(h, w, 3)`` picture. Any ``(h, w)`` is
            resized to the image's ``(H, W)``.
        alpha: Opacity of the heatmap in ``[0, 1]``. Defaults to 0.5.
        colormap: Colour map for a raw heatmap, one of `available_colormaps`.
            Defaults to ``"viridis"``.
        percentile: Clipping percentile for `normalize`. Defaults to 99.0.

    Returns:
        A uint8 array of shape ``(H, W, 3)``.

    Raises:
        TypeError: If an array is not numeric or ``alpha`` is not a number.
        ValueError: If ``alpha`` is outside ``[0, 1]``, ``colormap`` is
            unknown, or an array has an unsupported shape or non-finite values.
    """
    alpha = _check_alpha(alpha)
    name = _check_colormap_name(colormap)
    base = to_uint8_image(image)
    size = base.shape[:2]
    heat = np.asarray(heatmap)
    if _is_coloured(heat):
        colour = _resize_rgb(heat, size).astype(np.float64)
        weight = np.ones(size + (1,))
    else:
        colour, weight = _heat_colour_and_weight(heat, size, name, percentile)
    mix = alpha * weight
    blended = (1.0 - mix) * base.astype(np.float64) + mix * colour
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _resolve_signed_display(
    values: np.ndarray, colormap: str | None, symmetric: bool | None
) -> tuple[str, bool]:
    """Picks the colour map and normalisation for `heatmap_to_rgb`."""
    if symmetric is None:
        symmetric = bool(values.min() < 0.0)
    if colormap is None:
        colormap = _DEFAULT_DIVERGING if symmetric else _DEFAULT_SEQUENTIAL
    return _check_colormap_name(colormap), bool(symmetric)


def heatmap_to_rgb(
    heatmap: ArrayLike,
    *,
    colormap: str | None = None,
    percentile: float = 99.0,
    symmetric: bool | None = None,
) -> np.ndarray:
    """Normalises a raw map and colours it.

    Rules:

    * ``symmetric=None`` (auto) means symmetric when the map has any negative
      value (``heatmap.min() < 0``).
    * ``colormap=None`` picks ``"RdBu_r"`` (diverging) for symmetric maps and
      ``"viridis"`` otherwise.
    * A symmetric map shown with a sequential colour map is shifted from
      ``[-1, 1]`` to ``[0, 1]`` (so 0 lands mid-scale and the sign stays
      visible); an unsigned map shown with a diverging map uses its
      white-to-red half.

    Args:
        heatmap: Numeric array, typically ``(H, W)``; any shape works.
        colormap: One of `available_colormaps`, or None for the rule above.
        percentile: Clipping percentile for `normalize`. Defaults to 99.0.
        symmetric: Whether to normalise symmetrically; None for auto.

    Returns:
        A uint8 array of shape ``heatmap.shape + (3,)``, e.g. ``(H, W, 3)``.

    Raises:
        TypeError: If ``heatmap`` is not numeric.
        ValueError: If ``heatmap`` is empty or not finite, ``colormap`` is
            unknown or ``percentile`` is out of range.
    """
    values = _finite_float_array(heatmap, "heatmap")
    name, symmetric = _resolve_signed_display(values, colormap, symmetric)
    normalised = normalize(values, percentile=percentile, symmetric=symmetric)
    if symmetric and name not in _DIVERGING:
        normalised = (normalised + 1.0) / 2.0
    return _apply_colormap(normalised, name)


def sequence_strip(
    values: ArrayLike,
    *,
    height: int = 16,
    colormap: str | None = None,
    percentile: float = 99.0,
    symmetric: bool | None = None,
) -> np.ndarray:
    """Shows a 1-D map (e.g. per-token or per-time-step attribution) as a strip.

    The values are coloured with `heatmap_to_rgb` (same ``colormap``,
    ``percentile`` and ``symmetric`` rules) and repeated over ``height`` rows.

    Args:
        values: Numeric array of shape ``(T,)``.
        height: Height of the strip in pixels. Defaults to 16.
        colormap: Colour map name, or None for the `heatmap_to_rgb` default.
        percentile: Clipping percentile for `normalize`. Defaults to 99.0.
        symmetric: Whether to normalise symmetrically; None for auto.

    Returns:
        A uint8 array of shape ``(height, T, 3)``.

    Raises:
        TypeError: If ``values`` is not numeric.
        ValueError: If ``values`` is not 1-D, ``height`` is not a positive
            integer, or `heatmap_to_rgb` rejects the arguments.
    """
    height = _check_positive_int(height, "height")
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"`values` must have shape (T,); received shape {array.shape}."
        )
    row = heatmap_to_rgb(
        array, colormap=colormap, percentile=percentile, symmetric=symmetric
    )
    return np.repeat(row[np.newaxis], height, axis=0)
