"""SmoothGrad: gradients averaged over noisy copies of the input.

Smilkov, Thorat, Kim, Viégas & Wattenberg, "SmoothGrad: removing noise by adding
noise", arXiv:1706.03825, 2017: ``M̂(x) = 1/n Σ_i M(x + N(0, σ²))`` with
``σ = noise_level · (x_max − x_min)``; the paper recommends 10–20 % noise and n ≈ 50.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import Batch
from keras_viz.explainers._ops import check_reduce, reduce_channels
from keras_viz.explainers._token_explainer import TokenSupport
from keras_viz.explainers._tokens import resolve_reduce
from keras_viz.explainers.base import Plan, SampledGradientExplainer


def noise_scale(samples: np.ndarray, noise_level: float) -> np.ndarray:
    """Per-sample noise standard deviation ``noise_level · (max − min)``, shape ``(N,)``."""
    flat = samples.reshape(samples.shape[0], -1)
    return (noise_level * (flat.max(axis=1) - flat.min(axis=1))).astype(np.float32)


def stateless_noise(
    shape: tf.TensorShape, seed: int, keys: tf.Tensor, draws: tf.Tensor, samples: int
) -> tf.Tensor:
    """Standard normal noise for each row ``(key, draw)``, independent of batching.

    Sample ``key`` (its index in the whole call) owns one stream:
    ``stateless_normal([samples, *shape], seed=[seed, key])``, and row ``(key, draw)``
    takes entry ``draw`` of it. The noise therefore depends only on the seed, the
    sample and the draw number, never on ``batch_size``. Rows are laid out sample by
    sample, so a chunk touches one or two samples and draws one or two streams.
    """
    unique_keys, position = tf.unique(keys)

    def stream(key):
        pair = tf.stack([tf.constant(seed, tf.int64), tf.cast(key, tf.int64)])
        return tf.random.stateless_normal([samples, *shape], seed=pair, dtype=tf.float32)

    streams = tf.map_fn(
        stream, unique_keys, fn_output_signature=tf.TensorSpec([samples, *shape], tf.float32)
    )
    index = tf.stack([position, tf.cast(draws, tf.int32)], axis=1)
    return tf.gather_nd(streams, index)


class SmoothGrad(TokenSupport, SampledGradientExplainer):
    """SmoothGrad (Smilkov et al. 2017) over the vanilla gradient.

    Args:
        model: any Keras model on the TensorFlow backend.
        samples: number of noisy copies per input (paper: 50).
        noise_level: noise standard deviation as a fraction of each sample's value
            range (paper: 0.1–0.2).
        seed: seed of the noise; the same seed gives the same maps.
        reduce: channel reduction of the averaged gradient (default ``"auto"``:
            ``"max_abs"``, or the L2 norm over the embedding axis for token inputs).
        squared: average squared gradients instead (SmoothGrad-Squared, Hooker et
            al. 2019).
        embedding_layer: for token-id inputs, the layer whose output is explained
            (default: the ``Embedding`` layer that reads the ids); the noise is added to
            the embeddings and maps are ``(N, T)``.
        **options: ``output``, ``batch_size`` (noisy copies per forward pass),
            ``use_logits``.
    """

    method = "smoothgrad"

    def __init__(
        self,
        model: keras.Model,
        *,
        samples: int = 50,
        noise_level: float = 0.15,
        seed: int = 0,
        reduce: str | None = "auto",
        squared: bool = False,
        **options: Any,
    ):
        super().__init__(model, **options)
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
            raise ValueError(f"`samples` must be a positive int; received {samples!r}")
        if not np.isfinite(noise_level) or noise_level < 0:
            raise ValueError(f"`noise_level` must be a non-negative number; received {noise_level!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"`seed` must be an int; received {seed!r}")
        self.samples = int(samples)
        self.noise_level = float(noise_level)
        self.seed = int(seed)
        self.reduce = check_reduce(reduce, auto=True)
        self.squared = bool(squared)

    def _rows(self, batch: Batch):
        samples = np.repeat(np.arange(batch.size, dtype=np.int32), self.samples)
        draws = np.tile(np.arange(self.samples, dtype=np.float32), batch.size)
        weights = np.full(samples.shape, 1.0 / self.samples, np.float32)
        return samples, draws, weights

    def _extra_inputs(self, plan: Plan, batch: Batch) -> list[np.ndarray]:
        return [noise_scale(x, self.noise_level) for x in batch.inputs]

    def _points(self, plan, inputs, extra, params, keys):
        points = []
        for index, (x, sigma) in enumerate(zip(inputs, extra)):
            noise = stateless_noise(x.shape[1:], self.seed + index, keys, params, self.samples)
            points.append(x + noise * tf.reshape(sigma, [-1] + [1] * (x.shape.rank - 1)))
        return points

    def _transform_gradient(self, gradient: tf.Tensor) -> tf.Tensor:
        return tf.square(gradient) if self.squared else gradient

    def _combine(self, batch, extra, gradient_sums):
        tokens = getattr(batch, "token_inputs", frozenset())
        return [
            reduce_channels(tf.constant(g), resolve_reduce(self.reduce, i in tokens)).numpy()
            for i, g in enumerate(gradient_sums)
        ]
