"""Grad-CAM++: pixel-wise weighting of positive gradients.

Chattopadhyay, Sarkar, Howlader & Balasubramanian, "Grad-CAM++: Improved Visual
Explanations for Deep Convolutional Networks", WACV 2018. With ``g = ∂S/∂A`` and the
exponential score ``Y = exp(S)`` (whose higher derivatives are powers of ``g`` for a
piecewise-linear network), eq. 19 and eq. 9 give

``α^k_ij = g² / (2 g² + Σ_ab A^k_ab · g³)``, ``w_k = Σ_ij α^k_ij · ReLU(g_ij)``,
``L = ReLU(Σ_k w_k A^k)`` (the constant factor ``exp(S)`` is dropped).
"""

from __future__ import annotations

import tensorflow as tf

from keras_viz.explainers._ops import positive_part, spatial_sum
from keras_viz.explainers.base import ForwardPass, LayerExplainer
from keras_viz.explainers.grad_cam import weighted_feature_sum


def grad_cam_plus_plus_weights(features: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """Channel weights ``w_k`` of Grad-CAM++, shape ``(N, 1.., K)``."""
    features = tf.cast(features, tf.float32)
    g2 = tf.square(gradients)
    g3 = g2 * gradients
    denominator = 2.0 * g2 + spatial_sum(features) * g3
    safe = tf.where(tf.equal(denominator, 0.0), tf.ones_like(denominator), denominator)
    alphas = g2 / safe
    return spatial_sum(alphas * positive_part(gradients))


class GradCAMPlusPlus(LayerExplainer):
    """Grad-CAM++ (Chattopadhyay et al. 2018). Arguments are those of :class:`GradCAM`."""

    method = "grad_cam_plus_plus"

    def _attribute(self, forward: ForwardPass) -> list[tf.Tensor]:
        features = forward.layer_output(forward.plan.feature_layer)
        (gradients,) = forward.gradients([features], what=f"layer {forward.plan.feature_layer.name!r}")
        weights = grad_cam_plus_plus_weights(features, gradients)
        return self._finish(forward, positive_part(weighted_feature_sum(features, weights)))
