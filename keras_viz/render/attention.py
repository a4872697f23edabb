"""Pictures of attention and of token attributions.

* :func:`attention_heatmap`: one query × key matrix with token labels on both axes
  (keys on top, written upwards; queries on the left), a colour bar, optional marks of
  an expected alignment.
* :func:`attention_heads`: every head of a layer plus their average, as a grid.
* :func:`alignment_matrix`: the alignment of a sequence-to-sequence model, drawn as in
  Bahdanau et al. (2015, fig. 3): source words across, output words down, white = 1.
* :func:`patch_attention_overlay`: attention over the patches of an image (ViT-style or
  Show-Attend-Tell) laid over the image.
* :func:`token_heatmap`: per-token scores as coloured text.

Labels may be any Unicode; see :mod:`keras_viz.render._text` for the fonts used and
what is drawn when no installed font covers a character. Long labels are cut with "…";
when the cells are too small for every label, every k-th label is written.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw

from keras_viz.render._text import FontChain, font_chain
from keras_viz.render.core import (
    _apply_colormap,
    _check_alpha,
    _check_colormap_name,
    _DIVERGING,
    _finite_float_array,
    grid,
    heatmap_to_rgb,
    overlay,
)

__all__ = [
    "alignment_matrix",
    "attention_heads",
    "attention_heatmap",
    "patch_attention_overlay",
    "token_heatmap",
]

_INK = (20, 20, 20)
_PAPER = (255, 255, 255)
_MARK = (230, 30, 30)
_MAX_SIDE = 768  # the matrix part of a heatmap is at most this many pixels across


def _tokens(tokens: Sequence[object] | None, count: int, name: str, axis: str) -> list[str] | None:
    if tokens is None:
        return None
    if isinstance(tokens, str):
        raise TypeError(f"`{name}` must be a sequence of tokens (strings), not one string; received {tokens!r}")
    tokens = [str(token) for token in tokens]
    if len(tokens) != count:
        raise ValueError(
            f"`{name}` has {len(tokens)} tokens but the matrix has {count} {axis}; give one token "
            f"per position (padding included)."
        )
    return tokens


def _matrix(matrix: ArrayLike, name: str = "matrix") -> np.ndarray:
    values = _finite_float_array(matrix, name)
    if values.ndim != 2:
        raise ValueError(f"`{name}` must be a (T_query, T_key) matrix; received shape {values.shape}.")
    return values


def _check_size(value: int | None, name: str, low: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` must be an int >= {low}; received {name}={value!r}.")
    return int(value)


def attention_heatmap(
    matrix: ArrayLike,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    colormap: str = "viridis",
    vmax: float | None = None,
    cell: int | None = None,
    title: str | None = None,
    expected: Sequence[int | None] | None = None,
    font_size: int = 12,
    max_label_width: int = 120,
    colorbar: bool = True,
    font: str | None = None,
) -> np.ndarray:
    """Draws one attention matrix with token labels.

    Row ``i`` is query position ``i`` (labelled on the left), column ``j`` key position
    ``j`` (labelled on top, written upwards so that long tokens stay readable).

    Args:
        matrix: ``(T_query, T_key)`` weights (each row a distribution over keys).
        query_tokens: one label per row, or None.
        key_tokens: one label per column, or None.
        colormap: a :func:`~keras_viz.render.available_colormaps` name.
        vmax: the weight drawn with the top colour; None (default) uses the matrix's
            maximum, so weak patterns stay visible (the colour bar says the scale).
            Negative weights are clipped at 0.
        cell: pixels per matrix cell; None picks 3–28 so the matrix is at most 768 px.
        title: text above the matrix.
        expected: for each query, the key index of a known alignment (None or -1:
            none), outlined in red.
        font_size: label size in pixels.
        max_label_width: labels wider than this are cut with "…".
        colorbar: draw the colour scale on the right.
        font: a font file tried before the installed fonts.

    Returns:
        uint8 ``(H, W, 3)``.

    Raises:
        ValueError: wrong shapes, a token list whose length is not the number of rows
            or columns, or bad sizes.
    """
    values = _matrix(matrix)
    rows, columns = values.shape
    queries = _tokens(query_tokens, rows, "query_tokens", "query positions (rows)")
    keys = _tokens(key_tokens, columns, "key_tokens", "key positions (columns)")
    name = _check_colormap_name(colormap)
    cell = _check_size(cell, "cell") or int(np.clip(_MAX_SIDE // max(rows, columns), 3, 28))
    font_size = _check_size(font_size, "font_size", 4)
    max_label_width = _check_size(max_label_width, "max_label_width", 8)
    chain = font_chain(font_size, font)
    top = float(vmax) if vmax is not None else float(values.max())
    if not math.isfinite(top):
        raise ValueError(f"`vmax` must be finite; received vmax={vmax!r}.")
    top = top if top > 0 else 1.0
    unit = np.clip(values / top, 0.0, 1.0)
    if name in _DIVERGING:
        unit = unit * 2.0 - 1.0
    body = _apply_colormap(unit, name).repeat(cell, axis=0).repeat(cell, axis=1)

    gap = 4
    step = max(1, math.ceil(chain.line_height / cell))  # label every step-th position
    query_labels = _label_images(chain, queries, step, max_label_width)
    key_labels = _label_images(chain, keys, step, max_label_width, rotated=True)
    left = max([image.width for image in query_labels if image is not None], default=0)
    left = left + gap if left else 0
    head = max([image.height for image in key_labels if image is not None], default=0)
    head = head + gap if head else 0
    title_image = chain.image(chain.fit(title, max(columns * cell + left, 64)), _INK, _PAPER) if title else None
    title_h = title_image.height + gap if title_image is not None else 0
    bar_w = 0
    bar_labels = []
    if colorbar:
        bar_labels = [chain.image(_number(top), _INK, _PAPER), chain.image("0", _INK, _PAPER)]
        bar_w = gap * 2 + 8 + gap + max(image.width for image in bar_labels)

    width = gap + left + columns * cell + bar_w + gap
    width = max(width, (title_image.width + 2 * gap) if title_image is not None else 0)
    height = gap + title_h + head + rows * cell + gap
    canvas = Image.new("RGB", (width, height), _PAPER)
    x0, y0 = gap + left, gap + title_h + head
    canvas.paste(Image.fromarray(body), (x0, y0))
    if title_image is not None:
        canvas.paste(title_image, (gap, gap))
    for i, image in enumerate(query_labels):
        if image is not None:
            canvas.paste(image, (x0 - gap - image.width, y0 + i * cell + (cell - image.height) // 2))
    for j, image in enumerate(key_labels):
        if image is not None:
            canvas.paste(image, (x0 + j * cell + (cell - image.width) // 2, y0 - gap - image.height))
    draw = ImageDraw.Draw(canvas)
    if expected is not None:
        _mark_expected(draw, expected, rows, columns, cell, x0, y0)
    if colorbar:
        _colorbar(canvas, name, x0 + columns * cell + 2 * gap, y0, rows * cell, bar_labels, gap)
    return np.asarray(canvas, dtype=np.uint8)


def _number(value: float) -> str:
    return f"{value:.3g}"


def _label_images(chain: FontChain, tokens: list[str] | None, step: int, max_width: int, rotated: bool = False):
    if tokens is None:
        return []
    return [_label(chain, token, max_width, rotated) if index % step == 0 else None for index, token in enumerate(tokens)]


@functools.lru_cache(maxsize=4096)
def _label(chain: FontChain, token: str, max_width: int, rotated: bool) -> Image.Image:
    """One token label (cut to ``max_width``), upright or written upwards; cached, since
    callbacks draw the same tokens for every head and every epoch (pasting never changes it)."""
    image = chain.image(chain.fit(token, max_width), _INK, _PAPER)
    return image.rotate(90, expand=True) if rotated else image


def _mark_expected(draw, expected, rows, columns, cell, x0, y0) -> None:
    expected = list(expected)
    if len(expected) != rows:
        raise ValueError(f"`expected` has {len(expected)} entries but the matrix has {rows} rows.")
    for i, j in enumerate(expected):
        if j is None or int(j) < 0:
            continue
        if int(j) >= columns:
            raise ValueError(f"`expected`[{i}]={j} is out of range: the matrix has {columns} columns.")
        x, y = x0 + int(j) * cell, y0 + i * cell
        draw.rectangle([x, y, x + cell - 1, y + cell - 1], outline=_MARK, width=max(1, cell // 8))


def _colorbar(canvas: Image.Image, name: str, x: int, y: int, height: int, labels, gap: int) -> None:
    ramp = np.linspace(1.0, 0.0, max(height, 2))[:, None]
    if name in _DIVERGING:
        ramp = ramp * 2.0 - 1.0
    bar = _apply_colormap(np.repeat(ramp, 8, axis=1), name)
    canvas.paste(Image.fromarray(bar), (x, y))
    high, low = labels
    canvas.paste(high, (x + 8 + gap, y))
    canvas.paste(low, (x + 8 + gap, max(y, y + height - low.height)))


def attention_heads(
    weights: ArrayLike,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    average: bool = True,
    columns: int | None = None,
    **options,
) -> np.ndarray:
    """Draws each head of one layer's attention, plus their average, in a grid.

    Args:
        weights: ``(heads, T_query, T_key)`` (one sample's weights from
            :class:`keras_viz.AttentionMaps`).
        query_tokens, key_tokens: labels, as for :func:`attention_heatmap`.
        average: add the mean over heads as the last tile (default True).
        columns: tiles per row (default: up to 4).
        **options: passed to :func:`attention_heatmap` (``colormap``, ``vmax``, ``cell``,
            ``font_size``, ``font``, ``expected``, ...).

    Returns:
        uint8 ``(H, W, 3)``.
    """
    values = _finite_float_array(weights, "weights")
    if values.ndim != 3:
        raise ValueError(f"`weights` must be (heads, T_query, T_key); received shape {values.shape}.")
    tiles = [
        attention_heatmap(head, query_tokens, key_tokens, title=f"head {h}", **options)
        for h, head in enumerate(values)
    ]
    if average and len(values) > 1:
        tiles.append(attention_heatmap(values.mean(axis=0), query_tokens, key_tokens, title="average", **options))
    return grid(tiles, columns=columns or min(len(tiles), 4), padding=6)


def alignment_matrix(
    weights: ArrayLike,
    source_tokens: Sequence[str] | None = None,
    target_tokens: Sequence[str] | None = None,
    *,
    expected: Sequence[int | None] | None = None,
    colormap: str = "gray",
    vmax: float | None = 1.0,
    title: str | None = "alignment",
    **options,
) -> np.ndarray:
    """The alignment of a sequence-to-sequence model (Bahdanau et al. 2015, fig. 3).

    Row ``t`` is output (target) position ``t``, column ``s`` source position ``s``;
    white is weight 1 (``vmax``), black 0.

    Args:
        weights: ``(T_target, T_source)`` cross-attention weights (e.g. a decoder's
            cross-attention averaged over heads).
        source_tokens: labels of the source (columns).
        target_tokens: labels of the output (rows).
        expected: the known source index for each output position, outlined in red.
        colormap, vmax, title, **options: as for :func:`attention_heatmap`.
    """
    return attention_heatmap(
        weights, target_tokens, source_tokens, expected=expected, colormap=colormap, vmax=vmax, title=title, **options
    )


def _patch_grid(count: int, grid_shape: tuple[int, int] | None, prefix: int | None) -> tuple[tuple[int, int], int]:
    if grid_shape is not None:
        try:
            rows, cols = (int(v) for v in grid_shape)
        except (TypeError, ValueError):
            raise ValueError(f"`grid_shape` must be (rows, columns); received grid_shape={grid_shape!r}.") from None
        if rows < 1 or cols < 1:
            raise ValueError(f"`grid_shape` must be positive; received grid_shape={grid_shape!r}.")
        extra = count - rows * cols if prefix is None else prefix
        if extra < 0 or extra + rows * cols != count:
            raise ValueError(
                f"`weights` has {count} entries, which is not {rows}×{cols} patches"
                f"{'' if prefix is None else f' after {prefix} prefix token(s)'}."
            )
        return (rows, cols), extra
    for extra in ([prefix] if prefix is not None else [0, 1]):
        side = math.isqrt(count - extra) if count - extra > 0 else 0
        if side * side == count - extra and side > 0:
            return (side, side), extra
    raise ValueError(
        f"`weights` has {count} entries, which is neither a square number of patches nor one "
        f"class token plus a square number; pass `grid_shape=(rows, columns)` (and `prefix_tokens`)."
    )


def patch_attention_overlay(
    image: ArrayLike,
    weights: ArrayLike,
    *,
    grid_shape: tuple[int, int] | None = None,
    prefix_tokens: int | None = None,
    alpha: float = 0.5,
    colormap: str = "inferno",
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Lays the attention of one query over an image split into patches.

    For a ViT-style model (or Show-Attend-Tell's attention over CNN feature positions),
    ``weights`` is one row of an attention matrix (or of a rollout): the query's weight on
    each key. Leading non-patch tokens (a class token) are dropped, the rest is laid out
    on the patch grid (row by row), scaled by its maximum, coloured, resized to the image
    (bilinear) and blended over the whole image: ``(1 - alpha)·image + alpha·colour``.

    Args:
        image: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` image.
        weights: ``(T_key,)`` weights of the chosen query.
        grid_shape: patch rows and columns; None infers a square grid, with one leading
            class token when ``T_key - 1`` is square.
        prefix_tokens: the number of leading non-patch tokens; None infers it (0 or 1).
        alpha: overlay opacity in ``[0, 1]``.
        colormap: colour map name.
        value_range: ``(lo, hi)`` of the image's values (e.g. ``(0, 1)``); None scales
            as :func:`~keras_viz.render.to_uint8_image` does.

    Returns:
        uint8 ``(H, W, 3)``.
    """
    from keras_viz.render.core import to_uint8_image

    values = _finite_float_array(weights, "weights").reshape(-1)
    prefix = _check_size(prefix_tokens, "prefix_tokens", 0)
    (rows, cols), extra = _patch_grid(values.size, grid_shape, prefix)
    patches = values[extra:].reshape(rows, cols)
    picture = to_uint8_image(image, value_range=value_range)
    alpha = _check_alpha(alpha)
    name = _check_colormap_name(colormap)
    top = float(patches.max())
    unit = np.clip(patches / top, 0.0, 1.0) if top > 0 else np.zeros_like(patches)
    # The whole image is tinted (dark = no attention), so weak attention still shows.
    colours = _apply_colormap(unit * 2.0 - 1.0 if name in _DIVERGING else unit, name)
    return overlay(picture, colours, alpha=alpha)


def token_heatmap(
    tokens: Sequence[str],
    scores: ArrayLike,
    *,
    colormap: str | None = None,
    symmetric: bool | None = None,
    percentile: float = 100.0,
    width: int = 640,
    font_size: int = 14,
    title: str | None = None,
    font: str | None = None,
) -> np.ndarray:
    """Draws tokens as text on boxes coloured by their scores (e.g. per-token attributions).

    Tokens flow left to right and wrap into lines of at most ``width`` pixels. The
    colouring follows :func:`~keras_viz.render.heatmap_to_rgb`: signed scores (any value
    below 0, or ``symmetric=True``) use a diverging map (blue negative, white 0, red
    positive), others a sequential one; the text is dark on light boxes and light on
    dark ones.

    Args:
        tokens: ``T`` tokens.
        scores: ``(T,)`` scores.
        colormap: colour map name, or None for the rule above.
        symmetric: force (True) or forbid (False) the signed colouring; None: automatic.
        percentile: clipping percentile of the normalisation (default 100: no clipping).
        width: line width in pixels.
        font_size: text size in pixels.
        title: a line above the tokens.
        font: a font file tried before the installed fonts.

    Returns:
        uint8 ``(H, width, 3)``.
    """
    values = _finite_float_array(scores, "scores").reshape(-1) if np.ndim(scores) <= 1 else None
    if values is None:
        raise ValueError(f"`scores` must be (T,); received shape {np.shape(scores)}.")
    texts = _tokens(tokens, values.size, "tokens", "scores")
    width = _check_size(width, "width", 32)
    chain = font_chain(_check_size(font_size, "font_size", 4), font)
    colours = heatmap_to_rgb(values, colormap=colormap, symmetric=symmetric, percentile=percentile)
    pad, gap = 3, 4
    box_h = chain.line_height + 2 * pad
    boxes, x, y = [], gap, gap + ((chain.line_height + gap) if title else 0)
    for text, colour in zip(texts, colours):
        shown = chain.fit(text, width - 2 * gap - 2 * pad)
        box_w = chain.width(shown) + 2 * pad
        if x + box_w > width - gap and x > gap:
            x, y = gap, y + box_h + gap
        boxes.append((x, y, box_w, shown, tuple(int(c) for c in colour)))
        x += box_w + gap
    height = y + box_h + gap
    canvas = Image.new("RGB", (width, height), _PAPER)
    draw = ImageDraw.Draw(canvas)
    if title:
        chain.draw(draw, (gap, gap), chain.fit(title, width - 2 * gap), _INK)
    for bx, by, bw, shown, colour in boxes:
        draw.rectangle([bx, by, bx + bw - 1, by + box_h - 1], fill=colour)
        luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
        chain.draw(draw, (bx + pad, by + pad), shown, _INK if luminance >= 128 else _PAPER)
    return np.asarray(canvas, dtype=np.uint8)
