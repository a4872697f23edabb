"""Pictures of what units respond to: top-k patch grids and network-dissection tables.

Pure NumPy + Pillow; the inputs are the arrays of :class:`keras_viz.TopActivations` and
:class:`keras_viz.Dissection`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw

from keras_viz.render.core import _default_font, grid, overlay, to_uint8_image

__all__ = ["dissection_table", "dissection_units", "top_patches", "top_patches_sheet"]


def _outline(picture: np.ndarray, mask: np.ndarray, colour=(255, 255, 0)) -> np.ndarray:
    """Draws the boundary of a boolean mask on a picture."""
    edge = mask & ~(
        np.pad(mask, 1, mode="edge")[:-2, 1:-1]
        & np.pad(mask, 1, mode="edge")[2:, 1:-1]
        & np.pad(mask, 1, mode="edge")[1:-1, :-2]
        & np.pad(mask, 1, mode="edge")[1:-1, 2:]
    )
    out = picture.copy()
    out[edge] = colour
    return out


def top_patches(
    patches: ArrayLike,
    values: ArrayLike | None = None,
    *,
    guided: ArrayLike | None = None,
    columns: int = 3,
    value_range: tuple[float, float] | None = None,
    scale: int = 1,
    labels: bool = True,
) -> np.ndarray:
    """The top-k patches of one channel as a grid (the seeds' "top-9 patches").

    Args:
        patches: ``(k, h, w[, C])`` patches, e.g. ``TopActivations.patches[c]``.
        values: optional ``(k,)`` activation of each patch, written under it.
        guided: optional ``(k, h, w[, C])`` guided-backprop maps of the patches
            (:func:`keras_viz.views.guided_patches`), drawn beside each patch.
        columns: patches per row.
        value_range: the inputs' value range (see :func:`to_uint8_image`); by default
            all patches share one min-max scale, so their brightness stays comparable.
        scale: integer upscaling.
        labels: write the values under the patches.

    Returns:
        uint8 picture.
    """
    batch = np.asarray(patches, dtype=np.float32)
    if batch.ndim not in (3, 4) or len(batch) == 0:
        raise ValueError(f"`patches` must be (k, h, w[, C]) with k >= 1; received shape {batch.shape}")
    if value_range is None:
        low, high = float(batch.min()), float(batch.max())
        value_range = (low, high if high > low else low + 1.0)
    tiles, captions = [], []
    scores = None if values is None else np.asarray(values, dtype=np.float32).ravel()
    if scores is not None and len(scores) != len(batch):
        raise ValueError(f"`values` has {len(scores)} entries for {len(batch)} patches.")
    maps = None if guided is None else np.asarray(guided, dtype=np.float32)
    if maps is not None and maps.shape[:3] != batch.shape[:3]:
        raise ValueError(f"`guided` must have the patches' shape {batch.shape}; received {maps.shape}")
    for i, patch in enumerate(batch):
        tiles.append(to_uint8_image(patch, value_range=value_range))
        captions.append("" if scores is None else f"{scores[i]:.3g}")
        if maps is not None:
            tiles.append(_gradient_picture(maps[i]))
            captions.append("guided")
    per_row = columns * (2 if maps is not None else 1)
    return grid(tiles, labels=captions if labels and scores is not None else None, columns=per_row, scale=scale)


def _gradient_picture(gradient: np.ndarray) -> np.ndarray:
    """A guided-backprop map shown as the papers do: centred on grey, scaled to its range."""
    values = np.asarray(gradient, np.float32)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    peak = float(np.abs(values).max()) or 1.0
    unit = np.clip(0.5 + 0.5 * values / peak, 0.0, 1.0)
    return to_uint8_image(unit, value_range=(0.0, 1.0))


def top_patches_sheet(
    patches: ArrayLike,
    values: ArrayLike | None = None,
    *,
    channels: Sequence[int] | None = None,
    value_range: tuple[float, float] | None = None,
    scale: int = 1,
    columns: int = 4,
    guided: ArrayLike | None = None,
) -> np.ndarray:
    """One top-k grid per channel, the grids tiled into one labelled sheet.

    Args:
        patches: ``(C, k, h, w[, Cin])`` (``TopActivations.patches``).
        values: optional ``(C, k)`` (``TopActivations.values``).
        channels: the channel index of each row, for the captions.
        value_range, scale: as in :func:`top_patches`; one shared scale by default.
        columns: channel grids per row of the sheet.
        guided: optional ``(C, k, h, w[, Cin])`` guided-backprop maps.
    """
    batch = np.asarray(patches, dtype=np.float32)
    if batch.ndim not in (4, 5):
        raise ValueError(f"`patches` must be (C, k, h, w[, Cin]); received shape {batch.shape}")
    if value_range is None:
        low, high = float(batch.min()), float(batch.max())
        value_range = (low, high if high > low else low + 1.0)
    names = list(range(len(batch))) if channels is None else list(channels)
    k = batch.shape[1]
    side = int(np.ceil(np.sqrt(k)))
    grids = [
        top_patches(
            batch[c], None if values is None else np.asarray(values)[c], guided=None if guided is None else np.asarray(guided)[c],
            columns=side, value_range=value_range, scale=scale, labels=False,
        )
        for c in range(len(batch))
    ]
    return grid(grids, labels=[f"channel {n}" for n in names], columns=min(columns, len(grids)), padding=4)


def dissection_table(
    units: ArrayLike,
    concepts: Sequence[str],
    best_iou: ArrayLike,
    best_concept: ArrayLike,
    *,
    top: int = 20,
    title: str | None = None,
) -> np.ndarray:
    """The network-dissection ranking as a table picture: unit | concept | IoU, with bars.

    Args:
        units: ``(U,)`` channel indices.
        concepts: concept names.
        best_iou: ``(U,)`` each unit's best IoU.
        best_concept: ``(U,)`` index of each unit's best concept.
        top: rows shown (best IoU first).
        title: optional first line (e.g. the layer).
    """
    ious = np.asarray(best_iou, np.float64)
    order = np.argsort(-ious, kind="stable")[: max(1, int(top))]
    font = _default_font()
    line = int(font.getbbox("Ag")[3]) + 8
    rows = [("unit", "concept", "IoU")] + [
        (str(int(np.asarray(units)[i])), str(concepts[int(np.asarray(best_concept)[i])]), f"{ious[i]:.3f}") for i in order
    ]
    widths = [max(60, max(int(font.getlength(r[c])) for r in rows) + 16) for c in range(3)]
    bar = 160
    width = sum(widths) + bar + 16
    height = line * (len(rows) + (1 if title else 0)) + 8
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = 4
    if title:
        draw.text((8, y), title, fill=(0, 0, 0), font=font)
        y += line
    peak = max(float(ious[order].max()), 1e-9)
    for r, row in enumerate(rows):
        if r % 2 == 1:
            draw.rectangle((0, y - 2, width, y + line - 3), fill=(240, 240, 240))
        x = 8
        for c, text in enumerate(row):
            draw.text((x, y), text, fill=(0, 0, 0), font=font)
            x += widths[c]
        if r > 0:
            length = int(bar * ious[order[r - 1]] / peak)
            draw.rectangle((x, y + 1, x + max(length, 1), y + line - 6), fill=(31, 119, 180))
        y += line
    return np.asarray(canvas)


def dissection_units(
    images: ArrayLike,
    masks: ArrayLike,
    captions: Sequence[str],
    *,
    value_range: tuple[float, float] | None = None,
    scale: int = 1,
    alpha: float = 0.45,
) -> np.ndarray:
    """The top units of a dissection: per unit a row of inputs with its thresholded region.

    Args:
        images: ``(U, e, H, W[, C])`` inputs per unit (``Dissection.example_images``
            rows of the units to show).
        masks: ``(U, e, H, W)`` bool, the unit's thresholded map on them.
        captions: one caption per unit (e.g. ``"unit 7: circle 0.41"``).
        value_range: the inputs' value range.
        scale: integer upscaling.
        alpha: opacity of the highlighted region.
    """
    pictures = np.asarray(images)
    regions = np.asarray(masks, bool)
    if pictures.shape[:2] != regions.shape[:2] or len(captions) != len(pictures):
        raise ValueError(
            f"`images` {pictures.shape}, `masks` {regions.shape} and {len(captions)} captions "
            f"must describe the same units and examples."
        )
    tiles, labels = [], []
    for unit in range(len(pictures)):
        for e in range(pictures.shape[1]):
            base = to_uint8_image(pictures[unit, e], value_range=value_range)
            mask = regions[unit, e]
            blended = overlay(base, mask.astype(np.float32), alpha=alpha, colormap="inferno") if mask.any() else base
            tiles.append(_outline(blended, mask))
            labels.append(captions[unit] if e == 0 else "")
    return grid(tiles, labels=labels, columns=pictures.shape[1], scale=scale)

