"""Weights as tiles: the pure NumPy maths of drawing kernels and Dense weights.

Convolution kernels (Conv1D/2D/3D, transposed, depthwise) and Dense kernels become
float32 tiles in ``[0, 1]`` with one label each, normalised symmetrically around zero
per filter (``0.5 + 0.5 * w / max|w|``); see :mod:`keras_viz.filters` for the
conventions and the papers. Nothing here touches a model: the functions take arrays.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image

from keras_viz.render._checks import _finite_float_array

__all__ = [
    "conv_filter_labels",
    "conv_filter_tiles",
    "dense_weight_image",
    "dense_weight_labels",
]

KernelLayout = Literal["conv", "transpose", "depthwise"]
_LAYOUTS = ("conv", "transpose", "depthwise")


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #


def _check_positive_int(value: int, name: str) -> int:
    """Checks that ``value`` is an integer >= 1 (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer; received {name}={value!r}."
        )
    return int(value)


def _kernel_array(kernel: ArrayLike, name: str = "kernel") -> np.ndarray:
    """Returns ``kernel`` as a non-empty, finite float64 array."""
    return _finite_float_array(kernel, name)


def _check_layout(layout: str) -> str:
    if layout not in _LAYOUTS:
        raise ValueError(
            f"`layout` must be one of {', '.join(repr(name) for name in _LAYOUTS)}; "
            f"received layout={layout!r}."
        )
    return layout


def _check_input_shape(input_shape: Sequence[int], units_in: int) -> tuple[int, ...]:
    """Checks an explicit Dense input shape against the kernel's input size."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(
            "`input_shape` must be a sequence of positive integers such as (28, 28, 1); "
            f"received input_shape={input_shape!r}."
        ) from None
    if not shape or any(
        isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1 for d in shape
    ):
        raise ValueError(
            "`input_shape` must be a sequence of positive integers such as (28, 28, 1); "
            f"received input_shape={input_shape!r}."
        )
    shape = tuple(int(d) for d in shape)
    if len(shape) > 4:
        raise ValueError(
            "`input_shape` must have 1 to 4 dimensions ((n,), (h, w), (h, w, c) or "
            f"(d, h, w, c)); received input_shape={input_shape!r}."
        )
    if math.prod(shape) != units_in:
        raise ValueError(
            f"`input_shape`={shape} holds {math.prod(shape)} values but the kernel has "
            f"{units_in} input rows (kernel.shape[0]); pass the shape of the input "
            "before it was flattened."
        )
    return shape


# --------------------------------------------------------------------------- #
# Pure tile maths
# --------------------------------------------------------------------------- #


@dataclasses.dataclass(frozen=True)
class _TileSet:
    """Tiles with their labels and the grid width that shows their structure."""

    tiles: list[np.ndarray]
    labels: list[str]
    columns: int | None  # None: let render.grid choose ceil(sqrt(n)).


def _symmetric_unit(values: np.ndarray, magnitude: float) -> np.ndarray:
    """Maps ``[-magnitude, magnitude]`` to ``[0, 1]``, 0 to 0.5."""
    if magnitude <= 0.0:
        return np.full(values.shape, 0.5, dtype=np.float32)
    return np.clip(0.5 + 0.5 * values / magnitude, 0.0, 1.0).astype(np.float32)


def _conv_tileset(
    kernel: ArrayLike,
    *,
    max_filters: int,
    max_channels: int,
    layout: str,
    rgb: bool | None,
    prefix: str = "f",
) -> _TileSet:
    """The tiles, labels and grid columns of a convolution kernel."""
    weights = _kernel_array(kernel)
    max_filters = _check_positive_int(max_filters, "max_filters")
    max_channels = _check_positive_int(max_channels, "max_channels")
    layout = _check_layout(layout)
    if weights.ndim not in (3, 4, 5):
        raise ValueError(
            "`kernel` must have rank 3 (1-D conv: (k, in, out)), 4 (2-D conv: "
            "(kh, kw, in, out)) or 5 (3-D conv: (kd, kh, kw, in, out)); received a "
            f"kernel of rank {weights.ndim} with shape {weights.shape}."
        )
    if rgb not in (None, True, False):
        raise ValueError(f"`rgb` must be None, True or False; received rgb={rgb!r}.")

    multiplier = 1
    if layout == "transpose":
        # Keras stores transposed-conv kernels as (..., out, in).
        weights = np.swapaxes(weights, -1, -2)
    elif layout == "depthwise":
        # (..., in, multiplier): every (channel c, multiplier m) pair is its own
        # single-channel filter; Keras numbers its output c * multiplier + m.
        channels, multiplier = weights.shape[-2:]
        weights = weights.reshape(weights.shape[:-2] + (1, channels * multiplier))
        if rgb:
            raise ValueError(
                "`rgb`=True is not possible with layout='depthwise': each depthwise "
                "filter sees a single input channel."
            )

    n_in, n_out = weights.shape[-2:]
    shown = range(min(n_out, max_filters))
    # One scale per filter, over every weight of it (all channels, all depths).
    scales = np.abs(weights).reshape(-1, n_out).max(axis=0)

    def label(o: int, c: int | None = None) -> str:
        if layout == "depthwise":
            return f"c{o // multiplier}" + (f" m{o % multiplier}" if multiplier > 1 else "")
        return f"{prefix}{o}" + ("" if c is None else f" c{c}")

    if weights.ndim == 5:
        # 3-D kernels: show the middle depth slice (documented choice).
        weights = weights[weights.shape[0] // 2]

    if weights.ndim == 3:
        if rgb:
            raise ValueError(
                "`rgb`=True needs a 2-D or 3-D kernel; 1-D kernels are drawn as grey "
                f"(in, k) images. Received a kernel of shape {np.shape(kernel)}."
            )
        # 1-D kernels: filter o is an (in, k) picture, one row per input channel.
        rows = min(n_in, max_channels)
        tiles = [_symmetric_unit(weights[:, :rows, o].T, scales[o]) for o in shown]
        labels = [label(o) for o in shown]
        columns = min(multiplier, len(tiles)) if multiplier > 1 else None
        return _TileSet(tiles, labels, columns)

    if rgb is None:
        rgb = n_in == 3 and layout != "depthwise"
    if rgb:
        if n_in != 3:
            raise ValueError(
                f"`rgb`=True needs a kernel with 3 input channels; received kernel of "
                f"shape {np.shape(kernel)} with {n_in} input channels."
            )
        tiles = [_symmetric_unit(weights[:, :, :, o], scales[o]) for o in shown]
        return _TileSet(tiles, [label(o) for o in shown], None)

    if layout == "depthwise":
        tiles = [_symmetric_unit(weights[:, :, 0, o], scales[o]) for o in shown]
        labels = [label(o) for o in shown]
        columns = min(multiplier, len(tiles)) if multiplier > 1 else None
        return _TileSet(tiles, labels, columns)

    channels = range(min(n_in, max_channels))
    tiles, labels = [], []
    for o in shown:
        for c in channels:
            tiles.append(_symmetric_unit(weights[:, :, c, o], scales[o]))
            labels.append(label(o, c if n_in > 1 else None))
    # One row per filter, one column per input channel.
    columns = len(channels) if len(channels) > 1 else None
    return _TileSet(tiles, labels, columns)


def conv_filter_tiles(
    kernel: ArrayLike,
    *,
    max_filters: int = 64,
    max_channels: int = 8,
    layout: KernelLayout = "conv",
    rgb: bool | None = None,
) -> list[np.ndarray]:
    """Draws the filters of a convolution kernel as tiles.

    What is drawn depends on the kernel's rank and ``layout``:

    * **2-D, 3 input channels** (first layers on RGB images): one RGB tile
      ``(kh, kw, 3)`` per filter, as in Krizhevsky et al. 2012 (Fig. 3).
    * **2-D, any other number of input channels**: one grey tile
      ``(kh, kw)`` per (filter, input channel) pair, for the first
      ``max_channels`` input channels of the first ``max_filters`` filters,
      ordered filter by filter, so that a grid with ``max_channels`` columns
      has one row per filter and one column per input channel. Deeper layers
      have hundreds of input channels; per-channel tiles are how CS231n and
      Zeiler & Fergus 2014 show them, and the caps keep the picture bounded.
    * **1-D** ``(k, in, out)``: one grey ``(in, k)`` tile per filter (one row
      per input channel, the first ``max_channels`` of them).
    * **3-D** ``(kd, kh, kw, in, out)``: the middle depth slice
      ``kernel[kd // 2]``, drawn as a 2-D kernel; it is normalised with the
      whole 3-D filter's scale, so a faint slice means the weight sits in
      other depths.
    * ``layout="depthwise"`` ``(..., in, multiplier)`` (DepthwiseConv and the
      depthwise half of SeparableConv): each (channel, multiplier) pair is a
      single-channel filter drawn as one grey tile; the first ``max_filters``
      of the ``in * multiplier`` filters are drawn, in Keras' output order
      (channel-major). ``max_channels`` does not apply.
    * ``layout="transpose"`` ``(..., out, in)`` (Conv*Transpose): the last two
      axes are swapped first, so "filter" means output channel and "channel"
      input channel, as for a normal convolution. Tiles show the kernel as
      stored: the patch that one input pixel stamps onto the output.

    Every filter is normalised symmetrically around zero over all its weights
    (``0.5 + 0.5 * w / max|w|``): 0.5 is a zero weight, so the colours and
    grey levels of one filter are comparable; see the module docstring.

    Args:
        kernel: Kernel array of rank 3, 4 or 5 in Keras' layout.
        max_filters: Most filters drawn (the first ones). Defaults to 64.
        max_channels: Most input channels drawn per filter for grey tiles.
            Defaults to 8.
        layout: ``"conv"`` (``(..., in, out)``, Conv1D/2D/3D), ``"transpose"``
            (``(..., out, in)``) or ``"depthwise"`` (``(..., in, multiplier)``).
            Defaults to ``"conv"``.
        rgb: Whether to draw 2-D filters as RGB tiles; None (the default)
            means "when the kernel has exactly 3 input channels". Pass False
            for a 3-channel input that is not an RGB image.

    Returns:
        A list of float32 tiles in ``[0, 1]``: ``(h, w)`` grey or
        ``(h, w, 3)`` RGB. `conv_filter_labels` returns their labels.

    Raises:
        TypeError: If ``kernel`` is not numeric.
        ValueError: If ``kernel`` is empty, not finite or not of rank 3-5,
            ``layout`` is unknown, ``max_filters``/``max_channels`` are not
            positive integers, or ``rgb=True`` is impossible for the kernel.

    Example:
        >>> tiles = conv_filter_tiles(conv.kernel.numpy())
        >>> sheet = render.grid(tiles, labels=conv_filter_labels(conv.kernel.numpy()), scale=8)
    """
    return _conv_tileset(
        kernel, max_filters=max_filters, max_channels=max_channels, layout=layout, rgb=rgb
    ).tiles


def conv_filter_labels(
    kernel: ArrayLike,
    *,
    max_filters: int = 64,
    max_channels: int = 8,
    layout: KernelLayout = "conv",
    rgb: bool | None = None,
) -> list[str]:
    """Labels of the tiles that `conv_filter_tiles` returns, in the same order.

    ``"f3"`` is filter (output channel) 3; ``"f3 c1"`` its slice on input
    channel 1; for depthwise kernels ``"c4 m1"`` is input channel 4,
    multiplier 1 (``"c4"`` when the multiplier is 1).

    Args:
        kernel: As for `conv_filter_tiles`.
        max_filters: As for `conv_filter_tiles`. Defaults to 64.
        max_channels: As for `conv_filter_tiles`. Defaults to 8.
        layout: As for `conv_filter_tiles`. Defaults to ``"conv"``.
        rgb: As for `conv_filter_tiles`. Defaults to None.

    Returns:
        One label per tile.

    Raises:
        TypeError, ValueError: As for `conv_filter_tiles`.
    """
    return _conv_tileset(
        kernel, max_filters=max_filters, max_channels=max_channels, layout=layout, rgb=rgb
    ).labels


def _fit_sides(values: np.ndarray, max_side: int) -> np.ndarray:
    """Box-downsamples each side of a 2-D map longer than ``max_side`` to ``max_side``.

    Sides are fitted independently, so a 10 x 3200 kernel keeps its 10 unit
    rows (fitting the aspect ratio would merge them into 3).
    """
    height, width = values.shape
    size = (min(width, max_side), min(height, max_side))
    if size == (width, height):
        return values
    picture = Image.fromarray(values.astype(np.float32))  # Pillow mode "F".
    return np.asarray(picture.resize(size, resample=Image.Resampling.BOX), dtype=np.float32)


def _stretch_short_side(values: np.ndarray) -> np.ndarray:
    """Repeats rows (or columns) so the picture is no flatter than 1:4."""
    height, width = values.shape
    if 4 * height < width:
        return np.repeat(values, math.ceil(width / (4 * height)), axis=0)
    if 4 * width < height:
        return np.repeat(values, math.ceil(height / (4 * width)), axis=1)
    return values


def _dense_tileset(
    kernel: ArrayLike,
    input_shape: Sequence[int] | None,
    *,
    max_units: int,
    max_channels: int,
    max_side: int,
) -> _TileSet:
    """The tiles and labels of a Dense kernel."""
    weights = _kernel_array(kernel)
    max_units = _check_positive_int(max_units, "max_units")
    max_channels = _check_positive_int(max_channels, "max_channels")
    max_side = _check_positive_int(max_side, "max_side")
    if weights.ndim != 2:
        raise ValueError(
            "`kernel` must be a Dense kernel of rank 2, (inputs, units); received a "
            f"kernel of rank {weights.ndim} with shape {weights.shape}."
        )
    units_in, units = weights.shape
    shape = None if input_shape is None else _check_input_shape(input_shape, units_in)

    if shape is not None and len(shape) >= 2:
        # A Dense unit on a flattened (h, w, c) input is a convolution filter
        # as large as the input: reuse the filter drawing, labelled by unit.
        if len(shape) == 2:
            shape = shape + (1,)
        return _conv_tileset(
            weights.reshape(shape + (units,)),
            max_filters=max_units,
            max_channels=max_channels,
            layout="conv",
            rgb=None,
            prefix="u",
        )

    # No image layout: the whole kernel as one picture, one row per unit.
    picture = _symmetric_unit(weights.T, float(np.abs(weights).max()))
    picture = _stretch_short_side(_fit_sides(picture, max_side))
    label = f"units x inputs: {units} x {units_in}"
    return _TileSet([picture], [label], None)


def dense_weight_image(
    kernel: ArrayLike,
    input_shape: Sequence[int] | None = None,
    *,
    max_units: int = 64,
    max_channels: int = 8,
    max_side: int = 1024,
) -> list[np.ndarray]:
    """Draws a Dense kernel: unit templates, or the whole weight matrix.

    * ``input_shape`` of rank 2 or more (the input's shape before it was
      flattened, e.g. ``(28, 28, 1)`` or ``(32, 32, 3)``): each of the first
      ``max_units`` units' weights is reshaped to that shape and drawn like a
      convolution filter as large as the image (see `conv_filter_tiles`):
      one RGB tile per unit for 3 channels (the class templates of a linear
      classifier, CS231n), one grey tile for 1 channel or ``(h, w)``, and
      grey (unit, channel) tiles for the first ``max_channels`` of any other
      channel count; ``(d, h, w, c)`` shows the middle depth slice.
    * ``input_shape`` None or of rank 1: the whole kernel as one grey image
      with one row per unit and one column per input (the transpose of
      ``kernel``), normalised symmetrically over the whole kernel. Each side
      longer than ``max_side`` is box-averaged down to ``max_side`` on its
      own (so units are not merged unless there are more than ``max_side``
      of them); then, if the picture is flatter than 1:4, its rows (or
      columns) are repeated until it is not (a 10 x 784 kernel becomes a
      legible 200 x 784 picture rather than a 10-pixel strip).
      ``max_units`` does not apply.

    Args:
        kernel: Dense kernel ``(inputs, units)``.
        input_shape: Shape of the input before flattening, whose product must
            equal ``kernel.shape[0]``; or None.
        max_units: Most unit templates drawn (the first ones). Defaults to 64.
        max_channels: Most channels per unit for inputs that have neither 1
            nor 3 channels. Defaults to 8.
        max_side: Longest side of the whole-kernel picture. Defaults to 1024.

    Returns:
        A list of float32 tiles in ``[0, 1]`` (``(h, w)`` or ``(h, w, 3)``);
        `dense_weight_labels` returns their labels.

    Raises:
        TypeError: If ``kernel`` is not numeric.
        ValueError: If ``kernel`` is not a finite, non-empty rank-2 array,
            ``input_shape`` is malformed or does not multiply to
            ``kernel.shape[0]``, or a cap is not a positive integer.

    Example:
        >>> templates = dense_weight_image(linear.kernel.numpy(), (32, 32, 3))
    """
    return _dense_tileset(
        kernel, input_shape, max_units=max_units, max_channels=max_channels, max_side=max_side
    ).tiles


def dense_weight_labels(
    kernel: ArrayLike,
    input_shape: Sequence[int] | None = None,
    *,
    max_units: int = 64,
    max_channels: int = 8,
    max_side: int = 1024,
) -> list[str]:
    """Labels of the tiles that `dense_weight_image` returns, in the same order.

    ``"u3"`` is unit 3 (``"u3 c1"`` its channel 1); the whole-kernel picture
    is labelled ``"units x inputs: U x I"``.

    Args:
        kernel: As for `dense_weight_image`.
        input_shape: As for `dense_weight_image`.
        max_units: As for `dense_weight_image`. Defaults to 64.
        max_channels: As for `dense_weight_image`. Defaults to 8.
        max_side: As for `dense_weight_image`. Defaults to 1024.

    Returns:
        One label per tile.

    Raises:
        TypeError, ValueError: As for `dense_weight_image`.
    """
    return _dense_tileset(
        kernel, input_shape, max_units=max_units, max_channels=max_channels, max_side=max_side
    ).labels
