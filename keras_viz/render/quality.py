"""Pictures of explanation quality: line charts (cascade and deletion curves) and tables.

Pure NumPy + Pillow, like the rest of :mod:`keras_viz.render`: the numbers come from
:mod:`keras_viz.metrics` as plain arrays, and these functions only draw them.

* :func:`line_chart` -- several named series over a shared x axis (numbers or labels).
* :func:`cascade_chart` -- the sanity-check cascade: rank correlation per method as the
  layers are randomized from the top (Adebayo et al. 2018, their Figure 2 as curves).
* :func:`table_image` -- a small table of text, for reports and TensorBoard.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["PALETTE", "cascade_chart", "line_chart", "table_image"]

PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (30, 30, 30),
    (174, 199, 232),
)
"""Series colours, in order (the ten "tab10" colours, then near-black and light blue)."""

_INK = (30, 30, 30)
_GRID = (225, 225, 225)
_AXIS = (120, 120, 120)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size only
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Any) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _check_size(size: Any) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 64 for v in size)
    ):
        raise ValueError(f"`size` must be (width, height) in pixels, each >= 64; received {size!r}.")
    return int(size[0]), int(size[1])


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]``."""
    span = high - low
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * span:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _format(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def line_chart(
    series: Mapping[str, Any],
    *,
    x: Any = None,
    x_labels: Sequence[str] | None = None,
    title: str | None = None,
    x_label: str | None = None,
    y_label: str | None = None,
    y_range: tuple[float, float] | None = None,
    size: tuple[int, int] = (560, 360),
    markers: bool = True,
) -> np.ndarray:
    """Draws named series as lines over a shared x axis, with a legend.

    Args:
        series: ``name -> (K,)`` values, all the same length. NaN values leave a gap.
        x: ``(K,)`` x positions (default ``0 .. K-1``).
        x_labels: one text label per point, written under the axis instead of numbers
            (for categories such as layer names; long labels are slanted by being
            written on alternating rows).
        title, x_label, y_label: texts around the chart.
        y_range: ``(low, high)`` of the y axis (default: the data's range, padded).
        size: ``(width, height)`` of the picture in pixels.
        markers: draw a dot at every point.

    Returns:
        ``(height, width, 3)`` uint8 picture.

    Raises:
        ValueError: no series, series of different lengths, or bad ``x``/``size``.
    """
    width, height = _check_size(size)
    if not isinstance(series, Mapping) or not series:
        raise ValueError(f"`series` must be a non-empty mapping name -> values; received {series!r}.")
    values = {str(name): np.asarray(v, np.float64).reshape(-1) for name, v in series.items()}
    lengths = {len(v) for v in values.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"Every series must have the same, non-zero length; received lengths {sorted(lengths)}.")
    count = lengths.pop()
    xs = np.arange(count, dtype=np.float64) if x is None else np.asarray(x, np.float64).reshape(-1)
    if len(xs) != count or not np.isfinite(xs).all():
        raise ValueError(f"`x` must hold {count} finite positions; received {x!r}.")
    if x_labels is not None and len(x_labels) != count:
        raise ValueError(f"`x_labels` must hold {count} labels; received {len(x_labels)}.")
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
    if y_range is None:
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pad = 0.05 * (high - low) if high > low else 0.5
        low, high = low - pad, high + pad
    else:
        low, high = (float(v) for v in y_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"`y_range` must be finite (low, high) with low < high; received {y_range!r}.")

    picture = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    font, small = _font(13), _font(11)
    line_height = _text_size(draw, "Ag", font)[1] + 4
    label_rows = 1 if x_labels is None else 2
    top = 8 + (line_height + 4 if title else 0)
    bottom = height - 8 - label_rows * line_height - (line_height if x_label else 0)
    ticks = _nice_ticks(low, high)
    tick_width = max(_text_size(draw, _format(t), small)[0] for t in ticks) if ticks else 0
    left = 8 + (line_height if y_label else 0) + tick_width + 6
    legend_width = max(_text_size(draw, name, small)[0] for name in values) + 34
    right = width - 8 - legend_width
    if right - left < 40 or bottom - top < 40:
        raise ValueError(f"`size`={size!r} is too small for this chart's texts.")

    x_low, x_high = float(xs.min()), float(xs.max())
    x_span = x_high - x_low or 1.0

    def to_px(xv: float, yv: float) -> tuple[float, float]:
        return (left + (xv - x_low) / x_span * (right - left),
                bottom - (yv - low) / (high - low) * (bottom - top))

    for tick in ticks:  # horizontal grid lines and y tick labels
        _, yp = to_px(x_low, tick)
        draw.line([(left, yp), (right, yp)], fill=_GRID)
        text = _format(tick)
        tw, th = _text_size(draw, text, small)
        draw.text((left - 6 - tw, yp - th / 2 - 2), text, fill=_INK, font=small)
    if low < 0 < high:
        _, zero = to_px(x_low, 0.0)
        draw.line([(left, zero), (right, zero)], fill=_AXIS)
    draw.rectangle([left, top, right, bottom], outline=_AXIS)

    positions = [to_px(xv, low)[0] for xv in xs]
    if x_labels is not None:
        for index, (xp, text) in enumerate(zip(positions, x_labels)):
            draw.line([(xp, bottom), (xp, bottom + 3)], fill=_AXIS)
            tw, _ = _text_size(draw, str(text), small)
            row = index % 2 if count > 1 and _crowded(draw, x_labels, small, right - left) else 0
            draw.text((xp - tw / 2, bottom + 4 + row * line_height), str(text), fill=_INK, font=small)
    else:
        for tick in _nice_ticks(x_low, x_high) if x_high > x_low else [x_low]:
            xp = to_px(tick, low)[0]
            draw.line([(xp, bottom), (xp, bottom + 3)], fill=_AXIS)
            text = _format(tick)
            tw, _ = _text_size(draw, text, small)
            draw.text((xp - tw / 2, bottom + 4), text, fill=_INK, font=small)

    for index, (name, ys) in enumerate(values.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = [to_px(xv, yv) if math.isfinite(yv) else None for xv, yv in zip(xs, ys)]
        for a, b in zip(points, points[1:]):
            if a is not None and b is not None:
                draw.line([a, b], fill=colour, width=2)
        if markers:
            for point in points:
                if point is not None:
                    draw.ellipse([point[0] - 3, point[1] - 3, point[0] + 3, point[1] + 3], fill=colour)
        legend_y = top + 4 + index * line_height
        draw.line([(right + 10, legend_y + line_height / 2 - 2), (right + 28, legend_y + line_height / 2 - 2)],
                  fill=colour, width=3)
        draw.text((right + 32, legend_y), name, fill=_INK, font=small)

    if title:
        tw, _ = _text_size(draw, title, font)
        draw.text(((left + right) / 2 - tw / 2, 6), title, fill=_INK, font=font)
    if x_label:
        tw, _ = _text_size(draw, x_label, small)
        draw.text(((left + right) / 2 - tw / 2, height - line_height - 4), x_label, fill=_INK, font=small)
    array = np.asarray(picture, dtype=np.uint8).copy()
    if y_label:
        array = _with_vertical_text(array, y_label, small, x=6, centre_y=(top + bottom) / 2)
    return array


def _crowded(draw: ImageDraw.ImageDraw, labels: Sequence[Any], font: Any, span: float) -> bool:
    """Whether labels side by side would overlap (then they alternate between two rows)."""
    widest = max(_text_size(draw, str(text), font)[0] for text in labels)
    return widest + 6 > span / max(len(labels) - 1, 1)


def _with_vertical_text(array: np.ndarray, text: str, font: Any, *, x: int, centre_y: float) -> np.ndarray:
    """Writes ``text`` rotated by 90° (reading upwards) into ``array``."""
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    tw, th = _text_size(probe, text, font)
    strip = Image.new("RGB", (tw + 4, th + 6), (255, 255, 255))
    ImageDraw.Draw(strip).text((2, 0), text, fill=_INK, font=font)
    rotated = np.asarray(strip.rotate(90, expand=True))
    h, w = rotated.shape[:2]
    y0 = int(max(0, min(array.shape[0] - h, centre_y - h / 2)))
    w = min(w, array.shape[1] - x)
    h = min(h, array.shape[0] - y0)
    array[y0 : y0 + h, x : x + w] = np.minimum(array[y0 : y0 + h, x : x + w], rotated[:h, :w])
    return array


def cascade_chart(
    correlations: Mapping[str, Any],
    layers: Sequence[str],
    *,
    title: str | None = "Sanity check: cascading randomization",
    size: tuple[int, int] = (640, 380),
) -> np.ndarray:
    """The sanity-check cascade: mean rank correlation per method as layers are randomized.

    Args:
        correlations: ``method -> (L,)`` mean rank correlations (for instance
            ``RandomizationResult.mean`` of each method), one per randomized layer.
        layers: the ``L`` layer names, from the output down, in cascade order.
        title: chart title.
        size: ``(width, height)`` in pixels.

    Returns:
        ``(height, width, 3)`` uint8 picture: the x axis starts at "trained" (correlation 1
        by definition) and adds one randomized layer per step.
    """
    layers = [str(layer) for layer in layers]
    series = {}
    for name, values in correlations.items():
        array = np.asarray(values, np.float64).reshape(-1)
        if len(array) != len(layers):
            raise ValueError(
                f"`correlations`[{name!r}] has {len(array)} values but `layers` names {len(layers)} layers."
            )
        series[name] = np.concatenate([[1.0], array])
    finite = np.concatenate([v[np.isfinite(v)] for v in series.values()]) if series else np.zeros(1)
    return line_chart(
        series,
        x_labels=["trained", *(layer.split("/")[-1] for layer in layers)],
        title=title,
        x_label="layers randomized, from the output down (cumulative)",
        y_label="rank correlation with trained map",
        y_range=(min(-0.1, float(finite.min()) - 0.05), 1.05),
        size=size,
    )


def table_image(
    rows: Sequence[Sequence[Any]],
    header: Sequence[str] | None = None,
    *,
    title: str | None = None,
    number_format: str = "{:.3f}",
) -> np.ndarray:
    """Draws a table of text and numbers (numbers right-aligned, formatted with ``number_format``).

    Args:
        rows: the table's rows; cells are strings or numbers (NaN is written as "n/a").
        header: column titles, drawn in bold-ish dark grey on a light band.
        title: a line above the table.
        number_format: ``str.format`` pattern for float cells.

    Returns:
        ``(height, width, 3)`` uint8 picture sized to fit the text.
    """
    rows = [list(row) for row in rows]
    if not rows and not header:
        raise ValueError("`rows` is empty and there is no `header`: nothing to draw.")
    columns = max([len(r) for r in rows] + [len(header or ())])

    def cell(value: Any) -> str:
        if isinstance(value, (float, np.floating)):
            return "n/a" if not math.isfinite(value) else number_format.format(float(value))
        return str(value)

    texts = [[cell(v) for v in row] + [""] * (columns - len(row)) for row in rows]
    numeric = [[isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in row]
               + [False] * (columns - len(row)) for row in rows]
    heads = [str(h) for h in header] + [""] * (columns - len(header)) if header else None
    font = _font(13)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_height = _text_size(probe, "Ag", font)[1] + 10
    widths = [
        max([_text_size(probe, t[c], font)[0] for t in texts] + ([_text_size(probe, heads[c], font)[0]] if heads else []))
        + 20
        for c in range(columns)
    ]
    title_height = line_height if title else 0
    total_rows = len(texts) + (1 if heads else 0)
    picture = Image.new("RGB", (sum(widths) + 2, title_height + total_rows * line_height + 2), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    if title:
        draw.text((4, 4), title, fill=_INK, font=font)
    y = title_height
    if heads:
        draw.rectangle([0, y, sum(widths) + 1, y + line_height], fill=(235, 238, 243))
        x = 0
        for c, text in enumerate(heads):
            draw.text((x + 10, y + 4), text, fill=(20, 20, 60), font=font)
            x += widths[c]
        y += line_height
    for r, row in enumerate(texts):
        if r % 2 == 1:
            draw.rectangle([0, y, sum(widths) + 1, y + line_height], fill=(248, 248, 248))
        x = 0
        for c, text in enumerate(row):
            tw, _ = _text_size(draw, text, font)
            offset = widths[c] - 10 - tw if numeric[r][c] else 10
            draw.text((x + offset, y + 4), text, fill=_INK, font=font)
            x += widths[c]
        y += line_height
    draw.rectangle([0, title_height, sum(widths) + 1, picture.height - 1], outline=_AXIS)
    return np.asarray(picture, dtype=np.uint8)
