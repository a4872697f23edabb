"""keras-viz: see inside Keras 3 / TensorFlow models.

Explainers share one contract: construct with the model and options, call on data::

    import keras_viz as kv
    maps = kv.GradCAM(model)(images, targets=labels)   # (N, H, W) float32

Rendering of maps into pictures lives in :mod:`keras_viz.render`; embedded demo data
in :mod:`keras_viz.datasets`.
"""

from keras_viz import activations, architecture, callbacks, datasets, filters, health, render, tensorboard
from keras_viz.activations import FeatureMaps
from keras_viz._model import find_layer, iter_layers
from keras_viz.explainers import (
    CAM,
    Deconvnet,
    Explainer,
    ExplainerGroup,
    Explanation,
    GradCAM,
    GradCAMPlusPlus,
    GradientInput,
    GuidedBackprop,
    GuidedGradCAM,
    IntegratedGradients,
    Occlusion,
    Saliency,
    SmoothGrad,
)
from keras_viz.targets import Unit

__version__ = "0.1.0"

__all__ = [
    "CAM",
    "Deconvnet",
    "Explainer",
    "ExplainerGroup",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "IntegratedGradients",
    "Occlusion",
    "Saliency",
    "SmoothGrad",
    "FeatureMaps",
    "Unit",
    "activations",
    "architecture",
    "callbacks",
    "datasets",
    "filters",
    "find_layer",
    "health",
    "iter_layers",
    "render",
    "tensorboard",
]
