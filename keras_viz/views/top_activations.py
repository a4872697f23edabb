"""Maximally activating examples and patches of a layer's channels.

"Pick a layer and a channel, run many images through the network, record the values of
that channel, and show the image patches that give the maximal activations" (Springenberg
et al., "Striving for Simplicity: The All Convolutional Net", ICLR workshop 2015; Girshick
et al., CVPR 2014, Figure 4; Zeiler & Fergus 2014). Each image counts once per channel,
at the position where the channel is largest in it; the patch is the input crop of that
unit's receptive field (:mod:`keras_viz.views.receptive_field`).

The dataset is streamed: every batch is reduced inside the compiled forward pass to one
maximum and its position per (image, channel), merged into a running top-k, and dropped,
so memory does not grow with the number of inputs.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import Inputs, check_batch_size
from keras_viz._model import LayerRecorder, check_backend, check_model, find_layer, layer_path, single_tensor
from keras_viz.backprop import backward_rule, relu_override
from keras_viz.views._readers import cached, layer_reader
from keras_viz.views._topk import RunningTopK
from keras_viz.views.receptive_field import ReceptiveField, receptive_field

__all__ = ["TopActivations", "guided_patches", "top_activations"]


@dataclasses.dataclass
class TopActivations:
    """The ``k`` inputs of a stream that activate each channel of a layer the most.

    Attributes:
        layer: path of the layer.
        channels: ``(C,)`` channel indices, in the order of the rows below.
        values: ``(C, k)`` the channel's maximum in each top input, descending.
        indices: ``(C, k)`` position of each top input in the stream (0-based).
        positions: ``(C, k, spatial_rank)`` where in the layer's output the maximum was
            (``spatial_rank`` is 0 for a layer without spatial axes).
        patches: ``(C, k, *rf_size, channels_in)`` the input crop of each maximum's
            receptive field, padded with ``pad_value`` where the field leaves the input;
            the whole input for a layer without spatial axes; None if not asked for.
        receptive_field: the layer's :class:`ReceptiveField` (None without spatial axes).
        count: number of inputs streamed.
    """

    layer: str
    channels: np.ndarray
    values: np.ndarray
    indices: np.ndarray
    positions: np.ndarray
    patches: np.ndarray | None
    receptive_field: ReceptiveField | None
    count: int

    @property
    def k(self) -> int:
        return int(self.values.shape[1])


def _channel_peaks(channels: np.ndarray | None, k: int):
    """The in-graph reduction of a batch: per channel, its ``k`` best samples.

    Per (sample, channel) the maximum and its first flat position; then per channel the
    ``k`` samples with the largest maxima (``tf.math.top_k`` puts the lower index first on
    ties, so no sample that belongs to the stream's top-k is dropped here).
    """

    def peaks(activation: tf.Tensor):
        shape = activation.shape.as_list()[1:]
        if channels is not None and (channels.min() < 0 or channels.max() >= shape[-1]):
            raise ValueError(f"`channels`={channels.tolist()} is out of range: the layer has {shape[-1]} channels.")
        if channels is not None:
            activation = tf.gather(activation, channels, axis=-1)
        batch = tf.shape(activation)[0]
        flat = tf.reshape(activation, [batch, -1, activation.shape[-1]])
        # TensorFlow's CPU and GPU argmax kernels return the first maximum on ties.
        first = tf.argmax(flat, axis=1, output_type=tf.int32)
        maxima = tf.reduce_max(flat, axis=1)
        best, samples = tf.math.top_k(tf.transpose(maxima), k=tf.minimum(k, batch))  # (C, k)
        where = tf.gather(tf.transpose(first), samples, batch_dims=1)
        # The layer's (static) shape without the batch axis, so the caller needs no probe.
        return best, samples, where, tf.constant(shape, tf.int32)

    return peaks


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive int; received k={k!r}")
    return int(k)


def _check_channels(channels: Any, available: int | None) -> np.ndarray | None:
    if channels is None:
        return None
    if isinstance(channels, (int, np.integer)) and not isinstance(channels, bool):
        channels = [channels]
    try:
        array = np.asarray(list(channels))
    except TypeError:
        raise TypeError(f"`channels` must be a list of channel indices or None; received {channels!r}") from None
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
        raise ValueError(f"`channels` must be a non-empty list of ints; received {channels!r}")
    if available is not None and (array.min() < 0 or array.max() >= available):
        raise ValueError(f"`channels`={channels!r} is out of range: the layer has {available} channels.")
    return array.astype(np.int32)


def _layer_channels(model: keras.Model, layer: keras.layers.Layer) -> int | None:
    try:
        return int(layer.output.shape[-1])
    except (AttributeError, ValueError, TypeError):
        return None


def top_activations(
    model: keras.Model,
    data: Any,
    layer: Any,
    *,
    channels: Sequence[int] | None = None,
    k: int = 9,
    batch_size: int = 64,
    patches: bool = True,
    pad_value: float = 0.0,
) -> TopActivations:
    """Streams ``data`` and keeps, per channel, the ``k`` inputs that activate it most.

    Args:
        model: any Keras model (nested and subclassed layers can be named).
        data: arrays (a list/dict for multi-input models) or a ``tf.data.Dataset``
            yielding batches ``x`` or ``(x, y)``, of any length.
        layer: name, ``/``-path, index or object of the layer.
        channels: channel indices to keep (default: all).
        k: inputs kept per channel.
        batch_size: samples per forward pass (a dataset's own batches are split to it).
        patches: crop the receptive field of each maximum from its input (needs a
            layer whose receptive field can be followed; see :func:`receptive_field`).
        pad_value: value of patch pixels outside the input.

    Returns:
        A :class:`TopActivations`; its ``indices`` are positions in the stream, and
        equal values are ordered by stream position.

    Raises:
        ValueError, TypeError: bad arguments, unknown layer, empty data, or a layer
            whose receptive field cannot be followed while ``patches=True``.

    Example:
        >>> top = kv.top_activations(model, x_val, "block2_conv", channels=range(8))
        >>> kv.render.top_patches(top.patches[0], top.values[0])   # the top-9 grid of channel 0
    """
    check_backend()
    model = check_model(model)
    k = _check_k(k)
    batch_size = check_batch_size(batch_size)
    target = find_layer(model, layer)
    path = layer_path(model, target)
    chosen = _check_channels(channels, _layer_channels(model, target))
    reader = layer_reader(
        model, target, batch_size=batch_size, transform=_channel_peaks(chosen, k),
        key=("peaks", k, None if chosen is None else tuple(int(c) for c in chosen)),
    )

    field: ReceptiveField | None = None
    spatial: tuple[int, ...] | None = None
    running: RunningTopK | None = None
    positions = kept = None
    for batch, values in reader.stream(data, argument="data"):
        best, samples, where, layer_shape = values[path]
        if running is None:  # the first batch fixes the shapes
            shape = (None, *(int(n) for n in layer_shape))
            spatial = shape[1:-1]
            if chosen is None:
                chosen = np.arange(shape[-1], dtype=np.int32)
            elif chosen.max() >= shape[-1]:
                raise ValueError(f"`channels`={channels!r} is out of range: the layer has {shape[-1]} channels.")
            running = RunningTopK(len(chosen), k)
            positions = np.zeros((len(chosen), k, len(spatial)), np.int64)
            if patches:
                field = _field(model, target, batch) if spatial else None
                kept = _KeptInputs(field.input_index if field is not None else 0)
        rows, slots, picks = running.update(best, batch.offset + samples, count=batch.size)
        if rows.size:
            columns = samples[rows, picks]
            flat = where[rows, picks]
            positions[rows, slots] = np.stack(np.unravel_index(flat, spatial), axis=-1) if spatial else flat[:, None][:, :0]
            if kept is not None:
                kept.update(batch, running.evicted, batch.offset + columns)
    order = running.order()
    grid = np.arange(running.rows)[:, None]
    indices = running.indices[grid, order]
    return TopActivations(
        layer=path,
        channels=chosen,
        values=running.values[grid, order].astype(np.float32),
        indices=indices,
        positions=positions[grid, order],
        patches=None if kept is None else kept.crops(indices, positions[grid, order], field, pad_value),
        receptive_field=field,
        count=running.count,
    )


class _KeptInputs:
    """The inputs that some channel's top-k currently holds, each stored once, reference-counted.

    Cropping when an input enters a top-k would copy a patch per (channel, entry); many
    entries are evicted again, and deep layers have patches larger than the input. Keeping
    each input once and cropping the final top-k at the end copies far less, and memory
    stays bounded by ``channels x k`` inputs.
    """

    def __init__(self, source: int):
        self.source = source
        self.images: dict[int, np.ndarray] = {}
        self.references: collections.Counter[int] = collections.Counter()

    def update(self, batch, evicted: np.ndarray, entered: np.ndarray) -> None:
        for index in entered.tolist():
            self.references[index] += 1
            if index not in self.images:
                self.images[index] = np.array(batch.inputs[self.source][index - batch.offset])
        for index in evicted.tolist():
            if index < 0:
                continue
            self.references[index] -= 1
            if self.references[index] == 0:
                del self.references[index], self.images[index]

    def crops(self, indices, positions, field, pad_value) -> np.ndarray:
        """``(C, k, *patch, channels_in)``: the receptive-field crop of each final entry."""
        order = sorted(self.images)
        lookup = {index: i for i, index in enumerate(order)}
        stacked = np.stack([self.images[index] for index in order])
        rows = np.vectorize(lookup.__getitem__, otypes=[np.int64])(indices)
        if field is None:
            return stacked[rows].astype(np.float32)
        return _crop(stacked, field, rows.ravel(), positions.reshape(-1, field.rank), pad_value).reshape(
            *indices.shape, *field.size, *stacked.shape[1 + field.rank :]
        )


def _field(model, target, batch) -> ReceptiveField:
    shapes = [a.shape[1:] for a in batch.inputs]
    single = len(shapes) == 1
    return cached(
        model, ("receptive_field", target, tuple(map(tuple, shapes))),
        lambda: receptive_field(model, target, input_shape=shapes[0] if single else None),
    )


def _crop(images, field, rows, positions, pad_value) -> np.ndarray:
    """The receptive-field windows at ``positions`` of ``images[rows]``, in one gather.

    The images are padded once with ``pad_value`` by as much as any field of the layer
    reaches outside the input, so every window is a plain slice of the padded images.
    """
    size = np.asarray(field.size)
    stride, offset = np.asarray(field.stride), np.asarray(field.offset)
    extent, units = np.asarray(field.input_shape), np.asarray(field.output_shape)
    before = np.maximum(-offset, 0)
    after = np.maximum(offset + (units - 1) * stride + size - extent, 0)
    padded = images.astype(np.float32)
    if before.any() or after.any():
        width = [(0, 0), *zip(before, after), *[(0, 0)] * (images.ndim - 1 - field.rank)]
        padded = np.pad(padded, width, constant_values=pad_value)
    starts = offset + positions * stride + before  # (n, rank), in the padded images
    rank = field.rank
    index = [rows.reshape(-1, *[1] * rank)]
    for axis in range(rank):
        shape = [-1] + [1] * rank
        shape[1 + axis] = size[axis]
        index.append((starts[:, axis, None] + np.arange(size[axis])).reshape(shape))
    return padded[tuple(index)]


# --------------------------------------------------------------------------- guided backprop


def guided_patches(model: keras.Model, data: Any, top: TopActivations, *, batch_size: int = 64) -> np.ndarray:
    """Guided backpropagation of each top unit, cropped like its patch.

    For every (channel, rank) of ``top``, the gradient of that unit (the channel at the
    position of its maximum) with respect to its input image, with the guided-backprop
    ReLU rule (Springenberg et al. 2015), cropped to the unit's receptive field: the
    pixels of the patch the unit responds to. ``data`` must be the stream ``top`` was
    computed on; only the top inputs are read again.

    Returns:
        ``(C, k, *rf_size, channels_in)`` float32 (zero outside the input).
    """
    batch_size = check_batch_size(batch_size)
    if top.receptive_field is None:
        raise ValueError("`top` has no receptive field (a layer without spatial axes): no patches to explain.")
    field = top.receptive_field
    wanted = np.unique(top.indices)
    images = _gather(model, data, wanted)
    lookup = {int(index): i for i, index in enumerate(wanted)}
    target = find_layer(model, top.layer)
    function = _guided_function(model, target, images.shape[1:])
    C, k = top.indices.shape
    rows = [(c, r) for c in range(C) for r in range(k)]
    result = np.zeros((C, k, *field.size, images.shape[-1]), np.float32)
    for start in range(0, len(rows), batch_size):
        part = rows[start : start + batch_size]
        batch = images[[lookup[int(top.indices[c, r])] for c, r in part]]
        channel = np.asarray([top.channels[c] for c, _ in part], np.int32)
        flat = np.asarray([np.ravel_multi_index(tuple(top.positions[c, r]), field.output_shape) for c, r in part], np.int32)
        gradients = function(tf.constant(batch), tf.constant(channel), tf.constant(flat)).numpy()
        for (c, r), gradient in zip(part, gradients):
            full = field.region(top.positions[c, r], clip=False)
            clipped = field.region(top.positions[c, r])
            into = tuple(slice(c0 - f0, c1 - f0) for (f0, _), (c0, c1) in zip(full, clipped))
            result[c, r][into] = gradient[tuple(slice(c0, c1) for c0, c1 in clipped)]
    return result


def _gather(model: keras.Model, data: Any, wanted: np.ndarray) -> np.ndarray:
    """The inputs at stream positions ``wanted`` (one pass over a dataset)."""
    inputs = Inputs(data, model, argument="data")
    if inputs.specs is not None and len(inputs.specs) != 1:
        raise ValueError("guided_patches supports models with one input.")
    if inputs.dataset is None:
        return inputs.arrays[0][wanted]
    found: dict[int, np.ndarray] = {}
    for batch in inputs.batches(256):
        for index in wanted[(wanted >= batch.offset) & (wanted < batch.offset + batch.size)]:
            found[int(index)] = batch.inputs[0][index - batch.offset]
    return np.stack([found[int(index)] for index in wanted])


def _guided_function(model: keras.Model, layer: keras.layers.Layer, shape: tuple[int, ...]):
    def body(images, channel, flat_position):
        recorder = LayerRecorder([layer])
        with relu_override(model):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(images)
                with recorder.active():
                    model(images, training=False)
                output = tf.cast(single_tensor(recorder.output(layer), f"Layer {layer.name!r}"), tf.float32)
                flat = tf.reshape(output, [tf.shape(output)[0], -1, output.shape[-1]])
                picked = tf.gather(flat, flat_position, axis=1, batch_dims=1)
                score = tf.reduce_sum(picked * tf.one_hot(channel, output.shape[-1]))
            with backward_rule("guided"):
                return tape.gradient(score, images)

    spec = tf.TensorSpec((None, *shape), tf.float32)
    return tf.function(body, autograph=False).get_concrete_function(
        spec, tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.int32)
    )
