"""keras-viz: see inside Keras 3 / TensorFlow models.

Explainers share one contract: construct with the model and options, call on data::

    import keras_viz as kv
    maps = kv.GradCAM(model)(images, targets=labels)   # (N, H, W) float32

Rendering of maps into pictures lives in :mod:`keras_viz.render`; embedded demo data
in :mod:`keras_viz.datasets`.

The public names below are loaded on first use (PEP 562), so ``import keras_viz`` is
cheap and the ``keras-viz`` command can answer ``--help`` without importing TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public sub-modules, imported on first attribute access.
_SUBMODULES: frozenset[str] = frozenset(
    {
        "activations",
        "architecture",
        "attention",
        "callbacks",
        "datasets",
        "decision_boundary",
        "filters",
        "health",
        "node_link",
        "metrics",
        "optvis",
        "render",
        "tensorboard",
        "views",
    }
)

# Public name -> the module that defines it.
_ATTRIBUTES: dict[str, str] = {
    "CAM": "keras_viz.explainers",
    "Deconvnet": "keras_viz.explainers",
    "Explainer": "keras_viz.explainers",
    "ExplainerGroup": "keras_viz.explainers",
    "Explanation": "keras_viz.explainers",
    "GradCAM": "keras_viz.explainers",
    "GradCAMPlusPlus": "keras_viz.explainers",
    "GradientInput": "keras_viz.explainers",
    "GuidedBackprop": "keras_viz.explainers",
    "GuidedGradCAM": "keras_viz.explainers",
    "IntegratedGradients": "keras_viz.explainers",
    "Occlusion": "keras_viz.explainers",
    "Saliency": "keras_viz.explainers",
    "SmoothGrad": "keras_viz.explainers",
    "FeatureMaps": "keras_viz.activations",
    "AttentionMaps": "keras_viz.attention",
    "attention_rollout": "keras_viz.attention",
    "DecisionBoundary": "keras_viz.decision_boundary",
    "Unit": "keras_viz.targets",
    "find_layer": "keras_viz._model",
    "iter_layers": "keras_viz._model",
    "Dissection": "keras_viz.views",
    "NearestNeighbors": "keras_viz.views",
    "ReceptiveField": "keras_viz.views",
    "TopActivations": "keras_viz.views",
    "dissect": "keras_viz.views",
    "embeddings": "keras_viz.views",
    "explain_dataset": "keras_viz.views",
    "nearest_neighbors": "keras_viz.views",
    "pca_map": "keras_viz.views",
    "receptive_field": "keras_viz.views",
    "top_activations": "keras_viz.views",
    "tsne_map": "keras_viz.views",
}

__all__ = sorted({*_ATTRIBUTES, *_SUBMODULES})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
    elif name in _ATTRIBUTES:
        module = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = module  # later look-ups skip this function
    return module


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what static type checkers and IDEs see (one import per line)
    from keras_viz import activations
    from keras_viz import architecture
    from keras_viz import attention
    from keras_viz import callbacks
    from keras_viz import datasets
    from keras_viz import decision_boundary
    from keras_viz import filters
    from keras_viz import health
    from keras_viz import metrics
    from keras_viz import node_link
    from keras_viz import optvis
    from keras_viz import render
    from keras_viz import tensorboard
    from keras_viz._model import find_layer
    from keras_viz._model import iter_layers
    from keras_viz.activations import FeatureMaps
    from keras_viz.attention import AttentionMaps
    from keras_viz.attention import attention_rollout
    from keras_viz.decision_boundary import DecisionBoundary
    from keras_viz.explainers import CAM
    from keras_viz.explainers import Deconvnet
    from keras_viz.explainers import Explainer
    from keras_viz.explainers import ExplainerGroup
    from keras_viz.explainers import Explanation
    from keras_viz.explainers import GradCAM
    from keras_viz.explainers import GradCAMPlusPlus
    from keras_viz.explainers import GradientInput
    from keras_viz.explainers import GuidedBackprop
    from keras_viz.explainers import GuidedGradCAM
    from keras_viz.explainers import IntegratedGradients
    from keras_viz.explainers import Occlusion
    from keras_viz.explainers import Saliency
    from keras_viz.explainers import SmoothGrad
    from keras_viz.targets import Unit
    from keras_viz import views
    from keras_viz.views import (
        Dissection,
        NearestNeighbors,
        ReceptiveField,
        TopActivations,
        dissect,
        embeddings,
        explain_dataset,
        nearest_neighbors,
        pca_map,
        receptive_field,
        top_activations,
        tsne_map,
    )
