"""The TensorFlow-Playground picture: a classifier's decision over a 2-D input plane.

Seed 004 ("Visualization of training") shows playground.tensorflow.org: the input plane
coloured by the class the network predicts there, more intense where it is more
confident, with the training points on top. This module draws that picture from a grid
of predicted probabilities (:func:`keras_viz.decision_boundary.decision_boundary`
computes one for a Keras model).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw

from keras_viz.render._checks import _check_positive_int, _finite_float_array

__all__ = ["class_colours", "decision_picture", "mix_class_colours"]

# The playground's orange (negative) and blue (positive), then a qualitative palette.
_PALETTE = np.array(
    [
        (245, 147, 34), (8, 119, 189), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    ],
    dtype=np.float64,
)
_WHITE = np.array([255.0, 255.0, 255.0])
_BOUNDARY = (40, 40, 40)


def class_colours(count: int) -> np.ndarray:
    """``count`` class colours, uint8 ``(count, 3)``: orange and blue first, as the playground."""
    count = _check_positive_int(count, "count")
    if count > len(_PALETTE):
        raise ValueError(f"`count` must be at most {len(_PALETTE)} classes; received count={count}.")
    return _PALETTE[:count].astype(np.uint8)


def mix_class_colours(probabilities: ArrayLike, colours: ArrayLike | None = None) -> np.ndarray:
    """The colour of each point of the plane from its class probabilities.

    With ``K`` classes the colour is the probability-weighted mean of the class colours,
    faded towards white by the confidence ``(max_k p_k - 1/K) / (1 - 1/K)``: white where
    the classes are tied, the pure class colour where the network is certain.

    Args:
        probabilities: ``(..., K)`` probabilities (rows sum to 1), K >= 2.
        colours: ``(K, 3)`` class colours (default :func:`class_colours`).

    Returns:
        uint8 ``(..., 3)``.
    """
    probs = _finite_float_array(probabilities, "probabilities")
    if probs.ndim < 1 or probs.shape[-1] < 2:
        raise ValueError(f"`probabilities` must be (..., K) with K >= 2; received shape {probs.shape}.")
    count = probs.shape[-1]
    palette = class_colours(count).astype(np.float64) if colours is None else np.asarray(colours, np.float64)
    if palette.shape != (count, 3):
        raise ValueError(f"`colours` must be ({count}, 3); received shape {palette.shape}.")
    mean = probs.astype(np.float64) @ palette
    confidence = np.clip((probs.max(axis=-1) - 1.0 / count) / (1.0 - 1.0 / count), 0.0, 1.0)[..., None]
    return np.rint(_WHITE + (mean - _WHITE) * confidence).astype(np.uint8)


def _as_class_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """``(H, W)`` probabilities of the positive class become ``(H, W, 2)``."""
    if probabilities.ndim == 2:
        return np.stack([1.0 - probabilities, probabilities], axis=-1)
    if probabilities.ndim == 3 and probabilities.shape[-1] == 1:
        return np.concatenate([1.0 - probabilities, probabilities], axis=-1)
    if probabilities.ndim == 3 and probabilities.shape[-1] >= 2:
        return probabilities
    raise ValueError(
        "`probabilities` must be (H, W) probabilities of the positive class or (H, W, K) class "
        f"probabilities; received shape {probabilities.shape}."
    )


def decision_picture(
    probabilities: ArrayLike,
    extent: Sequence[float],
    *,
    points: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    size: int = 256,
    boundary: bool = True,
    point_radius: int = 3,
) -> np.ndarray:
    """Draws the decision over the plane with the data points on top.

    Args:
        probabilities: ``(R, R')`` probabilities of the positive class (a sigmoid output)
            or ``(R, R', K)`` class probabilities, sampled on a regular grid; row 0 is the
            *top* of the picture (largest second coordinate), column 0 the left.
        extent: ``(x_min, x_max, y_min, y_max)`` of the grid, in input coordinates.
        points: ``(N, 2)`` input points to draw (e.g. the training set).
        labels: ``(N,)`` class indices of the points (colours as the classes); without
            labels the points are drawn in grey.
        size: Width and height of the picture in pixels.
        boundary: Draw the lines where the predicted class changes.
        point_radius: Radius of the points in pixels.

    Returns:
        uint8 ``(size, size, 3)``.
    """
    probs = _as_class_probabilities(_finite_float_array(probabilities, "probabilities"))
    size = _check_positive_int(size, "size")
    x_min, x_max, y_min, y_max = _check_extent(extent)
    field = mix_class_colours(probs)
    if boundary:
        winner = probs.argmax(axis=-1)
        edge = np.zeros(winner.shape, bool)
        edge[:, 1:] |= winner[:, 1:] != winner[:, :-1]
        edge[1:, :] |= winner[1:, :] != winner[:-1, :]
        field[edge] = _BOUNDARY
    canvas = Image.fromarray(field).resize((size, size), Image.Resampling.NEAREST if boundary else Image.Resampling.BILINEAR)
    if points is not None:
        xy = _finite_float_array(points, "points")
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"`points` must be (N, 2); received shape {xy.shape}.")
        colours = np.tile(np.array([[90, 90, 90]], np.uint8), (len(xy), 1))
        if labels is not None:
            classes = np.asarray(labels).reshape(-1)
            if classes.shape[0] != len(xy) or classes.dtype.kind not in "iub":
                raise ValueError(f"`labels` must be {len(xy)} class indices; received {np.asarray(labels)!r:.80}.")
            if classes.min() < 0 or classes.max() >= probs.shape[-1]:
                raise ValueError(
                    f"`labels` must be class indices in 0..{probs.shape[-1] - 1}; received "
                    f"{int(classes.min())}..{int(classes.max())}."
                )
            colours = class_colours(probs.shape[-1])[classes.astype(int)]
        draw = ImageDraw.Draw(canvas)
        px = (xy[:, 0] - x_min) / (x_max - x_min) * (size - 1)
        py = (y_max - xy[:, 1]) / (y_max - y_min) * (size - 1)
        r = _check_positive_int(point_radius, "point_radius")
        for x, y, colour in zip(px, py, colours):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(c) for c in colour), outline=(255, 255, 255))
    return np.asarray(canvas, dtype=np.uint8)


def _check_extent(extent: Sequence[float]) -> tuple[float, float, float, float]:
    values = _finite_float_array(extent, "extent").reshape(-1)
    if values.shape != (4,) or not (values[0] < values[1] and values[2] < values[3]):
        raise ValueError(
            f"`extent` must be (x_min, x_max, y_min, y_max) with min < max; received {extent!r}."
        )
    return tuple(float(v) for v in values)  # type: ignore[return-value]
