"""Keras callbacks that log keras-viz views into TensorBoard during ``model.fit``.

Each callback writes into the ``log_dir`` of ``keras.callbacks.TensorBoard`` as its own
run (``keras_viz`` by default), beside Keras' ``train`` and ``validation`` runs.
"""

from keras_viz.callbacks.activation_maximization import ActivationMaximizationCallback
from keras_viz.callbacks.activations import ActivationCallback
from keras_viz.callbacks.attention import AttentionCallback
from keras_viz.callbacks.base import VizCallback
from keras_viz.callbacks.decision_boundary import DecisionBoundaryCallback
from keras_viz.callbacks.embeddings import EmbeddingCallback
from keras_viz.callbacks.explanations import (
    CAMCallback,
    DeconvnetCallback,
    ExplanationCallback,
    GradCAMCallback,
    GradCAMPlusPlusCallback,
    GradientInputCallback,
    GuidedBackpropCallback,
    GuidedGradCAMCallback,
    IntegratedGradientsCallback,
    OcclusionCallback,
    SaliencyCallback,
    SmoothGradCallback,
)
from keras_viz.callbacks.filters import FilterCallback
from keras_viz.callbacks.health import TrainingHealthCallback
from keras_viz.callbacks.quality import QualityCallback

__all__ = [
    "ActivationCallback",
    "ActivationMaximizationCallback",
    "AttentionCallback",
    "CAMCallback",
    "DecisionBoundaryCallback",
    "DeconvnetCallback",
    "EmbeddingCallback",
    "ExplanationCallback",
    "FilterCallback",
    "GradCAMCallback",
    "GradCAMPlusPlusCallback",
    "GradientInputCallback",
    "GuidedBackpropCallback",
    "GuidedGradCAMCallback",
    "IntegratedGradientsCallback",
    "OcclusionCallback",
    "QualityCallback",
    "SaliencyCallback",
    "SmoothGradCallback",
    "TrainingHealthCallback",
    "VizCallback",
]
