"""The core of rendering: normalise, colour, overlay, tile.

Every function is pure over NumPy arrays (Pillow only resizes and draws text); see
:mod:`keras_viz.render` for the conventions.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "available_colormaps",
    "colormap",
    "grid",
    "heatmap_to_rgb",
    "normalize",
    "normalize_batch",
    "overlay",
    "sequence_strip",
    "to_pil",
    "to_uint8_image",
]


def _hex_anchors(*codes: str) -> tuple[tuple[int, int, int], ...]:
    """Turns ``"#RRGGBB"`` strings into RGB integer triples."""
    return tuple(
        (int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16))
        for code in codes
    )


# Anchor colours sampled at evenly spaced positions of the published maps
# (viridis/magma/inferno: van der Walt & Smith, matplotlib 2.0; coolwarm:
# Moreland 2009; RdBu: ColorBrewer, reversed so that low = blue). Colours in
# between are interpolated linearly, which is accurate to a few RGB levels.
_COLORMAP_ANCHORS: Mapping[str, tuple[tuple[int, int, int], ...]] = MappingProxyType(
    {
        "viridis": _hex_anchors(
            "#440154", "#472D7B", "#3B528B", "#2C728E", "#21908C",
            "#27AD81", "#5DC863", "#AADC32", "#FDE725",
        ),
        "magma": _hex_anchors(
            "#000004", "#1D1147", "#51127C", "#822681", "#B63679",
            "#E65164", "#FB8861", "#FEC287", "#FCFDBF",
        ),
        "inferno": _hex_anchors(
            "#000004", "#1F0C48", "#550F6D", "#88226A", "#BA3655",
            "#E35932", "#F98C0A", "#F9C932", "#FCFFA4",
        ),
        "gray": ((0, 0, 0), (255, 255, 255)),
        "coolwarm": (
            (59, 76, 192), (98, 130, 234), (141, 176, 254), (184, 208, 249),
            (221, 221, 221), (245, 196, 173), (244, 154, 123), (222, 96, 77),
            (180, 4, 38),
        ),
        "RdBu_r": _hex_anchors(
            "#053061", "#2166AC", "#4393C3", "#92C5DE", "#D1E5F0", "#F7F7F7",
            "#FDDBC7", "#F4A582", "#D6604D", "#B2182B", "#67001F",
        ),
    }
)

# Diverging maps read values in [-1, 1]; the rest read values in [0, 1].
_DIVERGING = frozenset({"coolwarm", "RdBu_r"})

# Colour map used by heatmap_to_rgb / overlay when none is named.
_DEFAULT_SEQUENTIAL = "viridis"
_DEFAULT_DIVERGING = "RdBu_r"


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #


def _finite_float_array(value: ArrayLike, name: str) -> np.ndarray:
    """Returns ``value`` as a non-empty, finite float64 array.

    Raises:
        TypeError: If ``value`` is not numeric.
        ValueError: If ``value`` is empty or holds NaN or infinity.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"`{name}` must be a numeric array; received dtype {array.dtype}."
        )
    if array.size == 0:
        raise ValueError(f"`{name}` must not be empty; received shape {array.shape}.")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(
            f"`{name}` must be finite; received {bad} NaN or infinite value(s) "
            f"in an array of shape {array.shape}."
        )
    return array


def _check_percentile(percentile: float, symmetric: bool) -> float:
    """Checks that ``percentile`` lies in (0, 100] (and >= 50 for two tails)."""
    if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real):
        raise TypeError(
            f"`percentile` must be a number in (0, 100]; received "
            f"percentile={percentile!r}."
        )
    if not 0.0 < percentile <= 100.0:
        raise ValueError(
            f"`percentile` must be in (0, 100]; received percentile={percentile!r}."
        )
    if not symmetric and percentile < 50.0:
        # Non-symmetric normalisation clips both tails, at (100 - p) and p.
        raise ValueError(
            "`percentile` must be in [50, 100] when symmetric=False, because the "
            f"map is clipped at the (100 - p)th and pth percentiles; received "
            f"percentile={percentile!r}."
        )
    return float(percentile)


def _check_positive_int(value: int, name: str) -> int:
    """Checks that ``value`` is an integer >= 1 (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer; received {name}={value!r}."
        )
    return int(value)


def _check_non_negative_int(value: int, name: str) -> int:
    """Checks that ``value`` is an integer >= 0 (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer; received {name}={value!r}."
        )
    return int(value)


def _check_alpha(alpha: float) -> float:
    """Checks that ``alpha`` is a number in [0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(
            f"`alpha` must be a number in [0, 1]; received alpha={alpha!r}."
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must be in [0, 1]; received alpha={alpha!r}.")
    return float(alpha)


def _check_colormap_name(name: str) -> str:
    """Checks that ``name`` is a known colour map name."""
    if not isinstance(name, str):
        raise TypeError(
            f"Colour map name must be a string; received {name!r}. "
            f"Available colour maps: {', '.join(available_colormaps())}."
        )
    if name not in _COLORMAP_ANCHORS:
        raise ValueError(
            f"Unknown colour map {name!r}. Available colour maps: "
            f"{', '.join(available_colormaps())}."
        )
    return name


# --------------------------------------------------------------------------- #
# Normalisation
# --------------------------------------------------------------------------- #


def _rescale(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Maps ``[lo, hi]`` to ``[0, 1]`` with clipping; zeros when ``hi <= lo``."""
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.float32)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _normalize_unsigned(values: np.ndarray, percentile: float) -> np.ndarray:
    """Clips both tails at the (100 - p) and p percentiles, maps to [0, 1]."""
    lo, hi = np.percentile(values, [100.0 - percentile, percentile])
    if hi <= lo:
        # The clipping window collapsed (e.g. a few hot pixels among many
        # zeros): fall back to min-max so the hot pixels stay visible.
        lo, hi = values.min(), values.max()
    return _rescale(values, float(lo), float(hi))


def _normalize_symmetric(values: np.ndarray, percentile: float) -> np.ndarray:
    """Divides by the p-th percentile of ``|values|``, clips to [-1, 1]."""
    magnitude = np.abs(values)
    scale = float(np.percentile(magnitude, percentile))
    if scale <= 0.0:
        # Same fallback as the unsigned case; callers exclude all-zero maps.
        scale = float(magnitude.max())
    return np.clip(values / scale, -1.0, 1.0).astype(np.float32)


def normalize(
    heatmap: ArrayLike, *, percentile: float = 99.0, symmetric: bool = False
) -> np.ndarray:
    """Normalises one attribution map (of any shape) for display.

    The whole array is treated as one map; use `normalize_batch` to normalise
    each map of a batch on its own.

    * ``symmetric=False``: values are clipped between the ``100 - percentile``
      and the ``percentile`` percentiles and mapped linearly to ``[0, 1]``
      (``percentile=100`` is plain min-max scaling).
    * ``symmetric=True``: values are divided by the ``percentile`` percentile
      of ``|heatmap|`` and clipped to ``[-1, 1]``, so 0 stays 0 and the sign
      is kept.

    If the clipping window collapses (for example 99% zeros and a few hot
    pixels) the full range is used instead. A constant map returns zeros in
    both modes (it carries no spatial information), without dividing by zero.

    Args:
        heatmap: Numeric array, e.g. ``(H, W)`` or ``(T,)``.
        percentile: Percentile in ``(0, 100]`` at which outliers are clipped;
            at least 50 when ``symmetric=False``. Defaults to 99.0.
        symmetric: Whether to keep the sign and return values in ``[-1, 1]``.
            Defaults to False.

    Returns:
        A float32 array of the same shape, in ``[0, 1]`` (or ``[-1, 1]`` when
        ``symmetric``).

    Raises:
        TypeError: If ``heatmap`` is not numeric or ``percentile`` is not a
            number.
        ValueError: If ``heatmap`` is empty or holds NaN/infinity, or if
            ``percentile`` is out of range.
    """
    percentile = _check_percentile(percentile, symmetric)
    values = _finite_float_array(heatmap, "heatmap")
    if values.min() == values.max():
        # A constant map carries no spatial information in either mode.
        return np.zeros(values.shape, dtype=np.float32)
    if symmetric:
        return _normalize_symmetric(values, percentile)
    return _normalize_unsigned(values, percentile)


def normalize_batch(
    maps: ArrayLike, *, percentile: float = 99.0, symmetric: bool = False
) -> np.ndarray:
    """Normalises each map of a batch independently (see `normalize`).

    Args:
        maps: Numeric array of shape ``(N, ...)`` with at least two dimensions,
            e.g. ``(N, H, W)`` or ``(N, T)``.
        percentile: Passed to `normalize`. Defaults to 99.0.
        symmetric: Passed to `normalize`. Defaults to False.

    Returns:
        A float32 array of the same shape as ``maps``.

    Raises:
        TypeError: If ``maps`` is not numeric or ``percentile`` is not a number.
        ValueError: If ``maps`` has fewer than two dimensions, is empty, holds
            NaN/infinity, or ``percentile`` is out of range.
    """
    percentile = _check_percentile(percentile, symmetric)
    batch = _finite_float_array(maps, "maps")
    if batch.ndim < 2:
        raise ValueError(
            "`maps` must be a batch of shape (N, ...) with at least 2 dimensions; "
            f"received shape {batch.shape}."
        )
    return np.stack(
        [normalize(one, percentile=percentile, symmetric=symmetric) for one in batch]
    )


# --------------------------------------------------------------------------- #
# Colour maps
# --------------------------------------------------------------------------- #


def available_colormaps() -> tuple[str, ...]:
    """Returns the names accepted by `colormap`, sorted.

    Returns:
        A tuple of colour map names. ``coolwarm`` and ``RdBu_r`` are diverging
        (input range ``[-1, 1]``); the others are sequential (``[0, 1]``).
    """
    return tuple(sorted(_COLORMAP_ANCHORS))


def _apply_colormap(values: np.ndarray, name: str) -> np.ndarray:
    """Interpolates the anchors of colour map ``name`` at finite ``values``."""
    anchors = np.asarray(_COLORMAP_ANCHORS[name], dtype=np.float64)
    if name in _DIVERGING:
        positions = (np.clip(values, -1.0, 1.0) + 1.0) / 2.0
    else:
        positions = np.clip(values, 0.0, 1.0)
    flat = positions.reshape(-1)
    stops = np.linspace(0.0, 1.0, len(anchors))
    channels = [np.interp(flat, stops, anchors[:, c]) for c in range(3)]
    rgb = np.rint(np.stack(channels, axis=-1)).astype(np.uint8)
    return rgb.reshape(positions.shape + (3,))


def colormap(values: ArrayLike, name: str = "viridis") -> np.ndarray:
    """Maps values to RGB colours with a named colour map.

    Sequential maps read values in ``[0, 1]``; diverging maps (``coolwarm``,
    ``RdBu_r``) read values in ``[-1, 1]``, with -1 blue, 0 white (light grey
    for ``coolwarm``) and +1 red. Values outside the range are clipped.

    Args:
        values: Numeric array of any shape.
        name: One of `available_colormaps`. Defaults to ``"viridis"``.

    Returns:
        A uint8 array of shape ``values.shape + (3,)``.

    Raises:
        TypeError: If ``values`` is not numeric or ``name`` is not a string.
        ValueError: If ``name`` is unknown, or ``values`` is empty or holds
            NaN/infinity.
    """
    name = _check_colormap_name(name)
    return _apply_colormap(_finite_float_array(values, "values"), name)


# --------------------------------------------------------------------------- #
# Images
# --------------------------------------------------------------------------- #


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


# --------------------------------------------------------------------------- #
# Grids
# --------------------------------------------------------------------------- #


def _tile_to_rgb(tile: ArrayLike, name: str) -> np.ndarray:
    """Converts one grid tile (uint8/int in [0, 255] or float in [0, 1]) to RGB."""
    array = np.asarray(tile)
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"`{name}` must be uint8 or float in [0, 1]; received dtype {array.dtype}."
        )
    values = _as_channels_last(_finite_float_array(array, name), name)
    low, high = (0.0, 1.0) if array.dtype.kind == "f" else (0.0, 255.0)
    if values.min() < low or values.max() > high:
        raise ValueError(
            f"`{name}` must hold values in [{low:g}, {high:g}] for dtype "
            f"{array.dtype}; received values in [{values.min():g}, "
            f"{values.max():g}]. Convert it first with to_uint8_image or "
            "heatmap_to_rgb."
        )
    if array.dtype.kind == "f":
        return _grey_to_rgb(_unit_to_uint8(values))
    return _grey_to_rgb(values.astype(np.uint8))


def _check_background(background: int | Sequence[int]) -> np.ndarray:
    """Checks a grey level or RGB triple in [0, 255]; returns an RGB array."""
    colour = np.asarray(background)
    valid_shape = colour.shape in ((), (3,))
    if (
        not valid_shape
        or colour.dtype.kind not in "iu"
        or colour.min() < 0
        or colour.max() > 255
    ):
        raise ValueError(
            "`background` must be an integer grey level or an (R, G, B) triple "
            f"in [0, 255]; received background={background!r}."
        )
    return np.broadcast_to(colour, (3,)).astype(np.uint8)


def _label_strip_height(label_height: int | None, has_labels: bool) -> int:
    """Label strip height: as given, else one text line (0 without labels)."""
    if label_height is not None:
        return _check_non_negative_int(label_height, "label_height")
    if not has_labels:
        return 0
    bottom = _default_font().getbbox("Ag")[3]
    return int(bottom) + 4  # A small margin above and below the text.


def _label_strip(
    text: str,
    size: tuple[int, int],
    background: np.ndarray,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont | None = None,
) -> np.ndarray:
    """Draws ``text`` centred in its own ``(height, width)`` strip (clipped).

    The default font is used; ``font`` is accepted for the callers' convenience only.
    """
    return _cached_label_strip(text, tuple(size), tuple(int(c) for c in background)).copy()


@functools.lru_cache(maxsize=4096)
def _cached_label_strip(text: str, size: tuple[int, int], background: tuple[int, ...]) -> np.ndarray:
    # Callbacks redraw the same labels every epoch ("f3 c1", "sample 0"); text rendering
    # is most of the cost of a labelled grid, so strips are cached by value.
    height, width = size
    strip = Image.new("RGB", (width, height), background)
    # Dark text on light backgrounds, light text on dark ones.
    ink = (0, 0, 0) if sum(background) / len(background) >= 128 else (255, 255, 255)
    draw = ImageDraw.Draw(strip)
    font = _default_font()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = max((width - (right - left)) // 2 - left, 0)
    y = (height - (bottom - top)) // 2 - top
    draw.text((x, y), text, fill=ink, font=font)
    return np.asarray(strip, dtype=np.uint8)


@functools.lru_cache(maxsize=1)
def _default_font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _grid_columns(columns: int | None, count: int) -> int:
    """Number of columns: ``ceil(sqrt(count))`` by default, at most ``count``."""
    if columns is None:
        return math.ceil(math.sqrt(count))
    return min(_check_positive_int(columns, "columns"), count)


def _check_labels(labels: Sequence[object] | None, count: int) -> list[str] | None:
    """Checks that there is one label per image; returns them as strings."""
    if labels is None:
        return None
    if isinstance(labels, str):
        raise TypeError(
            f"`labels` must be a sequence of strings, not one string; received "
            f"labels={labels!r}."
        )
    labels = list(labels)
    if len(labels) != count:
        raise ValueError(
            f"`labels` must have one entry per image: received len(labels)="
            f"{len(labels)} for len(images)={count}."
        )
    return [str(label) for label in labels]


def grid(
    images: Sequence[ArrayLike] | np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    columns: int | None = None,
    padding: int = 2,
    background: int | Sequence[int] = 255,
    label_height: int | None = None,
    scale: int = 1,
) -> np.ndarray:
    """Tiles images into one labelled picture.

    Each image is upscaled by ``scale`` (nearest neighbour, so an 8x8 map
    stays crisp) and placed at the top-left of a cell as large as the largest
    scaled image. Cells are laid out row by row, separated and surrounded by
    ``padding`` pixels of ``background``. With labels, a strip of
    ``label_height`` pixels under each cell holds its label, drawn with
    Pillow's default font and clipped to the cell width. The output size is::

        width  = columns * cell_w + (columns + 1) * padding
        height = rows * (cell_h + label_height) + (rows + 1) * padding

    with ``rows = ceil(len(images) / columns)``.

    Args:
        images: Non-empty list (or ``(N, ...)`` array) of images of shape
            ``(h, w)``, ``(h, w, 1)`` or ``(h, w, 3)``; integer dtype with
            values in ``[0, 255]`` or float in ``[0, 1]``.
        labels: Optional text per image (converted with ``str``).
        columns: Number of columns; defaults to ``ceil(sqrt(N))`` and is
            capped at ``N``.
        padding: Pixels between and around cells. Defaults to 2.
        background: Grey level or ``(R, G, B)`` for padding, empty cell area
            and label strips. Defaults to 255 (white). Labels are drawn black
            on light backgrounds and white on dark ones.
        label_height: Height of the label strip in pixels. Defaults to one
            line of the default font plus a margin when ``labels`` is given,
            and to 0 (no strip) without labels; an explicit value without
            labels leaves a blank strip.
        scale: Integer upscaling factor of every tile. Defaults to 1.

    Returns:
        A uint8 array of shape ``(height, width, 3)``.

    Raises:
        TypeError: If an image has a non-numeric dtype or ``labels`` is a
            single string.
        ValueError: If ``images`` is empty, an image has an unsupported shape
            or value range, ``len(labels) != len(images)``, or ``columns``,
            ``padding``, ``label_height``, ``scale`` or ``background`` are
            invalid.
    """
    if len(images) == 0:
        raise ValueError("`images` must hold at least one image; received none.")
    tiles = [_tile_to_rgb(image, f"images[{i}]") for i, image in enumerate(images)]
    texts = _check_labels(labels, len(tiles))
    cols = _grid_columns(columns, len(tiles))
    padding = _check_non_negative_int(padding, "padding")
    scale = _check_positive_int(scale, "scale")
    fill = _check_background(background)
    strip_h = _label_strip_height(label_height, texts is not None)

    tiles = [tile.repeat(scale, axis=0).repeat(scale, axis=1) for tile in tiles]
    cell_h = max(tile.shape[0] for tile in tiles)
    cell_w = max(tile.shape[1] for tile in tiles)
    rows = math.ceil(len(tiles) / cols)
    out = np.empty(
        (
            rows * (cell_h + strip_h) + (rows + 1) * padding,
            cols * cell_w + (cols + 1) * padding,
            3,
        ),
        dtype=np.uint8,
    )
    out[...] = fill
    font = _default_font() if texts and strip_h else None
    for index, tile in enumerate(tiles):
        row, col = divmod(index, cols)
        top = padding + row * (cell_h + strip_h + padding)
        left = padding + col * (cell_w + padding)
        out[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
        if font is not None:
            strip = _label_strip(texts[index], (strip_h, cell_w), fill, font)
            out[top + cell_h : top + cell_h + strip_h, left : left + cell_w] = strip
    return out


def to_pil(array: ArrayLike) -> Image.Image:
    """Wraps a uint8 picture in a Pillow image (for saving or display).

    Args:
        array: uint8 array of shape ``(H, W)`` (mode ``L``), ``(H, W, 1)``
            (mode ``L``), ``(H, W, 3)`` (``RGB``) or ``(H, W, 4)`` (``RGBA``).

    Returns:
        A `PIL.Image.Image` holding a copy of the pixels.

    Raises:
        TypeError: If ``array`` is not uint8 (convert floats first with
            `to_uint8_image` or `heatmap_to_rgb`).
        ValueError: If ``array`` has an unsupported shape.
    """
    pixels = np.asarray(array)
    if pixels.dtype != np.uint8:
        raise TypeError(
            f"`array` must be uint8; received dtype {pixels.dtype}. Convert it "
            "first with to_uint8_image or heatmap_to_rgb."
        )
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[-1] in (3, 4))):
        raise ValueError(
            "`array` must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
            f"received shape {np.shape(array)}."
        )
    # A private copy: Pillow may share the buffer of some modes (e.g. "L").
    return Image.fromarray(np.array(pixels, order="C", copy=True))
