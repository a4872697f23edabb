"""Grids: many pictures tiled into one labelled sheet, and pictures to Pillow images.

Every function is pure over NumPy arrays (Pillow only draws the label text and wraps
the result); see :mod:`keras_viz.render` for the conventions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw, ImageFont

from keras_viz.render._checks import (
    _check_non_negative_int,
    _check_positive_int,
    _finite_float_array,
)
from keras_viz.render.images import _as_channels_last, _grey_to_rgb, _unit_to_uint8

__all__ = [
    "grid",
    "to_pil",
]


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
