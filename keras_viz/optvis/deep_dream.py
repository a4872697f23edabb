"""DeepDream: amplify whatever a layer already sees in a photograph (Mordvintsev et al. 2015).

Gradient ascent on ``mean(A²)`` of chosen layers, starting from the photograph: each step
boosts every feature that fired, so the features appear in the picture. As in the
original notebook (google/deepdream) and the Keras example:

* an *octave* cascade: the image is processed from small to large, and at each scale the
  dream so far (upscaled) is added to the photograph at that scale, so the detail lost by
  shrinking comes back and patterns grow at several sizes;
* a random roll (jitter) of the image before each step, rolled back on the gradient;
* the gradient normalised by its mean absolute value, a step of ``step_size`` times the
  width of the range, and clipping to the range.

The model is only run up to the deepest layer needed, and its input-size check is lifted,
so a model that is fully convolutional up to that layer dreams on images of any size.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz.optvis._graph import (
    ObjectiveReader,
    check_images,
    check_int,
    check_positive,
    check_seed,
    check_value_range,
    checked_model,
    image_input,
    probe,
    relaxed_input_shape,
)
from keras_viz.optvis.objectives import Objective, deepdream

__all__ = ["deep_dream", "dream_objective", "octave_sizes"]

MIN_OCTAVE_SIDE = 8


def octave_sizes(height: int, width: int, octaves: int, octave_scale: float) -> list[tuple[int, int]]:
    """Image sizes from the smallest octave to the full size."""
    return [
        (max(1, round(height / octave_scale**k)), max(1, round(width / octave_scale**k)))
        for k in reversed(range(octaves))
    ]


def dream_objective(layers: Any) -> Objective:
    """``Σ_l w_l · deepdream(l)`` from a layer, a ``{layer: weight}`` dict or an objective."""
    if isinstance(layers, Objective):
        if layers.members != 1:
            raise ValueError(f"`layers` as an objective must have one member; {layers.name} has {layers.members}.")
        return layers
    if isinstance(layers, dict):
        if not layers:
            raise ValueError("`layers` is an empty dict; name at least one layer.")
        terms = []
        for layer, weight in layers.items():
            weight = check_positive(weight, f"layers[{layer!r}]", allow_zero=True)
            terms.append(weight * deepdream(layer))
        return sum(terms)
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise ValueError("`layers` is empty; name at least one layer.")
        return sum(deepdream(layer) for layer in layers)
    return deepdream(layers)


def deep_dream(
    model: keras.Model,
    image: Any,
    layers: Any,
    *,
    octaves: int = 4,
    octave_scale: float = 1.3,
    steps: int = 20,
    step_size: float = 0.01,
    value_range: tuple[float, float] = (0, 1),
    seed: int = 0,
    jitter: int | None = None,
) -> np.ndarray:
    """DeepDream of ``image`` on ``layers`` (see the module docstring).

    Args:
        model: any Keras model with one image input; nested and subclassed models included.
        image: ``(H, W, C)`` or ``(N, H, W, C)`` in ``value_range``; larger than the model's
            input is fine when the model is fully convolutional up to the layers.
        layers: a layer name (``/``-path, index), a ``{layer: weight}`` dict, a list of layers,
            or an optvis objective with one member.
        octaves: number of scales.
        octave_scale: size ratio between consecutive scales.
        steps: gradient steps per octave.
        step_size: step as a fraction of the range's width (the gradient is normalised by
            its mean absolute value).
        value_range: the model's input range.
        seed: seed of the random rolls.
        jitter: largest roll in pixels; None takes 1/16 of the smaller side of each octave.

    Returns:
        float32 array of the same shape as ``image``, in ``value_range``.

    Example:
        >>> dream = optvis.deep_dream(model, photo, {"block2_relu": 1.0, "block3_relu": 0.5})
    """
    model = checked_model(model)
    value_range = check_value_range(value_range)
    octaves = check_int(octaves, "octaves", 1)
    octave_scale = check_positive(octave_scale, "octave_scale")
    if octave_scale < 1:
        raise ValueError(f"`octave_scale` must be >= 1; received octave_scale={octave_scale!r}")
    steps = check_int(steps, "steps", 1)
    step_size = check_positive(step_size, "step_size")
    seed = check_seed(seed)
    if jitter is not None:
        jitter = check_int(jitter, "jitter", 0)
    declared, channels, fixed = image_input(model, "deep_dream")
    images, single = check_images(image, channels, value_range, "image")
    height, width = images.shape[1:3]
    sizes = octave_sizes(height, width, octaves, octave_scale)
    if min(sizes[0]) < MIN_OCTAVE_SIDE:
        raise ValueError(
            f"The smallest octave of a {height}x{width} image is {sizes[0][0]}x{sizes[0][1]} pixels "
            f"(octaves={octaves}, octave_scale={octave_scale:g}); use fewer octaves or a smaller "
            f"octave_scale so that it is at least {MIN_OCTAVE_SIDE} pixels."
        )
    objective = dream_objective(layers)
    probe_size = (height, width) if any(d is None for d in declared) else declared
    with relaxed_input_shape(model, fixed):
        info = probe(model, int(probe_size[0]), int(probe_size[1]), channels)
    reader = ObjectiveReader(model, objective, info, argument="layers")
    def compiled(size):
        return _compiled_ascent(reader, size, channels, value_range, step_size, relax=fixed)

    try:  # one trace for every size, when the layers take unknown spatial sizes
        functions: dict[Any, Any] = {None: compiled((None, None))}
    except (ValueError, TypeError, tf.errors.InvalidArgumentError):
        functions = {}

    originals = tf.constant(images)
    detail = None
    dream = originals
    for octave, size in enumerate(sizes):
        base = tf.image.resize(originals, size, antialias=True) if size != (height, width) else originals
        if detail is not None:
            detail = tf.image.resize(detail, size)
        start = base if detail is None else base + detail
        roll = jitter if jitter is not None else max(1, min(size) // 16)
        try:
            if None in functions:
                function = functions[None]
            else:
                function = functions[size] = functions.get(size) or compiled(size)
            dream = function(start, tf.constant(steps), tf.constant(seed, tf.int64), tf.constant(octave), tf.constant(roll))
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            raise ValueError(
                f"Model {model.name!r} could not be run on a {size[0]}x{size[1]} image up to the dream "
                f"layers ({objective.name}); is it fully convolutional up to them? {error}"
            ) from error
        detail = dream - base
    result = np.asarray(dream, dtype=np.float32)
    return result[0] if single else result


def _compiled_ascent(reader: ObjectiveReader, size: tuple, channels: int, value_range, step_size: float, relax: bool):
    """The ascent loop for images of ``size`` ((None, None): any size), compiled once."""
    low, high = value_range
    step = step_size * (high - low)

    def ascent(images, steps, seed, octave, roll):
        images = tf.clip_by_value(images, low, high)
        zeros = tf.zeros([tf.shape(images)[0]], tf.int32)

        def body(i, images):
            key = tf.stack([seed, tf.cast(octave, tf.int64) * 1_000_003 + tf.cast(i, tf.int64)])
            shift = tf.random.stateless_uniform([2], seed=key, minval=-roll, maxval=roll + 1, dtype=tf.int32)
            rolled = tf.roll(images, shift, axis=[1, 2])
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(rolled)
                value = tf.reduce_sum(reader(rolled, zeros, relax=relax))
            gradient = tf.roll(tf.cast(tape.gradient(value, rolled), tf.float32), -shift, axis=[1, 2])
            scale = tf.reduce_mean(tf.abs(gradient), axis=[1, 2, 3], keepdims=True) + 1e-8
            return i + 1, tf.clip_by_value(images + step * gradient / scale, low, high)

        return tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), images))[1]

    spec = tf.TensorSpec((None, *size, channels), tf.float32)
    scalar = tf.TensorSpec([], tf.int32)
    return tf.function(ascent, autograph=False).get_concrete_function(
        spec, scalar, tf.TensorSpec([], tf.int64), scalar, scalar
    )
