"""A running top-k of each channel's peak, merged inside the compiled forward pass.

The state of :func:`merge_peaks` is a :class:`Peaks` of tensors: per channel, the best
values seen so far (descending), the stream index of each input and the flat position
of its maximum. Each batch is merged in the graph and nothing is copied to the host, so
streaming costs the forward pass plus one maximum per (input, channel), one ``top_k``
over ``k + batch`` candidates per channel and an argmax over the maps of the newcomers
only (few, late in a long stream).

Exact, ties broken by stream order: the kept entries are sorted (value descending, ties
by earlier index) and come before the batch in the candidates; ``tf.math.top_k`` returns
the lower index on ties, so an equal value never displaces an earlier input, and the
result equals a stable sort of the whole stream. There are no empty slots: the state
holds ``min(k, count)`` columns, so even ``-inf`` activations are ranked exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

__all__ = ["Peaks", "empty_peaks", "merge_peaks"]


class Peaks(NamedTuple):
    """The running state (tensors, or arrays once fetched).

    Attributes:
        values: ``(C, m)`` float32, each channel's best peaks, descending (``m = min(k, count)``).
        indices: ``(C, m)`` int64 stream index of each entry's input.
        positions: ``(C, m)`` int64 flat position of the maximum in the layer's output
            (without batch and channel axes).
        shape: ``(rank,)`` int32 the layer's output shape without the batch axis.
        count: ``()`` int64 inputs merged so far (the stream index of the next one).
    """

    values: tf.Tensor
    indices: tf.Tensor
    positions: tf.Tensor
    shape: tf.Tensor
    count: tf.Tensor


def empty_peaks() -> Peaks:
    """The state before the first batch: one row without columns (it broadcasts to the channels)."""
    empty = np.zeros((1, 0))
    return Peaks(empty.astype(np.float32), empty.astype(np.int64), empty.astype(np.int64), np.zeros(0, np.int32), np.int64(0))


def merge_peaks(state: Peaks, activation: tf.Tensor, k: int) -> Peaks:
    """Merges the next batch of the stream, ``activation (B, *spatial, C)``, into ``state``."""
    batch, *spatial, channels = _sizes(activation)
    points = int(np.prod(spatial)) if all(isinstance(n, int) for n in spatial) else tf.reduce_prod(spatial)
    flat = tf.reshape(activation, [batch, points, channels])
    maxima = tf.transpose(tf.reduce_max(flat, axis=1))  # (C, B)
    kept = tf.shape(state.values)[1]
    rows = lambda t: tf.broadcast_to(t, [channels, kept])  # noqa: E731  the empty state has one row
    batch_indices = tf.broadcast_to(state.count + tf.range(tf.cast(batch, tf.int64)), [channels, batch])
    candidates = tf.concat([rows(state.values), maxima], axis=1)  # kept entries first: they win ties
    values, picks = tf.math.top_k(candidates, k=tf.minimum(k, kept + batch))
    indices = tf.gather(tf.concat([rows(state.indices), batch_indices], 1), picks, batch_dims=1)
    positions = tf.gather(tf.concat([rows(state.positions), tf.zeros([channels, batch], tf.int64)], 1), picks, batch_dims=1)
    newcomers = tf.where(picks >= kept)  # (n, 2): channel, column
    samples = tf.cast(tf.gather_nd(picks, newcomers) - kept, tf.int64)
    found = _first_argmax(flat, samples, newcomers[:, 0], points, channels)
    positions = tf.tensor_scatter_nd_update(positions, newcomers, found)
    return Peaks(values, indices, positions, tf.shape(activation)[1:], state.count + tf.cast(batch, tf.int64))


def _sizes(tensor: tf.Tensor) -> list:
    """Each axis' size: a Python int where the static shape knows it (the graph folds what
    depends on it), else a scalar tensor."""
    dynamic = tf.shape(tensor)
    return [size if size is not None else dynamic[axis] for axis, size in enumerate(tensor.shape.as_list())]


def _first_argmax(flat: tf.Tensor, samples: tf.Tensor, channels: tf.Tensor, points, width) -> tf.Tensor:
    """``(n,)`` int64 flat position of the first maximum of ``flat[samples[i], :, channels[i]]``
    (``flat`` is ``(B, points, width)``).

    One gather of the ``n`` maps from the flattened batch (never the whole batch
    transposed); TensorFlow's CPU and GPU argmax kernels return the first maximum on ties.
    """
    points, width = (tf.cast(n, tf.int64) for n in (points, width))
    first = samples * points * width + channels  # flat index of each map's point 0
    index = first[:, None] + tf.range(points)[None, :] * width  # (n, points)
    maps = tf.gather(tf.reshape(flat, [-1]), index)
    return tf.argmax(maps, axis=1, output_type=tf.int64)
