"""Class Activation Mapping for GlobalAveragePooling → Dense heads.

Zhou, Khosla, Lapedriza, Oliva & Torralba, "Learning Deep Features for Discriminative
Localization", CVPR 2016: with feature maps ``f_k`` feeding global average pooling and
a dense layer of weights ``w^c_k``, ``M_c(x, y) = Σ_k w^c_k f_k(x, y)``. The dense
bias adds a constant and is left out, as in the paper.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keras_viz import targets as targets_lib
from keras_viz._inputs import Batch
from keras_viz._model import ModelInfo
from keras_viz.explainers._ops import positive_part
from keras_viz.explainers.base import ForwardPass, LayerExplainer, Plan

_POOLING = (
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
)
# Layers that are the identity at inference (or only reshape a pooled vector).
_PASS_THROUGH = (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Identity,
    keras.layers.ActivityRegularization,
)
_FINAL = (keras.layers.Activation, keras.layers.Softmax, *_PASS_THROUGH)


def class_activation_map(features: tf.Tensor, kernel: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """``M_c = Σ_k w^c_k f_k`` for each sample's class.

    Args:
        features: ``(N, ..., K)`` feature maps.
        kernel: ``(K, C)`` dense kernel.
        classes: ``(N,)`` class index per sample.

    Returns:
        ``(N, ...)`` maps at the feature resolution.
    """
    weights = tf.gather(tf.transpose(tf.cast(kernel, tf.float32)), classes)  # (N, K)
    shape = [-1] + [1] * (features.shape.rank - 2) + [weights.shape[-1]]
    return tf.reduce_sum(tf.cast(features, tf.float32) * tf.reshape(weights, shape), axis=-1)


def find_cam_head(info: ModelInfo, layer: keras.layers.Layer, output_index: int) -> keras.layers.Dense:
    """Checks that ``layer`` feeds GlobalAveragePooling → Dense → the chosen output.

    Returns:
        The dense layer whose kernel holds the class weights.

    Raises:
        ValueError: the head has another structure (with what was found instead).
    """
    (call,) = info.calls_of(layer)[:1] or [None]
    name = layer.name
    if call is None or len(call.outputs) != 1:
        raise ValueError(f"CAM: layer {name!r} does not produce a single feature map.")
    consumers = info.consumers(call.outputs[0])
    pools = [c for c in consumers if isinstance(c.layer, _POOLING)]
    if not pools:
        found = ", ".join(f"{c.layer.name} ({type(c.layer).__name__})" for c in consumers) or "nothing"
        raise ValueError(
            f"CAM needs the model to end in GlobalAveragePooling → Dense after `layer`="
            f"{name!r}, but {name!r} feeds {found}. Use GradCAM, which works with any head."
        )
    frontier = pools[0].outputs
    for _ in range(8):
        consumers = [c for t in frontier for c in info.consumers(t)]
        dense = [c for c in consumers if isinstance(c.layer, keras.layers.Dense)]
        if dense:
            break
        passing = [c for c in consumers if isinstance(c.layer, _PASS_THROUGH)]
        if not passing:
            found = ", ".join(type(c.layer).__name__ for c in consumers) or "nothing"
            raise ValueError(
                f"CAM needs GlobalAveragePooling to feed a Dense layer directly (dropout or "
                f"flatten in between is fine), but it feeds {found}. Use GradCAM instead."
            )
        frontier = [t for c in passing for t in c.outputs]
    else:
        raise ValueError("CAM: no Dense layer found after GlobalAveragePooling. Use GradCAM instead.")
    for head in dense:
        if info.reaches_output(head.outputs[0], output_index, _FINAL):
            return head.layer
    raise ValueError(
        f"CAM needs the Dense layer after GlobalAveragePooling ({dense[0].layer.name!r}) to "
        f"produce the explained output (only an activation may follow), but more layers "
        f"follow it. Use GradCAM instead."
    )


class CAM(LayerExplainer):
    """Class Activation Mapping (Zhou et al. 2016), for GAP → Dense classifiers.

    Args:
        model: a classifier whose last spatial layer feeds GlobalAveragePooling and
            a Dense layer (dropout/flatten in between and a final activation are fine),
            also when the spatial part is a nested backbone model.
        layer: the feature layer (default: the last layer with spatial output).
        relu: clip negative evidence (as Grad-CAM does); the paper's map is unclipped.
        upsample: return maps at input resolution (default) or at the layer's.
        **options: ``output``, ``batch_size``.

    Raises:
        ValueError: the model has no GAP → Dense head after ``layer``; the message
            says what follows the layer instead.

    Only class targets (an index, indices, or None for the predicted class) apply.
    """

    method = "cam"

    def __init__(self, model: keras.Model, *, relu: bool = False, **options: Any):
        super().__init__(model, **options)
        self.relu = bool(relu)
        self._heads: dict[tuple[int, int, int], keras.layers.Layer] = {}  # checked once per probe

    def _plan(self, batch: Batch, structure: Any, target: Any) -> Plan:
        if not isinstance(target, targets_lib.ClassTargets):
            raise ValueError(
                f"CAM explains output classes; `targets`={target!r} is not a class target. "
                f"Use GradCAM for units and score functions."
            )
        plan = super()._plan(batch, structure, target)
        key = (id(plan.info), id(plan.feature_layer), plan.output_index)
        if key not in self._heads:
            self._heads[key] = find_cam_head(plan.info, plan.feature_layer, plan.output_index)
        plan.head = self._heads[key]
        return plan

    def _attribute(self, forward: ForwardPass) -> list[tf.Tensor]:
        features = forward.layer_output(forward.plan.feature_layer)
        head = forward.plan.head
        maps = class_activation_map(features, head.kernel, forward.classes)
        if self.relu:
            maps = positive_part(maps)
        return self._finish(forward, maps)
