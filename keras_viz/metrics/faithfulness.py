"""Faithfulness: does removing what a map ranks first change the model's answer?

Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
Models", BMVC 2018, define two causal metrics:

* **Deletion**: remove pixels from the image in the order the map ranks them, most
  important first, and watch the class probability fall. A faithful map makes it fall
  fast: a *small* area under the curve is good.
* **Insertion**: start from a blurred (uninformative) image and put the pixels back in
  the same order. A faithful map makes the probability rise fast: a *large* area is good.

The exact definition used here (tests recompute it by hand):

1. The ``P`` pixels of an image (all channels of a pixel move together) are ordered by
   decreasing map value; ties keep row-major order (a stable sort).
2. At step ``s = 0 .. steps`` the first ``k_s = round(s·P / steps)`` pixels in that order
   (``round`` halves to even, as Python's) are replaced by the baseline (deletion), or copied
   from the image into the baseline image (insertion).
3. Each of the ``steps + 1`` images is scored: the model's output for the target class,
   which is the class probability for a softmax model (``score="softmax"`` applies a
   softmax first, for models that output logits).
4. The curve is integrated by the trapezoid rule over ``x = s / steps`` in ``[0, 1]``:
   ``AUC = Σ_s (c_s + c_{s+1}) / (2·steps)``.

All ``N · (steps + 1)`` perturbed copies are built inside one compiled TensorFlow function
(traced once per image shape) from the images, the baselines and the pixel ranks, and run
``batch_size`` copies per forward pass, so the cost is that of the forward passes.
"""

from __future__ import annotations

import fractions
import math
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from keras_viz import targets as targets_lib
from keras_viz._inputs import check_batch_size
from keras_viz._model import ModelInfo, check_backend, check_model, declared_inputs, logits_of

__all__ = [
    "PerturbationScorer",
    "area_under_curve",
    "baseline_images",
    "deletion",
    "gaussian_blur",
    "insertion",
    "perturbation_curves",
    "pixel_ranks",
    "step_counts",
]

SCORES = ("probability", "softmax", "logit")
MODES = ("deletion", "insertion")
DEFAULT_BASELINES = {"deletion": 0.0, "insertion": "blur"}


# --------------------------------------------------------------------------- pure pieces


def step_counts(pixels: int, steps: int) -> np.ndarray:
    """``k_s = round(s · pixels / steps)`` for ``s = 0 .. steps`` (exact; halves to even)."""
    return np.asarray([round(fractions.Fraction(s * pixels, steps)) for s in range(steps + 1)], np.int32)


def pixel_ranks(maps: np.ndarray) -> np.ndarray:
    """The rank of every pixel when ordered by decreasing map value (0 = first removed).

    Ties keep row-major order (a stable sort), so the order is fully determined.

    Args:
        maps: ``(N, ...)`` maps.

    Returns:
        int32 array shaped like ``maps``.
    """
    flat = np.asarray(maps, np.float64).reshape(len(maps), -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None, :], axis=1)
    return ranks.reshape(np.shape(maps)).astype(np.int32)


def area_under_curve(curves: Any) -> np.ndarray:
    """Trapezoid-rule area under ``(N, steps + 1)`` curves sampled at ``s / steps`` on ``[0, 1]``."""
    curves = np.asarray(curves, np.float64)
    if curves.ndim != 2 or curves.shape[1] < 2:
        raise ValueError(f"`curves` must have shape (N, steps + 1) with steps >= 1; received {curves.shape}.")
    steps = curves.shape[1] - 1
    return (curves[:, 1:] + curves[:, :-1]).sum(axis=1) / (2.0 * steps)


def _blur_matrix(length: int, sigma: float) -> np.ndarray:
    """``(length, length)`` matrix of a 1-D Gaussian blur with mirrored borders (``dcba|abcd``)."""
    radius = max(1, int(math.ceil(4.0 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    matrix = np.zeros((length, length))
    for offset, weight in zip(offsets, kernel):
        source = np.arange(length) + offset
        period = 2 * length
        source = np.mod(source, period)
        source = np.where(source >= length, period - 1 - source, source)  # mirror
        np.add.at(matrix, (np.arange(length), source), weight)
    return matrix


def gaussian_blur(images: Any, sigma: float | tuple[float, ...] | None = None) -> np.ndarray:
    """Gaussian blur over the spatial axes of ``(N, ..., C)`` images, borders mirrored.

    Args:
        images: ``(N, H, W, C)`` images or ``(N, T, C)`` sequences.
        sigma: standard deviation in pixels, one number or one per spatial axis. None (the
            default) uses ``size / 20`` on each axis, the insertion baseline of the issue.

    Returns:
        float32 array shaped like ``images``.
    """
    array = np.asarray(images, np.float32)
    spatial = array.shape[1:-1]
    if sigma is None:
        sigmas = [size / 20.0 for size in spatial]
    else:
        sigmas = list(sigma) if isinstance(sigma, (tuple, list)) else [float(sigma)] * len(spatial)
    if len(sigmas) != len(spatial) or not all(math.isfinite(s) and s >= 0 for s in sigmas):
        raise ValueError(f"`sigma` must be one number >= 0 or one per spatial axis; received {sigma!r}.")
    for axis, (size, s) in enumerate(zip(spatial, sigmas), start=1):
        if s > 0:  # one matrix product along this axis (moved last: matmul's fast layout)
            kernel = _blur_matrix(size, s).T.astype(np.float32)
            array = np.moveaxis(np.moveaxis(array, axis, -1) @ kernel, -1, axis)
    return np.ascontiguousarray(array, np.float32)


def baseline_images(images: np.ndarray, baseline: Any) -> np.ndarray:
    """The baseline image of each image: what deleted pixels become (and insertion starts from).

    Args:
        images: ``(N, ..., C)`` float images.
        baseline: a number (every channel of every pixel), ``"mean"`` (each image's mean
            colour), ``"blur"`` (each image blurred with σ = size/20, see
            :func:`gaussian_blur`), or an array: one value per channel ``(C,)``, one image
            ``(..., C)`` for all, or one per image ``(N, ..., C)``.

    Returns:
        float32 array shaped like ``images``.
    """
    if isinstance(baseline, str):
        if baseline == "mean":
            axes = tuple(range(1, images.ndim - 1))
            return np.broadcast_to(images.mean(axis=axes, keepdims=True), images.shape).astype(np.float32)
        if baseline == "blur":
            return gaussian_blur(images)
        raise ValueError(f"`baseline`={baseline!r}: the string baselines are 'mean' and 'blur'.")
    if isinstance(baseline, (bool, np.bool_)):
        raise TypeError(f"`baseline` must be a number, 'mean', 'blur' or an array; received {baseline!r}.")
    try:
        array = np.asarray(baseline, np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`baseline` must be a number, 'mean', 'blur' or an array; received {type(baseline).__name__}."
        ) from error
    shapes = [(), images.shape[-1:], images.shape[1:], images.shape]
    if array.shape not in shapes:
        raise ValueError(
            f"`baseline` of shape {array.shape} does not fit images of shape {images.shape}: give a "
            f"number, one value per channel {images.shape[-1:]}, one image {images.shape[1:]} or one "
            f"per image {images.shape}."
        )
    if not np.isfinite(array).all():
        raise ValueError("`baseline` holds NaN or infinite values.")
    return np.ascontiguousarray(np.broadcast_to(array, images.shape), np.float32)


# --------------------------------------------------------------------------- validation


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; received {value!r}.")
    return int(value)


def _check_images(images: Any) -> np.ndarray:
    if isinstance(images, tf.data.Dataset):
        raise TypeError("`images` must be an array (N, H, W, C), not a tf.data.Dataset: the maps are per image.")
    if isinstance(images, dict):
        raise TypeError(
            "`images` must be one array: faithfulness metrics perturb the pixels of a single "
            "image input (multi-input models are not supported)."
        )
    array = np.asarray(images)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(f"`images` must hold numbers; received dtype {array.dtype}.")
    if array.ndim not in (3, 4):
        raise ValueError(
            f"`images` must be images (N, H, W, C) or sequences (N, T, C); received shape {array.shape}."
        )
    if array.shape[0] == 0:
        raise ValueError(f"`images` is an empty batch (shape {array.shape}).")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError("`images` holds NaN or infinite values.")
    return array


def _check_maps(maps: Any, images: np.ndarray) -> np.ndarray:
    array = np.asarray(maps)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(f"`maps` must hold numbers; received dtype {array.dtype}.")
    expected = images.shape[:-1]
    if array.shape == images.shape and images.shape[-1] > 1:
        raise ValueError(
            f"`maps` has the images' shape {array.shape}, with channels: pixels are removed with all "
            f"their channels, so give one value per pixel {expected} (e.g. np.abs(maps).max(-1))."
        )
    if array.shape == images.shape:  # one channel
        array = array[..., 0]
    if array.shape != expected:
        raise ValueError(
            f"`maps` must have shape {expected} (one value per pixel of `images` {images.shape}); "
            f"received {array.shape}. Maps at a layer's resolution must be upsampled first."
        )
    bad = ~np.isfinite(array).reshape(len(array), -1).all(axis=1)
    if bad.any():
        raise ValueError(f"`maps`[{int(np.flatnonzero(bad)[0])}] holds NaN or infinite values.")
    return array


# --------------------------------------------------------------------------- the scorer


class PerturbationScorer:
    """Scores perturbed copies of images with a model, in large batches, compiled once.

    :func:`deletion`, :func:`insertion` and :func:`perturbation_curves` build one for a
    single call; keep one yourself (a callback does) to reuse its traced function.

    Args:
        model: a Keras model (any kind) with one image input and a ``(batch, classes)``
            output (``output=`` picks one of several outputs).
        output: output name or index, for multi-output models.
        score: ``"probability"`` (default): the output itself, which is the class
            probability for a softmax model; ``"softmax"``: a softmax of the output, for
            models that output logits; ``"logit"``: the input of a final softmax/sigmoid
            (the output itself when there is none).
        batch_size: perturbed copies per forward pass.
    """

    def __init__(
        self,
        model: keras.Model,
        *,
        output: str | int | None = None,
        score: str = "probability",
        batch_size: int = 64,
    ):
        check_backend()
        self.model = check_model(model)
        inputs = declared_inputs(model)
        if inputs is not None and len(inputs) != 1:
            raise ValueError(
                f"Faithfulness metrics perturb the pixels of one image input; model {model.name!r} "
                f"has {len(inputs)} inputs."
            )
        if score not in SCORES:
            raise ValueError(f"`score`={score!r} is not one of {', '.join(map(repr, SCORES))}.")
        if output is not None and (isinstance(output, bool) or not isinstance(output, (str, int, np.integer))):
            raise TypeError(f"`output` must be an output name or index; received {output!r}.")
        self.output = output
        self.score = score
        self.batch_size = check_batch_size(batch_size)
        self._functions: dict[tuple, Any] = {}
        self._infos: dict[tuple, tuple[int, int | None]] = {}
        self.trace_count = 0

    def __repr__(self) -> str:
        return f"PerturbationScorer(model={self.model.name!r}, score={self.score!r})"

    # -- model facts -------------------------------------------------------------

    def _output(self, images: np.ndarray) -> tuple[int, int | None]:
        """``(output index, number of classes)`` for images of this shape (one probe)."""
        key = images.shape[1:]
        if key not in self._infos:
            try:
                info = ModelInfo(self.model, tf.constant(images[:1]))
            except (ValueError, TypeError) as error:
                raise ValueError(
                    f"The model could not be called on `images` of shape {images.shape}: {error}"
                ) from error
            index = info.output_index(self.output)
            self._infos[key] = (index, info.num_classes(index))
        return self._infos[key]

    def _function(self, shape: tuple[int, ...], output_index: int):
        key = (shape, output_index)
        if key not in self._functions:
            self.trace_count += 1
            spatial = len(shape) - 1
            model, score = self.model, self.score

            def scores_of(first, second, ranks, rows, counts, classes):
                # Copy r is `first` where the pixel's rank is below counts[r], else `second`.
                take = tf.gather(ranks, rows) < tf.reshape(counts, [-1] + [1] * spatial)
                copies = tf.where(take[..., None], tf.gather(first, rows), tf.gather(second, rows))
                outputs = tf.nest.flatten(model(copies, training=False))[output_index]
                values = tf.cast(logits_of(outputs) if score == "logit" else outputs, tf.float32)
                if score == "softmax":
                    values = tf.nn.softmax(values, axis=-1)
                predicted = tf.argmax(values, axis=-1, output_type=tf.int32)
                used = tf.where(classes < 0, predicted, classes)
                picked = tf.one_hot(used, tf.shape(values)[-1], dtype=values.dtype)
                return tf.reduce_sum(values * picked, axis=-1), used

            def body(first, second, ranks, rows, counts, classes, batch_size):
                # The batches of one block run in a graph loop: one call from Python per block.
                total = tf.shape(rows)[0]
                batches = (total + batch_size - 1) // batch_size

                def step(index, all_scores, all_used):
                    part = slice(index * batch_size, tf.minimum((index + 1) * batch_size, total))
                    values, used = scores_of(first, second, ranks, rows[part], counts[part], classes[part])
                    return index + 1, all_scores.write(index, values), all_used.write(index, used)

                _, all_scores, all_used = tf.while_loop(
                    lambda index, *_: index < batches,
                    step,
                    [tf.constant(0), tf.TensorArray(tf.float32, batches, infer_shape=False),
                     tf.TensorArray(tf.int32, batches, infer_shape=False)],
                    parallel_iterations=1,  # one batch of copies in memory at a time
                )
                return all_scores.concat(), all_used.concat()

            image_spec = tf.TensorSpec((None, *shape), tf.float32)
            vector = tf.TensorSpec((None,), tf.int32)
            self._functions[key] = tf.function(body, autograph=False).get_concrete_function(
                image_spec, image_spec, tf.TensorSpec((None, *shape[:-1]), tf.int32),
                vector, vector, vector, tf.TensorSpec((), tf.int32),
            )
        return self._functions[key]

    # -- scoring -----------------------------------------------------------------

    def _classes(self, targets: Any, count: int, num_classes: int | None, output_index: int) -> np.ndarray:
        resolved = targets_lib.resolve(targets)
        if not isinstance(resolved, targets_lib.ClassTargets):
            raise TypeError(
                f"`targets` of a faithfulness metric must be class indices (an int, one per image) "
                f"or None (the predicted class); received {targets!r}."
            )
        if resolved.indices is not None and len(resolved.indices) != count:
            raise ValueError(f"`targets` has {len(resolved.indices)} entries but `images` has {count}.")
        targets_lib.check_class_range(resolved, num_classes, f"output {output_index}")
        return resolved.take(0, count)

    BATCHES_PER_CALL: ClassVar[int] = 32

    def _run(self, first, second, ranks, rows, counts, classes, output_index):
        """Scores copies ``(rows, counts)``, ``batch_size`` per forward pass; rows sorted by sample.

        Blocks of up to :attr:`BATCHES_PER_CALL` batches go to the compiled function in one
        call, with only the samples they need.
        """
        function = self._function(first.shape[1:], output_index)
        scores = np.empty(len(rows), np.float32)
        used = np.empty(len(rows), np.int32)
        block = self.batch_size * self.BATCHES_PER_CALL
        for start in range(0, len(rows), block):
            part = slice(start, start + block)
            low, high = int(rows[part][0]), int(rows[part][-1]) + 1  # only the samples needed
            values, chosen = function(
                first[low:high], second[low:high], ranks[low:high],
                rows[part] - low, counts[part], classes[part], np.int32(self.batch_size),
            )
            scores[part], used[part] = values.numpy(), chosen.numpy()
        return scores, used

    def predict(self, images: Any, targets: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, classes)`` of the unperturbed images (``targets=None``: predicted class)."""
        images = _check_images(images)
        output_index, num_classes = self._output(images)
        classes = self._classes(targets, len(images), num_classes, output_index)
        rows = np.arange(len(images), dtype=np.int32)
        ranks = np.zeros(images.shape[:-1], np.int32)
        zero = np.zeros(len(images), np.int32)  # rank < 0 never holds: every copy is `second`
        return self._run(images, images, ranks, rows, zero, classes, output_index)

    def curves(
        self,
        images: Any,
        maps: Any,
        targets: Any = None,
        *,
        mode: str = "deletion",
        steps: int = 16,
        baseline: Any = None,
    ) -> np.ndarray:
        """The ``(N, steps + 1)`` deletion or insertion curves (see the module docstring).

        Args:
            images: ``(N, H, W, C)`` images (or ``(N, T, C)`` sequences).
            maps: ``(N, H, W)`` (or ``(N, T)``) maps ranking the pixels.
            targets: class index per image, one for all, or None (the predicted class of
                each unperturbed image).
            mode: ``"deletion"`` or ``"insertion"``.
            steps: number of steps; the curve has ``steps + 1`` points.
            baseline: see :func:`baseline_images`; None takes the mode's default (0.0 for
                deletion, ``"blur"`` for insertion).
        """
        if mode not in MODES:
            raise ValueError(f"`mode`={mode!r} is not one of {', '.join(map(repr, MODES))}.")
        steps = _positive_int(steps, "steps")
        images = _check_images(images)
        maps = _check_maps(maps, images)
        base = baseline_images(images, DEFAULT_BASELINES[mode] if baseline is None else baseline)
        output_index, num_classes = self._output(images)
        classes = self._classes(targets, len(images), num_classes, output_index)
        if (classes < 0).any():  # fix the predicted class on the unperturbed image first
            _, predicted = self.predict(images, None)
            classes = np.where(classes < 0, predicted, classes).astype(np.int32)

        count, points = len(images), steps + 1
        ranks = pixel_ranks(maps)
        counts = step_counts(int(np.prod(maps.shape[1:])), steps)
        rows = np.repeat(np.arange(count, dtype=np.int32), points)
        first, second = (base, images) if mode == "deletion" else (images, base)
        scores, _ = self._run(
            first, second, ranks, rows, np.tile(counts, count), np.repeat(classes, points), output_index
        )
        return scores.reshape(count, points).astype(np.float64)

    def deletion(self, images: Any, maps: Any, targets: Any = None, *, steps: int = 16,
                 baseline: Any = 0.0) -> np.ndarray:
        """Deletion AUC per image (lower is better); see :func:`deletion`."""
        return area_under_curve(self.curves(images, maps, targets, mode="deletion", steps=steps, baseline=baseline))

    def insertion(self, images: Any, maps: Any, targets: Any = None, *, steps: int = 16,
                  baseline: Any = "blur") -> np.ndarray:
        """Insertion AUC per image (higher is better); see :func:`insertion`."""
        return area_under_curve(self.curves(images, maps, targets, mode="insertion", steps=steps, baseline=baseline))


# --------------------------------------------------------------------------- functions


def perturbation_curves(
    model: keras.Model,
    images: Any,
    maps: Any,
    targets: Any = None,
    *,
    mode: str = "deletion",
    steps: int = 16,
    baseline: Any = None,
    batch_size: int = 64,
    output: str | int | None = None,
    score: str = "probability",
) -> np.ndarray:
    """Deletion or insertion curves ``(N, steps + 1)``: the score after each step.

    See the module docstring for the definition, and :class:`PerturbationScorer` for
    ``output``, ``score`` and ``batch_size``.
    """
    scorer = PerturbationScorer(model, output=output, score=score, batch_size=batch_size)
    return scorer.curves(images, maps, targets, mode=mode, steps=steps, baseline=baseline)


def deletion(
    model: keras.Model,
    images: Any,
    maps: Any,
    targets: Any,
    *,
    steps: int = 16,
    baseline: Any = 0.0,
    batch_size: int = 64,
    output: str | int | None = None,
    score: str = "probability",
) -> np.ndarray:
    """Deletion metric (Petsiuk et al., RISE, BMVC 2018): lower is more faithful.

    Pixels are ordered by decreasing map value (ties in row-major order); at step
    ``s = 0 .. steps`` the first ``round(s·P/steps)`` of the ``P`` pixels (all channels) are
    replaced by the baseline, and the model's probability of the target class is recorded.
    The result is the area under that curve by the trapezoid rule over ``s/steps`` in
    ``[0, 1]``. All ``N·(steps+1)`` copies are scored in batches of ``batch_size`` by one
    compiled function.

    Args:
        model: a Keras model with one image input (any model kind).
        images: ``(N, H, W, C)`` images (or ``(N, T, C)`` sequences), in the model's range.
        maps: ``(N, H, W)`` (or ``(N, T)``) explanation maps; only their order matters.
        targets: the class explained, per image or one for all; None uses the class the
            model predicts for each unperturbed image.
        steps: steps of the curve (it has ``steps + 1`` points).
        baseline: what removed pixels become: a number (default 0.0, black for images in
            ``[0, 1]``), ``"mean"`` (the image's mean colour), ``"blur"`` (the blurred
            image, σ = size/20) or an array (per channel, one image, or one per image).
        batch_size: perturbed copies per forward pass.
        output: output name or index, for multi-output models.
        score: ``"probability"`` (the output, i.e. the softmax probability of a softmax
            model), ``"softmax"`` (for models that output logits) or ``"logit"``.

    Returns:
        ``(N,)`` float64 areas in the score's units (``[0, 1]`` for probabilities).

    Raises:
        ValueError / TypeError: malformed images, maps, targets or options (the message
            names the argument and the value).

    Example:
        >>> maps = kv.GradCAM(model)(x, targets=y)
        >>> kv.metrics.deletion(model, x, maps, y).mean()
    """
    scorer = PerturbationScorer(model, output=output, score=score, batch_size=batch_size)
    return scorer.deletion(images, maps, targets, steps=steps, baseline=baseline)


def insertion(
    model: keras.Model,
    images: Any,
    maps: Any,
    targets: Any,
    *,
    steps: int = 16,
    baseline: Any = "blur",
    batch_size: int = 64,
    output: str | int | None = None,
    score: str = "probability",
) -> np.ndarray:
    """Insertion metric (Petsiuk et al., RISE, BMVC 2018): higher is more faithful.

    Starts from the baseline image (default: the image blurred with σ = size/20) and, at step
    ``s = 0 .. steps``, copies the first ``round(s·P/steps)`` pixels in decreasing map order
    (ties in row-major order, all channels) from the image into it; the area under the curve
    of the target-class probability, by the trapezoid rule over ``s/steps`` in ``[0, 1]``.
    Arguments and result as :func:`deletion`.
    """
    scorer = PerturbationScorer(model, output=output, score=score, batch_size=batch_size)
    return scorer.insertion(images, maps, targets, steps=steps, baseline=baseline)
