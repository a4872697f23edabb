"""Small pure tensor functions shared by the explainers."""

from __future__ import annotations

import tensorflow as tf

REDUCTIONS = ("max_abs", "sum", "abs_sum", "mean", "l2", None)


def reduce_channels(attribution: tf.Tensor, mode: str | None) -> tf.Tensor:
    """Collapses the channel (last) axis of an input-shaped attribution.

    Inputs of rank 2 ``(N, features)`` have no channel axis and are returned as they are.

    Args:
        attribution: ``(N, ..., C)`` attribution, same shape as the input.
        mode: ``"max_abs"`` (Simonyan et al.: ``max_c |a_c|``), ``"sum"`` (keeps the
            additive meaning of gradient×input and Integrated Gradients), ``"abs_sum"``,
            ``"mean"``, ``"l2"`` (Euclidean norm over channels), or ``None`` to keep the
            channels.

    Returns:
        ``(N, ...)`` (or unchanged for ``None`` and rank-2 inputs).
    """
    if mode is None or attribution.shape.rank <= 2:
        return attribution
    if mode == "max_abs":
        return tf.reduce_max(tf.abs(attribution), axis=-1)
    if mode == "sum":
        return tf.reduce_sum(attribution, axis=-1)
    if mode == "abs_sum":
        return tf.reduce_sum(tf.abs(attribution), axis=-1)
    if mode == "mean":
        return tf.reduce_mean(attribution, axis=-1)
    if mode == "l2":
        return tf.norm(attribution, axis=-1)
    raise ValueError(f"`reduce`={mode!r} is not one of {REDUCTIONS}.")


def check_reduce(mode: str | None, *, auto: bool = False) -> str | None:
    """Validates a ``reduce=`` argument at construction time (``"auto"`` where allowed)."""
    allowed = ("auto", *REDUCTIONS) if auto else REDUCTIONS
    if mode not in allowed:
        raise ValueError(f"`reduce`={mode!r} is not one of {', '.join(map(repr, allowed))}.")
    return mode


def upsample(maps: tf.Tensor, size: tuple[int, ...]) -> tf.Tensor:
    """Bilinear (2-D) or linear (1-D) resize of ``(N, h, w)`` / ``(N, t)`` maps to ``size``.

    Uses half-pixel centres, so a map cell covers the input pixels of its receptive
    grid uniformly.
    """
    maps = tf.cast(maps, tf.float32)
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    if len(size) == 1:
        resized = tf.image.resize(maps[:, :, None, None], (size[0], 1), method="bilinear")
        return resized[:, :, 0, 0]
    if len(size) == 2:
        return tf.image.resize(maps[..., None], size, method="bilinear")[..., 0]
    raise ValueError(f"Cannot resize maps of shape {tuple(maps.shape)} to {size}: 1-D or 2-D only.")


def positive_part(tensor: tf.Tensor) -> tf.Tensor:
    """``max(x, 0)``. Written with ``tf.maximum`` rather than ``tf.nn.relu`` so that the
    check for ReLUs the guided/deconvnet override could not reach
    (:func:`keras_viz.backprop.unreached_relus`) sees only the model's own ReLUs."""
    return tf.maximum(tensor, tf.zeros_like(tensor))


def spatial_mean(tensor: tf.Tensor) -> tf.Tensor:
    """Mean over the spatial axes of ``(N, ..., C)``, keeping ``(N, 1.., C)`` for broadcasting."""
    axes = list(range(1, tensor.shape.rank - 1))
    return tf.reduce_mean(tensor, axis=axes, keepdims=True)


def spatial_sum(tensor: tf.Tensor) -> tf.Tensor:
    """Sum over the spatial axes of ``(N, ..., C)``, keeping dims for broadcasting."""
    axes = list(range(1, tensor.shape.rank - 1))
    return tf.reduce_sum(tensor, axis=axes, keepdims=True)
