"""Network dissection: which units of a layer detect which labelled concepts.

Bau, Zhou, Khosla, Oliva & Torralba, "Network Dissection: Quantifying Interpretability of
Deep Visual Representations", CVPR 2017. For every unit ``k`` of a convolutional layer:

1. ``T_k`` is the top-``quantile`` of the unit's activations over every position of every
   image of the dataset (``P(a_k > T_k) = 1 - quantile``; the paper uses 0.995);
2. each activation map is upsampled (bilinearly) to the input size and thresholded,
   ``M_k(x) = S_k(x) > T_k`` (strict: a ReLU unit that is zero on most pixels, where
   ``T_k = 0``, claims only the pixels where it fires, not all of them);
3. ``IoU_{k,c} = Σ_x |M_k(x) ∩ L_c(x)| / Σ_x |M_k(x) ∪ L_c(x)|`` summed over the whole
   dataset, for every concept ``c`` with pixel masks ``L_c``; the unit is labelled with
   the concept of highest IoU.

Two streaming passes of the model over the data: the first keeps only the top
``1 - quantile`` of each unit's activations (exact quantile), the second accumulates the
intersection and union counts. The exact quantile needs the number of samples first: a
``tf.data`` input (whose length is unknown) is read once more before them, without the
model, to count its samples (pass ``count=`` to skip that read).

The compiled forward passes are cached per model and layer (the units and thresholds are
variables of the graph, not constants), so dissecting the same layer again, with other
units or other data, does not trace again.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._checks import check_indices, check_int, check_number
from keras_viz._functions import FunctionCache
from keras_viz._inputs import Inputs
from keras_viz._model import check_backend, check_model, find_layer, layer_path
from keras_viz.activations import FeatureMaps
from keras_viz.views._topk import RunningTopK

__all__ = ["Dissection", "dissect", "shape_concepts"]


@dataclasses.dataclass
class Dissection:
    """The result of :func:`dissect`.

    Attributes:
        layer: path of the layer.
        units: ``(U,)`` channel indices dissected.
        concepts: ``(K,)`` concept names.
        quantile: the activation quantile used for the thresholds.
        thresholds: ``(U,)`` ``T_k`` per unit.
        iou: ``(U, K)`` IoU of every unit with every concept.
        best_concept: ``(U,)`` index into ``concepts`` of each unit's best concept.
        best_iou: ``(U,)`` its IoU.
        example_indices: ``(U, e)`` stream positions of the inputs where each unit is
            strongest (``e`` = ``examples`` of :func:`dissect`).
        example_images: ``(U, e, H, W, C)`` those inputs.
        example_masks: ``(U, e, H, W)`` bool, the unit's thresholded map ``M_k`` on them.
    """

    layer: str
    units: np.ndarray
    concepts: tuple[str, ...]
    quantile: float
    thresholds: np.ndarray
    iou: np.ndarray
    best_concept: np.ndarray
    best_iou: np.ndarray
    example_indices: np.ndarray
    example_images: np.ndarray
    example_masks: np.ndarray

    @property
    def best_concept_names(self) -> list[str]:
        return [self.concepts[i] for i in self.best_concept]

    def ranking(self) -> np.ndarray:
        """Row indices of the units, best IoU first."""
        return np.argsort(-self.best_iou, kind="stable")


# --------------------------------------------------------------------------- masks


def shape_concepts(data: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """Per-kind concept masks of :func:`keras_viz.datasets.make_shapes` data.

    Returns:
        ``(segmentation, concepts)``: ``(N, H, W)`` int where pixel value ``i`` is shape
        kind ``concepts[i]`` and -1 background, and the kind names (``class_names``).
    """
    masks = np.asarray(data.masks, bool)
    labels = np.asarray(data.labels)
    segmentation = np.where(masks, labels[:, None, None], -1).astype(np.int32)
    return segmentation, tuple(data.class_names)


def _concept_batch(masks: np.ndarray, count: int) -> np.ndarray:
    """One batch of masks as ``(B, H, W, K)`` bool (an int segmentation is one-hot encoded)."""
    masks = np.asarray(masks)
    if masks.dtype == bool and masks.ndim == 4:
        return masks
    if masks.dtype.kind in "iu" and masks.ndim == 3:
        return masks[..., None] == np.arange(count)
    raise ValueError(
        f"`masks` must be (N, H, W, K) bool concept masks or an (N, H, W) int segmentation; "
        f"received shape {masks.shape} dtype {masks.dtype}"
    )


def _prepare_masks(masks: Any, concepts: Sequence[str] | None, data: Any) -> tuple[Any, tuple[str, ...]]:
    """The masks (array, or None when a dataset yields them) and the concept names."""
    if isinstance(masks, dict):
        if not masks:
            raise ValueError("`masks` is an empty dict; give one (N, H, W) bool mask array per concept.")
        names = tuple(str(name) for name in masks)
        masks = np.stack([np.asarray(m, bool) for m in masks.values()], axis=-1)
        if concepts is not None and tuple(concepts) != names:
            raise ValueError(f"`concepts` {tuple(concepts)} differs from the keys of `masks` {names}.")
        return masks, names
    if masks is None:
        if not isinstance(data, tf.data.Dataset):
            raise ValueError("`masks` is None: pass concept masks, or a tf.data.Dataset `data` yielding (x, masks).")
        if concepts is None:
            raise ValueError("`concepts` is needed when the masks come from a dataset: the concept names.")
        return None, tuple(str(c) for c in concepts)
    array = np.asarray(masks)
    if array.dtype == bool and array.ndim == 4:
        count = array.shape[-1]
    elif array.dtype.kind in "iu" and array.ndim == 3:
        count = int(array.max()) + 1 if concepts is None else len(concepts)
        if array.size and int(array.max()) >= count:
            raise ValueError(
                f"`masks` holds the label {int(array.max())} but `concepts` names only {count} "
                f"concept(s) (labels 0..{count - 1}; negative values mark unlabelled pixels)."
            )
    else:
        raise ValueError(
            f"`masks` must be (N, H, W, K) bool concept masks, an (N, H, W) int segmentation "
            f"(value i = concept i, negative = none) or a dict of (N, H, W) bool masks; "
            f"received shape {array.shape} dtype {array.dtype}"
        )
    names = tuple(str(c) for c in concepts) if concepts is not None else tuple(f"concept_{i}" for i in range(count))
    if len(names) != count or count < 1:
        raise ValueError(f"`concepts` names {len(names)} concept(s) but `masks` holds {count}.")
    return array, names


# --------------------------------------------------------------------------- the method


@dataclasses.dataclass
class _Readers:
    """The compiled passes of one model's layer, shared by every :func:`dissect` call.

    The units, thresholds and input size are graph variables set before each pass, so one
    trace serves every call. ``*_functions`` are :class:`FeatureMaps` function caches; they
    hold the model's variables, not the model, so the cache does not keep a model alive.
    """

    units: tf.Variable  # int32 (U,); empty: every channel
    thresholds: tf.Variable  # float32 (U,)
    size: tf.Variable  # int32 (2,): the input's (H, W)
    maxima_functions: FunctionCache = dataclasses.field(default_factory=FunctionCache)
    fired_functions: FunctionCache = dataclasses.field(default_factory=FunctionCache)
    channels: int | None = None  # the layer's channel count, once seen
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @classmethod
    def make(cls) -> "_Readers":
        def variable(dtype, length):
            return tf.Variable(tf.zeros([length], dtype), shape=tf.TensorShape([None]), trainable=False)

        return cls(variable(tf.int32, 0), variable(tf.float32, 0), variable(tf.int32, 2))


_READERS: "weakref.WeakKeyDictionary[keras.Model, collections.OrderedDict[str, _Readers]]" = weakref.WeakKeyDictionary()
READERS_PER_MODEL = 8
"""Layers per model whose compiled passes are kept (the least recently used goes first)."""
_READERS_LOCK = threading.Lock()


def _cached_readers(model: keras.Model, path: str) -> tuple[_Readers, bool]:
    """The cached passes of ``model``'s layer ``path`` and whether this call may use them.

    A call made while another thread dissects the same layer gets a private copy (the
    variables are set per call).
    """
    with _READERS_LOCK:
        entries = _READERS.setdefault(model, collections.OrderedDict())
        if path not in entries:
            entries[path] = _Readers.make()
            while len(entries) > READERS_PER_MODEL:
                entries.popitem(last=False)
        entries.move_to_end(path)
        readers = entries[path]
    if readers.lock.acquire(blocking=False):
        return readers, True
    return _Readers.make(), False


def _check_units_in_range(units: np.ndarray | None, channels: int) -> None:
    if units is not None and (units.min() < 0 or units.max() >= channels):
        check_indices(units, "units", channels)  # raises, naming the value


def _select(activation: tf.Tensor, readers: _Readers) -> tf.Tensor:
    if activation.shape.rank != 4:
        raise ValueError(
            f"dissect needs a layer with 2-D spatial output (N, h, w, C); the layer's output "
            f"has shape {tuple(activation.shape)}."
        )
    readers.channels = int(activation.shape[-1])
    units = readers.units
    return tf.cond(tf.size(units) > 0, lambda: tf.gather(activation, units, axis=-1), lambda: activation)


def _maxima_transform(readers: _Readers, units: np.ndarray | None):
    def transform(activation: tf.Tensor):
        # Runs in Python when traced or run eagerly, so before any gather of a bad index.
        _check_units_in_range(units, int(activation.shape[-1]))
        selected = _select(activation, readers)
        return selected, tf.reduce_max(selected, axis=[1, 2])

    return transform


def _fired_transform(readers: _Readers):
    def transform(activation: tf.Tensor):
        upsampled = tf.image.resize(_select(activation, readers), readers.size, method="bilinear")
        return upsampled > readers.thresholds

    return transform


def _layer_channels(layer: keras.layers.Layer) -> int | None:
    """The layer's channel count from its symbolic output, where it has one."""
    try:
        return int(layer.output.shape[-1])
    except (AttributeError, ValueError, TypeError, RuntimeError):
        return None


def quantile_count(total: int, quantile: float) -> int:
    """How many of ``total`` values lie at or above ``np.quantile(..., method="higher")``."""
    return int(total - np.ceil(quantile * (total - 1)))


def dissect(
    model: keras.Model,
    data: Any,
    masks: Any,
    layer: Any,
    *,
    concepts: Sequence[str] | None = None,
    quantile: float = 0.995,
    units: Sequence[int] | None = None,
    batch_size: int = 64,
    examples: int = 4,
    count: int | None = None,
) -> Dissection:
    """Network dissection (Bau et al. 2017) of ``layer`` against labelled concept masks.

    Args:
        model: any Keras model with an image input ``(N, H, W, C)``.
        data: input arrays, or a ``tf.data.Dataset`` yielding ``(x, masks)`` batches
            (then ``masks=None``).
        masks: the concepts' pixel masks, aligned with ``data``: ``(N, H, W, K)`` bool,
            an ``(N, H, W)`` int segmentation (value ``i`` is concept ``i``, negative
            values none), or a dict ``{concept: (N, H, W) bool}``. For
            :func:`keras_viz.datasets.make_shapes` data, :func:`shape_concepts` gives one
            concept per shape kind.
        layer: a layer with 2-D spatial output.
        concepts: the concept names (default: ``concept_0, ...``, or the dict keys).
        quantile: activation quantile of the per-unit threshold ``T_k`` (computed as
            ``np.quantile(a_k, quantile, method="higher")`` over all positions of all
            inputs). 0.995 is the paper's; lower it for concepts that cover much of the
            image.
        units: channel indices to dissect (default: all); each in ``[0, channels)``.
        batch_size: samples per forward pass.
        examples: inputs kept per unit for the top-units picture (0 for none).
        count: the number of samples a ``tf.data`` ``data`` yields, if known: saves the
            read that counts them (checked against what it yields).

    The model runs over ``data`` twice (thresholds, then IoU); a ``tf.data`` input
    without ``count`` is read once more before, without the model, to count its samples.

    Returns:
        A :class:`Dissection`.

    Raises:
        ValueError: a unit out of the layer's channel range, a layer without 2-D spatial
            output, masks that do not match ``data``, or a bad ``quantile``.
        TypeError: arguments of the wrong type (``units`` that are not ints, ...).

    Example:
        >>> shapes = kv.datasets.make_shapes(500, size=32)
        >>> segmentation, names = kv.views.shape_concepts(shapes)
        >>> result = kv.dissect(model, shapes.images, segmentation, "conv3", concepts=names)
        >>> result.best_concept_names, result.best_iou
    """
    check_backend()
    model = check_model(model)
    target = find_layer(model, layer)
    path = layer_path(model, target)
    quantile = check_number(quantile, "quantile", low=0.0, high=1.0, high_open=True)
    examples = check_int(examples, "examples", minimum=0)
    batch_size = check_int(batch_size, "batch_size")
    chosen = check_indices(units, "units")
    if count is not None:
        count = check_int(count, "count")
    masks, names = _prepare_masks(masks, concepts, data)
    inputs = Inputs(data, model, argument="data")
    if inputs.specs is not None and len(inputs.specs) != 1:
        raise ValueError("dissect takes models with one image input.")
    if masks is not None and inputs.count is not None and len(masks) != inputs.count:
        raise ValueError(f"`masks` has {len(masks)} entries but `data` has {inputs.count} inputs.")
    if inputs.count is not None:
        if count is not None and count != inputs.count:
            raise ValueError(f"`count`={count} but `data` has {inputs.count} inputs.")
        count = inputs.count

    readers, shared = _cached_readers(model, path)
    try:
        channels = _layer_channels(target) or readers.channels
        if chosen is not None and channels is not None:
            _check_units_in_range(chosen, channels)
        readers.units.assign(np.zeros(0, np.int32) if chosen is None else chosen)
        if count is None:  # a dataset: read it once, without the model, to count its samples
            count = sum(b.size for b in Inputs(data, model, argument="data").batches(batch_size))
        thresholds, best, image_size, input_channels = _thresholds(
            model, target, path, data, readers, chosen, count, quantile, examples, batch_size
        )
        if chosen is None:
            chosen = np.arange(len(thresholds), dtype=np.int32)
        readers.thresholds.assign(thresholds)
        readers.size.assign(np.asarray(image_size, np.int32))
        reader = FeatureMaps(model, [target], batch_size=batch_size, transform=_fired_transform(readers))
        reader._functions = readers.fired_functions
        return _scores(reader, path, data, masks, names, chosen, quantile, thresholds, best, examples,
                       image_size, input_channels)
    finally:
        if shared:
            readers.lock.release()


def _thresholds(model, target, path, data, readers, chosen, count, quantile, examples, batch_size):
    """Pass 1: the exact top-(1 - quantile) activations of each unit, and its strongest inputs."""
    reader = FeatureMaps(model, [target], batch_size=batch_size, transform=_maxima_transform(readers, chosen))
    reader._functions = readers.maxima_functions  # traced once per model, layer and input signature
    keep = best = top = image_size = input_channels = None
    seen = 0
    pending: list[np.ndarray] = []
    for batch, values in reader.stream(data, argument="data"):
        activation, maxima = values[path]
        if keep is None:
            if len(batch.inputs[0].shape) != 4:
                raise ValueError(f"dissect takes image inputs (N, H, W, C); received shape {batch.inputs[0].shape}")
            cells = int(np.prod(activation.shape[1:3]))
            keep = max(1, quantile_count(count * cells, quantile))
            top = np.full((activation.shape[-1], 0), -np.inf, np.float32)
            best = RunningTopK(activation.shape[-1], max(examples, 1))
            image_size = tuple(batch.inputs[0].shape[1:3])
            input_channels = batch.inputs[0].shape[-1]
        seen += batch.size
        pending.append(np.moveaxis(activation, -1, 0).reshape(activation.shape[-1], -1))
        if sum(p.shape[1] for p in pending) >= keep:
            top = _keep_largest(np.concatenate([top, *pending], axis=1), keep)
            pending = []
        best.update(maxima.T, batch.offset + np.arange(batch.size))
    if keep is None:
        raise ValueError("`data` is empty.")
    if seen != count:
        raise ValueError(f"`count`={count} but `data` yielded {seen} inputs.")
    top = _keep_largest(np.concatenate([top, *pending], axis=1), keep)
    return top.min(axis=1), best, image_size, input_channels


def _scores(reader, path, data, masks, names, chosen, quantile, thresholds, best, examples, image_size, input_channels):
    """Pass 2: thresholded, upsampled maps against the concept masks."""
    units_count = len(thresholds)
    example_order = best.order()[:, :examples]
    example_indices = best.indices[np.arange(units_count)[:, None], example_order]
    example_masks = np.zeros((*example_indices.shape, *image_size), bool)
    example_images = np.zeros((*example_indices.shape, *image_size, input_channels), np.float32)
    intersection = np.zeros((units_count, len(names)), np.float64)
    unit_area = np.zeros(units_count, np.float64)
    concept_area = np.zeros(len(names), np.float64)
    for batch, values in reader.stream(data, argument="data"):
        fired = values[path]
        if masks is not None:
            batch_masks = masks[batch.offset : batch.offset + batch.size]
        elif batch.labels is None:
            raise ValueError("`data` must yield (x, masks) when `masks` is None.")
        else:
            batch_masks = batch.labels
        concept = _concept_batch(batch_masks, len(names))
        if concept.shape[1:3] != fired.shape[1:3] or concept.shape[-1] != len(names):
            raise ValueError(
                f"`masks` must be (N, H, W, K) with (H, W) = the input size {image_size} and K = "
                f"{len(names)} concepts; a batch has shape {concept.shape}."
            )
        flat_fired = fired.reshape(-1, units_count).astype(np.float32)
        flat_concept = concept.reshape(-1, len(names)).astype(np.float32)
        intersection += flat_fired.T @ flat_concept
        unit_area += flat_fired.sum(axis=0)
        concept_area += flat_concept.sum(axis=0)
        inside = (example_indices >= batch.offset) & (example_indices < batch.offset + batch.size)
        for row, rank in zip(*np.nonzero(inside)):
            sample = example_indices[row, rank] - batch.offset
            example_masks[row, rank] = fired[sample, ..., row]
            example_images[row, rank] = batch.inputs[0][sample]
    union = unit_area[:, None] + concept_area[None, :] - intersection
    iou = np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)
    best_concept = np.argmax(iou, axis=1)
    return Dissection(
        layer=path,
        units=chosen,
        concepts=names,
        quantile=float(quantile),
        thresholds=thresholds.astype(np.float32),
        iou=iou.astype(np.float32),
        best_concept=best_concept,
        best_iou=iou[np.arange(units_count), best_concept].astype(np.float32),
        example_indices=example_indices,
        example_images=example_images,
        example_masks=example_masks,
    )


def _keep_largest(values: np.ndarray, keep: int) -> np.ndarray:
    """The ``keep`` largest values of each row (unordered)."""
    if values.shape[1] <= keep:
        return values
    return np.partition(values, values.shape[1] - keep, axis=1)[:, -keep:]
