"""Localisation: does an explanation map point at the object (or at the confound)?

Both metrics compare maps with ground-truth masks (an object's pixels, a watermark's,
a bounding box) and are pure NumPy, so they score any method's maps, ours or not.

* Pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop",
  ECCV 2016): a hit when the map's maximum lies on the mask, or within a tolerance of it
  (they use 15 pixels at 224 px). A flat map (every pixel equal: no maximum to point
  with, e.g. a Grad-CAM map that its ReLU zeroed) is a miss; :func:`flat_maps` counts them.
* Energy in mask: the share of the map's positive mass that falls inside the mask (the
  "energy-based pointing game" of Wang et al., "Score-CAM", CVPR-W 2020).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from keras_viz._checks import check_number

__all__ = ["energy_in_mask", "flat_maps", "pointing_game"]


def _as_maps(maps: Any, masks: Any = None, argument: str = "maps") -> np.ndarray:
    """Maps as float64 ``(N, ...)``; ``masks`` (when given) only sharpens the shape error."""
    array = np.asarray(maps)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(f"`{argument}` must hold numbers; received dtype {array.dtype}.")
    mask_shape = None if masks is None else tuple(np.shape(masks))
    matches = mask_shape is None or mask_shape in (array.shape, array.shape[1:])
    if not matches and array.ndim >= 3 and mask_shape in (array.shape[:-1], array.shape[1:-1]):
        raise ValueError(
            f"`{argument}` has shape {array.shape}: the masks' shape plus a channel axis. Reduce "
            f"the channels first (np.abs(maps).max(axis=-1), or the explainer's `reduce=`)."
        )
    if array.ndim not in (2, 3):
        raise ValueError(
            f"`{argument}` must be a batch of 2-D maps (N, H, W) or 1-D maps (N, T); "
            f"received shape {array.shape}."
        )
    if array.shape[0] == 0:
        raise ValueError(f"`{argument}` is an empty batch (shape {array.shape}).")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array).reshape(len(array), -1).all(axis=1)
    if bad.any():
        raise ValueError(f"`{argument}`[{int(np.flatnonzero(bad)[0])}] holds NaN or infinite values.")
    return array


def _as_masks(masks: Any, shape: tuple[int, ...], argument: str = "masks") -> np.ndarray:
    """Masks as a bool array shaped like the maps; one mask without a batch axis is shared."""
    array = np.asarray(masks)
    if array.dtype != bool:
        if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
            raise TypeError(
                f"`{argument}` must be boolean (or 0/1) masks; received dtype {array.dtype}"
                + (" with values other than 0 and 1." if array.dtype.kind in "iuf" else ".")
            )
        array = array.astype(bool)
    if array.shape == shape[1:]:
        array = np.broadcast_to(array, shape)
    if array.shape != shape:
        raise ValueError(
            f"`{argument}` must have the maps' shape {shape} (or {shape[1:]} for one mask shared "
            f"by every map); received shape {array.shape}."
        )
    empty = ~array.reshape(len(array), -1).any(axis=1)
    if empty.any():
        raise ValueError(
            f"`{argument}`[{int(np.flatnonzero(empty)[0])}] is empty (no pixel is True): a map "
            f"cannot point at nothing. Leave such samples out."
        )
    return array


def _boundary(region: np.ndarray) -> np.ndarray:
    """Pixels of ``region`` with a 4-neighbour (or the image edge) outside it."""
    inner = region.copy()
    for axis in range(region.ndim):
        for shift in (1, -1):
            moved = np.roll(region, shift, axis=axis)
            edge = [slice(None)] * region.ndim
            edge[axis] = 0 if shift == 1 else -1
            moved[tuple(edge)] = False  # no wrap-around: outside the image counts as outside
            inner &= moved
    return region & ~inner


def _nearest_distance_sq(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest squared Euclidean distance between a pixel of ``a`` and one of ``b`` (disjoint).

    The closest pair of two disjoint pixel sets lies on their boundaries (from an interior
    pixel, the 4-neighbour towards the other set is closer), so only boundaries are compared.
    """
    points_a = np.argwhere(_boundary(a)).astype(np.float64)
    points_b = np.argwhere(_boundary(b)).astype(np.float64)
    best = math.inf
    chunk = max(1, 2_000_000 // max(1, len(points_b)))
    for start in range(0, len(points_a), chunk):
        part = points_a[start : start + chunk]
        squared = ((part[:, None, :] - points_b[None, :, :]) ** 2).sum(axis=-1)
        best = min(best, float(squared.min()))
    return best


def check_tolerance(tolerance: Any) -> float:
    """A pointing-game tolerance in pixels: a finite number >= 0 (TypeError for a non-number)."""
    return check_number(tolerance, "tolerance", low=0.0)


def flat_maps(maps: Any) -> np.ndarray:
    """Which maps are flat: every value equal (``max == min``), so they point nowhere.

    A Grad-CAM map whose weighted sum is negative everywhere is all zeros after its ReLU;
    a gradient that does not reach the input is all zeros. Such a map has no maximum to
    point with: :func:`pointing_game` scores it a miss, and a deletion/insertion curve of
    it only measures the row-major pixel order. Report their share beside those scores.

    Args:
        maps: ``(N, H, W)`` (or ``(N, T)``) maps, any real values.

    Returns:
        ``(N,)`` bool array.

    Raises:
        ValueError: not a batch of 2-D or 1-D maps, or a map holds NaN.
        TypeError: maps that do not hold numbers.
    """
    array = _as_maps(maps)
    flat = array.reshape(len(array), -1)
    return flat.max(axis=1) == flat.min(axis=1)


def pointing_game(maps: Any, masks: Any, *, tolerance: float = 0) -> np.ndarray:
    """Pointing game: whether each map's maximum lies on (or near) its mask.

    Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016.

    A sample is a *hit* when at least one pixel where the map reaches its maximum lies
    within ``tolerance`` pixels (Euclidean distance between pixel centres) of a mask pixel;
    with ``tolerance=0`` the maximum must be on the mask. Every pixel that ties for the
    maximum counts. A *flat* map (all pixels equal, see :func:`flat_maps`) is a miss: its
    "maximum" is everywhere, so counting it would score an all-zero map as a hit on any
    mask (on an untrained shapes CNN a third of Grad-CAM's maps are flat). Still compare
    with a random map (see the examples) before reading much into a score.

    Args:
        maps: ``(N, H, W)`` (or ``(N, T)``) explanation maps, any real values.
        masks: boolean (or 0/1) masks of the same shape, or one ``(H, W)`` mask for every map.
        tolerance: pixels of slack, a number >= 0. Zhang et al. use 15 px at 224 px; scale it
            with the image size (2 px at 32 px).

    Returns:
        ``(N,)`` bool array; its mean is the pointing-game accuracy (flat maps count as
        misses: ``flat_maps(maps).mean()`` says how many there were).

    Raises:
        ValueError: shapes differ, a mask is empty, a map holds NaN, or ``tolerance`` < 0.
        TypeError: maps or masks of the wrong type.

    Example:
        >>> maps = kv.GradCAM(model)(x, y)
        >>> hits = kv.metrics.pointing_game(maps, data.masks, tolerance=2)
        >>> hits.mean(), kv.metrics.flat_maps(maps).mean()
    """
    tolerance = check_tolerance(tolerance)
    array = _as_maps(maps, masks)
    regions = _as_masks(masks, array.shape)
    axes = tuple(range(1, array.ndim))
    peaks = array == array.max(axis=axes, keepdims=True)
    flat = array.max(axis=axes) == array.min(axis=axes)
    hits = np.zeros(len(array), dtype=bool)
    for index, (peak, region) in enumerate(zip(peaks, regions)):
        if flat[index]:
            continue  # no maximum to point with
        if (peak & region).any():
            hits[index] = True
        elif tolerance > 0:
            hits[index] = _nearest_distance_sq(peak, region) <= tolerance * tolerance
    return hits


def energy_in_mask(maps: Any, masks: Any) -> np.ndarray:
    """Share of each map's positive mass that lies inside its mask.

    ``sum(max(map, 0) · mask) / sum(max(map, 0))``, in ``[0, 1]``: 1 when all the positive
    attribution is on the mask, about ``mask.mean()`` for a uniform map. Negative values
    (evidence against the class, for signed maps) are left out. The energy-based pointing
    game of Wang et al., "Score-CAM", CVPR-W 2020.

    Args:
        maps: ``(N, H, W)`` (or ``(N, T)``) explanation maps.
        masks: boolean (or 0/1) masks of the same shape, or one ``(H, W)`` mask for every map.

    Returns:
        ``(N,)`` float64 array. A map without any positive value has no mass to share: its
        entry is NaN (use ``np.nanmean``).

    Raises:
        ValueError: shapes differ, a mask is empty, or a map holds NaN.
        TypeError: maps or masks of the wrong type.
    """
    array = _as_maps(maps, masks)
    regions = _as_masks(masks, array.shape)
    positive = np.maximum(array, 0.0).reshape(len(array), -1)
    inside = (positive * regions.reshape(len(array), -1)).sum(axis=1)
    total = positive.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
