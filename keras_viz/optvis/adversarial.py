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
from keras_viz.optvis._checks import check_choice, check_int, check_positive, check_seed, check_value_range
from keras_viz.optvis._graph import checked_model

__all__ = ["Adversarial", "adversarial", "float32_at_least", "float32_at_most", "project_exactly"]

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


def float32_at_most(value: float) -> float:
    """The largest float32 that is ``<= value``."""
    rounded = np.float32(value)
    if float(rounded) > value:
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return float(rounded)


def float32_at_least(value: float) -> float:
    """The smallest float32 that is ``>= value``."""
    rounded = np.float32(value)
    if float(rounded) < value:
        rounded = np.nextafter(rounded, np.float32(np.inf))
    return float(rounded)


def project_exactly(originals: tf.Tensor, candidates: tf.Tensor, bound: float, low: float, high: float) -> tf.Tensor:
    """float32 ``candidates`` moved into the L∞ ball of radius ``bound`` around ``originals``
    and into ``[low, high]``, *exactly*.

    ``originals + clip(candidates - originals, -ε, ε)`` in float32 can land one ulp outside
    the ball (|δ| = 0.100000024 for ε = 0.1), because the sum is rounded. Here the
    projection is done in float64 and rounded to float32 once; a result that rounding put
    outside the ball is moved one ulp back towards the original, which puts it inside
    (the rounding moved it by at most half an ulp). ``bound``, ``low`` and ``high`` must be
    float32 values (:func:`float32_at_most`, :func:`float32_at_least`), so that the float32
    difference ``result - original`` is within ``bound`` too.
    """
    x = tf.cast(originals, tf.float64)
    delta = tf.clip_by_value(tf.cast(candidates, tf.float64) - x, -bound, bound)
    result = tf.cast(tf.clip_by_value(x + delta, low, high), tf.float32)
    outside = tf.abs(tf.cast(result, tf.float64) - x) > bound
    result = tf.where(outside, tf.math.nextafter(result, tf.cast(originals, tf.float32)), result)
    return tf.clip_by_value(result, low, high)


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
        step_size: PGD step; None takes ``2.5 · epsilon / steps`` (Madry et al.). FGSM's
            one step is ``epsilon``: giving ``step_size`` with ``method="fgsm"`` is an error.
        random_start: PGD starts from a uniform random point of the ball (FGSM starts
            from the original; ``steps`` and ``random_start`` apply to PGD only).
        value_range: the model's input range; results are clipped into it.
        seed: seed of the random start (keyed per sample, so batching changes nothing).
        output: output name or index of a multi-output model.
        batch_size: samples per pass.

    Returns:
        :class:`Adversarial` with ``.images``, ``.perturbation``, ``.predictions``, ...
        Every result is inside the ball exactly in float32: ``|images - originals| <=
        epsilon`` with no rounding slack (the originals clipped into ``value_range``).

    Example:
        >>> result = optvis.adversarial(model, x[:8], y[:8], epsilon=0.1, method="fgsm")
        >>> result.success.mean()
    """
    model = checked_model(model)
    epsilon = check_positive(epsilon, "epsilon")
    if not isinstance(method, str):
        raise TypeError(f"`method` must be one of {', '.join(map(repr, METHODS))}; received method={method!r:.80}")
    method = check_choice(method.lower(), "method", METHODS)
    steps = check_int(steps, "steps", 1)
    if method == "fgsm":
        if step_size is not None:
            raise ValueError(
                f"`step_size`={step_size!r} does not apply to method='fgsm', whose one step is "
                f"epsilon={epsilon:g}; use method='pgd' for another step size."
            )
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
    x = np.clip(x, float32_at_least(low), float32_at_most(high))
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

    bound = float32_at_most(epsilon)

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
        result = project_exactly(originals, result, bound, float32_at_least(low), float32_at_most(high))
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
