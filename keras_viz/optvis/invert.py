"""Feature inversion: what does a layer keep of an image? (Mahendran & Vedaldi 2015).

``x* = argmin_x ||Φ(x) - Φ0||² / ||Φ0||² + λ_TV · TV(x) + λ_2 · ||x||²``: reconstruct an
image from the activations ``Φ0 = Φ(x0)`` of one layer, starting from noise. Early layers
give back the image almost exactly; deeper layers keep what the network needs to classify
and lose the rest (position, exact shape, texture), which the reconstructions show.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_viz.optvis._engine import Optimization
from keras_viz.optvis._graph import (
    check_images,
    check_int,
    check_positive,
    check_seed,
    check_value_range,
    checked_model,
    image_input,
    layer_outputs,
)
from keras_viz.optvis.objectives import feature_match
from keras_viz.optvis.regularizers import l2, total_variation

__all__ = ["invert"]


def invert(
    model: keras.Model,
    images: Any,
    layer: Any,
    *,
    steps: int = 300,
    tv_weight: float = 0.05,
    l2_weight: float = 0.0,
    value_range: tuple[float, float] = (0, 1),
    seed: int = 0,
    param: Any = "pixel",
    transforms: Any = None,
    learning_rate: float = 0.05,
    progress: bool = False,
    return_history: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Reconstructs ``images`` from the activations of ``layer`` (one reconstruction each).

    Args:
        model: any Keras model with one image input.
        images: ``(N, H, W, C)`` or ``(H, W, C)`` in ``value_range``.
        layer: the layer whose activations are inverted (name, ``/``-path, index, object).
        steps: optimisation steps.
        tv_weight: weight of the total-variation prior (piecewise-smooth images).
        l2_weight: weight of the L2 prior (images near the middle of the range).
        value_range: the model's input range.
        seed: seed of the initial noise.
        param: ``"pixel"`` (default), ``"fourier"`` or an optvis parameterisation.
        transforms: random transforms (none by default: the reconstruction must line up).
        learning_rate: Adam's step size.
        progress: show a Keras ``Progbar``.
        return_history: also return the ``(steps, N)`` values of ``-||Φ(x) - Φ0||² / ||Φ0||²``.

    Returns:
        float32 reconstructions shaped like ``images``, in ``value_range``.

    Example:
        >>> early = optvis.invert(model, digits, "block1_relu")
        >>> deep = optvis.invert(model, digits, "block3_relu")   # blurrier: less is kept
    """
    model = checked_model(model)
    value_range = check_value_range(value_range)
    steps = check_int(steps, "steps", 1)
    seed = check_seed(seed)
    tv_weight = check_positive(tv_weight, "tv_weight", allow_zero=True)
    l2_weight = check_positive(l2_weight, "l2_weight", allow_zero=True)
    declared, channels, _ = image_input(model, "invert")
    batch, single = check_images(images, channels, value_range, "images", size=declared)
    (targets,) = layer_outputs(model, batch, [layer])
    optimization = Optimization(
        model,
        feature_match(layer, targets),
        size=batch.shape[1:3],
        param=param,
        transforms=transforms,
        regularizers=[total_variation(tv_weight), l2(l2_weight)],
        learning_rate=learning_rate,
        value_range=value_range,
        what="invert",
    )
    reconstructions, history = optimization.run(steps, seed, progress=progress)
    if single:
        reconstructions = reconstructions[0]
    return (reconstructions, history) if return_history else reconstructions
