"""Pictures of embeddings: scatter plots, Karpathy's thumbnail maps, nearest-neighbour rows.

Pure NumPy + Pillow. Points are ``(N, 2)`` arrays such as :func:`keras_viz.tsne_map`
returns; images are model inputs (any range, see :func:`keras_viz.render.to_uint8_image`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw

from keras_viz._checks import check_int
from keras_viz.render.grids import _default_font, grid
from keras_viz.render.images import to_uint8_image

__all__ = ["CATEGORICAL", "neighbor_rows", "scatter", "thumbnail_map"]

CATEGORICAL: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)
"""Ten distinguishable colours for class labels (matplotlib's tab10); cycled beyond ten."""


def _check_points(points: ArrayLike) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise ValueError(f"`points` must be an (N, 2) array with N >= 1; received shape {np.shape(points)}")
    if not np.isfinite(array).all():
        raise ValueError("`points` holds NaN or infinite values.")
    return array


def _unit_square(points: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Points scaled into ``[margin, 1 - margin]`` with a shared scale (aspect kept)."""
    low = points.min(axis=0)
    span = float((points.max(axis=0) - low).max()) or 1.0
    centred = (points - low) / span
    centred += (1.0 - (points.max(axis=0) - low) / span) / 2.0
    return margin + centred * (1.0 - 2.0 * margin)


def scatter(
    points: ArrayLike,
    labels: Sequence[Any] | None = None,
    *,
    size: int = 512,
    radius: int = 3,
    class_names: Sequence[str] | None = None,
    legend: bool = True,
) -> np.ndarray:
    """A scatter plot of 2-D points, coloured by label, with a legend.

    Args:
        points: ``(N, 2)`` coordinates (any scale; the plot keeps their aspect).
        labels: optional label per point (ints or strings); one colour per distinct label.
        size: side of the square plot area in pixels.
        radius: dot radius in pixels.
        class_names: names shown in the legend for integer labels ``0..K-1``.
        legend: draw the legend to the right of the plot.

    Returns:
        ``(size, size + legend width, 3)`` uint8.
    """
    xy = _check_points(points)
    size = check_int(size, "size", minimum=32)
    radius = check_int(radius, "radius")
    if labels is None:
        keys = np.zeros(len(xy), int)
        names = [""]
    else:
        values = list(labels)
        if len(values) != len(xy):
            raise ValueError(f"`labels` has {len(values)} entries but `points` has {len(xy)}.")
        distinct = sorted(set(values), key=lambda v: (str(type(v)), v))
        lookup = {value: i for i, value in enumerate(distinct)}
        keys = np.asarray([lookup[v] for v in values])
        names = [
            str(class_names[v]) if class_names is not None and isinstance(v, (int, np.integer)) and 0 <= v < len(class_names) else str(v)
            for v in distinct
        ]
    unit = _unit_square(xy, margin=0.04)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    pixels = np.column_stack([unit[:, 0] * (size - 1), (1.0 - unit[:, 1]) * (size - 1)])
    for (x, y), key in zip(pixels, keys):
        colour = CATEGORICAL[key % len(CATEGORICAL)]
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    plot = np.asarray(canvas)
    if not legend or labels is None:
        return plot
    font = _default_font()
    line = int(font.getbbox("Ag")[3]) + 6
    width = 24 + max(int(draw.textlength(name, font=font)) for name in names) + 8
    panel = Image.new("RGB", (width, size), (255, 255, 255))
    pen = ImageDraw.Draw(panel)
    for i, name in enumerate(names[: max(1, (size - 8) // line)]):
        y = 8 + i * line
        pen.ellipse((6, y + 1, 6 + line - 8, y + line - 7), fill=CATEGORICAL[i % len(CATEGORICAL)])
        pen.text((24, y), name, fill=(0, 0, 0), font=font)
    return np.concatenate([plot, np.asarray(panel)], axis=1)


def _grid_shape(grid_size: Any, count: int) -> tuple[int, int]:
    if grid_size is None:
        side = max(1, math.ceil(math.sqrt(count)))
        return side, side
    if isinstance(grid_size, (int, np.integer)) and not isinstance(grid_size, (bool, np.bool_)):
        rows = cols = grid_size
    elif isinstance(grid_size, (tuple, list, np.ndarray)) and len(grid_size) == 2:
        rows, cols = grid_size
    else:
        raise TypeError(f"`grid` must be an int, (rows, columns) or None; received grid={grid_size!r}")
    return check_int(rows, "grid"), check_int(cols, "grid")


def greedy_cells(centres: np.ndarray, points: np.ndarray, *, block: int = 2**22) -> list[tuple[int, int]]:
    """Karpathy's greedy grid assignment without a dense ``(cells, N)`` distance matrix.

    Cells are visited in order of their distance to the nearest point (stable order for
    ties); each takes the nearest point not yet taken (the lowest index on ties), until
    every point is placed. Squared distances are ``dx * dx + dy * dy`` in float64, computed
    ``block`` values at a time for the visiting order and one cell's row of the points
    still free for each choice: memory O(N + block), the same assignment (bit for bit) as
    with the whole matrix.

    Returns:
        ``[(cell, point), ...]`` in the order the cells take their points.
    """
    cx, cy = (np.ascontiguousarray(centres[:, i], np.float64) for i in (0, 1))
    px, py = (np.ascontiguousarray(points[:, i], np.float64) for i in (0, 1))
    chunk = max(1, block // max(1, len(points)))
    nearest = np.concatenate([
        ((cx[start : start + chunk, None] - px) ** 2 + (cy[start : start + chunk, None] - py) ** 2).min(axis=1)
        for start in range(0, len(centres), chunk)
    ])
    # The candidates: ascending point indices (so argmin takes the lowest index on ties), from
    # which taken points are dropped whenever they make up half of them.
    free, free_x, free_y = np.arange(len(points)), px, py
    taken = np.zeros(len(points), bool)
    stale = 0  # taken points still among the candidates
    pairs: list[tuple[int, int]] = []
    for cell in np.argsort(nearest, kind="stable"):
        if len(pairs) == len(points):
            break
        if stale and 2 * stale >= len(free):
            keep = ~taken[free]
            free, free_x, free_y, stale = free[keep], free_x[keep], free_y[keep], 0
        row = (cx[cell] - free_x) ** 2 + (cy[cell] - free_y) ** 2
        if stale:
            row[taken[free]] = np.inf
        choice = int(free[np.argmin(row)])
        taken[choice] = True
        stale += 1
        pairs.append((int(cell), choice))
    return pairs


def thumbnail_map(
    images: ArrayLike,
    points: ArrayLike,
    *,
    grid: int | tuple[int, int] | None = None,
    tile: int | None = None,
    value_range: tuple[float, float] | None = None,
    background: int = 255,
) -> np.ndarray:
    """Karpathy's t-SNE grid: every cell of a grid shows the image whose point lies nearest.

    The points are scaled into the unit square; the cells are visited in order of their
    distance to the nearest point, and each takes the nearest image not yet placed (a
    greedy assignment; each image is shown at most once). With fewer images than cells,
    cells far from every point stay empty. Memory stays O(N): no cells x points distance
    matrix is built (see :func:`greedy_cells`).

    Args:
        images: ``(N, H, W[, C])`` model inputs.
        points: ``(N, 2)`` their 2-D map (:func:`keras_viz.tsne_map`).
        grid: cells, as ``rows`` = ``columns`` (an int) or ``(rows, columns)``; default
            ``ceil(sqrt(N))`` square.
        tile: cell side in pixels (default: the image size).
        value_range: the images' value range (see :func:`to_uint8_image`).
        background: grey level of empty cells.

    Returns:
        One ``(rows * tile, columns * tile, 3)`` uint8 picture.
    """
    xy = _check_points(points)
    batch = np.asarray(images)
    if batch.ndim not in (3, 4) or len(batch) != len(xy):
        raise ValueError(
            f"`images` must be (N, H, W[, C]) with one image per point; received shape "
            f"{np.shape(images)} for {len(xy)} points"
        )
    rows, cols = _grid_shape(grid, len(xy))
    height, width = batch.shape[1:3]
    tile_h, tile_w = (height, width) if tile is None else (check_int(tile, "tile"),) * 2
    unit = _unit_square(xy)
    centres = np.stack(np.meshgrid((np.arange(cols) + 0.5) / cols, 1.0 - (np.arange(rows) + 0.5) / rows), -1).reshape(-1, 2)
    sheet = np.full((rows * tile_h, cols * tile_w, 3), background, np.uint8)
    for cell, choice in greedy_cells(centres, unit):
        picture = to_uint8_image(batch[choice], value_range=value_range)
        if picture.shape[:2] != (tile_h, tile_w):
            picture = np.asarray(Image.fromarray(picture).resize((tile_w, tile_h), Image.Resampling.BILINEAR))
        r, c = divmod(int(cell), cols)
        sheet[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w] = picture
    return sheet


def neighbor_rows(
    queries: ArrayLike,
    feature_neighbors: ArrayLike,
    pixel_neighbors: ArrayLike | None = None,
    *,
    value_range: tuple[float, float] | None = None,
    scale: int = 1,
    labels: bool = True,
) -> np.ndarray:
    """One row per query: the query | its nearest neighbours in feature space | in pixel space.

    Args:
        queries: ``(Q, H, W[, C])`` query images.
        feature_neighbors: ``(Q, k, H, W[, C])`` the nearest images in feature space,
            e.g. ``data[kv.nearest_neighbors(...).feature_indices]``.
        pixel_neighbors: optional ``(Q, k, H, W[, C])`` the nearest in pixel space.
        value_range: the images' value range (see :func:`to_uint8_image`).
        scale: integer upscaling of every image.
        labels: caption the tiles (``query``, ``feature 1``, ``pixel 1``, ...).

    Returns:
        uint8 picture.
    """
    queries = np.asarray(queries)
    features = np.asarray(feature_neighbors)
    if features.ndim != queries.ndim + 1 or len(features) != len(queries):
        raise ValueError(
            f"`feature_neighbors` must be (Q, k, ...) for the {len(queries)} queries of shape "
            f"{queries.shape[1:]}; received shape {features.shape}"
        )
    pixels = None if pixel_neighbors is None else np.asarray(pixel_neighbors)
    if pixels is not None and pixels.shape[:1] != features.shape[:1]:
        raise ValueError(f"`pixel_neighbors` must be (Q, k, ...); received shape {pixels.shape}")
    tiles, captions = [], []
    gap = np.full((*to_uint8_image(queries[0], value_range=value_range).shape[:2], 3), 255, np.uint8)
    for q in range(len(queries)):
        tiles.append(to_uint8_image(queries[q], value_range=value_range))
        captions.append("query")
        for i, image in enumerate(features[q]):
            tiles.append(to_uint8_image(image, value_range=value_range))
            captions.append(f"feature {i + 1}")
        if pixels is not None:
            tiles.append(gap)
            captions.append("")
            for i, image in enumerate(pixels[q]):
                tiles.append(to_uint8_image(image, value_range=value_range))
                captions.append(f"pixel {i + 1}")
    columns = 1 + features.shape[1] + (0 if pixels is None else 1 + pixels.shape[1])
    return grid(tiles, labels=captions if labels else None, columns=columns, scale=scale)
