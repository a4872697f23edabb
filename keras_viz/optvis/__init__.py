"""Feature visualisation by optimisation: ``from keras_viz import optvis``.

Objectives (immutable, composable, self-naming)::

    obj = optvis.channel("conv3", range(16))               # K = 16 members, one image each
    optvis.score(model, obj, images)                       # (N, K) values on real images
    varied = optvis.channel("conv3", 7) + 0.5 * optvis.diversity("conv3")   # higher = more diverse
    optvis.activation_maximization(model, varied, batch=4)                  # 4 different images

Algorithms (float32 NumPy arrays in ``value_range``, seeded and deterministic)::

    optvis.activation_maximization(model, optvis.class_score(range(10)))   # (10, H, W, C)
    optvis.deep_dream(model, photo, {"conv2": 1.0, "conv3": 0.5})
    optvis.invert(model, images, "conv2")
    optvis.style_transfer(model, content, style, content_layer="conv3", style_layers=[...])
    optvis.adversarial(model, images, labels, epsilon=0.03).images

Building blocks: parameterisations (:func:`pixel`, :func:`fourier`, :func:`generator`),
transforms (:func:`pad`, :func:`jitter`, :func:`scale`, :func:`rotate`, :func:`blur`,
:func:`compose_transforms`, :func:`standard_transforms`) and regularizers (:func:`l1`,
:func:`l2`, :func:`total_variation`, :func:`blur_every`, :func:`clip_small_norm`,
:func:`clip_small_contribution`, :func:`compose_regularizers`).
"""

from keras_viz.optvis.activation_maximization import ActivationMaximizer, activation_maximization
from keras_viz.optvis.adversarial import Adversarial, adversarial
from keras_viz.optvis.deep_dream import deep_dream
from keras_viz.optvis.invert import invert
from keras_viz.optvis.objectives import (
    Objective,
    channel,
    class_score,
    deepdream,
    direction,
    diversity,
    feature_match,
    gram_match,
    gram_matrix,
    neuron,
)
from keras_viz.optvis.params import Param, fourier, generator, pixel
from keras_viz.optvis.params import colour_covariance_of as colour_covariance
from keras_viz.optvis.regularizers import (
    Regularizer,
    blur_every,
    clip_small_contribution,
    clip_small_norm,
    l1,
    l2,
    total_variation,
)
from keras_viz.optvis.regularizers import compose as compose_regularizers
from keras_viz.optvis.score import score
from keras_viz.optvis.style import style_transfer
from keras_viz.optvis.transforms import Transform, blur, jitter, pad, rotate, scale
from keras_viz.optvis.transforms import compose as compose_transforms
from keras_viz.optvis.transforms import standard as standard_transforms

__all__ = [
    "ActivationMaximizer",
    "Adversarial",
    "Objective",
    "Param",
    "Regularizer",
    "Transform",
    "activation_maximization",
    "adversarial",
    "blur",
    "blur_every",
    "channel",
    "class_score",
    "clip_small_contribution",
    "clip_small_norm",
    "colour_covariance",
    "compose_regularizers",
    "compose_transforms",
    "deep_dream",
    "deepdream",
    "direction",
    "diversity",
    "feature_match",
    "fourier",
    "generator",
    "gram_match",
    "gram_matrix",
    "invert",
    "jitter",
    "l1",
    "l2",
    "neuron",
    "pad",
    "pixel",
    "rotate",
    "scale",
    "score",
    "standard_transforms",
    "style_transfer",
    "total_variation",
]
