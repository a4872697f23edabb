"""Objectives: what an optimised image should make the network do.

An objective is a small immutable object that names itself and composes with ``+``, ``-``,
``*``, ``/`` and unary ``-``: every operation returns a *new* objective and never touches
its operands (lucid's ``optvis/objectives.py`` design; xplique 2.0.2's ``Objective.__sub__``
mutates its right operand, which is the trap this module avoids).

An objective has ``K`` *members* (``K = 1`` unless an index is a sequence):
``channel("conv3", range(16))`` has 16 members, one image each when optimised as one batch.
Combining objectives broadcasts members of size 1: ``channel("c", range(16)) + 0.1 *
deepdream("c")`` still has 16 members.

Each term computes, from the output of one layer (or the model's output for class scores),
either the score of every image for every member, ``(N, K)`` (:func:`keras_viz.optvis.score`),
or the score of image ``b`` for the member it is optimised for, ``(N,)`` (the optimisation
step). The layer outputs are read during the model's own forward pass by
:mod:`keras_viz.optvis._graph`; nothing here runs a model.

References:
    Erhan et al. 2009, "Visualizing Higher-Layer Features of a Deep Network" (activation
    maximisation); Simonyan et al. 2014 (class models from logits); Mordvintsev et al. 2015
    (DeepDream); Olah et al. 2017, "Feature Visualization" (directions, diversity);
    Mahendran & Vedaldi 2015 (feature inversion); Gatys et al. 2016 (Gram matrices).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any, Union

import keras
import numpy as np
import tensorflow as tf

from keras_viz.optvis.terms import (
    Channel,
    ClassScore,
    DeepDream,
    Direction,
    Diversity,
    FeatureMatch,
    GramMatch,
    Neuron,
    Term,
    gram_matrix,
)

__all__ = [
    "Objective",
    "channel",
    "class_score",
    "deepdream",
    "direction",
    "diversity",
    "feature_match",
    "gram_match",
    "gram_matrix",
    "neuron",
]

LayerRef = Union[str, int, keras.layers.Layer]


# --------------------------------------------------------------------------- the objective


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _coefficient_text(coefficient: float, first: bool) -> str:
    sign = "-" if coefficient < 0 else "+"
    magnitude = abs(coefficient)
    factor = "" if magnitude == 1 else f"{magnitude:g}·"
    if first:
        return ("-" if sign == "-" else "") + factor
    return f" {sign} {factor}"


@dataclasses.dataclass(frozen=True, eq=False)
class Objective:
    """A weighted sum of terms, each reading one layer (or the model's output).

    Build objectives with :func:`channel`, :func:`neuron`, :func:`deepdream`,
    :func:`direction`, :func:`class_score`, :func:`diversity`, :func:`feature_match` and
    :func:`gram_match`, and combine them with ``+``, ``-``, ``*``, ``/``, unary ``-`` and
    ``sum([...])``. Every operation returns a new objective; operands never change.

    Attributes:
        terms: ``((coefficient, term), ...)``.
        members: ``K``, the number of images a batched optimisation produces.
        names: one name per member, e.g. ``("conv3:0", "conv3:1")``.
        name: the whole objective, e.g. ``"conv3:7 + 0.5·diversity(conv3)"``.
    """

    terms: tuple[tuple[float, Term], ...]

    def __post_init__(self):
        sizes = {term.members for _, term in self.terms if term.members != 1}
        if len(sizes) > 1:
            raise ValueError(
                f"Objectives with different numbers of members cannot be combined: "
                f"{' and '.join(sorted({term.describe() for _, term in self.terms if term.members != 1}))} "
                f"have {sorted(sizes)} members; only members of size 1 broadcast."
            )

    # -- description -----------------------------------------------------------

    @property
    def members(self) -> int:
        return max((term.members for _, term in self.terms), default=1)

    @property
    def batch_coupled(self) -> bool:
        return any(term.batch_coupled for _, term in self.terms)

    @property
    def name(self) -> str:
        return self._join([term.describe() for _, term in self.terms])

    @property
    def names(self) -> tuple[str, ...]:
        per_term = []
        for _, term in self.terms:
            names = term.member_names()
            per_term.append(names if len(names) > 1 else names * self.members)
        return tuple(self._join([names[k] for names in per_term]) for k in range(self.members))

    def _join(self, labels: list[str]) -> str:
        return "".join(
            _coefficient_text(coefficient, i == 0) + label
            for i, ((coefficient, _), label) in enumerate(zip(self.terms, labels))
        )

    def __repr__(self) -> str:
        count = f", members={self.members}" if self.members > 1 else ""
        return f"Objective({self.name!r}{count})"

    def __str__(self) -> str:
        return self.name

    # -- arithmetic (always a new object) ----------------------------------------

    def __add__(self, other: Any) -> "Objective":
        if isinstance(other, Objective):
            return Objective(self.terms + other.terms)
        if _is_number(other) and other == 0:  # sum([...]) starts from 0
            return Objective(self.terms)
        return NotImplemented

    def __radd__(self, other: Any) -> "Objective":
        if _is_number(other) and other == 0:
            return Objective(self.terms)
        return NotImplemented

    def __neg__(self) -> "Objective":
        return self * -1.0

    def __pos__(self) -> "Objective":
        return Objective(self.terms)

    def __sub__(self, other: Any) -> "Objective":
        if isinstance(other, Objective):
            return self + (-other)
        if _is_number(other) and other == 0:
            return Objective(self.terms)
        return NotImplemented

    def __rsub__(self, other: Any) -> "Objective":
        if _is_number(other) and other == 0:
            return -self
        return NotImplemented

    def __mul__(self, factor: Any) -> "Objective":
        if not _is_number(factor):
            return NotImplemented
        factor = float(factor)
        if not math.isfinite(factor):
            raise ValueError(f"An objective can only be scaled by a finite number; received {factor!r}.")
        return Objective(tuple((coefficient * factor, term) for coefficient, term in self.terms))

    __rmul__ = __mul__

    def __truediv__(self, divisor: Any) -> "Objective":
        if not _is_number(divisor):
            return NotImplemented
        if divisor == 0:
            raise ValueError("An objective cannot be divided by 0.")
        return self * (1.0 / float(divisor))

    # -- evaluation (inside a traced function) ------------------------------------

    def evaluate(self, tensors: Sequence[tf.Tensor], members: tf.Tensor | None) -> tf.Tensor:
        """Combines the terms given the tensor each one reads (same order as :attr:`terms`).

        Args:
            tensors: per term, the layer output (or the model output) it reads.
            members: None for the ``(N, K)`` scores of every image for every member, or an
                ``(N,)`` int tensor giving the member each image is optimised for.

        Returns:
            ``(N, K)`` or ``(N,)`` float32.
        """
        total = None
        count = self.members
        for (coefficient, term), tensor in zip(self.terms, tensors):
            if members is None or term.members > 1 or term.batch_coupled:
                term_members = members  # batch-coupled terms group the images by member
            else:
                term_members = tf.zeros_like(members)  # a size-1 term: member 0 for every image
            value = term.values(tensor, term_members)
            if members is None and term.members == 1 and count > 1:
                value = tf.repeat(value, count, axis=1)
            value = coefficient * value
            total = value if total is None else total + value
        return total


# --------------------------------------------------------------------------- constructors


def _check_layer(layer: Any) -> Any:
    if isinstance(layer, keras.layers.Layer):
        return layer
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (str, int, np.integer)) or layer == "":
        raise TypeError(
            f"`layer` must be a layer name, '/'-path, index or layer object; received "
            f"{type(layer).__name__}: {layer!r}"
        )
    return int(layer) if isinstance(layer, (int, np.integer)) else layer


def _check_indices(index: Any, argument: str = "index") -> tuple[tuple[int, ...], bool]:
    """An int (scalar objective) or a non-empty sequence of ints (batched objective)."""
    if isinstance(index, (bool, np.bool_)):
        raise TypeError(f"`{argument}` must be an int or a sequence of ints; received {index!r}")
    if isinstance(index, (int, np.integer)):
        values, scalar = (int(index),), True
    else:
        try:
            array = np.asarray(list(index) if isinstance(index, range) else index)
        except (TypeError, ValueError) as error:
            raise TypeError(f"`{argument}` must be an int or a sequence of ints; received {index!r}") from error
        if array.ndim == 1 and array.size == 0:
            raise ValueError(f"`{argument}` is an empty sequence; give at least one index.")
        if array.ndim != 1 or array.dtype == bool or array.dtype.kind not in "iu":
            raise TypeError(f"`{argument}` must be an int or a sequence of ints; received {index!r}")
        values, scalar = tuple(int(i) for i in array), False
    negative = [i for i in values if i < 0]
    if negative:
        raise ValueError(f"`{argument}`={negative[0]} is negative; indices count from 0.")
    return values, scalar


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float32, copy=True)
    array.flags.writeable = False
    return array


def _finite_array(values: Any, argument: str, min_ndim: int) -> np.ndarray:
    if isinstance(values, tf.Tensor):
        values = values.numpy()
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`{argument}` must be a numeric array; received {type(values).__name__}") from error
    if array.ndim < min_ndim:
        raise ValueError(f"`{argument}` must have at least {min_ndim} axes; received shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"`{argument}` is empty (shape {array.shape}).")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{argument}` contains NaN or infinite values.")
    return array


def _objective(term: Term) -> Objective:
    return Objective(((1.0, term),))


def channel(layer: LayerRef, index: int | Sequence[int]) -> Objective:
    """The mean of one channel of a layer over all positions (Erhan et al. 2009).

    Args:
        layer: layer name, ``/``-path (nested models), index or layer object.
        index: channel index, or a sequence (``range(16)``) for a batched objective with
            one member, and one optimised image, per channel.

    Example:
        >>> images = optvis.activation_maximization(model, optvis.channel("conv3", range(16)))
    """
    indices, scalar = _check_indices(index)
    return _objective(Channel(_check_layer(layer), indices, scalar))


def neuron(layer: LayerRef, index: int | Sequence[int], position: Sequence[int] | None = None) -> Objective:
    """One unit at one position of a layer (the centre position by default).

    Args:
        layer: layer name, ``/``-path, index or layer object.
        index: channel index, or a sequence of them (batched).
        position: spatial position, e.g. ``(row, col)``; None takes the centre of the
            layer's output. Ignored for layers without spatial axes (give None).
    """
    indices, scalar = _check_indices(index)
    if position is not None:
        if isinstance(position, (int, np.integer)) and not isinstance(position, bool):
            position = (int(position),)
        try:
            position = tuple(position)
        except TypeError as error:
            raise TypeError(f"`position` must be a tuple of ints or None; received {position!r}") from error
        if not all(isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) for p in position):
            raise TypeError(f"`position` must be a tuple of ints or None; received {position!r}")
        position = tuple(int(p) for p in position)
        if any(p < 0 for p in position):
            raise ValueError(f"`position`={position} has a negative coordinate.")
    return _objective(Neuron(_check_layer(layer), indices, scalar, position))


def deepdream(layer: LayerRef) -> Objective:
    """The mean square of a whole layer's output (Mordvintsev et al. 2015): boost every feature."""
    return _objective(DeepDream(_check_layer(layer)))


def direction(layer: LayerRef, vector: Any) -> Objective:
    """The dot product of a layer's mean activation vector with a direction (Olah et al. 2017).

    Args:
        layer: layer name, ``/``-path, index or layer object.
        vector: ``(C,)`` direction in the layer's channel space, or ``(K, C)`` for K members.
    """
    array = _finite_array(vector, "vector", 1)
    if array.ndim > 2:
        raise ValueError(f"`vector` must have shape (C,) or (K, C); received shape {array.shape}.")
    scalar = array.ndim == 1
    return _objective(Direction(_check_layer(layer), _read_only(np.atleast_2d(array)), scalar))


def class_score(
    index: int | Sequence[int], probability: bool = False, output: str | int | None = None, *, log: bool = False
) -> Objective:
    """A class score: the logit before a final softmax/sigmoid (Simonyan et al. 2014).

    Args:
        index: class index, or a sequence of them (one image per class).
        probability: score the softmax probability instead of the logit (the model's
            output when it ends with a softmax). A logit can grow while other classes
            grow more; the probability makes the image win its class, which small models
            need for images classified as the class.
        output: output name or index of a multi-output model.
        log: with ``probability=True``, the log-probability (log-softmax of the logits):
            the same optimum, but its gradient does not vanish when the class starts
            improbable (the probability's does, and the image never moves).
    """
    indices, scalar = _check_indices(index)
    if output is not None and (isinstance(output, bool) or not isinstance(output, (str, int, np.integer))):
        raise TypeError(f"`output` must be an output name, index or None; received {output!r}")
    if log and not probability:
        raise ValueError("`log`=True applies to probabilities: pass probability=True as well.")
    return _objective(ClassScore(None, indices, scalar, bool(probability), output, bool(log)))


def diversity(layer: LayerRef) -> Objective:
    """How different the images of one member are: minus the mean cosine similarity of each
    image's Gram matrix at ``layer`` with those of the other images of the same member
    (Olah et al. 2017, lucid's ``diversity``).

    Higher is more diverse (0 for unrelated images, -1 for identical ones), so *add* it with a
    positive weight to an objective optimised with several images per member (``batch=``).
    Images of different members never see each other: a batch of K members with
    ``batch=K·n`` gives what K separate runs with ``batch=n`` give. :func:`score` takes all
    the given images as one group.

    Example:
        >>> objective = optvis.channel("conv3", 7) + 0.5 * optvis.diversity("conv3")
        >>> images = optvis.activation_maximization(model, objective, batch=4)  # 4 different images
    """
    return _objective(Diversity(_check_layer(layer)))


def feature_match(layer: LayerRef, activations: Any) -> Objective:
    """``-||Φ(x) - Φ0||² / ||Φ0||²`` for inversion (Mahendran & Vedaldi 2015).

    Args:
        layer: layer name, ``/``-path, index or layer object.
        activations: ``Φ0``, the layer's outputs ``(K, ...)`` for K images (with the batch
            axis, e.g. from :class:`keras_viz.FeatureMaps`): one member per image.
    """
    array = _finite_array(activations, "activations", 2)
    return _objective(FeatureMatch(_check_layer(layer), _read_only(array), False))


def gram_match(layer: LayerRef, activations: Any) -> Objective:
    """``-||G(x) - G0||² / ||G0||²`` with Gram matrices of a layer, for style (Gatys et al. 2016).

    Args:
        layer: layer name, ``/``-path, index or layer object.
        activations: the layer's outputs ``(K, ..., C)`` for K style images (with the batch
            axis); their Gram matrices (:func:`gram_matrix`) are kept, so the style images
            may have another size than the optimised ones.
    """
    array = _finite_array(activations, "activations", 3)
    grams = gram_matrix(tf.constant(array)).numpy()
    return _objective(GramMatch(_check_layer(layer), _read_only(grams)))
