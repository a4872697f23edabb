"""Guided Grad-CAM: Grad-CAM upsampled to the input, times guided backprop.

Selvaraju et al., ICCV 2017, section 3.1. One forward pass feeds both gradients: the
plain gradient at the feature layer (Grad-CAM) and the guided-ReLU gradient at the
input (the ReLU backward rule is chosen when each gradient is built).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keras_viz.explainers._ops import check_reduce, reduce_channels, upsample
from keras_viz.explainers.base import ForwardPass, LayerExplainer
from keras_viz.explainers.grad_cam import grad_cam


class GuidedGradCAM(LayerExplainer):
    """Guided Grad-CAM (Selvaraju et al. 2017).

    Args:
        model: any Keras model on the TensorFlow backend.
        layer: as for :class:`GradCAM`.
        reduce: channel reduction of the product (default ``"max_abs"``; ``None``
            keeps the colour channels of the guided reconstruction).
        **options: ``output``, ``batch_size``, ``use_logits``.
    """

    method = "guided_grad_cam"
    modified_relus = True

    def __init__(self, model: keras.Model, *, reduce: str | None = "max_abs", **options: Any):
        super().__init__(model, **options)
        self.reduce = check_reduce(reduce)

    def _attribute(self, forward: ForwardPass) -> list[tf.Tensor]:
        plan = forward.plan
        features = forward.layer_output(plan.feature_layer)
        image = forward.inputs[plan.spatial_input]
        (feature_grads,) = forward.gradients(
            [features], rule="backprop", what=f"layer {plan.feature_layer.name!r}"
        )
        (guided,) = forward.gradients([image], rule="guided")
        cam = upsample(grad_cam(features, feature_grads), plan.shapes[plan.spatial_input][:-1])
        return [reduce_channels(guided * cam[..., None], self.reduce)]
