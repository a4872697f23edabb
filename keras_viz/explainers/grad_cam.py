"""Grad-CAM: feature maps weighted by the spatial mean of the class-score gradient.

Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual Explanations
from Deep Networks via Gradient-based Localization", ICCV 2017:
``α_k = mean_ij ∂y^c/∂A^k_ij`` and ``L = ReLU(Σ_k α_k A^k)``.
"""

from __future__ import annotations

import tensorflow as tf

from keras_viz.explainers._ops import positive_part, spatial_mean
from keras_viz.explainers.base import ForwardPass, LayerExplainer


def grad_cam_weights(gradients: tf.Tensor) -> tf.Tensor:
    """Channel weights ``α_k``: the spatial mean of the gradient, shape ``(N, 1.., K)``."""
    return spatial_mean(gradients)


def weighted_feature_sum(features: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """``Σ_k w_k A^k`` over the channel axis: ``(N, ..., K) -> (N, ...)``."""
    return tf.reduce_sum(tf.cast(features, tf.float32) * weights, axis=-1)


def grad_cam(features: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """The Grad-CAM map at the layer's resolution."""
    return positive_part(weighted_feature_sum(features, grad_cam_weights(gradients)))


class GradCAM(LayerExplainer):
    """Grad-CAM (Selvaraju et al. 2017).

    Args:
        model: any Keras model on the TensorFlow backend.
        layer: the convolutional layer to explain (name, ``/``-path for nested
            models, index or object). ``None`` picks the last layer with spatial output.
        upsample: return maps at input resolution (default) or at the layer's.
        **options: ``output``, ``batch_size``, ``use_logits``.

    Example:
        >>> maps = kv.GradCAM(model, layer="backbone/conv5_block3_out")(images, targets=labels)
    """

    method = "grad_cam"

    def _attribute(self, forward: ForwardPass) -> list[tf.Tensor]:
        features = forward.layer_output(forward.plan.feature_layer)
        (gradients,) = forward.gradients([features], what=f"layer {forward.plan.feature_layer.name!r}")
        return self._finish(forward, grad_cam(features, gradients))
