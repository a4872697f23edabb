"""Node-link diagrams of small dense networks: neurons as nodes, weights as edges.

The lecture's first kind of architecture picture (seed 004, "Network architecture
visualization"): every neuron is a node, every weight an edge. It only suits small
networks (a few layers of a few dozen units), which is why wider layers show their first
``max_units`` neurons and say how many more there are.

Edges are coloured by the sign of the weight (red positive, blue negative, as the
diverging colour maps of :mod:`keras_viz.render.colour`) and drawn thicker and darker the
larger its magnitude, weak ones first so strong ones stay on top; nodes are filled by
their bias on the same scale, or show a small picture each (the TensorFlow-Playground
view: what each neuron computes over the input plane).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw

from keras_viz.render._checks import _check_positive_int, _finite_float_array
from keras_viz.render.colour import _check_colormap_name, colormap
from keras_viz.render.grids import _default_font

__all__ = ["edge_style", "node_link"]

_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_INPUT_FILL = (200, 200, 200)
_NODE_OUTLINE = (60, 60, 60)
_MAX_EDGE_WIDTH = 4


def edge_style(weights: ArrayLike, scale: float, name: str = "RdBu_r") -> tuple[np.ndarray, np.ndarray]:
    """The colour and line width of each edge.

    A weight ``w`` is drawn with the colour ``colormap(w / scale)`` (clipped to ``[-1,
    1]``, so red for positive, blue for negative, white for zero) and the width
    ``1 + round((MAX - 1) · |w| / scale)`` pixels, ``MAX`` = 4.

    Args:
        weights: Any array of weights.
        scale: The magnitude drawn at full strength (usually ``max |w|``); > 0.
        name: A diverging colour map.

    Returns:
        ``(colours, widths)``: uint8 ``weights.shape + (3,)`` and int ``weights.shape``.
    """
    values = _finite_float_array(weights, "weights")
    if not scale > 0:
        raise ValueError(f"`scale` must be > 0; received scale={scale!r}.")
    relative = np.clip(values / float(scale), -1.0, 1.0)
    widths = 1 + np.rint((_MAX_EDGE_WIDTH - 1) * np.abs(relative)).astype(int)
    return colormap(relative, name), widths


def _check_chain(kernels: Sequence[ArrayLike]) -> list[np.ndarray]:
    if isinstance(kernels, np.ndarray) or not isinstance(kernels, Sequence) or not kernels:
        raise ValueError(
            f"`kernels` must be a non-empty list of 2-D (inputs, units) weight matrices; "
            f"received {type(kernels).__name__}."
        )
    checked = []
    for index, kernel in enumerate(kernels):
        array = _finite_float_array(kernel, f"kernels[{index}]")
        if array.ndim != 2:
            raise ValueError(
                f"`kernels[{index}]` must be a 2-D (inputs, units) matrix; received shape {array.shape}."
            )
        if checked and checked[-1].shape[1] != array.shape[0]:
            raise ValueError(
                f"`kernels` must chain: kernels[{index - 1}] has {checked[-1].shape[1]} units but "
                f"kernels[{index}] takes {array.shape[0]} inputs."
            )
        checked.append(array)
    return checked


def _check_biases(biases: Sequence[ArrayLike | None] | None, kernels: list[np.ndarray]) -> list[np.ndarray | None]:
    if biases is None:
        return [None] * len(kernels)
    if len(biases) != len(kernels):
        raise ValueError(f"`biases` must have one entry per kernel ({len(kernels)}); received {len(biases)}.")
    checked: list[np.ndarray | None] = []
    for index, (bias, kernel) in enumerate(zip(biases, kernels)):
        if bias is None:
            checked.append(None)
            continue
        array = _finite_float_array(bias, f"biases[{index}]")
        if array.shape != (kernel.shape[1],):
            raise ValueError(f"`biases[{index}]` must have shape ({kernel.shape[1]},); received {array.shape}.")
        checked.append(array)
    return checked


def _shown(units: int, max_units: int) -> int:
    """Neurons drawn in a column of ``units``: all, or ``max_units - 1`` and a "+k more" mark."""
    return units if units <= max_units else max_units - 1


def node_link(
    kernels: Sequence[ArrayLike],
    biases: Sequence[ArrayLike | None] | None = None,
    *,
    column_labels: Sequence[str] | None = None,
    node_images: Sequence[np.ndarray | None] | None = None,
    max_units: int = 16,
    node_size: int | None = None,
    colormap_name: str = "RdBu_r",
) -> np.ndarray:
    """Draws a chain of dense layers as a node-link diagram.

    Columns run left to right: the inputs, then one column per layer. Each weight
    ``kernels[l][i, j]`` is an edge from neuron ``i`` of column ``l`` to neuron ``j`` of
    column ``l + 1`` (see :func:`edge_style`; all edges share one scale, the largest
    magnitude, so layers can be compared). Nodes are filled by their bias on the bias
    scale (inputs grey), or show ``node_images``.

    Args:
        kernels: ``(inputs, units)`` matrices, one per layer, each taking the previous
            one's units.
        biases: One ``(units,)`` vector (or None) per layer; None draws no bias.
        column_labels: One label per column (``len(kernels) + 1``), drawn above it.
        node_images: One entry per column: None, or uint8 pictures ``(units, h, w, 3)``
            drawn as square nodes (e.g. what each neuron computes over a 2-D input).
        max_units: Most neurons drawn per column; a wider layer shows its first
            ``max_units - 1`` and a "+k" mark. Its edges are drawn for the shown ones.
        node_size: Node diameter in pixels (default 16, or 32 with node images).
        colormap_name: A diverging colour map (``"RdBu_r"`` or ``"coolwarm"``).

    Returns:
        A uint8 ``(H, W, 3)`` picture.

    Raises:
        ValueError: If the kernels do not chain, a bias or picture has the wrong shape,
            or a size is not a positive integer.
    """
    kernels = _check_chain(kernels)
    biases = _check_biases(biases, kernels)
    max_units = _check_positive_int(max_units, "max_units")
    if max_units < 2:
        raise ValueError(f"`max_units` must be >= 2 (one neuron and the '+k' mark); received {max_units}.")
    colormap_name = _check_colormap_name(colormap_name)
    widths = [kernels[0].shape[0], *(k.shape[1] for k in kernels)]
    columns = len(widths)
    labels = _check_column_labels(column_labels, columns)
    images = _check_node_images(node_images, widths)
    with_images = any(entry is not None for entry in images)
    size = _check_positive_int(node_size, "node_size") if node_size is not None else (32 if with_images else 16)

    shown = [_shown(units, max_units) for units in widths]
    rows = max(min(units, max_units) for units in widths)
    pitch_y = size + max(6, size // 2)
    pitch_x = max(4 * size, 90)
    font = _default_font()
    label_height = (font.getbbox("Ag")[3] + 6) if labels else 0
    margin = size
    side = max(margin, (pitch_x - size) // 2)  # room for the first and last column labels
    width = 2 * side + (columns - 1) * pitch_x + size
    height = 2 * margin + label_height + rows * pitch_y
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)

    def centre(column: int, row: int) -> tuple[float, float]:
        count = min(widths[column], max_units)
        top = margin + label_height + (rows - count) * pitch_y / 2
        return side + column * pitch_x + size / 2, top + row * pitch_y + size / 2

    scale = max(float(np.max(np.abs(k))) for k in kernels) or 1.0
    edges = []
    for layer, kernel in enumerate(kernels):
        part = kernel[: shown[layer], : shown[layer + 1]]
        colours, line_widths = edge_style(part, scale, colormap_name)
        for (i, j), weight in np.ndenumerate(part):
            edges.append((abs(float(weight)), layer, i, j, tuple(int(c) for c in colours[i, j]), int(line_widths[i, j])))
    for _, layer, i, j, colour, line_width in sorted(edges, key=lambda e: e[0]):
        (x0, y0), (x1, y1) = centre(layer, i), centre(layer + 1, j)
        draw.line([(x0 + size / 2, y0), (x1 - size / 2, y1)], fill=colour, width=line_width)

    bias_scale = max((float(np.max(np.abs(b))) for b in biases if b is not None), default=0.0) or 1.0
    for column in range(columns):
        bias = biases[column - 1] if column > 0 else None
        fills = None if bias is None else colormap(np.clip(bias / bias_scale, -1, 1), colormap_name)
        for row in range(shown[column]):
            x, y = centre(column, row)
            box = [x - size / 2, y - size / 2, x + size / 2, y + size / 2]
            picture = images[column]
            if picture is not None:
                tile = Image.fromarray(picture[row]).resize((size, size), Image.Resampling.NEAREST)
                canvas.paste(tile, (int(round(box[0])), int(round(box[1]))))
                draw.rectangle(box, outline=_NODE_OUTLINE)
            else:
                fill = _INPUT_FILL if fills is None else tuple(int(c) for c in fills[row])
                draw.ellipse(box, fill=fill, outline=_NODE_OUTLINE)
        if shown[column] < widths[column]:
            x, y = centre(column, shown[column])
            _centred_text(draw, (x, y), f"+{widths[column] - shown[column]}", font)
        if labels:
            x = side + column * pitch_x + size / 2
            _centred_text(draw, (x, margin + label_height / 2), labels[column], font, max_width=pitch_x - 4)
    return np.asarray(canvas, dtype=np.uint8)


def _centred_text(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str, font, max_width: float | None = None) -> None:
    if max_width is not None:
        while len(text) > 1 and draw.textlength(text, font=font) > max_width:
            text = text[:-2] + "…"  # drops one character (and the previous ellipsis)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text((at[0] - (right - left) / 2 - left, at[1] - (bottom - top) / 2 - top), text, fill=_INK, font=font)


def _check_column_labels(labels: Sequence[str] | None, columns: int) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, str) or len(labels) != columns:
        raise ValueError(
            f"`column_labels` must have one label per column ({columns}: the inputs and each "
            f"layer); received {labels!r}."
        )
    return [str(label) for label in labels]


def _check_node_images(node_images: Sequence[np.ndarray | None] | None, widths: list[int]) -> list[np.ndarray | None]:
    if node_images is None:
        return [None] * len(widths)
    if len(node_images) != len(widths):
        raise ValueError(
            f"`node_images` must have one entry per column ({len(widths)}); received {len(node_images)}."
        )
    checked: list[np.ndarray | None] = []
    for column, (pictures, units) in enumerate(zip(node_images, widths)):
        if pictures is None:
            checked.append(None)
            continue
        array = np.asarray(pictures)
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[0] != units or array.shape[-1] != 3:
            raise ValueError(
                f"`node_images[{column}]` must be uint8 pictures ({units}, h, w, 3); received "
                f"{array.dtype} {array.shape}."
            )
        checked.append(array)
    return checked
