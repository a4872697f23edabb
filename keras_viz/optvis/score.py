"""The value of an objective on given images: compare optimised images with real ones."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import Inputs, check_batch_size, pack
from keras_viz._model import ModelInfo
from keras_viz.optvis._graph import ObjectiveReader, check_objective, checked_model
from keras_viz.optvis.objectives import Objective

__all__ = ["score"]


def score(model: keras.Model, objective: Objective, images: Any, *, batch_size: int = 256) -> np.ndarray:
    """The value of each member of ``objective`` for each image.

    Args:
        model: any Keras model (multi-input models take a list or dict of arrays).
        objective: an optvis objective with K members.
        images: ``(N, ...)`` inputs the model takes.
        batch_size: images per forward pass. Objectives whose value for one image depends
            on the others (:func:`optvis.diversity`) see all images in one pass.

    Returns:
        ``(N, K)`` float32: ``score[n, k]`` is member ``k`` on image ``n`` (K = 1 for a
        single objective). Linear in the objective: ``score(a - b) == score(a) - score(b)``.

    Example:
        >>> optvis.score(model, optvis.channel("conv3", 7), x_test[:500]).max()
    """
    model = checked_model(model)
    objective = check_objective(objective)
    batch_size = check_batch_size(batch_size)
    inputs = Inputs(images, model, argument="images")
    if inputs.dataset is not None:
        raise TypeError("`images` must be arrays here, not a tf.data.Dataset.")
    first = pack(inputs.structure, [tf.constant(a[:1]) for a in inputs.arrays])
    try:
        info = ModelInfo(model, first)
    except (ValueError, TypeError) as error:
        shapes = ", ".join(str(a.shape) for a in inputs.arrays)
        raise ValueError(f"The model could not be run on `images` of shape {shapes}: {error}") from error
    reader = ObjectiveReader(model, objective, info)
    structure = inputs.structure

    def body(*flat):
        return reader(pack(structure, list(flat)), None)

    specs = [tf.TensorSpec((None, *a.shape[1:]), tf.float32) for a in inputs.arrays]
    function = tf.function(body, autograph=False).get_concrete_function(*specs)
    step = inputs.count if objective.batch_coupled else batch_size
    results = [
        function(*[a[start : start + step] for a in inputs.arrays]).numpy()
        for start in range(0, inputs.count, step)
    ]
    return np.concatenate(results, axis=0).astype(np.float32)
