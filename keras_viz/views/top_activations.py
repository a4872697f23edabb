"""Maximally activating examples and patches of a layer's channels.

"Pick a layer and a channel, run many images through the network, record the values of
that channel, and show the image patches that give the maximal activations" (Springenberg
et al., "Striving for Simplicity: The All Convolutional Net", ICLR workshop 2015; Girshick
et al., CVPR 2014, Figure 4; Zeiler & Fergus 2014). Each image counts once per channel,
at the position where the channel is largest in it; the patch is the input crop of that
unit's receptive field (:mod:`keras_viz.views.receptive_field`).

The dataset is streamed: inside the compiled forward pass, every batch is reduced to one
maximum per (image, channel) and merged into a running top-k held as tensors
(:mod:`keras_viz.views._channel_topk`), then dropped, so memory does not grow with the
number of inputs. Per batch only the top-k's stream indices leave the graph (to keep the
inputs whose patches are cropped at the end), and nothing at all with ``patches=False``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._checks import check_indices, check_int
from keras_viz._inputs import Inputs, check_batch_size
from keras_viz._model import LayerRecorder, check_backend, check_model, find_layer, layer_path, single_tensor
from keras_viz.backprop import backward_rule, relu_override
from keras_viz.views._channel_topk import Peaks, empty_peaks, merge_peaks
from keras_viz.views._readers import cached, layer_reader
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


def _select(channels: np.ndarray | None):
    """The in-graph transform of the layer's output: the chosen channels."""

    def select(activation: tf.Tensor) -> tf.Tensor:
        available = activation.shape[-1]
        if channels is None:
            return activation
        if channels.min() < 0 or channels.max() >= available:
            raise ValueError(f"`channels`={channels.tolist()} is out of range: the layer has {available} channels.")
        return tf.gather(activation, channels, axis=-1)

    return select


def _fold(k: int):
    """The in-graph merge of a batch into the running top-k of each channel's peaks."""

    def fold(state: Peaks, outputs: list[tf.Tensor]) -> Peaks:
        return merge_peaks(state, outputs[0], k)

    return fold


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
    k = check_int(k, "k")
    batch_size = check_batch_size(batch_size)
    target = find_layer(model, layer)
    path = layer_path(model, target)
    chosen = check_indices(channels, "channels", _layer_channels(model, target))
    reader = layer_reader(
        model, target, batch_size=batch_size, transform=_select(chosen), fold=_fold(k),
        key=("peaks", k, None if chosen is None else tuple(int(c) for c in chosen)),
    )

    kept: _StreamedInputs | _ArrayInputs | None = None
    field: ReceptiveField | None = None
    for batch, state in reader.scan(data, empty_peaks(), argument="data"):
        if patches and kept is None:  # the first batch tells the layer's shape
            if len(state.shape.numpy()) > 1:
                field = _field(model, target, batch)
            source = field.input_index if field is not None else 0
            kept = _StreamedInputs(source) if isinstance(data, tf.data.Dataset) else _ArrayInputs(source)
        if kept is not None:
            kept.update(batch, state)
    peaks = Peaks(*(t.numpy() for t in state))
    spatial = tuple(int(n) for n in peaks.shape[:-1])
    if chosen is None:
        chosen = np.arange(int(peaks.shape[-1]), dtype=np.int32)
    positions = np.stack(np.unravel_index(peaks.positions, spatial), axis=-1) if spatial else peaks.positions[..., None][..., :0]
    return TopActivations(
        layer=path,
        channels=chosen,
        values=peaks.values,
        indices=peaks.indices,
        positions=positions.astype(np.int64),
        patches=None if kept is None else _patches(kept, peaks.indices, positions, field, pad_value),
        receptive_field=field,
        count=int(peaks.count),
    )


class _StreamedInputs:
    """The inputs of a dataset that some channel's top-k currently holds, each stored once.

    Cropping when an input enters a top-k would copy a patch per (channel, entry); many
    entries are evicted again, and deep layers have patches larger than the input. Keeping
    each input once and cropping the final top-k at the end copies far less. Inputs no
    longer held are dropped whenever the store exceeds twice the ``channels x k`` entries,
    so memory stays bounded by about ``2 x channels x k`` inputs.
    """

    def __init__(self, source: int):
        self.source = source
        self.images: dict[int, np.ndarray] = {}

    def update(self, batch, state: Peaks) -> None:
        """Stores the inputs of ``batch`` that the running top-k now holds."""
        indices = state.indices.numpy()
        entered = np.unique(indices[indices >= batch.offset])
        inputs = batch.inputs[self.source]
        for index in entered.tolist():
            self.images[index] = np.array(inputs[index - batch.offset])
        if len(self.images) > 2 * indices.size:
            held = set(np.unique(indices).tolist())
            self.images = {index: image for index, image in self.images.items() if index in held}

    def stack(self, indices: np.ndarray) -> np.ndarray:
        """The inputs at stream positions ``indices`` (sorted, unique), stacked."""
        return np.stack([self.images[index] for index in indices.tolist()])


class _ArrayInputs:
    """Inputs given as arrays are in memory already: each batch is kept as a view (no copy,
    nothing read back from the graph while streaming) and the top inputs are picked at the end."""

    def __init__(self, source: int):
        self.source = source
        self.batches: list[np.ndarray] = []

    def update(self, batch, state: Peaks) -> None:
        self.batches.append(batch.inputs[self.source])

    def stack(self, indices: np.ndarray) -> np.ndarray:
        size = len(self.batches[0])  # every batch but the last has this size
        return np.stack([self.batches[index // size][index % size] for index in indices.tolist()])


def _patches(kept, indices, positions, field, pad_value) -> np.ndarray:
    """``(C, k, *patch, channels_in)``: the receptive-field crop of each final entry (the
    whole input without a field)."""
    held = np.unique(indices)
    stacked = kept.stack(held)
    rows = np.searchsorted(held, indices)
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
    """The receptive-field windows at ``positions`` of ``images[rows]``, ``pad_value`` outside.

    One slice per distinct position, copied for all its entries at once: at most one per
    unit of the layer's output, and far fewer than entries in deep layers, whose windows
    are large (and reach far beyond the input). No padded copy of the images is made.
    """
    patches = np.full((len(rows), *field.size, *images.shape[1 + field.rank :]), pad_value, np.float32)
    distinct, group = np.unique(positions, axis=0, return_inverse=True)
    order = np.argsort(group.ravel(), kind="stable")
    for position, members in zip(distinct, np.split(order, np.cumsum(np.bincount(group.ravel()))[:-1])):
        full = field.region(position, clip=False)
        clipped = field.region(position)
        into = tuple(slice(c0 - f0, c1 - f0) for (f0, _), (c0, c1) in zip(full, clipped))
        patches[(members, *into)] = images[(rows[members], *(slice(c0, c1) for c0, c1 in clipped))]
    return patches


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
