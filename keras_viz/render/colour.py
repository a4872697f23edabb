"""Colour maps and normalisation: raw maps to values in [0, 1] or [-1, 1], then to RGB.

Every function is pure over NumPy arrays; see :mod:`keras_viz.render` for the
conventions (sequential maps read ``[0, 1]``, diverging maps ``[-1, 1]``).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from keras_viz.render._checks import _finite_float_array

__all__ = [
    "available_colormaps",
    "colormap",
    "normalize",
    "normalize_batch",
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
