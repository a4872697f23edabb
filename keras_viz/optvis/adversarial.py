"""Adversarial examples: tiny changes that change the class (Szegedy et al. 2014).

* FGSM (Goodfellow et al. 2015, "Explaining and Harnessing Adversarial Examples"): one step
  ``x' = x + ε · sign(∇_x L(x, y))``.
* PGD (Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks"):
  from a random point of the L∞ ball, ``steps`` steps of ``α · sign(∇)``, each followed by
  the projection back into the ball ``|x' - x| ≤ ε`` and into the value range.

Untargeted attacks climb the cross-entropy of the true class (the labels, or the predicted
class), targeted ones descend the cross-entropy of the target class. The loss is taken on
the logits behind a final softmax, as the explainers take class scores.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz import targets as targets_lib
from keras_viz._inputs import Inputs, check_batch_size
from keras_viz._model import ModelInfo, logits_of
from keras_viz.optvis._graph import check_int, check_positive, check_seed, check_value_range, checked_model

__all__ = ["Adversarial", "adversarial"]

METHODS = ("fgsm", "pgd")


@dataclasses.dataclass(frozen=True)
class Adversarial:
    """The result of :func:`adversarial`.

    Attributes:
        images: the adversarial inputs, in the value range, within ``epsilon`` of the originals.
        perturbation: ``images - originals``.
        predictions: ``(N,)`` classes the model predicts for ``images``.
        original_predictions: ``(N,)`` classes it predicts for the originals.
        labels: ``(N,)`` classes an untargeted attack moved away from (the labels, or the
            original predictions).
        targets: ``(N,)`` target classes of a targeted attack, else None.
        epsilon: the L∞ radius.
        method: ``"fgsm"`` or ``"pgd"``.
    """

    images: np.ndarray
    perturbation: np.ndarray
    predictions: np.ndarray
    original_predictions: np.ndarray
    labels: np.ndarray
    targets: np.ndarray | None
    epsilon: float
    method: str

    @property
    def success(self) -> np.ndarray:
        """``(N,)`` bool: the target class reached (targeted), or the label left (untargeted)."""
        if self.targets is not None:
            return self.predictions == self.targets
        return self.predictions != self.labels


def _per_sample(values: Any, count: int, argument: str, classes: int) -> np.ndarray:
    if isinstance(values, (int, np.integer)) and not isinstance(values, (bool, np.bool_)):
        if values < 0:
            raise ValueError(f"`{argument}`={int(values)} is a negative class index.")
        array = np.full((count,), int(values), np.int64)
    else:
        array = targets_lib.class_indices(values, argument)
        if len(array) != count:
            raise ValueError(f"`{argument}` has {len(array)} entries but `images` has {count} samples.")
    if array.size and array.max() >= classes:
        raise ValueError(
            f"`{argument}` holds class index {int(array.max())}, out of range for an output with "
            f"{classes} classes (valid 0..{classes - 1})."
        )
    return array.astype(np.int32)


def adversarial(
    model: keras.Model,
    images: Any,
    labels: Any = None,
    *,
    target: Any = None,
    epsilon: float,
    method: str = "pgd",
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    value_range: tuple[float, float] = (0, 1),
    seed: int = 0,
    output: str | int | None = None,
    batch_size: int = 128,
) -> Adversarial:
    """Adversarial examples in the L∞ ball of radius ``epsilon`` (FGSM or PGD).

    Args:
        model: a classifier with one input (images, sequences, ...), any model kind.
        images: ``(N, ...)`` inputs in ``value_range``.
        labels: ``(N,)`` true classes (or one-hot rows) for an untargeted attack; None uses
            the predicted classes.
        target: a class, or one per sample: a targeted attack (``labels`` is then unused).
        epsilon: the L∞ radius, in input units (e.g. ``8/255`` for images in [0, 1]).
        method: ``"pgd"`` (default) or ``"fgsm"`` (one step of size ``epsilon``).
        steps: PGD steps.
        step_size: PGD step; None takes ``2.5 · epsilon / steps`` (Madry et al.).
        random_start: PGD starts from a uniform random point of the ball.
        value_range: the model's input range; results are clipped into it.
        seed: seed of the random start (keyed per sample, so batching changes nothing).
        output: output name or index of a multi-output model.
        batch_size: samples per pass.

    Returns:
        :class:`Adversarial` with ``.images``, ``.perturbation``, ``.predictions``, ...

    Example:
        >>> result = optvis.adversarial(model, x[:8], y[:8], epsilon=0.1, method="fgsm")
        >>> result.success.mean()
    """
    model = checked_model(model)
    epsilon = check_positive(epsilon, "epsilon")
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}; received {method!r}")
    method = method.lower()
    steps = check_int(steps, "steps", 1)
    if method == "fgsm":
        steps = 1
    step = epsilon if method == "fgsm" else (
        2.5 * epsilon / steps if step_size is None else check_positive(step_size, "step_size")
    )
    value_range = check_value_range(value_range)
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    data = Inputs(images, model, argument="images")
    if data.dataset is not None or len(data.arrays) != 1:
        raise ValueError(
            "adversarial takes a model with one input and `images` as one array "
            f"(the model takes {len(data.specs or data.arrays)} input(s))."
        )
    x = data.arrays[0]
    low, high = value_range
    slack = 1e-3 * (high - low)
    if x.min() < low - slack or x.max() > high + slack:
        raise ValueError(
            f"`images` values span [{x.min():g}, {x.max():g}], outside value_range={value_range}; "
            f"pass the range the model takes."
        )
    x = np.clip(x, low, high)
    info = ModelInfo(model, tf.constant(x[:1]))
    index = info.output_index(output)
    classes = info.num_classes(index)
    if classes is None or classes < 2:
        raise ValueError(
            f"adversarial needs a (batch, classes) output with at least 2 classes; output "
            f"{info.output_names[index]!r} has shape {tuple(info.outputs[index].shape)}."
        )
    targeted = target is not None
    given_labels = None if labels is None else _per_sample(labels, len(x), "labels", classes)
    goal_given = _per_sample(target, len(x), "target", classes) if targeted else given_labels

    start_noise = np.zeros_like(x)
    if method == "pgd" and random_start:
        start_noise = tf.random.stateless_uniform(
            x.shape, seed=tf.constant([seed, 104729], tf.int64), minval=-epsilon, maxval=epsilon
        ).numpy()

    def logits(inputs):
        outputs = model(inputs, training=False)
        return tf.cast(logits_of(tf.nest.flatten(outputs)[index]), tf.float32)

    def attack(originals, goals, noise):
        predicted = tf.argmax(logits(originals), axis=-1, output_type=tf.int32)
        goals = tf.where(goals < 0, predicted, goals)
        sign = -1.0 if targeted else 1.0

        def body(i, current):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(current)
                loss = tf.nn.sparse_softmax_cross_entropy_with_logits(goals, logits(current))
            gradient = tf.cast(tape.gradient(loss, current), tf.float32)
            moved = current + sign * step * tf.sign(gradient)
            moved = originals + tf.clip_by_value(moved - originals, -epsilon, epsilon)
            return i + 1, tf.clip_by_value(moved, low, high)

        begin = tf.clip_by_value(originals + noise, low, high)
        _, result = tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), begin))
        after = tf.argmax(logits(result), axis=-1, output_type=tf.int32)
        return result, after, predicted, goals

    spec = tf.TensorSpec((None, *x.shape[1:]), tf.float32)
    function = tf.function(attack, autograph=False).get_concrete_function(
        spec, tf.TensorSpec((None,), tf.int32), spec
    )
    goals_all = goal_given if goal_given is not None else np.full((len(x),), -1, np.int32)
    parts = [
        function(x[s : s + batch_size], goals_all[s : s + batch_size], start_noise[s : s + batch_size])
        for s in range(0, len(x), batch_size)
    ]
    result = np.concatenate([p[0].numpy() for p in parts]).astype(np.float32)
    after = np.concatenate([p[1].numpy() for p in parts]).astype(np.int64)
    before = np.concatenate([p[2].numpy() for p in parts]).astype(np.int64)
    goals = np.concatenate([p[3].numpy() for p in parts]).astype(np.int64)
    return Adversarial(
        images=result,
        perturbation=(result - x).astype(np.float32),
        predictions=after,
        original_predictions=before,
        labels=before if given_labels is None else given_labels.astype(np.int64),
        targets=goals if targeted else None,
        epsilon=epsilon,
        method=method,
    )
