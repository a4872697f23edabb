"""Visualize the weights: convolution filters and Dense templates as pictures.

The oldest way to look inside a network is to draw its learned weights
(Karpathy, CS231n "Visualizing what ConvNets learn"):

* **First-layer filters** look at pixels, so a filter with 3 input channels is
  itself a small colour image: AlexNet's first layer shows oriented edges,
  Gabor-like patterns and colour blobs (Krizhevsky, Sutskever & Hinton 2012,
  "ImageNet Classification with Deep Convolutional Neural Networks", Fig. 3).
  Smooth filters mean a well-trained layer; noisy ones a layer that has not
  converged or lacks regularisation (Zeiler & Fergus 2014, "Visualizing and
  Understanding Convolutional Networks", which used them to spot dead and
  aliased first-layer filters).
* **Deeper filters** mix many feature maps, so each (filter, input channel)
  slice is drawn as its own grey tile.
* **Dense weights** on a flattened image are templates: each unit of a linear
  classifier reshaped to the input image shows what that class "looks for"
  (CS231n, "Linear classification").

Keras' ``TensorBoard(write_images=True)`` silently skips every convolution
kernel whose last dimension is not 1, 3 or 4; here nothing is skipped
silently: `drawable_layers` lists what can be drawn and `undrawable_layers`
lists every other layer holding weights, with the reason.

Conventions shared by every function:

* **Symmetric normalisation around zero, per filter.** A tile's value is
  ``0.5 + 0.5 * w / max|w|``, where the maximum is taken over the *whole*
  filter (all its input channels and, for Conv3D, all its depth slices; for a
  Dense unit, its whole weight vector). So 0.5 (mid grey) is a zero weight,
  0 and 1 are the filter's largest negative and positive magnitudes, and the
  channels of one filter are comparable with each other (the brightness of
  two different filters is not: each has its own scale). An all-zero filter
  is uniformly 0.5.
* Tiles are float32 arrays in ``[0, 1]``: ``(h, w)`` grey or ``(h, w, 3)``
  RGB, ready for `keras_viz.render.grid`.
* Biases are not drawn (one number per filter carries no spatial pattern).

Example::

    import keras_viz as kv
    from keras_viz import filters, render

    picture = filters.filter_grid(model, "conv1")        # (H, W, 3) uint8
    render.to_pil(picture).save("conv1_filters.png")
    for path, reason in filters.undrawable_layers(model):
        print(f"not drawn: {path}: {reason}")
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal

import keras
import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageFont

from keras_viz import render
from keras_viz._model import check_model, child_layers, find_layer, iter_layers, layer_path

__all__ = [
    "conv_filter_labels",
    "conv_filter_tiles",
    "dense_weight_image",
    "dense_weight_labels",
    "drawable_layers",
    "draw_tilesets",
    "filter_grid",
    "filter_tilesets",
    "undrawable_layers",
]

KernelLayout = Literal["conv", "transpose", "depthwise"]
_LAYOUTS = ("conv", "transpose", "depthwise")

# filter_grid picks an integer scale so that the shortest side of the smallest
# tile is at least this many pixels (a 3x3 kernel becomes >= 24x24)...
_MIN_TILE_PX = 24
# ...unless that would make the longest tile side exceed this many pixels.
_MAX_TILE_PX = 512


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
    return render.colour._finite_float_array(kernel, name)


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


# --------------------------------------------------------------------------- #
# Which layers can be drawn
# --------------------------------------------------------------------------- #

_L = keras.layers
# Order matters only for readability: these class families are disjoint.
_KINDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("separable", (_L.SeparableConv1D, _L.SeparableConv2D)),
    ("depthwise", (_L.DepthwiseConv1D, _L.DepthwiseConv2D)),
    ("transpose", (_L.Conv1DTranspose, _L.Conv2DTranspose, _L.Conv3DTranspose)),
    ("conv", (_L.Conv1D, _L.Conv2D, _L.Conv3D)),
    ("dense", (_L.Dense,)),
)

_RNN_CELLS = (_L.LSTMCell, _L.GRUCell, _L.SimpleRNNCell)
_NORMALIZATIONS = (
    _L.BatchNormalization,
    _L.LayerNormalization,
    _L.GroupNormalization,
    _L.Normalization,
)


def _layer_kind(layer: keras.layers.Layer) -> str | None:
    for kind, classes in _KINDS:
        if isinstance(layer, classes):
            return kind
    return None


def _quantization_mode(layer: keras.layers.Layer) -> str | None:
    try:
        return layer.quantization_mode
    except AttributeError:
        return None


def _is_drawable(layer: keras.layers.Layer) -> bool:
    return _layer_kind(layer) is not None and layer.built and _quantization_mode(layer) is None


def _own_weights(layer: keras.layers.Layer) -> list:
    """Weights held by ``layer`` itself, not by its sub-layers (reported on their own)."""
    inherited = {id(weight) for child in child_layers(layer) for weight in child.weights}
    return [weight for weight in layer.weights if id(weight) not in inherited]


def _weights_summary(weights: Sequence) -> str:
    return ", ".join(f"{weight.name} {tuple(weight.shape)}" for weight in weights)


def _undrawable_reason(layer: keras.layers.Layer) -> str | None:
    """Why a layer's weights are not drawn, or None if there is nothing to report."""
    name = type(layer).__name__
    if _layer_kind(layer) is not None:
        if not layer.built:
            return (
                f"{name}: not built yet, so it has no weights; call the model on data "
                "(or build it) first"
            )
        mode = _quantization_mode(layer)
        if mode is not None:
            return (
                f"{name}: its kernel is quantized to {mode}; draw the float model "
                "before quantize()"
            )
        return None
    weights = _own_weights(layer)
    if not weights:
        return None
    if isinstance(layer, _L.Embedding):
        why = (
            "an embedding table holds one vector per token, with no spatial layout to "
            "draw (project it instead, e.g. with the TensorBoard projector)"
        )
    elif isinstance(layer, _NORMALIZATIONS):
        why = "normalisation parameters are one number per channel, not filters"
    elif isinstance(layer, _RNN_CELLS):
        why = (
            "recurrent cell kernels (input and recurrent weights of the gates) have no "
            "image layout"
        )
    elif isinstance(layer, _L.EinsumDense):
        why = (
            f"an EinsumDense kernel (equation {layer.equation!r}) has no standard "
            "(inputs, units) or filter layout"
        )
    elif isinstance(layer, _L.PReLU):
        why = "PReLU slopes are activation parameters, not filters"
    else:
        why = f"keras-viz knows no filter layout for {name}"
    return f"{name}: {why}; weights: {_weights_summary(weights)}"


def _all_layers(model: keras.Model) -> list[tuple[str, keras.layers.Layer]]:
    """The model itself (as its name, for weights it adds directly) then every layer."""
    return [(model.name, model), *iter_layers(model)]


def drawable_layers(model: keras.Model) -> list[tuple[str, keras.layers.Layer]]:
    """Every layer whose kernel `filter_grid` can draw, at every depth.

    Drawable: built, unquantized ``Conv1D/2D/3D``, ``Conv1D/2D/3DTranspose``,
    ``DepthwiseConv1D/2D``, ``SeparableConv1D/2D`` and ``Dense`` layers (and
    their subclasses), found inside nested models and wrappers too.

    Args:
        model: Any Keras model (Sequential, functional, subclassed, nested).

    Returns:
        ``(path, layer)`` pairs in `keras_viz.iter_layers` order; paths join
        the names of enclosing models with ``/`` (``"backbone/conv1"``).

    Raises:
        TypeError: If ``model`` is not a ``keras.Model``.
    """
    check_model(model)
    return [(path, layer) for path, layer in iter_layers(model) if _is_drawable(layer)]


def undrawable_layers(model: keras.Model) -> list[tuple[str, str]]:
    """Every layer holding weights that `filter_grid` does not draw, with why.

    So a caller can report them rather than skip them silently (Keras'
    ``write_images`` drops every kernel it cannot draw without a word).
    Listed: layers with weights of their own and no drawable kernel
    (Embedding, normalisation layers, recurrent cells, EinsumDense, custom
    layers, and the model itself if it adds weights directly), plus drawable
    kinds that are not built yet or are quantized. Containers (models,
    wrappers such as ``Bidirectional``, RNN layers) are not listed for the
    weights of their sub-layers: those sub-layers are listed instead
    (``"lstm/lstm_cell"``). Biases of drawable layers are not listed.

    Args:
        model: Any Keras model.

    Returns:
        ``(path, reason)`` pairs; the reason names the layer class, why it is
        not drawn and its weights with their shapes.

    Raises:
        TypeError: If ``model`` is not a ``keras.Model``.
    """
    check_model(model)
    found = []
    for path, layer in _all_layers(model):
        reason = _undrawable_reason(layer)
        if reason is not None:
            found.append((path, reason))
    return found


# --------------------------------------------------------------------------- #
# Dense input shape from the Keras graph
# --------------------------------------------------------------------------- #


def _producer(tensor: object) -> keras.layers.Layer | None:
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation


def _single_input(layer: keras.layers.Layer) -> object | None:
    """The one symbolic input tensor of a layer called exactly once in a graph."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if len(nodes) != 1:
        return None
    inputs = list(nodes[0].input_tensors)
    return inputs[0] if len(inputs) == 1 else None


def _flattened_input_shape(layer: keras.layers.Layer) -> tuple[int, ...] | None:
    """The shape a Dense layer's input had before a Flatten of the model input.

    Found when, in the Keras graph of a Sequential or functional model (nested
    ones too), the path from a model ``Input`` to ``layer`` is a chain of
    single-input layers without weights that contains a ``Flatten``; the
    shape is that of the Flatten's input. Otherwise (no graph, as in
    subclassed models; a layer with weights before the Dense; no Flatten;
    branching) returns None.
    """
    try:
        tensor = _single_input(layer)
        shape = None
        for _ in range(1000):  # A bound against cycles in malformed graphs.
            if tensor is None:
                return None
            producer = _producer(tensor)
            if producer is None:
                return None
            if isinstance(producer, keras.layers.InputLayer):
                return shape
            if producer.weights:
                return None
            upstream = _single_input(producer)
            if isinstance(producer, keras.layers.Flatten) and shape is None:
                if upstream is None:
                    return None
                dims = tuple(upstream.shape)[1:]
                if not dims or any(d is None for d in dims):
                    return None
                shape = tuple(int(d) for d in dims)
            tensor = upstream
    except (AttributeError, IndexError, TypeError, ValueError):
        # Subclassed models and unusual graphs: no reliable answer.
        return None
    return None


# --------------------------------------------------------------------------- #
# The picture
# --------------------------------------------------------------------------- #


def _to_numpy(variable: object) -> np.ndarray:
    # Variables and eager tensors of the TensorFlow backend have .numpy();
    # np.asarray on a Keras variable warns under NumPy 2.
    value = variable.numpy() if hasattr(variable, "numpy") else variable
    return np.asarray(value)


def _layer_tilesets(
    layer: keras.layers.Layer,
    *,
    max_filters: int,
    max_channels: int,
    input_shape: Sequence[int] | None,
) -> list[_TileSet]:
    """The tile sets (one per kernel) of a drawable layer."""
    kind = _layer_kind(layer)
    if kind == "dense":
        kernel = _to_numpy(layer.kernel)
        if input_shape is None:
            found = _flattened_input_shape(layer)
            if found is not None and math.prod(found) == kernel.shape[0]:
                input_shape = found
        return [
            _dense_tileset(
                kernel, input_shape, max_units=max_filters, max_channels=max_channels,
                max_side=1024,
            )
        ]
    if input_shape is not None:
        raise ValueError(
            f"`input_shape` applies only to Dense layers; received input_shape="
            f"{input_shape!r} for {type(layer).__name__} layer {layer.name!r}."
        )
    options = {"max_filters": max_filters, "max_channels": max_channels}
    if kind == "separable":
        depthwise = _conv_tileset(
            _to_numpy(layer.depthwise_kernel), layout="depthwise", rgb=None, **options
        )
        pointwise = _to_numpy(layer.pointwise_kernel)
        # A 1x1 kernel is a (channels, filters) matrix: draw it as one.
        matrix = pointwise.reshape(pointwise.shape[-2:])
        whole = _dense_tileset(matrix, None, max_units=1, max_channels=1, max_side=1024)
        n_in, n_out = matrix.shape
        return [
            depthwise,
            _TileSet(whole.tiles, [f"pointwise filters x channels: {n_out} x {n_in}"], None),
        ]
    kernel = _to_numpy(layer.kernel)
    if kind == "depthwise":
        return [_conv_tileset(kernel, layout="depthwise", rgb=None, **options)]
    # A grouped conv's 3 channels per group are not the RGB of an image.
    groups = getattr(layer, "groups", 1) or 1
    rgb = False if groups > 1 else None
    return [_conv_tileset(kernel, layout=kind, rgb=rgb, **options)]


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


def _resolve_layer(
    model_or_layer: keras.layers.Layer, layer: object
) -> tuple[keras.layers.Layer, str]:
    """The layer to draw and its path (for messages)."""
    if not isinstance(model_or_layer, keras.layers.Layer):
        raise TypeError(
            "`model_or_layer` must be a keras.Model or a keras layer; received "
            f"{type(model_or_layer).__name__}: {model_or_layer!r:.80}"
        )
    if layer is not None:
        if not isinstance(model_or_layer, keras.Model):
            raise TypeError(
                "`layer` can only be given with a keras.Model as `model_or_layer`; "
                f"received a {type(model_or_layer).__name__} layer "
                f"{model_or_layer.name!r} and layer={layer!r}."
            )
        target = find_layer(model_or_layer, layer)
        return target, layer_path(model_or_layer, target)
    if isinstance(model_or_layer, keras.Model):
        drawable = drawable_layers(model_or_layer)
        if drawable:
            path, target = drawable[0]
            return target, path
        skipped = undrawable_layers(model_or_layer)
        details = "; ".join(f"{path}: {reason}" for path, reason in skipped) or "none"
        raise ValueError(
            f"Model {model_or_layer.name!r} has no layer whose weights can be drawn "
            f"(Conv, ConvTranspose, DepthwiseConv, SeparableConv or Dense). Layers with "
            f"weights that are not drawn: {details}."
        )
    return model_or_layer, model_or_layer.name


def filter_tilesets(
    model_or_layer: keras.layers.Layer,
    layer: str | int | keras.layers.Layer | None = None,
    *,
    max_filters: int = 64,
    max_channels: int = 8,
    input_shape: Sequence[int] | None = None,
) -> list[Any]:
    """Reads the weights of one layer into tiles (the model access of :func:`filter_grid`).

    First-layer filters on RGB images come out as colour tiles (Krizhevsky
    et al. 2012; Zeiler & Fergus 2014); deeper convolutions as grey tiles,
    one row per filter and one column per input channel (CS231n); Dense
    layers on a flattened image as one template per unit, otherwise as the
    whole weight matrix. See `conv_filter_tiles` and `dense_weight_image` for
    exactly what is drawn and how it is normalised (symmetrically around 0
    per filter: mid grey is a zero weight).

    Per layer kind:

    * Conv1D/2D/3D, Conv*Transpose, DepthwiseConv1D/2D: `conv_filter_tiles`
      with the layer's kernel layout (grouped convolutions are drawn grey).
    * SeparableConv1D/2D: the depthwise filters, and under them the 1x1
      pointwise kernel as one (filters x channels) matrix picture.
    * Dense: `dense_weight_image`. Without ``input_shape``, the input shape
      is found in the Keras graph when the Dense follows a ``Flatten`` of the
      model input with no layer holding weights in between (Sequential, functional
      and nested models); subclassed models have no graph, so pass
      ``input_shape`` there.

    Args:
        model_or_layer: A model, or a layer to draw directly.
        layer: With a model, the layer to draw: a name, a path such as
            ``"backbone/conv1"``, an index into ``model.layers`` or a layer
            object. Defaults to the first drawable layer (`drawable_layers`),
            normally the first convolution.
        max_filters: Most filters (units for Dense) drawn. Defaults to 64.
        max_channels: Most input channels per filter for grey tiles.
            Defaults to 8.
        input_shape: For Dense layers, the shape of the input before it was
            flattened, e.g. ``(28, 28, 1)``; overrides the one found in the
            graph.

    Returns:
        The tile sets (one per kernel), a snapshot of the weights: drawing them later
        with :func:`draw_tilesets` shows the weights as they were at this call.

    Raises:
        TypeError: If ``model_or_layer`` is not a Keras model or layer, or
            ``layer`` is given with a layer rather than a model.
        ValueError: If the layer is unknown or cannot be drawn (the message
            gives the reason and the drawable layers), the model has no
            drawable layer, ``input_shape`` is given for a non-Dense layer or
            does not match the kernel, or a cap is not a positive integer.
    """
    max_filters = _check_positive_int(max_filters, "max_filters")
    max_channels = _check_positive_int(max_channels, "max_channels")
    target, path = _resolve_layer(model_or_layer, layer)

    if not _is_drawable(target):
        reason = _undrawable_reason(target)
        if reason is None and child_layers(target):
            inner = [f"{path}/{p}" for p, sub in iter_layers(target) if _is_drawable(sub)]
            inner_reasons = [
                f"{path}/{p}: {why}"
                for p, sub in iter_layers(target)
                if (why := _undrawable_reason(sub)) is not None
            ]
            reason = (
                f"{type(target).__name__} is a container whose weights live in its "
                "sub-layers"
            )
            if inner:
                reason += f"; draw one of them: {', '.join(inner)}"
            else:
                reason += f" ({'; '.join(inner_reasons) or 'none hold weights'})"
        elif reason is None:
            reason = f"{type(target).__name__} has no weights"
        candidates = (
            [p for p, _ in drawable_layers(model_or_layer)]
            if isinstance(model_or_layer, keras.Model)
            else []
        )
        hint = f" Drawable layers: {', '.join(candidates)}." if candidates else ""
        raise ValueError(f"Layer {path!r} cannot be drawn: {reason}.{hint}")

    return _layer_tilesets(
        target, max_filters=max_filters, max_channels=max_channels, input_shape=input_shape
    )


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
