"""The model side of filter pictures: which layers can be drawn, and reading their weights.

`drawable_layers` and `undrawable_layers` sort every layer holding weights into those
whose kernels can be drawn and the others, each with the reason (nothing is skipped
silently); `filter_tilesets` finds one layer and reads its kernel(s) into tile sets
with the pure functions of :mod:`keras_viz.filters.tiles`. For a Dense layer behind a
``Flatten`` of the model input, the image shape is read from the Keras graph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_viz._model import check_model, child_layers, find_layer, iter_layers, layer_path
from keras_viz.filters.tiles import _check_positive_int, _conv_tileset, _dense_tileset, _TileSet

__all__ = [
    "drawable_layers",
    "filter_tilesets",
    "undrawable_layers",
]


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
# Reading a layer's weights into tile sets
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
