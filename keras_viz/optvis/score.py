"""The value of an objective on given images: compare optimised images with real ones.

``optvis.score`` is a plain function, called again and again on the same model (after every
optimisation, in a notebook, by the CLI). Its traced function is kept in a bounded cache per
model, like the explainers keep theirs: a ``WeakKeyDictionary`` keyed by the model object (the
entry goes with the model; the traced function holds the model's variables, not the model),
then by the input signature, the objective's *content* (its terms, layers, indices and
coefficients, not the object's identity) and the model's layer paths. The probe of the model
is the shared one (:func:`keras_viz._model.shared_model_info`).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import threading
import weakref
from collections.abc import Hashable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import Inputs, check_batch_size, pack, signature_key
from keras_viz._model import iter_layers, shared_model_info
from keras_viz.optvis._graph import ObjectiveReader, check_objective, checked_model
from keras_viz.optvis.objectives import Objective

__all__ = ["objective_key", "score"]

#: traced score functions kept per model (least recently used dropped first)
MAX_FUNCTIONS_PER_MODEL = 16

_FUNCTIONS: "weakref.WeakKeyDictionary[keras.Model, collections.OrderedDict[Hashable, Any]]" = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def _value_key(value: Any, paths: dict[int, str]) -> Hashable | None:
    """A hashable description of one field of a term (None: cannot be described)."""
    if isinstance(value, keras.layers.Layer):
        path = paths.get(id(value))  # a lookup in this model, not a key
        return None if path is None else ("layer", path)
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest())
    try:
        hash(value)
    except TypeError:
        return None
    return value


def objective_key(model: keras.Model, objective: Objective) -> Hashable | None:
    """What the traced function of ``objective`` depends on, by content: two objectives built
    alike (``channel("conv", 3)`` twice) share it. None when a term cannot be described (a
    layer object that is not in ``model``: the reader will say so)."""
    paths = {id(layer): path for path, layer in iter_layers(model)}
    parts = []
    for coefficient, term in objective.terms:
        fields = []
        for field in dataclasses.fields(term):
            key = _value_key(getattr(term, field.name), paths)
            if key is None and getattr(term, field.name) is not None:
                return None
            fields.append((field.name, key))
        parts.append((float(coefficient), type(term).__qualname__, tuple(fields)))
    return tuple(parts)



def _compiled(model: keras.Model, objective: Objective, inputs: Inputs) -> Any:
    """The traced ``(inputs...) -> (N, K)`` function, from the cache or traced now."""
    signature = signature_key(inputs.structure, inputs.arrays)
    content = objective_key(model, objective)
    key = None if content is None else (signature, content, tuple(path for path, _ in iter_layers(model)))
    if key is not None:
        with _LOCK:
            functions = _FUNCTIONS.get(model)
            if functions is not None and key in functions:
                functions.move_to_end(key)
                return functions[key]
    structure = inputs.structure
    try:
        info = shared_model_info(model, signature, lambda: pack(structure, [tf.constant(a[:1]) for a in inputs.arrays]))
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
        shapes = ", ".join(str(a.shape) for a in inputs.arrays)
        raise ValueError(f"The model could not be run on `images` of shape {shapes}: {error}") from error
    reader = ObjectiveReader(model, objective, info)

    def body(*flat):
        return reader(pack(structure, list(flat)), None)

    specs = [tf.TensorSpec((None, *a.shape[1:]), tf.float32) for a in inputs.arrays]
    function = tf.function(body, autograph=False).get_concrete_function(*specs)
    if key is not None:
        with _LOCK:
            functions = _FUNCTIONS.setdefault(model, collections.OrderedDict())
            functions[key] = function
            while len(functions) > MAX_FUNCTIONS_PER_MODEL:
                functions.popitem(last=False)
    return function


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
    function = _compiled(model, objective, inputs)
    step = inputs.count if objective.batch_coupled else batch_size
    results = [
        function(*[a[start : start + step] for a in inputs.arrays]).numpy()
        for start in range(0, inputs.count, step)
    ]
    return np.concatenate(results, axis=0).astype(np.float32)
