"""Feature maps: the activations of chosen layers for given inputs.

"Visualize the activations" (Yosinski et al., "Understanding Neural Networks Through
Deep Visualization", 2015; CS231n lecture notes): run inputs through the network and
look at each channel of a layer as a picture. Layers are read during the model's own
forward pass (see :mod:`keras_viz._model`), so nested and subclassed models work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from keras_viz import _functions, render
from keras_viz._functions import FunctionCache, short_stream
from keras_viz._inputs import Batch, Inputs, check_batch_size, pack, signature_key
from keras_viz._model import (
    LayerRecorder,
    ModelInfo,
    check_backend,
    check_model,
    find_layer,
    layer_path,
    shared_model_info,
    single_tensor,
)

__all__ = ["FeatureMaps", "feature_map_grid", "spatial_layers"]


def spatial_layers(model: keras.Model, sample: Any, *, limit: int | None = None) -> list[str]:
    """Paths of the convolution layers (else all layers) with spatial output, in call order.

    Args:
        model: any Keras model.
        sample: one batch of inputs, used to probe the model once.
        limit: keep at most this many, evenly spaced, always including the last one.
    """
    info = _probe(model, sample)
    seen: dict[int, tuple[str, bool]] = {}
    for call in info.calls:
        shape = call.output_shape
        if shape is not None and len(shape) >= 3 and not isinstance(call.layer, keras.Model):
            is_conv = isinstance(call.layer, _CONVOLUTIONS)
            seen.setdefault(id(call.layer), (layer_path(model, call.layer), is_conv))
    convs = [path for path, is_conv in seen.values() if is_conv]
    paths = convs or [path for path, _ in seen.values()]
    if limit is not None and len(paths) > limit:
        picks = np.linspace(0, len(paths) - 1, limit).round().astype(int)
        paths = [paths[i] for i in sorted(set(picks))]
    return paths


def _probe(model: keras.Model, sample: Any) -> ModelInfo:
    """The model's shared probe (:func:`keras_viz._model.shared_model_info`) for ``sample``'s signature."""
    flat = [np.asarray(a) for a in tf.nest.flatten(sample)]
    signature = signature_key(sample, flat)
    return shared_model_info(
        model, signature, lambda: tf.nest.map_structure(lambda a: tf.constant(np.asarray(a)[:1]), sample)
    )


_CONVOLUTIONS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
)


class FeatureMaps:
    """Reads the outputs of several layers in one compiled forward pass.

    Args:
        model: any Keras model on the TensorFlow backend.
        layers: layer names, ``/``-paths, indices or objects.
        batch_size: samples per forward pass.
        transform: optional function applied, inside the compiled graph, to each
            layer's float32 output; it may return a tensor or a tuple/list of tensors.
            Dataset views use it to reduce a layer to what they keep (per-channel
            maxima, pooled codes) before anything leaves the graph.
        fold: optional ``fold(state, values) -> state`` for :meth:`scan`: merges one
            batch's (transformed) ``values``, a list with one entry per layer, into a
            running ``state`` (a nest of tensors) inside the compiled pass. A running
            top-k kept this way costs no copy to the host per batch.

    Example:
        >>> maps = kv.FeatureMaps(model, ["conv1", "backbone/conv5"])(images)
        >>> maps["conv1"].shape   # (N, H, W, C)
    """

    def __init__(
        self,
        model: keras.Model,
        layers: Sequence[Any],
        *,
        batch_size: int = 32,
        transform: Callable[[tf.Tensor], Any] | None = None,
        fold: Callable[[Any, list[Any]], Any] | None = None,
    ):
        check_backend()
        self.model = check_model(model)
        if isinstance(layers, (str, int)) or not isinstance(layers, Sequence) or not layers:
            raise ValueError(f"`layers` must be a non-empty list of layers; received {layers!r}")
        self.layers = [find_layer(model, layer, argument="layers") for layer in layers]
        self.names = [layer if isinstance(layer, str) else layer_path(model, l) for layer, l in zip(layers, self.layers)]
        if transform is not None and not callable(transform):
            raise TypeError(f"`transform` must be a function of a tensor or None; received {transform!r}")
        if fold is not None and not callable(fold):
            raise TypeError(f"`fold` must be a function (state, values) -> state or None; received {fold!r}")
        self.batch_size = check_batch_size(batch_size)
        self.transform = transform
        self.fold = fold
        self._functions = FunctionCache()

    EAGER_CALLS: ClassVar[int] = _functions.EAGER_CALLS
    """Calls of a forward pass (per input signature) run eagerly before it is traced."""

    @property
    def trace_count(self) -> int:
        """How many graphs were traced (one per input signature)."""
        return self._functions.trace_count

    def __call__(self, inputs: Any) -> dict[str, Any]:
        parts: list[list[Any]] = [values for _, values in self._stream(inputs)]
        return {
            name: tf.nest.map_structure(lambda *chunks: np.concatenate(chunks, axis=0), *chunks)
            for name, chunks in zip(self.names, zip(*parts))
        }

    def stream(self, inputs: Any, argument: str = "inputs") -> Iterator[tuple[Batch, dict[str, Any]]]:
        """Yields ``(batch, {name: values})`` one batch at a time (bounded memory).

        ``inputs`` may be arrays or a ``tf.data.Dataset`` of any length; nothing is kept
        between batches. ``batch.inputs`` are the (validated) input arrays of the batch and
        ``batch.offset`` the index of its first sample in the stream. With ``transform``,
        the values are what it returned (NumPy arrays in the same structure).
        """
        for batch, values in self._stream(inputs, argument):
            yield batch, dict(zip(self.names, values))

    def scan(self, inputs: Any, initial: Any, argument: str = "inputs") -> Iterator[tuple[Batch, Any]]:
        """Yields ``(batch, state)``: the running state after each batch, merged by ``fold``.

        ``state`` starts as ``initial`` (a nest of arrays or tensors; each batch may change
        the shapes, not the ranks or dtypes) and stays a nest of tensors where TensorFlow
        computed them: nothing is copied to the host unless the caller reads it. The forward
        pass, ``transform`` and ``fold`` run as one compiled function per batch.
        """
        if self.fold is None:
            raise ValueError("`scan` needs a `fold` function; this FeatureMaps was built without one.")
        data = Inputs(inputs, self.model, argument=argument, forward=True)
        eager = short_stream(data, self.batch_size)
        state = tf.nest.map_structure(tf.convert_to_tensor, initial)
        signature = tuple((t.shape.rank, t.dtype.name) for t in tf.nest.flatten(state))
        for batch in data.batches(self.batch_size):
            function = self._function(batch, data.structure, eager, state, signature)
            state = tf.nest.pack_sequence_as(state, function(*batch.feed, *tf.nest.flatten(state)))
            yield batch, state

    def _stream(self, inputs: Any, argument: str = "inputs") -> Iterator[tuple[Batch, list[Any]]]:
        data = Inputs(inputs, self.model, argument=argument, forward=True)
        eager = short_stream(data, self.batch_size)
        for batch in data.batches(self.batch_size):
            function = self._function(batch, data.structure, eager)
            outputs = function(*batch.feed)
            yield batch, tf.nest.map_structure(lambda t: t.numpy(), list(outputs))

    def _outputs(self, inputs: list[tf.Tensor], structure: Any) -> list[Any]:
        """The (transformed) float32 outputs of the layers during one forward pass."""
        recorder = LayerRecorder(self.layers)
        with recorder.active():
            self.model(pack(structure, inputs), training=False)
        outputs = [
            tf.cast(single_tensor(recorder.output(layer), f"Layer {layer.name!r}"), tf.float32)
            for layer in self.layers
        ]
        if self.transform is not None:
            outputs = [self.transform(output) for output in outputs]
        return outputs

    def _function(self, batch, structure, eager, state=None, signature=None):
        """The forward pass for this input signature (and, for :meth:`scan`, the fold into
        ``state`` whose ranks and dtypes are ``signature``): when ``eager``, run eagerly for
        its first calls, then traced (:class:`keras_viz._functions.FunctionCache`)."""
        key = signature_key(structure, batch.inputs)
        if state is not None:  # any shapes of the same ranks: one trace while the state grows
            key = ("scan", key, signature)
        count = len(batch.inputs)

        def body(*arguments):
            outputs = self._outputs(list(arguments[:count]), structure)
            if state is None:
                return outputs
            previous = tf.nest.pack_sequence_as(state, list(arguments[count:]))
            return tf.nest.flatten(self.fold(previous, outputs))

        # Token-id inputs keep their integer dtype.
        specs = [tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in batch.inputs]
        if state is not None:
            specs += [tf.TensorSpec([None] * t.shape.rank, t.dtype) for t in tf.nest.flatten(state)]
        return self._functions.get(key, body, specs, eager_calls=self.EAGER_CALLS if eager else 0)


def feature_map_grid(
    activation: np.ndarray,
    *,
    max_channels: int = 32,
    colormap: str = "viridis",
    scale: int = 1,
    labels: bool = True,
) -> np.ndarray:
    """Tiles the channels of one sample's activation into a labelled picture.

    Each channel is normalised on its own (min–max), so weak and strong channels are
    both visible; a channel that is zero everywhere stays black (a dead unit).

    Args:
        activation: ``(H, W, C)`` feature maps, or ``(T, C)`` for a sequence layer
            (each channel becomes a strip).
        max_channels: the first channels shown.
        colormap: a :mod:`keras_viz.render` colour map.
        scale: integer up-scaling of each tile.
        labels: write the channel index under each tile.

    Returns:
        uint8 ``(H', W', 3)``.
    """
    activation = np.asarray(activation, np.float32)
    if activation.ndim == 2:
        activation = activation[None, :, :]  # a sequence: one strip per channel
    if activation.ndim != 3:
        raise ValueError(
            f"`activation` must be (H, W, C) or (T, C) for one sample; received shape {activation.shape}"
        )
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
        raise ValueError(f"`max_channels` must be a positive int; received {max_channels!r}")
    channels = min(activation.shape[-1], max_channels)
    tiles = []
    for c in range(channels):
        plane = activation[..., c]
        low, high = float(plane.min()), float(plane.max())
        unit = (plane - low) / (high - low) if high > low else np.zeros_like(plane)
        tiles.append(render.colormap(unit, colormap))
    names = [str(c) for c in range(channels)] if labels else None
    height, width = activation.shape[:2]
    readable = max(1, min(24 // max(min(height, width), 1), 256 // max(height, width, 1)))
    tile_scale = max(scale, readable)
    return render.grid(tiles, labels=names, scale=tile_scale)
