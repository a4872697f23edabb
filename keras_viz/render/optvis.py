"""Pictures of optimised images: labelled grids, and the adversarial example figure.

The figure of the seeds (Goodfellow et al. 2015, Szegedy et al. 2014): for each input,
the original with its predicted class, the perturbation amplified (×10 by default, around
mid-grey, so that a change of ``±(high - low) / (2 · amplification)``, a twentieth of the
range at ×10, is full white/black) and the adversarial image with its predicted class.
Pure NumPy and Pillow, like the rest of :mod:`keras_viz.render`.

Images of any channel count are drawn: one channel as grey, three as RGB, and any other
count (a 2-channel or 4-channel model's input) as one grey panel per channel, side by side
from channel 0 on the left, separated by a thin blue line (:func:`optvis_tile`). No channel
is dropped or guessed to be a colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from keras_viz.render._checks import _check_positive_int, _finite_float_array
from keras_viz.render.grids import grid
from keras_viz.render.images import _check_value_range, to_uint8_image

__all__ = ["adversarial_figure", "optvis_grid", "optvis_tile", "perturbation_picture"]

#: colour of the line between the channel panels of an image with neither 1 nor 3 channels
PANEL_SEPARATOR = (70, 110, 200)


def _display_scale(height: int, width: int, scale: int | None, target: int = 96) -> int:
    if scale is not None:
        return _check_positive_int(scale, "scale")
    return max(1, target // max(height, width, 1))


def _batch(images: ArrayLike, name: str) -> np.ndarray:
    array = _finite_float_array(images, name)
    if array.ndim == 3 and array.shape[-1] not in (1, 3):
        array = array[..., np.newaxis]  # (N, H, W) grey; (H, W, 1|3) is one image, not a batch
    if array.ndim != 4 or array.shape[0] == 0 or 0 in array.shape[1:]:
        raise ValueError(f"`{name}` must be a non-empty batch (N, H, W, C); received shape {array.shape}.")
    return array


def optvis_tile(
    image: ArrayLike, *, value_range: tuple[float, float] | None = (0.0, 1.0), normalize: bool = False
) -> np.ndarray:
    """One image ``(H, W, C)`` with any channel count as uint8 RGB.

    One channel is grey and three are RGB, ``(H, W, 3)``; any other count gives one grey
    panel per channel, channel 0 on the left, with a one-pixel line of
    :data:`PANEL_SEPARATOR` between panels: ``(H, C·W + C - 1, 3)``.

    Args:
        image: ``(H, W, C)`` (or ``(H, W)``, grey).
        value_range: the range the values are in (``low`` black, ``high`` white).
        normalize: stretch the image's own min..max (over all its channels) instead.

    Returns:
        uint8 ``(H, W', 3)``.
    """
    values = _finite_float_array(image, "image")
    if values.ndim == 2:
        values = values[..., np.newaxis]
    if values.ndim != 3 or 0 in values.shape:
        raise ValueError(f"`image` must have shape (H, W, C) or (H, W); received shape {values.shape}.")
    if normalize:
        low, high = float(values.min()), float(values.max())
        unit = (values - low) / (high - low) if high > low else np.zeros_like(values)
    else:
        low, high = _check_value_range(value_range)
        unit = (values - low) / (high - low)
    channels = values.shape[-1]
    if channels in (1, 3):
        return to_uint8_image(unit, value_range=(0.0, 1.0))
    height = values.shape[0]
    separator = np.broadcast_to(np.asarray(PANEL_SEPARATOR, np.uint8), (height, 1, 3))
    panels: list[np.ndarray] = []
    for c in range(channels):
        if panels:
            panels.append(separator)
        panels.append(to_uint8_image(unit[..., c : c + 1], value_range=(0.0, 1.0)))
    return np.concatenate(panels, axis=1)


def optvis_grid(
    images: ArrayLike,
    labels: Sequence[object] | None = None,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    columns: int | None = None,
    scale: int | None = None,
    normalize: bool = False,
) -> np.ndarray:
    """Optimised images side by side, labelled (e.g. with ``objective.names``).

    Args:
        images: ``(N, H, W, C)`` in ``value_range``, any C (see :func:`optvis_tile`:
            C = 1 grey, 3 RGB, otherwise one grey panel per channel).
        labels: one label per image.
        value_range: the range the images are in.
        columns: grid columns (default: about square).
        scale: integer upscaling; None makes each tile about 96 pixels.
        normalize: stretch each image to its own min..max (for faint changes).

    Returns:
        uint8 ``(H', W', 3)``.
    """
    batch = _batch(images, "images")
    low, high = _check_value_range(value_range)
    tiles = [optvis_tile(image, value_range=(low, high), normalize=normalize) for image in batch]
    factor = _display_scale(batch.shape[1], batch.shape[2], scale)
    return grid(tiles, labels=None if labels is None else [str(label) for label in labels], columns=columns, scale=factor)


def perturbation_picture(
    perturbation: ArrayLike, *, value_range: tuple[float, float] = (0.0, 1.0), amplification: float = 10.0
) -> np.ndarray:
    """``(H, W, C)`` perturbation as uint8 RGB: mid-grey plus ``amplification`` times it.

    A change of ``+(high - low) / (2 · amplification)`` is white, its negative black (at
    ×10, a twentieth of the range saturates). Any channel count, as :func:`optvis_tile`.
    """
    values = _finite_float_array(perturbation, "perturbation")
    low, high = _check_value_range(value_range)
    if not np.isfinite(amplification) or amplification <= 0:
        raise ValueError(f"`amplification` must be a positive number; received {amplification!r}")
    unit = 0.5 + amplification * values / (high - low)
    return optvis_tile(np.clip(unit, 0.0, 1.0), value_range=(0.0, 1.0))


def adversarial_figure(
    originals: ArrayLike,
    adversarials: ArrayLike,
    original_classes: Sequence[int],
    adversarial_classes: Sequence[int],
    *,
    class_names: Sequence[str] | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    amplification: float = 10.0,
    scale: int | None = None,
) -> np.ndarray:
    """One row per input: original | perturbation ×amplification | adversarial, labelled.

    Args:
        originals: ``(N, H, W, C)`` inputs in ``value_range`` (any C, see :func:`optvis_tile`).
        adversarials: ``(N, H, W, C)`` adversarial images (e.g. ``optvis.adversarial(...).images``).
        original_classes: the class predicted for each original.
        adversarial_classes: the class predicted for each adversarial image.
        class_names: names of the classes (default: their indices).
        value_range: the images' range.
        amplification: factor applied to the perturbation in the middle column.
        scale: integer upscaling; None makes each tile about 96 pixels.

    Returns:
        uint8 ``(H', W', 3)``.
    """
    before = _batch(originals, "originals")
    after = _batch(adversarials, "adversarials")
    if before.shape != after.shape:
        raise ValueError(f"`originals` {before.shape} and `adversarials` {after.shape} must have the same shape.")
    count = len(before)
    if len(original_classes) != count or len(adversarial_classes) != count:
        raise ValueError(
            f"Give one class per image: {count} images, {len(original_classes)} original and "
            f"{len(adversarial_classes)} adversarial classes."
        )

    def name(index: int) -> str:
        index = int(index)
        if class_names is None:
            return str(index)
        return str(class_names[index]) if 0 <= index < len(class_names) else str(index)

    low, high = _check_value_range(value_range)
    tiles, labels = [], []
    for original, adversarial, a, b in zip(before, after, original_classes, adversarial_classes):
        tiles += [
            optvis_tile(original, value_range=(low, high)),
            perturbation_picture(adversarial - original, value_range=(low, high), amplification=amplification),
            optvis_tile(adversarial, value_range=(low, high)),
        ]
        labels += [f"original: {name(a)}", f"perturbation x{amplification:g}", f"adversarial: {name(b)}"]
    factor = _display_scale(before.shape[1], before.shape[2], scale)
    return grid(tiles, labels=labels, columns=3, scale=factor)
