"""Receptive fields: which input pixels a unit of a convolutional layer can see.

A unit at position ``j`` (per spatial axis) of a layer sees the input interval
``[offset + j * stride, offset + j * stride + size)``. The three numbers follow from the
layers on the path from the input (Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019): a layer with kernel ``k``, dilation ``d``,
stride ``s`` and ``p`` pixels of padding before the data maps an input field
``(size r, stride j, offset o)`` to::

    r' = r + d (k - 1) j        j' = j s        o' = o - p j

Padding and cropping layers only move the offset; element-wise layers (activations,
normalisation over channels, dropout, ``Dense`` on the channel axis) change nothing;
merge layers (``Add``, ``Concatenate`` on channels, ...) take the union of their inputs'
fields. The field is the bounding box of what a unit can see: a dilated convolution on
top of a strided one can leave single pixels inside it that no path reaches. The path is
read from one probe forward pass of the model on a random sample
(:class:`keras_viz._model.ModelInfo`), so nested and subclassed models work too, as long
as every tensor between the input and the layer is produced by a Keras layer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import model_input_specs
from keras_viz._model import (
    ModelInfo,
    _internal_layers,
    check_backend,
    check_model,
    find_layer,
    layer_path,
    single_tensor,
)

__all__ = ["ReceptiveField", "receptive_field"]


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of the units of one layer, in input pixels.

    Attributes:
        size: field size per spatial axis.
        stride: input pixels between the fields of neighbouring units, per axis.
        offset: input coordinate where the field of unit 0 starts, per axis (negative
            when it starts in the padding).
        input_shape: spatial shape of the model input the field is measured on.
        output_shape: spatial shape of the layer's output (valid unit positions).
        layer: path of the layer.
        input_index: which model input (flat order) the field lies in.
    """

    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: tuple[int, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    layer: str = ""
    input_index: int = 0

    @property
    def rank(self) -> int:
        return len(self.size)

    def region(self, position: Sequence[int], *, clip: bool = True) -> tuple[tuple[int, int], ...]:
        """The ``(start, stop)`` input interval (half-open) per axis seen by the unit at ``position``.

        Args:
            position: the unit's index per spatial axis of the layer's output.
            clip: clip to the input (default); False gives the full field, which may
                reach into the padding (negative start, stop past the input).

        Raises:
            ValueError: ``position`` has the wrong length or lies outside the layer's output.
        """
        position = _check_position(position, self.output_shape)
        bounds = []
        for p, size, stride, offset, extent in zip(position, self.size, self.stride, self.offset, self.input_shape):
            start = offset + p * stride
            stop = start + size
            bounds.append((max(start, 0), min(stop, extent)) if clip else (start, stop))
        return tuple(bounds)


def _check_position(position: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in np.atleast_1d(np.asarray(position)))
    except (TypeError, ValueError):
        raise TypeError(f"`position` must be a tuple of ints; received {position!r}") from None
    if len(values) != len(shape) or any(not 0 <= p < n for p, n in zip(values, shape)):
        raise ValueError(
            f"`position`={tuple(values)} is not a unit of the layer, whose output has spatial "
            f"shape {shape} (one index per axis, each in [0, size))."
        )
    return values


# --------------------------------------------------------------------------- the maths


@dataclasses.dataclass(frozen=True)
class _Field:
    """Size, stride (jump) and offset per axis of a tensor's units, in input pixels."""

    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: tuple[int, ...]
    source: int  # model input index


def _through_window(field: _Field, kernel, strides, dilation, pad_before) -> _Field:
    """A sliding window (convolution or pooling): the formula of the module docstring."""
    size, stride, offset = [], [], []
    for r, j, o, k, s, d, p in zip(field.size, field.stride, field.offset, kernel, strides, dilation, pad_before):
        size.append(r + d * (k - 1) * j)
        stride.append(j * s)
        offset.append(o - p * j)
    return _Field(tuple(size), tuple(stride), tuple(offset), field.source)


def _shift(field: _Field, before: Sequence[int], sign: int) -> _Field:
    """Padding (sign -1) or cropping (sign +1) of ``before`` units at the start of each axis."""
    offset = tuple(o + sign * b * j for o, b, j in zip(field.offset, before, field.stride))
    return dataclasses.replace(field, offset=offset)


def _union(fields: Sequence[_Field], layer: str) -> _Field:
    """The union of the fields of a merge layer's inputs (same stride needed)."""
    if len({f.source for f in fields}) > 1:
        raise ValueError(
            f"Layer {layer!r} merges tensors that come from different model inputs; a "
            f"receptive field is measured on one input."
        )
    if len({f.stride for f in fields}) > 1:
        raise ValueError(
            f"Layer {layer!r} merges tensors whose units lie at different strides "
            f"({', '.join(str(f.stride) for f in fields)}); their receptive fields do not align."
        )
    start = np.min([f.offset for f in fields], axis=0)
    stop = np.max([np.add(f.offset, f.size) for f in fields], axis=0)
    return _Field(tuple(int(v) for v in stop - start), fields[0].stride, tuple(int(v) for v in start), fields[0].source)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Pixels TensorFlow pads *before* the data for ``padding="same"`` (the rest goes after)."""
    effective = dilation * (kernel - 1) + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2


# --------------------------------------------------------------------------- layer rules

_WINDOW_LAYERS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
)
_REFUSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
_PADDING = (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D)
_CROPPING = (keras.layers.Cropping1D, keras.layers.Cropping2D, keras.layers.Cropping3D)
_POINTWISE = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.BatchNormalization,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Rescaling,
    keras.layers.Identity,
    keras.layers.ActivityRegularization,
    keras.layers.Masking,
)
_CHANNEL_AXIS_LAYERS = (keras.layers.Softmax, keras.layers.LayerNormalization, keras.layers.UnitNormalization)
_MERGE = (
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
)


def _tuple(value: Any, rank: int) -> tuple[int, ...]:
    values = tuple(int(v) for v in np.atleast_1d(value))
    return values * rank if len(values) == 1 else values


def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    """Keras padding/cropping arguments as ``(before, after)`` per axis."""
    if isinstance(value, (int, np.integer)):
        return [(int(value), int(value))] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, (int, np.integer)) for v in items):
        return [(int(items[0]), int(items[1]))]
    return [(int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1])) for v in items]


def _channels_last(layer: keras.layers.Layer, path: str) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(
            f"Layer {path!r} uses data_format={layer.data_format!r}; receptive fields are "
            f"computed for channels_last models."
        )


def _through_layer(layer: keras.layers.Layer, path: str, fields: list[_Field], in_shape: tuple) -> _Field:
    """The field of a layer's output from the fields of its inputs."""
    rank = len(fields[0].size)
    spatial = tuple(int(n) for n in in_shape[1:-1])
    if isinstance(layer, _REFUSED):
        raise ValueError(_cannot_follow(layer, path, "it upsamples"))
    if isinstance(layer, _WINDOW_LAYERS):
        _channels_last(layer, path)
        kernel = _tuple(layer.pool_size if hasattr(layer, "pool_size") else layer.kernel_size, rank)
        strides = _tuple(layer.strides if layer.strides is not None else kernel, rank)
        dilation = _tuple(getattr(layer, "dilation_rate", 1), rank)
        padding = str(layer.padding).lower()
        if padding == "valid":
            before = (0,) * rank
        elif padding == "same":
            before = tuple(same_padding(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation))
        elif padding == "causal":
            before = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
        else:
            raise ValueError(_cannot_follow(layer, path, f"padding={layer.padding!r} is unknown"))
        return _through_window(fields[0], kernel, strides, dilation, before)
    if isinstance(layer, _PADDING):
        _channels_last(layer, path)
        return _shift(fields[0], [b for b, _ in _pairs(layer.padding, rank)], -1)
    if isinstance(layer, _CROPPING):
        _channels_last(layer, path)
        return _shift(fields[0], [b for b, _ in _pairs(layer.cropping, rank)], +1)
    if isinstance(layer, _POINTWISE) and len(fields) == 1:
        axis = getattr(layer, "axis", -1)
        if isinstance(layer, keras.layers.BatchNormalization) and int(axis) not in (-1, rank + 1):
            raise ValueError(_cannot_follow(layer, path, f"it normalises over axis {axis}"))
        return fields[0]
    if isinstance(layer, _CHANNEL_AXIS_LAYERS):
        axes = [int(a) % (rank + 2) for a in np.atleast_1d(layer.axis)]
        if axes != [rank + 1]:
            raise ValueError(_cannot_follow(layer, path, f"it mixes positions (axis={layer.axis})"))
        return fields[0]
    if isinstance(layer, keras.layers.Dense):  # acts on the channel axis of every position
        return fields[0]
    if isinstance(layer, _MERGE):
        return _union(fields, path)
    if isinstance(layer, keras.layers.Concatenate):
        if int(layer.axis) % (rank + 2) != rank + 1:
            raise ValueError(_cannot_follow(layer, path, f"it concatenates along spatial axis {layer.axis}"))
        return _union(fields, path)
    raise ValueError(_cannot_follow(layer, path, None))


def _cannot_follow(layer: keras.layers.Layer, path: str, why: str | None) -> str:
    reason = why or (
        "it is not a convolution, pooling, padding, cropping, element-wise or merge layer "
        "(Flatten, Dense on flat vectors, attention, resizing and custom layers mix or move "
        "positions in ways a receptive field cannot express)"
    )
    return (
        f"Cannot follow the receptive field through layer {path!r} ({type(layer).__name__}): "
        f"{reason}. Choose a layer before it."
    )


# --------------------------------------------------------------------------- the path


def _probe_sample(model: keras.Model, input_shape: Sequence[int] | None) -> tuple[Any, list[tf.Tensor]]:
    specs = model_input_specs(model)
    if specs is None and input_shape is None:
        raise ValueError(
            f"Model {model.name!r} declares no input shape; pass `input_shape=(H, W, C)` "
            f"(without the batch axis)."
        )
    rng = np.random.default_rng(0)  # never the global random state
    if input_shape is not None:
        if specs is not None and len(specs) != 1:
            raise ValueError("`input_shape` can only be given for a model with one input.")
        shapes = [tuple(int(n) for n in input_shape)]
    else:
        shapes = []
        for name, shape, _ in specs:
            if any(n is None for n in shape[1:]):
                raise ValueError(
                    f"Model input {name!r} has shape {shape} with unknown sizes; pass "
                    f"`input_shape=` with the input size the receptive field is measured on."
                )
            shapes.append(tuple(int(n) for n in shape[1:]))
    tensors = [tf.constant(rng.normal(size=(1, *shape)).astype(np.float32)) for shape in shapes]
    struct = getattr(model, "_inputs_struct", None)
    if len(tensors) == 1:
        return tensors[0], tensors
    if isinstance(struct, dict):
        return dict(zip(sorted(struct), tensors)), tensors
    return tensors, tensors


def _same_values(a: Any, b: Any) -> bool:
    if tuple(a.shape) != tuple(b.shape):
        return False
    # Mixed precision casts between layers: float16 keeps about 3 significant digits. The
    # probe input is random normal, so unrelated tensors never agree everywhere.
    return bool(np.allclose(np.asarray(tf.cast(a, tf.float32)), np.asarray(tf.cast(b, tf.float32)), rtol=2e-3, atol=2e-3))


def receptive_field(model: keras.Model, layer: Any, *, input_shape: Sequence[int] | None = None) -> ReceptiveField:
    """The receptive field of the units of ``layer``, in input pixels.

    Computed from the kernel sizes, strides, padding and dilation of the layers on the
    path from the input (convolutions, depthwise/separable convolutions, pooling,
    zero-padding, cropping; element-wise layers pass it through and merge layers take
    the union), through nested models.

    Args:
        model: any Keras model (Sequential, functional, subclassed, nested).
        layer: name, ``/``-path, index or object of a layer with spatial output
            ``(N, *spatial, C)``.
        input_shape: ``(H, W, C)`` for models whose input size is not fixed ("same"
            padding depends on it).

    Returns:
        A :class:`ReceptiveField`.

    Raises:
        ValueError: the layer has no spatial output, or a layer on the path cannot be
            followed (Flatten, Dense on flat vectors, attention, resizing, upsampling,
            operations outside Keras layers).

    Example:
        >>> rf = kv.receptive_field(model, "block3_conv")
        >>> rf.size, rf.stride, rf.offset
        ((18, 18), (4, 4), (-7, -7))
        >>> rf.region((0, 0))            # ((0, 11), (0, 11)) after clipping to the input
    """
    check_backend()
    model = check_model(model)
    target = find_layer(model, layer)
    sample, input_tensors = _probe_sample(model, input_shape)
    info = ModelInfo(model, sample)
    path = layer_path(model, target)
    calls = info.calls_of(target)
    if not calls:
        raise ValueError(
            f"Layer {path!r} is not called in the model's forward pass, so it has no receptive field."
        )
    if len(calls) > 1:
        raise ValueError(f"Layer {path!r} is called {len(calls)} times (a shared layer); choose a layer that runs once.")
    output = single_tensor(calls[0].outputs, f"Layer {path!r}")
    shape = tuple(output.shape)
    if len(shape) < 3:
        raise ValueError(
            f"Layer {path!r} has output shape {shape} without spatial axes: each of its units "
            f"sees the whole input, so it has no receptive field to compute. Choose a layer "
            f"with output (N, *spatial, C)."
        )
    field = _Tracer(model, info, input_tensors).field(output, len(info.calls))
    input_spatial = tuple(int(n) for n in input_tensors[field.source].shape[1:-1])
    return ReceptiveField(
        size=field.size,
        stride=field.stride,
        offset=field.offset,
        input_shape=input_spatial,
        output_shape=tuple(int(n) for n in shape[1:-1]),
        layer=path,
        input_index=field.source,
    )


class _Tracer:
    """Walks the probe's layer calls backwards from a tensor to the model input."""

    def __init__(self, model: keras.Model, info: ModelInfo, inputs: list[tf.Tensor]):
        self.model = model
        self.inputs = inputs
        internal = _internal_layers(model)
        # Leaf calls in completion order: a producer completes before its consumer starts.
        self.calls = [
            (i, call)
            for i, call in enumerate(info.calls)
            if not isinstance(call.layer, keras.Model) and id(call.layer) not in internal
        ]
        self._memo: dict[tuple[int, int], _Field] = {}

    def field(self, tensor: Any, before: int) -> _Field:
        key = (id(tensor), before)
        if key not in self._memo:
            self._memo[key] = self._field(tensor, before)
        return self._memo[key]

    def _field(self, tensor: Any, before: int) -> _Field:
        rank = len(tensor.shape) - 2
        for index, given in enumerate(self.inputs):
            if tensor is given:
                return _Field((1,) * rank, (1,) * rank, (0,) * rank, index)
        producer = self._producer(tensor, before, lambda t: t is tensor)
        if producer is None:  # a cast or copy between layers: match on equal values
            for index, given in enumerate(self.inputs):
                if _same_values(tensor, given):
                    return _Field((1,) * rank, (1,) * rank, (0,) * rank, index)
            producer = self._producer(tensor, before, lambda t: _same_values(t, tensor))
        if producer is None:
            raise ValueError(
                f"A tensor of shape {tuple(tensor.shape)} on the path to the layer is not the "
                f"output of any Keras layer (an operation in a subclassed model's call()?), so "
                f"the receptive field cannot be followed through it."
            )
        position, call = producer
        path = layer_path(self.model, call.layer)
        sources = [t for t in call.inputs if len(t.shape) >= 2]
        if not sources:
            raise ValueError(_cannot_follow(call.layer, path, "it has no tensor input"))
        if any(len(t.shape) != len(tensor.shape) for t in sources):
            raise ValueError(
                _cannot_follow(call.layer, path, f"it changes the rank from {len(sources[0].shape)} to {len(tensor.shape)}")
            )
        fields = [self.field(t, position) for t in sources]
        return _through_layer(call.layer, path, fields, tuple(sources[0].shape))

    def _producer(self, tensor: Any, before: int, match) -> tuple[int, Any] | None:
        for index, call in reversed(self.calls):
            if index < before and any(match(t) for t in call.outputs):
                return index, call
        return None
