"""Random transforms applied to the images at every optimisation step (transformation robustness).

An image that keeps activating a unit while it is padded, shifted, scaled, rotated and
blurred a little cannot rely on a precise high-frequency pattern, which is what makes
unregularised feature visualisations look like noise (Mordvintsev et al. 2015 introduced
jitter; Olah et al. 2017, "Feature Visualization", and lucid's ``optvis/transform.py``
add the rest).

Transforms are small factory closures (:func:`pad`, :func:`jitter`, :func:`scale`,
:func:`rotate`, :func:`blur`) combined with :func:`compose`. The geometric ones are
described by a matrix mapping output to input pixel coordinates; consecutive geometric
transforms are multiplied into one matrix and applied by one bilinear resampling of the
whole batch, so the standard set costs one image op per step, not five. Every image draws
its own random numbers (keyed by seed, step and replica), and each transform keeps the
image size.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz.optvis._checks import check_int, check_number, check_pair, check_size

__all__ = [
    "Transform",
    "blur",
    "check_transforms",
    "compose",
    "execute",
    "jitter",
    "pad",
    "plan",
    "resolve_transforms",
    "rotate",
    "scale",
    "standard",
]

Matrix = Callable[[tf.Tensor, int, int], tf.Tensor]
Op = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class Transform:
    """One random transform, or a composition (``parts``).

    Attributes:
        name: what it does, e.g. ``"jitter(2)"``.
        draws: uniform random numbers in [0, 1) it needs per image.
        matrix: for geometric transforms, ``(u (B, draws), height, width) -> (B, 3, 3)``
            mapping output pixel coordinates ``(x, y, 1)`` to input coordinates.
        op: for other transforms, ``(images, u) -> images``.
        parts: the transforms of a composition, in order.
    """

    name: str
    draws: int = 0
    matrix: Matrix | None = None
    op: Op | None = None
    parts: tuple["Transform", ...] = ()

    def __repr__(self) -> str:
        return self.name

    @property
    def steps(self) -> tuple["Transform", ...]:
        return self.parts if self.parts else ((self,) if (self.matrix or self.op) else ())

    @property
    def total_draws(self) -> int:
        return sum(part.draws for part in self.steps)


# --------------------------------------------------------------------------- matrices


def _about_centre(linear: tf.Tensor, shift: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """``(B, 3, 3)`` for ``input = linear · (output - c) + c + shift`` with c the image centre."""
    centre = tf.constant([(width - 1) / 2.0, (height - 1) / 2.0], tf.float32)
    offset = centre - tf.linalg.matvec(linear, centre) + shift  # (B, 2)
    top = tf.concat([linear, offset[:, :, tf.newaxis]], axis=2)  # (B, 2, 3)
    bottom = tf.tile(tf.constant([[[0.0, 0.0, 1.0]]]), [tf.shape(linear)[0], 1, 1])
    return tf.concat([top, bottom], axis=1)


def _diagonal(sx: tf.Tensor, sy: tf.Tensor) -> tf.Tensor:
    zero = tf.zeros_like(sx)
    return tf.stack([tf.stack([sx, zero], -1), tf.stack([zero, sy], -1)], -2)


def _projective(images: tf.Tensor, flat: tf.Tensor, fill_value: float) -> tf.Tensor:
    """Bilinear resampling of each image by its output->input transform ``flat (B, 8)`` (the
    first 8 entries of the 3x3 matrix), constant fill outside."""
    height, width = images.shape[1], images.shape[2]
    shape = tf.shape(images)[1:3] if height is None or width is None else tf.constant([height, width])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=flat,
        output_shape=shape,
        fill_value=tf.cast(fill_value, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


# --------------------------------------------------------------------------- factories


def pad(pixels: float) -> Transform:
    """Shrinks the image into a border of ``pixels`` filled with the middle of the range.

    As lucid's ``pad`` followed by resizing back to the input size, so that later shifts
    and rotations move content instead of cutting it off at the edges.
    """
    pixels = check_number(pixels, "pixels", minimum=0.0)

    def matrix(u, height, width):
        batch = tf.shape(u)[0]
        sx = tf.fill([batch], (width + 2 * pixels) / width)
        sy = tf.fill([batch], (height + 2 * pixels) / height)
        return _about_centre(_diagonal(sx, sy), tf.zeros([batch, 2]), height, width)

    return Transform(f"pad({pixels:g})", 0, matrix=matrix)


def jitter(pixels: int) -> Transform:
    """Shifts each image by a random whole number of pixels in ``[-pixels, pixels]`` per axis.

    ``pixels`` is an integer >= 0 (a float such as 2.5 is refused rather than truncated).
    """
    pixels = check_int(pixels, "pixels", 0)

    def matrix(u, height, width):
        shift = tf.floor(u * (2 * pixels + 1)) - pixels
        eye = tf.eye(2, batch_shape=[tf.shape(u)[0]])
        return _about_centre(eye, shift, height, width)

    return Transform(f"jitter({pixels})", 2, matrix=matrix)


def scale(factors: tuple[float, float] = (0.9, 1.1)) -> Transform:
    """Zooms each image about its centre by a random factor in ``[low, high]``."""
    low, high = check_pair(factors, "factors", "(0.9, 1.1)")
    if not 0 < low <= high:
        raise ValueError(f"`factors` must satisfy 0 < low <= high; received factors={factors!r}")

    def matrix(u, height, width):
        factor = low + (high - low) * u[:, 0]
        return _about_centre(_diagonal(1.0 / factor, 1.0 / factor), tf.zeros([tf.shape(u)[0], 2]), height, width)

    return Transform(f"scale({low:g}..{high:g})", 1, matrix=matrix)


def rotate(degrees: float = 10.0) -> Transform:
    """Rotates each image about its centre by a random angle in ``[-degrees, degrees]``."""
    degrees = check_number(degrees, "degrees", minimum=0.0)

    def matrix(u, height, width):
        angle = (2.0 * u[:, 0] - 1.0) * (degrees * math.pi / 180.0)
        cos, sin = tf.cos(angle), tf.sin(angle)
        linear = tf.stack([tf.stack([cos, -sin], -1), tf.stack([sin, cos], -1)], -2)
        return _about_centre(linear, tf.zeros([tf.shape(u)[0], 2]), height, width)

    return Transform(f"rotate({degrees:g})", 1, matrix=matrix)


def gaussian_kernels(sigmas: tf.Tensor, radius: int) -> tf.Tensor:
    """``(B, 2·radius+1)`` normalised 1-D Gaussian kernels."""
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    weights = tf.exp(-0.5 * tf.square(x[tf.newaxis, :] / sigmas[:, tf.newaxis]))
    return weights / tf.reduce_sum(weights, axis=1, keepdims=True)


def gaussian_blur(images: tf.Tensor, sigmas: tf.Tensor, radius: int) -> tf.Tensor:
    """Blurs image ``b`` with a Gaussian of standard deviation ``sigmas[b]`` (separable,
    reflected borders), all images in one depthwise convolution pair."""
    batch, channels = tf.shape(images)[0], images.shape[-1]
    kernels = gaussian_kernels(sigmas, radius)  # (B, k)
    kernels = tf.repeat(kernels, channels, axis=0)  # (B·C, k): one kernel per image channel
    stacked = tf.transpose(images, [1, 2, 0, 3])  # (H, W, B, C)
    stacked = tf.reshape(stacked, [1, tf.shape(images)[1], tf.shape(images)[2], batch * channels])
    stacked = tf.pad(stacked, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    size = 2 * radius + 1
    rows = tf.reshape(tf.transpose(kernels), [size, 1, -1, 1])
    cols = tf.reshape(tf.transpose(kernels), [1, size, -1, 1])
    stacked = tf.nn.depthwise_conv2d(stacked, rows, [1, 1, 1, 1], "VALID")
    stacked = tf.nn.depthwise_conv2d(stacked, cols, [1, 1, 1, 1], "VALID")
    stacked = tf.reshape(stacked, [tf.shape(images)[1], tf.shape(images)[2], batch, channels])
    return tf.transpose(stacked, [2, 0, 1, 3])


def blur(sigma: tuple[float, float] | float = (0.5, 1.0)) -> Transform:
    """Blurs each image with a Gaussian of random standard deviation in ``[low, high]`` pixels."""
    if isinstance(sigma, numbers.Real) and not isinstance(sigma, (bool, np.bool_)):
        low = high = check_number(sigma, "sigma", minimum=0.0, open_minimum=True)
    else:
        low, high = check_pair(sigma, "sigma", "(0.5, 1.0)")
        if not 0 < low <= high:
            raise ValueError(f"`sigma` must satisfy 0 < low <= high; received sigma={sigma!r}")
    radius = max(1, int(math.ceil(2.5 * high)))

    def op(images, u):
        return gaussian_blur(images, low + (high - low) * u[:, 0], radius)

    return Transform(f"blur({low:g}..{high:g})", 1, op=op)


def compose(*transforms: Transform | Sequence[Transform]) -> Transform:
    """Applies ``transforms`` in order (nested compositions are flattened)."""
    parts: list[Transform] = []
    for transform in transforms:
        if isinstance(transform, (list, tuple)):
            parts.extend(compose(*transform).steps)
        elif isinstance(transform, Transform):
            parts.extend(transform.steps)
        else:
            raise TypeError(f"compose() takes optvis transforms; received {transform!r:.80}")
    return Transform("compose(" + ", ".join(part.name for part in parts) + ")", parts=tuple(parts))


def standard(size: int | tuple[int, int]) -> Transform:
    """Lucid's standard set scaled to the image size ``s = max(h, w)``.

    ``pad(s/16) -> jitter(s/16) -> scale(0.9..1.1) -> rotate(10°) -> jitter(s/32)`` (lucid
    uses pad 12, jitter 8, scale ±10 %, rotate ±10°, jitter 4 at 224 pixels).
    """
    checked = check_size(size)
    if checked is None:
        raise TypeError("`size` must be an int or (height, width) of ints >= 1; received size=None")
    side = max(checked)
    return compose(
        pad(max(1, round(side / 16))),
        jitter(max(1, round(side / 16))),
        scale((0.9, 1.1)),
        rotate(10.0),
        jitter(max(1, round(side / 32))),
    )


def check_transforms(transforms: Any, argument: str = "transforms") -> Transform | str:
    """Validates ``transforms`` without the image size: ``"standard"`` (returned as is, it is
    scaled to the image later), None / ``()`` (no transforms), a transform or a sequence."""
    wanted = "'standard', None, an optvis transform or a list of them"
    if isinstance(transforms, str):
        if transforms == "standard":
            return transforms
        raise ValueError(f"`{argument}` must be {wanted}; received {argument}={transforms!r}")
    if transforms is None or transforms is False:
        return compose()
    if isinstance(transforms, Transform):
        return transforms
    if isinstance(transforms, (list, tuple)):
        try:
            return compose(*transforms)
        except TypeError:
            raise TypeError(f"`{argument}` must be {wanted}; received {argument}={transforms!r:.80}") from None
    raise TypeError(f"`{argument}` must be {wanted}; received {argument}={transforms!r:.80}")


def resolve_transforms(transforms: Any, height: int, width: int, argument: str = "transforms") -> Transform:
    """:func:`check_transforms`, with ``"standard"`` scaled to ``height x width`` images."""
    checked = check_transforms(transforms, argument)
    return standard((height, width)) if isinstance(checked, str) else checked


def plan(transform: Transform, u: tf.Tensor, height: int, width: int) -> list[tuple[str, Any]]:
    """The work of a (composed) transform given its random numbers, ahead of the images.

    Consecutive geometric transforms are multiplied into one matrix. ``u`` is ``(N, total_draws)``
    for any N (the optimisation plans all the steps of a run at once, N = steps × images).

    Returns:
        A list of ``("resample", (N, 8) projective transforms)`` and ``("op", (part, (N, draws)))``.
    """
    steps: list[tuple[str, Any]] = []
    pending = None
    offset = 0
    for part in transform.steps:
        draws = u[:, offset : offset + part.draws]
        offset += part.draws
        if part.matrix is not None:
            matrix = part.matrix(draws, height, width)
            pending = matrix if pending is None else tf.matmul(pending, matrix)
            continue
        if pending is not None:
            steps.append(("resample", tf.reshape(pending, [-1, 9])[:, :8]))
            pending = None
        steps.append(("op", (part, draws)))
    if pending is not None:
        steps.append(("resample", tf.reshape(pending, [-1, 9])[:, :8]))
    return steps


def execute(steps: list[tuple[str, Any]], images: tf.Tensor, fill_value: float) -> tf.Tensor:
    """Applies a :func:`plan` (its entries for these images) to ``images``."""
    for kind, value in steps:
        if kind == "resample":
            images = _projective(images, value, fill_value)
        else:
            part, draws = value
            images = part.op(images, draws)
    return images
