"""The shared probe cache (``shared_model_info``) follows a model's layers, not their ids."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_viz import _model
from keras_viz._model import shared_model_info

SIGNATURE = ("single", (((4,), "<f4"),))


def _sample():
    return tf.constant(np.ones((1, 4), np.float32))


def _sequential():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b")])


def test_a_model_whose_layers_changed_is_probed_again():
    model = _sequential()
    first = shared_model_info(model, SIGNATURE, _sample)
    assert shared_model_info(model, SIGNATURE, _sample) is first  # probed once
    model.pop()
    model.add(keras.layers.Dense(5, name="c"))
    second = shared_model_info(model, SIGNATURE, _sample)
    assert second is not first and tuple(second.outputs[0].shape) == (1, 5)
    assert shared_model_info(model, SIGNATURE, _sample) is second


def test_a_recycled_id_does_not_serve_a_stale_probe(monkeypatch):
    """Ids of collected objects are reused; here every id is the same, the worst case."""
    monkeypatch.setattr(_model, "id", lambda obj: 1, raising=False)
    model = _sequential()
    first = shared_model_info(model, SIGNATURE, _sample)
    model.pop()
    model.add(keras.layers.Dense(5, name="c"))  # as many layers as before, "the same ids"
    second = shared_model_info(model, SIGNATURE, _sample)
    assert second is not first and tuple(second.outputs[0].shape) == (1, 5)
