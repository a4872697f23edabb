"""Gradient × input.

Shrikumar, Greenside, Shcherbina & Kundaje, "Not Just a Black Box: Learning Important
Features Through Propagating Activation Differences", arXiv:1605.01713, 2016. For a
linear model ``S = w·x + b`` the map is exactly each feature's contribution ``w_i x_i``.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keras_viz.explainers._ops import check_reduce, reduce_channels
from keras_viz.explainers._token_explainer import TokenSupport
from keras_viz.explainers.base import ForwardPass, SinglePassExplainer


def gradient_times_input(gradient: tf.Tensor, inputs: tf.Tensor) -> tf.Tensor:
    """Element-wise product of the gradient and the input."""
    return gradient * tf.cast(inputs, gradient.dtype)


class GradientInput(TokenSupport, SinglePassExplainer):
    """Gradient × input attribution.

    Args:
        model: any Keras model on the TensorFlow backend.
        reduce: channel reduction; ``"sum"`` (default) keeps the additive meaning
            (the contributions of a pixel's channels add up). ``None`` keeps channels.
        embedding_layer: for token-id inputs, the layer whose output is explained
            (default: the ``Embedding`` layer that reads the ids); maps are ``(N, T)``,
            the gradient × embedding summed over the embedding axis.
        **options: ``output``, ``batch_size``, ``use_logits``.
    """

    method = "gradient_input"

    def __init__(self, model: keras.Model, *, reduce: str | None = "sum", **options: Any):
        super().__init__(model, **options)
        self.reduce = check_reduce(reduce)

    def _attribute(self, forward: ForwardPass) -> list[tf.Tensor]:
        grads = forward.gradients(forward.inputs)
        return [
            reduce_channels(gradient_times_input(g, x), self.reduce)
            for g, x in zip(grads, forward.inputs)
        ]
