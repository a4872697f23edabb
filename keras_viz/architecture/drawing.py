"""Drawing a laid-out `Graph` with Pillow: boxes, arrows, title, panels for tall models.

`render_graph` sizes the picture from the font, wraps a diagram taller than
``max_height`` into side-by-side panels, shrinks the font (then the picture) to fit
``max_width``, and draws; `model_diagram` reads, lays out and draws a model in one call.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_viz.architecture.graph import Graph, GraphNode, _check_graph, model_graph
from keras_viz.architecture.layout import Layout, layered_layout

__all__ = [
    "model_diagram",
    "render_graph",
]

_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_SOFT_INK = (70, 70, 70)
_EDGE = (90, 90, 90)
_PANEL_RULE = (200, 200, 200)
_LAYER_FILL = (223, 234, 248)
_INPUT_FILL = (218, 240, 218)
_OUTPUT_FILL = (253, 229, 200)
_NESTED_FILL = (232, 222, 247)

_MIN_FONT_SIZE = 6
_MAX_LABEL_CHARS = 48  # boxes are at most this many average characters wide


@dataclasses.dataclass(frozen=True)
class _Metrics:
    """Pixel sizes derived from the font."""

    font: Any
    line_height: int
    padding: int
    box_width: int
    box_height: int
    rank_gap: int
    margin: int
    line_width: int


@dataclasses.dataclass(frozen=True)
class _Frame:
    """Pixel frame of a rendered layout: panels of ranks side by side."""

    metrics: _Metrics
    title_height: int
    ranks_per_panel: int
    panels: int
    panel_width: int
    x_min: float
    width: int
    height: int


def render_graph(
    graph: Graph,
    *,
    max_width: int = 2000,
    max_height: int = 16384,
    font_size: int | None = None,
) -> np.ndarray:
    """Draws a graph as a block diagram.

    Layout: `layered_layout` (ranks top to bottom, branches side by side). Each
    box shows ``name (Type)``, the output shape and the parameter count; model
    inputs are green, outputs orange, nested models purple with a double border,
    other layers blue. Arrows run from the bottom of a box to the top of the
    next, leaving and entering each box on the side of the box at the other end,
    so the arrows into a merge stay apart; a skip connection runs down its own
    column beside the boxes it bypasses. The title gives the model name and
    total / trainable parameters (and says when boxes follow the call order of
    a probed model rather than its data flow).

    Size rules, which never fail: a diagram taller than ``max_height`` is
    wrapped into several panels of consecutive ranks placed side by side (an
    arrow crossing panels leaves the bottom of one and enters the top of the
    next); one wider than ``max_width`` is redrawn with a smaller font (down to
    6 px) and, if still too wide or too tall, scaled down.

    Args:
        graph: From `model_graph`.
        max_width: Largest width of the picture in pixels. Defaults to 2000.
        max_height: Largest height in pixels. Defaults to 16384.
        font_size: Size of Pillow's default font in pixels, or None for its own
            default size (10 px with FreeType).

    Returns:
        A uint8 array of shape ``(H, W, 3)``.

    Raises:
        TypeError: If ``graph`` is not a `Graph`.
        ValueError: If ``max_width``, ``max_height`` or ``font_size`` is not a
            positive integer (``max_width`` and ``max_height`` at least 64).
    """
    graph = _check_graph(graph)
    max_width = _check_size(max_width, "max_width", minimum=64)
    max_height = _check_size(max_height, "max_height", minimum=64)
    font = _load_font(font_size)
    layout = layered_layout(graph)
    title = _title_lines(graph)
    frame = _fitted_frame(graph, layout, title, font, max_width, max_height)
    picture = _draw(graph, layout, title, frame)
    return _fit_within(picture, max_width, max_height)


def model_diagram(model: keras.Model, sample: Any = None, **render_options: Any) -> np.ndarray:
    """Block diagram of a Keras model: ``render_graph(model_graph(model, sample))``.

    Args:
        model: Any Keras model.
        sample: A batch of inputs; required only for models without a static
            graph (see `model_graph`).
        **render_options: Keyword options of `render_graph` (``max_width``,
            ``max_height``, ``font_size``).

    Returns:
        A uint8 array of shape ``(H, W, 3)``.

    Raises:
        TypeError: If ``model`` is not a Keras model or an option is unknown.
        ValueError: As `model_graph` and `render_graph`.
    """
    return render_graph(model_graph(model, sample), **render_options)


def _check_size(value: Any, name: str, minimum: int = 1) -> int:
    is_integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not is_integer or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; received {name}={value!r}.")
    return int(value)


def _load_font(font_size: int | None) -> Any:
    """Pillow's default font, at ``font_size`` pixels if given."""
    font = ImageFont.load_default()
    if font_size is None:
        return font
    font_size = _check_size(font_size, "font_size")
    if isinstance(font, ImageFont.FreeTypeFont):
        return font.font_variant(size=font_size)
    # Without FreeType the default font is a fixed bitmap; say so instead of ignoring it.
    raise ValueError(
        f"`font_size`={font_size} needs Pillow built with FreeType; this Pillow only has a "
        f"fixed-size bitmap default font. Pass font_size=None."
    )


def _can_shrink(font: Any) -> bool:
    return isinstance(font, ImageFont.FreeTypeFont) and font.size > _MIN_FONT_SIZE


def _title_lines(graph: Graph) -> list[str]:
    frozen = graph.total_params - graph.trainable_params
    lines = [
        f"{graph.name}  -  total params: {graph.total_params:,}  "
        f"(trainable: {graph.trainable_params:,}, non-trainable: {frozen:,})"
    ]
    if graph.call_order:
        lines.append(
            "No static graph (subclassed model): boxes are the layer calls of one run on "
            "the sample, in call order, not a data-flow graph."
        )
    return lines


def _box_lines(node: GraphNode) -> list[str]:
    lines = [f"{node.id} ({node.type})", node.output_shape]
    if not node.is_input:
        lines.append(f"{node.params:,} params")
    return lines


def _text_width(font: Any, text: str) -> float:
    return float(font.getlength(text))


def _metrics(graph: Graph, font: Any) -> _Metrics:
    _, top, _, bottom = font.getbbox("Ag(,)")
    line_height = int(bottom - top) + max(2, int((bottom - top) * 0.3))
    padding = max(3, line_height // 2)
    widest = max(
        (_text_width(font, line) for node in graph.nodes for line in _box_lines(node)),
        default=0.0,
    )
    cap = _MAX_LABEL_CHARS * _text_width(font, "x")
    box_width = int(math.ceil(min(max(widest, 10 * line_height), cap))) + 2 * padding
    return _Metrics(
        font=font,
        line_height=line_height,
        padding=padding,
        box_width=box_width,
        box_height=3 * line_height + 2 * padding,
        rank_gap=2 * line_height + 4,
        margin=2 * line_height,
        line_width=max(1, line_height // 10),
    )


def _fitted_frame(
    graph: Graph,
    layout: Layout,
    title: Sequence[str],
    font: Any,
    max_width: int,
    max_height: int,
) -> _Frame:
    """The frame at the largest font size (not above ``font``'s) that fits ``max_width``.

    Shrinking the font also shortens the ranks, so fewer panels are needed; the
    search stops at `_MIN_FONT_SIZE` (or at once for a fixed bitmap font).
    """
    frame = _frame(graph, layout, title, font, max_height)
    while frame.width > max_width and _can_shrink(frame.metrics.font):
        size = frame.metrics.font.size
        smaller = min(size - 1, max(_MIN_FONT_SIZE, int(size * max_width / frame.width)))
        smaller_font = frame.metrics.font.font_variant(size=smaller)
        frame = _frame(graph, layout, title, smaller_font, max_height)
    return frame


def _frame(
    graph: Graph, layout: Layout, title: Sequence[str], font: Any, max_height: int
) -> _Frame:
    """Pixel frame: ranks per panel so that the height stays within ``max_height``."""
    m = _metrics(graph, font)
    title_height = len(title) * m.line_height + m.margin
    keys = list(layout.x)
    lefts = [layout.x[k] - layout.width_of(k) / 2 for k in keys]
    rights = [layout.x[k] + layout.width_of(k) / 2 for k in keys]
    x_min, x_max = (min(lefts), max(rights)) if keys else (0.0, 1.0)
    panel_width = int(math.ceil((x_max - x_min) * m.box_width))
    pitch = m.box_height + m.rank_gap
    count = max(len(layout.ranks), 1)
    fixed = 2 * m.margin + title_height
    per_panel = max(1, (max_height - fixed + m.rank_gap) // pitch)
    panels = math.ceil(count / per_panel)
    per_panel = math.ceil(count / panels)  # balance the panels
    content_height = per_panel * pitch - m.rank_gap
    title_width = max(_text_width(font, line) for line in title)
    diagram_width = panels * panel_width + (panels - 1) * 2 * m.margin
    return _Frame(
        metrics=m,
        title_height=title_height,
        ranks_per_panel=per_panel,
        panels=panels,
        panel_width=panel_width,
        x_min=x_min,
        width=int(math.ceil(max(title_width, diagram_width))) + 2 * m.margin,
        height=fixed + content_height,
    )


def _draw(graph: Graph, layout: Layout, title: Sequence[str], frame: _Frame) -> np.ndarray:
    m = frame.metrics
    image = Image.new("RGB", (frame.width, frame.height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(title):
        draw.text((m.margin, m.margin + i * m.line_height), line, fill=_INK, font=m.font)
    for panel in range(1, frame.panels):
        left = _panel_left(frame, panel) - m.margin
        rule = [(left, frame.title_height + m.margin), (left, frame.height - m.margin)]
        draw.line(rule, fill=_PANEL_RULE)
    ports = _ports(graph, layout, frame)
    for edge in dict.fromkeys(graph.edges):
        _draw_edge(draw, layout, frame, edge, ports)
    for node in graph.nodes:
        _draw_box(draw, node, _box_origin(layout, frame, node.id), m)
    return np.asarray(image, dtype=np.uint8)


def _panel_left(frame: _Frame, panel: int) -> int:
    return frame.metrics.margin + panel * (frame.panel_width + 2 * frame.metrics.margin)


def _rank_top(frame: _Frame, rank: int) -> tuple[int, int]:
    """``(panel, y of the top of the rank's boxes)``."""
    panel, row = divmod(rank, frame.ranks_per_panel)
    m = frame.metrics
    return panel, frame.title_height + m.margin + row * (m.box_height + m.rank_gap)


def _x_pixels(layout: Layout, frame: _Frame, key: str, panel: int) -> float:
    return _panel_left(frame, panel) + (layout.x[key] - frame.x_min) * frame.metrics.box_width


def _box_origin(layout: Layout, frame: _Frame, key: str) -> tuple[float, float]:
    """Top-left corner of a node's box in pixels."""
    panel, top = _rank_top(frame, layout.rank[key])
    return _x_pixels(layout, frame, key, panel) - frame.metrics.box_width / 2, top


def _ports(graph: Graph, layout: Layout, frame: _Frame) -> dict[tuple[str, str, str], float]:
    """x offsets from the box centre where each edge leaves (``"out"``) or enters (``"in"``).

    An arrow leaves and enters a box on the side of the point it comes from or
    goes to (half-way towards it, clamped to the box), so an arrow from straight
    above is vertical and the two arrows into a merge stay apart.
    """
    ports: dict[tuple[str, str, str], float] = {}
    reach = 0.5 * frame.metrics.box_width - frame.metrics.padding
    for edge in dict.fromkeys(graph.edges):
        parent, child = edge
        route = layout.routes[edge]
        after_parent = route[0] if route else child
        before_child = route[-1] if route else parent
        for side, node, other in (("out", parent, after_parent), ("in", child, before_child)):
            offset = 0.5 * (layout.x[other] - layout.x[node]) * frame.metrics.box_width
            ports[(side, parent, child)] = max(-reach, min(reach, offset))
    return ports


def _draw_edge(
    draw: ImageDraw.ImageDraw,
    layout: Layout,
    frame: _Frame,
    edge: tuple[str, str],
    ports: Mapping[tuple[str, str, str], float],
) -> None:
    """Draws one edge: down from the parent, through its waypoints, into the child."""
    m = frame.metrics
    parent, child = edge
    # Points as (rank, panel, x, y); each waypoint contributes the top and bottom of its rank.
    points = []
    panel, top = _rank_top(frame, layout.rank[parent])
    x = _x_pixels(layout, frame, parent, panel) + ports[("out", parent, child)]
    points.append((panel, x, top + m.box_height))
    for key in layout.routes[edge]:
        panel, top = _rank_top(frame, layout.rank[key])
        x = _x_pixels(layout, frame, key, panel)
        points.extend([(panel, x, top), (panel, x, top + m.box_height)])
    panel, top = _rank_top(frame, layout.rank[child])
    x = _x_pixels(layout, frame, child, panel) + ports[("in", parent, child)]
    points.append((panel, x, top))
    half_gap = m.rank_gap / 2
    for (p0, x0, y0), (p1, x1, y1) in zip(points, points[1:]):
        if p0 == p1:
            draw.line([(x0, y0), (x1, y1)], fill=_EDGE, width=m.line_width)
        else:  # the hop crosses into the next panel: leave at the bottom, enter at the top
            draw.line([(x0, y0), (x0, y0 + half_gap)], fill=_EDGE, width=m.line_width)
            draw.line([(x1, y1 - half_gap), (x1, y1)], fill=_EDGE, width=m.line_width)
    (p0, x0, y0), (p1, x1, y1) = points[-2], points[-1]
    if p0 != p1:
        x0, y0 = x1, y1 - half_gap
    _draw_arrowhead(draw, (x0, y0), (x1, y1), size=max(4.0, m.line_height * 0.5))


def _draw_arrowhead(
    draw: ImageDraw.ImageDraw, start: tuple[float, float], tip: tuple[float, float], size: float
) -> None:
    dx, dy = tip[0] - start[0], tip[1] - start[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    base = (tip[0] - ux * size, tip[1] - uy * size)
    half = size * 0.45
    left = (base[0] - uy * half, base[1] + ux * half)
    right = (base[0] + uy * half, base[1] - ux * half)
    draw.polygon([tip, left, right], fill=_EDGE)


def _fill(node: GraphNode) -> tuple[int, int, int]:
    if node.is_input:
        return _INPUT_FILL
    if node.is_nested_model:
        return _NESTED_FILL
    if node.is_output:
        return _OUTPUT_FILL
    return _LAYER_FILL


def _draw_box(
    draw: ImageDraw.ImageDraw, node: GraphNode, origin: tuple[float, float], m: _Metrics
) -> None:
    left, top = origin
    right, bottom = left + m.box_width, top + m.box_height
    draw.rectangle([left, top, right, bottom], fill=_fill(node), outline=_INK, width=m.line_width)
    if node.is_nested_model:
        inset = 2 + m.line_width
        inner = [left + inset, top + inset, right - inset, bottom - inset]
        draw.rectangle(inner, outline=_INK, width=m.line_width)
    room = m.box_width - 2 * m.padding
    for i, line in enumerate(_box_lines(node)):
        text = _fit_text(m.font, line, room)
        x = left + (m.box_width - _text_width(m.font, text)) / 2
        y = top + m.padding + i * m.line_height
        draw.text((x, y), text, fill=_INK if i == 0 else _SOFT_INK, font=m.font)


def _fit_text(font: Any, text: str, width: float) -> str:
    """``text``, shortened with ``...`` to fit ``width`` pixels."""
    if _text_width(font, text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if _text_width(font, text[:middle] + "...") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "..."


def _fit_within(picture: np.ndarray, max_width: int, max_height: int) -> np.ndarray:
    """Scales ``picture`` down (keeping its aspect) until it fits; never up."""
    height, width = picture.shape[:2]
    scale = min(1.0, max_width / width, max_height / height)
    if scale >= 1.0:
        return picture
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    smaller = Image.fromarray(picture).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(smaller, dtype=np.uint8)
