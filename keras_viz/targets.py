"""What an explanation explains: one score per sample.

A target can be

* an ``int``: the same class for every sample;
* a sequence of ints (or one-hot rows): one class per sample;
* ``None``: the class the model predicts;
* ``"labels"``: the labels a ``tf.data.Dataset`` yields beside its inputs;
* a :class:`Unit`: a channel or a single neuron of any layer, nested layers included
  ("what does this unit respond to");
* a callable ``outputs -> scores`` taking the model's outputs (a tensor, or the
  list/dict a multi-output model returns) and returning one score per sample.

Class scores are taken before a final softmax or sigmoid by default (the "class
score" ``S_c`` of Simonyan et al. 2014 and ``y^c`` of Selvaraju et al. 2017).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np
import tensorflow as tf

PREDICTED = -1  # class index meaning "the predicted class", resolved inside the graph


@dataclasses.dataclass(frozen=True)
class Unit:
    """A unit inside the network, used as an explanation target.

    Args:
        layer: layer name, ``/``-path (for nested models) or index.
        channel: channel (last-axis) index. ``None`` takes the whole layer.
        position: spatial position of a single neuron, e.g. ``(row, col)`` for a 2-D
            feature map or ``(t,)`` for a sequence. ``None`` averages the channel over
            all positions.

    The score of a sample is the mean of the selected activations.

    Example:
        >>> kv.GuidedBackprop(model)(images, targets=kv.Unit("conv3", channel=17))
    """

    layer: Union[str, int]
    channel: int | None = None
    position: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.channel is not None and (
            isinstance(self.channel, bool) or not isinstance(self.channel, (int, np.integer))
        ):
            raise TypeError(f"Unit `channel` must be an int or None; received {self.channel!r}")
        if self.position is not None:
            position = tuple(self.position)
            if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in position):
                raise TypeError(f"Unit `position` must be a tuple of ints; received {self.position!r}")
            object.__setattr__(self, "position", tuple(int(p) for p in position))

    def score(self, activation: tf.Tensor, channels: tf.Tensor | None = None) -> tf.Tensor:
        """Per-sample score of this unit given the layer's output ``(N, ..., C)``.

        Args:
            activation: the layer's output.
            channels: optional ``(N,)`` int tensor holding :attr:`channel` for each
                sample; explainers pass the channel this way so that explaining another
                channel of the same layer reuses the traced graph.
        """
        activation = tf.cast(activation, tf.float32)
        rank = activation.shape.rank
        if self.position is not None:
            if len(self.position) != rank - 2:
                raise ValueError(
                    f"Unit position={self.position} has {len(self.position)} coordinates but "
                    f"layer {self.layer!r} has output shape {tuple(activation.shape)} "
                    f"({rank - 2} spatial axes)."
                )
            _check_bounds("position", self.position, tuple(activation.shape[1:-1]), self.layer)
            activation = activation[(slice(None), *self.position)]
        if self.channel is not None:
            _check_bounds("channel", (self.channel,), (activation.shape[-1],), self.layer)
            if channels is None:
                activation = activation[..., self.channel]
            else:
                picked = tf.one_hot(channels, tf.shape(activation)[-1], dtype=activation.dtype)
                shape = tf.concat([tf.shape(picked)[:1], tf.ones([activation.shape.rank - 2], tf.int32), tf.shape(picked)[1:]], 0)
                activation = tf.reduce_sum(activation * tf.reshape(picked, shape), axis=-1)
        axes = list(range(1, activation.shape.rank))
        return tf.reduce_mean(activation, axis=axes) if axes else activation

    @property
    def trace_key(self) -> tuple:
        """What the traced graph depends on (not the channel value, which is fed as data)."""
        return ("unit", self.layer, self.position, self.channel is None)


def _check_bounds(name: str, index: tuple[int, ...], shape: tuple, layer: Any) -> None:
    for i, size in zip(index, shape):
        if size is not None and not 0 <= i < size:
            raise ValueError(
                f"Unit {name}={index if len(index) > 1 else index[0]} is out of range for layer "
                f"{layer!r}, whose size there is {shape if len(shape) > 1 else shape[0]}."
            )


TargetSpec = Union[None, int, Sequence[int], np.ndarray, str, Unit, Callable[[Any], tf.Tensor]]


@dataclasses.dataclass(frozen=True)
class ClassTargets:
    """Class targets resolved to one index per sample (``PREDICTED`` = predicted class)."""

    indices: np.ndarray | None  # None: same value `fixed` for everyone
    fixed: int = PREDICTED

    def take(self, start: int, count: int) -> np.ndarray:
        if self.indices is None:
            return np.full((count,), self.fixed, dtype=np.int32)
        if start + count > len(self.indices):
            raise ValueError(
                f"`targets` has {len(self.indices)} entries but the inputs have more samples "
                f"(at least {start + count})."
            )
        return self.indices[start : start + count].astype(np.int32)


def class_indices(values: Any, argument: str = "targets") -> np.ndarray:
    """Validates per-sample class labels (ints, or one-hot rows) into an int array."""
    array = np.asarray(values)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(
            f"`{argument}` must hold integer class indices; received dtype {array.dtype} "
            f"({_preview(values)})"
        )
    if array.ndim == 2 and array.shape[1] > 1:  # one-hot rows
        array = array.argmax(axis=1)
    elif array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"`{argument}` must be one class index per sample (shape (N,) or one-hot (N, K)); "
            f"received shape {array.shape}"
        )
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise TypeError(f"`{argument}` must hold integer class indices; received {_preview(values)}")
    array = array.astype(np.int64)
    if array.size and array.min() < 0:
        raise ValueError(f"`{argument}` holds a negative class index ({int(array.min())}).")
    return array


def _preview(values: Any) -> str:
    text = repr(values)
    return text if len(text) < 80 else text[:77] + "..."


def resolve(targets: TargetSpec, argument: str = "targets") -> ClassTargets | Unit | Callable | str:
    """Normalises the ``targets`` argument of an explainer call.

    Returns:
        A :class:`ClassTargets`, a :class:`Unit`, a callable or the string ``"labels"``.

    Raises:
        TypeError: unsupported type.
        ValueError: negative index or malformed sequence.
    """
    if targets is None:
        return ClassTargets(None, PREDICTED)
    if isinstance(targets, Unit):
        return targets
    if isinstance(targets, str):
        if targets == "labels":
            return targets
        raise ValueError(
            f"`{argument}`={targets!r} is not understood: the only string target is 'labels' "
            f"(use the labels of a tf.data.Dataset). Select an output of a multi-output model "
            f"with the explainer's `output=` argument."
        )
    if isinstance(targets, (bool, np.bool_)):
        raise TypeError(f"`{argument}` must be a class index, not a bool ({targets!r}).")
    if isinstance(targets, (int, np.integer)):
        if targets < 0:
            raise ValueError(f"`{argument}`={int(targets)} is a negative class index.")
        return ClassTargets(None, int(targets))
    if callable(targets) and not isinstance(targets, (np.ndarray, tf.Tensor)):
        return targets
    if isinstance(targets, (Sequence, np.ndarray, tf.Tensor)):
        return ClassTargets(class_indices(np.asarray(targets), argument))
    raise TypeError(
        f"`{argument}` must be None, an int, a sequence of ints, 'labels', a kv.Unit or a "
        f"callable; received {type(targets).__name__}: {_preview(targets)}"
    )


def check_class_range(targets: ClassTargets, num_classes: int | None, output_name: str) -> None:
    """Raises if a class index is outside the chosen output's classes."""
    if num_classes is None:
        if targets.indices is not None or targets.fixed != PREDICTED:
            raise ValueError(
                f"Output {output_name!r} is not a (batch, classes) output, so class-index "
                f"`targets` do not apply; pass a callable `outputs -> per-sample score` or a "
                f"kv.Unit instead."
            )
        raise ValueError(
            f"Output {output_name!r} is not a (batch, classes) output, so its predicted class "
            f"is undefined; pass a callable `outputs -> per-sample score` or a kv.Unit as `targets`."
        )
    top = targets.fixed if targets.indices is None else (int(targets.indices.max()) if targets.indices.size else -1)
    if top >= num_classes:
        raise ValueError(
            f"`targets` holds class index {top}, out of range for output {output_name!r} "
            f"with {num_classes} classes (valid 0..{num_classes - 1})."
        )


def class_scores(logits: tf.Tensor, indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-sample class scores; ``PREDICTED`` entries take the arg-max class.

    Args:
        logits: ``(N, K)`` class scores.
        indices: ``(N,)`` int32 class indices, ``PREDICTED`` for the predicted class.

    Returns:
        ``(scores, used_indices)``, both ``(N,)``.
    """
    logits = tf.cast(logits, tf.float32)
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    used = tf.where(indices < 0, predicted, indices)
    # A one-hot product rather than a gather: its gradient is a plain product, while
    # the gradient of a batched gather is a large subgraph that is slow to trace.
    selected = tf.one_hot(used, tf.shape(logits)[-1], dtype=logits.dtype)
    return tf.reduce_sum(logits * selected, axis=-1), used


def callable_scores(fn: Callable[[Any], Any], outputs: Any) -> tf.Tensor:
    """Calls a user score function and checks it returns one score per sample."""
    scores = fn(outputs)
    scores = tf.convert_to_tensor(scores)
    if scores.shape.rank == 2 and scores.shape[-1] == 1:
        scores = scores[:, 0]
    if scores.shape.rank != 1:
        raise ValueError(
            f"A callable `targets` must return one score per sample (shape (N,)); "
            f"{getattr(fn, '__name__', fn)!r} returned shape {tuple(scores.shape)}."
        )
    return tf.cast(scores, tf.float32)
