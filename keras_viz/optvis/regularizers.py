"""Regularizers: penalties subtracted from the objective, and projections applied to the image.

Penalties (differentiable, on the image normalised to ``[-0.5, 0.5]`` around the middle of
the value range; weight times a per-image value):

* :func:`l1`, :func:`l2` — small images (Simonyan et al. 2014 use L2);
* :func:`total_variation` — ``mean((dx² + dy²)^(β/2))``, piecewise-smooth images
  (Mahendran & Vedaldi 2015).

Projections, applied to the raw image after an update every ``every`` steps
(Yosinski et al. 2015, "Understanding Neural Networks Through Deep Visualization"):

* :func:`blur_every` — a Gaussian blur;
* :func:`clip_small_norm` — pixels whose colour norm is below a percentile of the image's
  go to the middle of the range;
* :func:`clip_small_contribution` — pixels whose contribution ``|Σ_c x·∂S/∂x|`` to the
  objective is below a percentile go to the middle of the range.

Projections need a parameterisation with a raw image (pixel, Fourier); with the Fourier
one the projected image is turned back into its spectrum exactly. All are small factory
closures combined by :func:`compose` (or a list).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from keras_viz.optvis._checks import check_int, check_number
from keras_viz.optvis.transforms import gaussian_blur

__all__ = [
    "Regularizer",
    "blur_every",
    "clip_small_contribution",
    "clip_small_norm",
    "compose",
    "l1",
    "l2",
    "resolve_regularizers",
    "total_variation",
]


@dataclasses.dataclass(frozen=True)
class Regularizer:
    """A penalty (``weight · penalty(images)`` subtracted from the objective) or a projection.

    Attributes:
        name: e.g. ``"total_variation(0.05)"``.
        weight: the penalty's weight.
        penalty: ``(unit images (B, H, W, C) in [-0.5, 0.5]) -> (B,)``.
        project: ``(raw (B, H, W, C), contribution (B, H, W) or None) -> raw``.
        every: apply the projection after every ``every``-th step.
        needs_contribution: the projection reads ``|Σ_c x·∂S/∂x|``.
    """

    name: str
    weight: float = 0.0
    penalty: Callable[[tf.Tensor], tf.Tensor] | None = None
    project: Callable[[tf.Tensor, Any], tf.Tensor] | None = None
    every: int = 1
    needs_contribution: bool = False

    def __repr__(self) -> str:
        return self.name


def _weight(weight: Any) -> float:
    return check_number(weight, "weight", minimum=0.0)


def _every(every: Any) -> int:
    return check_int(every, "every", 1)


def _percentile(percentile: Any) -> float:
    return check_number(percentile, "percentile", minimum=0.0, maximum=100.0, open_maximum=True)


def _per_image_mean(values: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))


# --------------------------------------------------------------------------- penalties


def l1(weight: float = 0.01) -> Regularizer:
    """``weight · mean|x|`` of the centred image."""
    weight = _weight(weight)
    return Regularizer(f"l1({weight:g})", weight, penalty=lambda x: _per_image_mean(tf.abs(x)))


def l2(weight: float = 0.01) -> Regularizer:
    """``weight · mean(x²)`` of the centred image."""
    weight = _weight(weight)
    return Regularizer(f"l2({weight:g})", weight, penalty=lambda x: _per_image_mean(tf.square(x)))


def total_variation_values(images: tf.Tensor, beta: float = 2.0) -> tf.Tensor:
    """Per-image ``mean((dx² + dy²)^(β/2))`` over pixels and channels (forward differences)."""
    dy = images[:, 1:, :-1, :] - images[:, :-1, :-1, :]
    dx = images[:, :-1, 1:, :] - images[:, :-1, :-1, :]
    squared = dx * dx + dy * dy
    if beta != 2.0:
        squared = tf.pow(squared + 1e-8, beta / 2.0)
    return _per_image_mean(squared)


def total_variation(weight: float = 0.05, beta: float = 2.0) -> Regularizer:
    """``weight · mean((dx² + dy²)^(β/2))``: favours piecewise-smooth images (Mahendran & Vedaldi)."""
    weight = _weight(weight)
    beta = check_number(beta, "beta", minimum=0.0, maximum=2.0, open_minimum=True)
    return Regularizer(f"total_variation({weight:g})", weight, penalty=lambda x: total_variation_values(x, beta))


# --------------------------------------------------------------------------- projections


def blur_every(every: int = 4, sigma: float = 0.5) -> Regularizer:
    """Blurs the image with a Gaussian of ``sigma`` pixels after every ``every``-th step."""
    every = _every(every)
    sigma = check_number(sigma, "sigma", minimum=0.0, maximum=1e3, open_minimum=True, open_maximum=True)
    radius = max(1, int(math.ceil(2.5 * sigma)))

    def project(raw, contribution):
        return gaussian_blur(raw, tf.fill([tf.shape(raw)[0]], sigma), radius)

    return Regularizer(f"blur_every({every}, {sigma:g})", project=project, every=every)


def _zero_below(raw: tf.Tensor, values: tf.Tensor, percentile: float) -> tf.Tensor:
    """Sets pixels whose ``values (B, H, W)`` are below the image's percentile to 0."""
    flat = tf.reshape(values, [tf.shape(values)[0], -1])
    count = tf.shape(flat)[1]
    rank = tf.cast(tf.floor(percentile / 100.0 * tf.cast(count - 1, tf.float32)), tf.int32)
    threshold = tf.gather(tf.sort(flat, axis=1), rank, axis=1)  # (B,)
    keep = tf.cast(values >= threshold[:, tf.newaxis, tf.newaxis], raw.dtype)
    return raw * keep[..., tf.newaxis]


def clip_small_norm(percentile: float = 10.0, every: int = 1) -> Regularizer:
    """Pixels whose colour norm is below the ``percentile`` of the image go to the middle
    of the range (Yosinski et al. 2015)."""
    percentile, every = _percentile(percentile), _every(every)

    def project(raw, contribution):
        return _zero_below(raw, tf.norm(raw, axis=-1), percentile)

    return Regularizer(f"clip_small_norm({percentile:g})", project=project, every=every)


def clip_small_contribution(percentile: float = 10.0, every: int = 1) -> Regularizer:
    """Pixels whose contribution ``|Σ_c x·∂S/∂x|`` to the objective is below the
    ``percentile`` of the image go to the middle of the range (Yosinski et al. 2015)."""
    percentile, every = _percentile(percentile), _every(every)

    def project(raw, contribution):
        return _zero_below(raw, contribution, percentile)

    return Regularizer(
        f"clip_small_contribution({percentile:g})", project=project, every=every, needs_contribution=True
    )


# --------------------------------------------------------------------------- composition


def compose(*regularizers: Regularizer | Sequence[Regularizer]) -> tuple[Regularizer, ...]:
    """All ``regularizers`` together (nested lists are flattened), in order."""
    flat: list[Regularizer] = []
    for regularizer in regularizers:
        if isinstance(regularizer, Regularizer):
            flat.append(regularizer)
        elif isinstance(regularizer, (list, tuple)):
            flat.extend(compose(*regularizer))
        else:
            raise TypeError(f"`regularizers` must hold optvis regularizers; received {regularizer!r:.80}")
    return tuple(flat)


def resolve_regularizers(regularizers: Any, argument: str = "regularizers") -> tuple[Regularizer, ...]:
    """None / ``()``, a regularizer, or a (nested) sequence of them."""
    if regularizers is None:
        return ()
    if isinstance(regularizers, Regularizer):
        return (regularizers,)
    if isinstance(regularizers, (list, tuple)):
        return compose(*regularizers)
    raise TypeError(f"`{argument}` must be a regularizer or a list of them; received {regularizers!r:.80}")
