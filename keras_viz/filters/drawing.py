"""Drawing filter tile sets: one labelled picture per layer.

`draw_tilesets` lays out what :func:`keras_viz.filters.filter_tilesets` read with
:func:`keras_viz.render.grid` (one grid per kernel, stacked), choosing a scale at which
small kernels and their labels stay legible; `filter_grid` reads and draws in one call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from PIL import ImageFont

from keras_viz import render
from keras_viz.filters.layers import filter_tilesets
from keras_viz.filters.tiles import _check_positive_int, _TileSet

__all__ = [
    "draw_tilesets",
    "filter_grid",
]

# filter_grid picks an integer scale so that the shortest side of the smallest
# tile is at least this many pixels (a 3x3 kernel becomes >= 24x24)...
_MIN_TILE_PX = 24
# ...unless that would make the longest tile side exceed this many pixels.
_MAX_TILE_PX = 512


def _label_width(labels: Sequence[str]) -> int:
    widths = [_text_width(text) for text in labels]
    return int(max(widths, default=0)) + 4  # A small margin either side.


@functools.lru_cache(maxsize=4096)
def _text_width(text: str) -> int:
    # Cached by value: callbacks measure the same labels ("f3 c1") every epoch.
    left, _, right, _ = ImageFont.load_default().getbbox(text)
    return int(right - left)


def _auto_scale(tileset: _TileSet, with_labels: bool) -> int:
    """An integer scale making small tiles >= 24 px and wide enough for labels."""
    shortest = min(min(tile.shape[:2]) for tile in tileset.tiles)
    longest = max(max(tile.shape[:2]) for tile in tileset.tiles)
    widest = max(tile.shape[1] for tile in tileset.tiles)
    scale = math.ceil(_MIN_TILE_PX / shortest)
    if with_labels:
        scale = max(scale, math.ceil(_label_width(tileset.labels) / widest))
    return max(1, min(scale, _MAX_TILE_PX // longest))


def _stack(pictures: Sequence[np.ndarray], gap: int = 8) -> np.ndarray:
    """Stacks RGB pictures top to bottom on white, left-aligned."""
    width = max(picture.shape[1] for picture in pictures)
    height = sum(picture.shape[0] for picture in pictures) + gap * (len(pictures) - 1)
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    top = 0
    for picture in pictures:
        out[top : top + picture.shape[0], : picture.shape[1]] = picture
        top += picture.shape[0] + gap
    return out


def draw_tilesets(tilesets: Sequence[Any], *, scale: int | None = None, labels: bool = True) -> np.ndarray:
    """Draws what :func:`filter_tilesets` read as one labelled picture (uint8 ``(H, W, 3)``).

    Pure rendering: no model access, so it can run away from the training thread.
    """
    if scale is not None:
        scale = _check_positive_int(scale, "scale")
    pictures = [
        render.grid(
            tileset.tiles,
            labels=tileset.labels if labels else None,
            columns=tileset.columns,
            scale=scale if scale is not None else _auto_scale(tileset, labels),
        )
        for tileset in tilesets
    ]
    return pictures[0] if len(pictures) == 1 else _stack(pictures)


def filter_grid(
    model_or_layer: keras.layers.Layer,
    layer: str | int | keras.layers.Layer | None = None,
    *,
    max_filters: int = 64,
    max_channels: int = 8,
    scale: int | None = None,
    input_shape: Sequence[int] | None = None,
    labels: bool = True,
) -> np.ndarray:
    """Draws the weights of one layer as a labelled grid of tiles.

    ``draw_tilesets(filter_tilesets(...))``: see :func:`filter_tilesets` for what is
    read and :func:`draw_tilesets` for the picture.

    Args:
        model_or_layer, layer, max_filters, max_channels, input_shape: as for
            :func:`filter_tilesets`.
        scale: Integer upscaling of every tile (nearest neighbour); None picks the
            smallest scale at which the shortest tile side is at least 24 px.
        labels: Whether to draw a label under each tile. Defaults to True.

    Returns:
        A uint8 array of shape ``(H, W, 3)``.
    """
    if scale is not None:
        scale = _check_positive_int(scale, "scale")
    tilesets = filter_tilesets(
        model_or_layer, layer, max_filters=max_filters, max_channels=max_channels, input_shape=input_shape
    )
    return draw_tilesets(tilesets, scale=scale, labels=labels)
