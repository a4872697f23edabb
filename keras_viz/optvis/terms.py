"""The measurements an objective is made of: one term reads one layer (or the model's output).

Each term computes, from that tensor, the score of every image for every member ``(N, K)``
or the score of each image for the member it is optimised for ``(N,)``. The maths are small
pure functions over tensors; :mod:`keras_viz.optvis.objectives` combines terms into
objectives.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "Channel",
    "ClassScore",
    "DeepDream",
    "Direction",
    "Diversity",
    "FeatureMatch",
    "GramMatch",
    "Neuron",
    "Term",
    "diversity_values",
    "gram_matrix",
]


# --------------------------------------------------------------------------- pure maths


def gram_matrix(activations: tf.Tensor) -> tf.Tensor:
    """Gram matrices of feature maps, averaged over positions (Gatys et al. 2016).

    ``G[n, c, d] = mean_p F[n, p, c] · F[n, p, d]`` over the positions ``p`` of the spatial
    axes, so that images of different sizes give comparable matrices.

    Args:
        activations: ``(N, ..., C)`` layer output (any number of spatial axes).

    Returns:
        ``(N, C, C)`` float32 tensor.
    """
    activations = tf.cast(activations, tf.float32)
    channels = activations.shape[-1]
    flat = tf.reshape(activations, [tf.shape(activations)[0], -1, channels])
    positions = tf.cast(tf.shape(flat)[1], tf.float32)
    return tf.matmul(flat, flat, transpose_a=True) / positions


def diversity_values(activations: tf.Tensor, groups: tf.Tensor | None = None) -> tf.Tensor:
    """``(N,)``: minus the mean cosine similarity of image ``n``'s Gram matrix with those of
    the other images of its group (Olah et al. 2017, lucid's ``objectives.diversity``).

    Args:
        activations: ``(N, ..., C)`` layer output.
        groups: ``(N,)`` group of each image (the member it is optimised for); None puts
            every image in one group. Images of different groups never see each other, so a
            batch of K members is K independent optimisations, as K separate runs are.

    Returns:
        ``(N,)`` float32 in ``[-1, 1]``; higher is more diverse; 0 for an image alone in
        its group.
    """
    grams = gram_matrix(activations)
    flat = tf.reshape(grams, [tf.shape(grams)[0], -1])
    flat = tf.math.l2_normalize(flat, axis=-1, epsilon=1e-12)
    similarity = tf.matmul(flat, flat, transpose_b=True)  # (N, N) cosine similarities
    count = tf.shape(flat)[0]
    others = 1.0 - tf.eye(count, dtype=similarity.dtype)
    if groups is not None:
        same = tf.cast(tf.equal(groups[:, tf.newaxis], groups[tf.newaxis, :]), similarity.dtype)
        others = others * same
    total = tf.reduce_sum(similarity * others, axis=-1)
    return -total / tf.maximum(tf.reduce_sum(others, axis=-1), 1.0)


def _spatial_mean(activation: tf.Tensor) -> tf.Tensor:
    """``(N, ..., C) -> (N, C)``."""
    axes = list(range(1, activation.shape.rank - 1))
    return tf.reduce_mean(activation, axis=axes) if axes else activation


def _pick(values: tf.Tensor, indices: tuple[int, ...], members: tf.Tensor | None) -> tf.Tensor:
    """Unit values ``(N, C)`` -> ``(N, K)`` (all members) or ``(N,)`` (member of each row).

    One-hot products rather than gathers: the gradient of a gather is a large subgraph that
    is slow to trace, a product's is a product.
    """
    selector = tf.one_hot(list(indices), values.shape[-1], dtype=values.dtype)  # (K, C)
    if members is None:
        return tf.matmul(values, selector, transpose_b=True)
    return tf.reduce_sum(values * tf.gather(selector, members), axis=-1)


def _relative_distances(features: tf.Tensor, targets: tf.Tensor, members: tf.Tensor | None) -> tf.Tensor:
    """``-||f - t||² / ||t||²`` for flattened ``features`` (N, D) and ``targets`` (K, D)."""
    target_norms = tf.reduce_sum(targets * targets, axis=-1)  # (K,)
    if members is None:
        squared = (
            tf.reduce_sum(features * features, axis=-1, keepdims=True)
            - 2.0 * tf.matmul(features, targets, transpose_b=True)
            + target_norms[tf.newaxis, :]
        )
        return -tf.maximum(squared, 0.0) / tf.maximum(target_norms, 1e-12)[tf.newaxis, :]
    chosen = tf.gather(targets, members)
    squared = tf.reduce_sum(tf.square(features - chosen), axis=-1)
    return -squared / tf.maximum(tf.gather(target_norms, members), 1e-12)


# --------------------------------------------------------------------------- terms


@dataclasses.dataclass(frozen=True, eq=False)
class Term:
    """One measurement of one layer (``layer=None``: the model's output)."""

    layer: Any

    #: True when the value of one image depends on the other images of the batch. Such a
    #: term receives the objective's members (each image's member, to group the images
    #: by member) in :meth:`values`, even when it has one member itself.
    batch_coupled = False

    @property
    def members(self) -> int:
        return 1

    @property
    def layer_name(self) -> str:
        layer = self.layer
        return layer.name if isinstance(layer, keras.layers.Layer) else str(layer)

    def member_names(self) -> tuple[str, ...]:
        return (self.describe(),)

    def describe(self) -> str:
        raise NotImplementedError

    def check(self, shape: tuple, where: str) -> None:
        """Validates against the static output shape ``(batch, ...)`` of the layer read."""

    def values(self, tensor: tf.Tensor, members: tf.Tensor | None) -> tf.Tensor:
        """``(N, K)`` when ``members`` is None, else ``(N,)`` for the member of each image."""
        raise NotImplementedError


def _format_indices(indices: tuple[int, ...]) -> str:
    if len(indices) > 2 and indices == tuple(range(indices[0], indices[-1] + 1)):
        return f"{indices[0]}..{indices[-1]}"
    return ",".join(str(i) for i in indices)


@dataclasses.dataclass(frozen=True, eq=False)
class _Units(Term):
    """Base of the terms that pick units (channels, neurons, classes) by index."""

    indices: tuple[int, ...]
    scalar: bool

    @property
    def members(self) -> int:
        return len(self.indices)

    def _unit_label(self, index: int) -> str:
        raise NotImplementedError

    def member_names(self) -> tuple[str, ...]:
        return tuple(self._unit_label(i) for i in self.indices)

    def describe(self) -> str:
        if self.scalar:
            return self._unit_label(self.indices[0])
        return self._unit_label_many()

    def _unit_label_many(self) -> str:
        raise NotImplementedError

    def _check_indices(self, count: int | None, what: str, where: str, argument: str = "index") -> None:
        if count is None:
            return
        bad = [i for i in self.indices if i >= count]
        if bad:
            raise ValueError(
                f"`{argument}`={bad[0]} is out of range in {self.describe()}: {where} has {count} "
                f"{what} (valid 0..{count - 1})."
            )


@dataclasses.dataclass(frozen=True, eq=False)
class Channel(_Units):
    def _unit_label(self, index: int) -> str:
        return f"{self.layer_name}:{index}"

    def _unit_label_many(self) -> str:
        return f"{self.layer_name}:[{_format_indices(self.indices)}]"

    def check(self, shape: tuple, where: str) -> None:
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: {where} has output shape {shape}, without a channel axis.")
        self._check_indices(shape[-1], "channels", where)

    def values(self, tensor, members):
        return _pick(_spatial_mean(tf.cast(tensor, tf.float32)), self.indices, members)


@dataclasses.dataclass(frozen=True, eq=False)
class Neuron(_Units):
    position: tuple[int, ...] | None = None

    def _where(self) -> str:
        return "" if self.position is None else "@" + ",".join(str(p) for p in self.position)

    def _unit_label(self, index: int) -> str:
        return f"{self.layer_name}:{index}{self._where()}"

    def _unit_label_many(self) -> str:
        return f"{self.layer_name}:[{_format_indices(self.indices)}]{self._where()}"

    def resolved_position(self, shape: tuple) -> tuple[int, ...]:
        spatial = tuple(shape[1:-1])
        if self.position is not None:
            return self.position
        return tuple(int(size) // 2 for size in spatial)

    def check(self, shape: tuple, where: str) -> None:
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: {where} has output shape {shape}, without a channel axis.")
        spatial = tuple(shape[1:-1])
        if self.position is not None:
            if len(self.position) != len(spatial):
                raise ValueError(
                    f"`position`={self.position} has {len(self.position)} coordinate(s) but {where} "
                    f"has output shape {shape} ({len(spatial)} spatial axes)."
                )
            for p, size in zip(self.position, spatial):
                if size is not None and not 0 <= p < size:
                    raise ValueError(
                        f"`position`={self.position} is out of range for {where}, whose spatial "
                        f"size is {spatial}."
                    )
        elif any(size is None for size in spatial):
            raise ValueError(
                f"{self.describe()}: {where} has spatial size {spatial} (unknown until run); pass "
                f"`position=` explicitly."
            )
        self._check_indices(shape[-1], "channels", where)

    def values(self, tensor, members):
        tensor = tf.cast(tensor, tf.float32)
        position = self.resolved_position(tuple(tensor.shape))
        units = tensor[(slice(None), *position)] if position else tensor
        return _pick(units, self.indices, members)


@dataclasses.dataclass(frozen=True, eq=False)
class ClassScore(_Units):
    probability: bool = False
    output: Any = None
    log: bool = False

    @property
    def _kind(self) -> str:
        head = "" if self.output is None else f"{self.output}/"
        return head + ("logprob" if self.log else "prob" if self.probability else "class")

    def _unit_label(self, index: int) -> str:
        return f"{self._kind}:{index}"

    def _unit_label_many(self) -> str:
        return f"{self._kind}:[{_format_indices(self.indices)}]"

    def check_classes(self, classes: int | None, where: str) -> None:
        if classes is None:
            raise ValueError(
                f"{self.describe()}: {where} is not a (batch, classes) output, so class scores "
                f"do not apply; use a channel or neuron objective instead."
            )
        self._check_indices(classes, "classes", where)

    def values(self, tensor, members):
        from keras_viz._model import logits_of

        logits = logits_of(tensor)
        if self.log:  # from the logits: exact where the softmax underflows
            scores = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        elif self.probability:
            scores = tensor if logits is not tensor else tf.nn.softmax(tf.cast(tensor, tf.float32))
        else:
            scores = logits
        return _pick(tf.cast(scores, tf.float32), self.indices, members)


@dataclasses.dataclass(frozen=True, eq=False)
class DeepDream(Term):
    def describe(self) -> str:
        return f"deepdream({self.layer_name})"

    def values(self, tensor, members):
        tensor = tf.cast(tensor, tf.float32)
        value = tf.reduce_mean(tf.square(tensor), axis=list(range(1, tensor.shape.rank)))
        return value if members is not None else value[:, tf.newaxis]


@dataclasses.dataclass(frozen=True, eq=False)
class Direction(Term):
    vectors: np.ndarray  # (K, C), read-only
    scalar: bool

    @property
    def members(self) -> int:
        return int(self.vectors.shape[0])

    def member_names(self) -> tuple[str, ...]:
        if self.members == 1:
            return (self.describe(),)
        return tuple(f"direction({self.layer_name})[{k}]" for k in range(self.members))

    def describe(self) -> str:
        return f"direction({self.layer_name})" + ("" if self.scalar else f"[{self.members}]")

    def check(self, shape: tuple, where: str) -> None:
        if len(shape) < 2 or shape[-1] != self.vectors.shape[1]:
            raise ValueError(
                f"`vector` has {self.vectors.shape[1]} entries but {where} has output shape {shape} "
                f"({shape[-1] if len(shape) >= 2 else 'no'} channels)."
            )

    def values(self, tensor, members):
        mean = _spatial_mean(tf.cast(tensor, tf.float32))
        vectors = tf.constant(self.vectors)
        if members is None:
            return tf.matmul(mean, vectors, transpose_b=True)
        return tf.reduce_sum(mean * tf.gather(vectors, members), axis=-1)


@dataclasses.dataclass(frozen=True, eq=False)
class Diversity(Term):
    batch_coupled = True

    def describe(self) -> str:
        return f"diversity({self.layer_name})"

    def check(self, shape: tuple, where: str) -> None:
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: {where} has output shape {shape}, without a channel axis.")

    def values(self, tensor, members):
        """Minus the mean cosine similarity of each image's Gram matrix with the Gram matrices
        of the other images of its member (all other images when ``members`` is None)."""
        value = diversity_values(tensor, members)
        return value if members is not None else value[:, tf.newaxis]


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureMatch(Term):
    targets: np.ndarray  # (K, ...) layer outputs, read-only
    scalar: bool

    @property
    def members(self) -> int:
        return int(self.targets.shape[0])

    def member_names(self) -> tuple[str, ...]:
        if self.members == 1:
            return (self.describe(),)
        return tuple(f"feature_match({self.layer_name})[{k}]" for k in range(self.members))

    def describe(self) -> str:
        return f"feature_match({self.layer_name})" + ("" if self.members == 1 else f"[{self.members}]")

    def check(self, shape: tuple, where: str) -> None:
        expected = tuple(shape[1:])
        if tuple(self.targets.shape[1:]) != expected:
            raise ValueError(
                f"`activations` of {self.describe()} have shape {self.targets.shape} but {where} "
                f"outputs {(None, *expected)} for these images: pass the layer's outputs with a "
                f"batch axis, (K, {', '.join(str(s) for s in expected)})."
            )

    def values(self, tensor, members):
        tensor = tf.cast(tensor, tf.float32)
        features = tf.reshape(tensor, [tf.shape(tensor)[0], -1])
        targets = tf.constant(self.targets.reshape(self.targets.shape[0], -1))
        return _relative_distances(features, targets, members)


@dataclasses.dataclass(frozen=True, eq=False)
class GramMatch(Term):
    grams: np.ndarray  # (K, C, C), read-only

    @property
    def members(self) -> int:
        return int(self.grams.shape[0])

    def member_names(self) -> tuple[str, ...]:
        if self.members == 1:
            return (self.describe(),)
        return tuple(f"gram_match({self.layer_name})[{k}]" for k in range(self.members))

    def describe(self) -> str:
        return f"gram_match({self.layer_name})" + ("" if self.members == 1 else f"[{self.members}]")

    def check(self, shape: tuple, where: str) -> None:
        if len(shape) < 3 or shape[-1] != self.grams.shape[-1]:
            raise ValueError(
                f"`activations` of {self.describe()} have {self.grams.shape[-1]} channels but "
                f"{where} has output shape {shape}; a Gram matrix needs the (K, ..., C) outputs "
                f"of that layer."
            )

    def values(self, tensor, members):
        grams = gram_matrix(tensor)
        features = tf.reshape(grams, [tf.shape(grams)[0], -1])
        targets = tf.constant(self.grams.reshape(self.grams.shape[0], -1))
        return _relative_distances(features, targets, members)
