"""One rule for the arguments of the dataset views and the quality metrics: a value of the
wrong type raises TypeError, a value of the right type out of range raises ValueError, and
both messages name the argument and the value."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import keras_viz as kv
from keras_viz import render
from keras_viz._checks import check_indices, check_int, check_number


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    features = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    return keras.Model(inputs, layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(features)))


X = np.random.default_rng(0).uniform(size=(6, 8, 8, 3)).astype(np.float32)
SEGMENTATION = (np.arange(6 * 8 * 8).reshape(6, 8, 8) % 2).astype(np.int32)
MAPS = np.random.default_rng(1).uniform(size=(6, 8, 8))


CALLS = {
    "top_activations k": lambda m, v: kv.top_activations(m, X, "conv", k=v),
    "top_activations batch_size": lambda m, v: kv.top_activations(m, X, "conv", batch_size=v),
    "embeddings batch_size": lambda m, v: kv.embeddings(m, X, "gap", batch_size=v),
    "nearest_neighbors k": lambda m, v: kv.nearest_neighbors(m, X[:2], X, "gap", k=v),
    "dissect batch_size": lambda m, v: kv.dissect(m, X, SEGMENTATION, "conv", batch_size=v),
    "dissect examples": lambda m, v: kv.dissect(m, X, SEGMENTATION, "conv", examples=v),
    "explain_dataset batch_size": lambda m, v: list(kv.explain_dataset(kv.Saliency(m), X, batch_size=v)),
    "deletion steps": lambda m, v: kv.metrics.deletion(m, X, MAPS, 0, steps=v),
    "deletion batch_size": lambda m, v: kv.metrics.deletion(m, X, MAPS, 0, batch_size=v),
    "model_randomization seed": lambda m, v: kv.metrics.model_randomization(kv.Saliency, m, X[:2], 0, seed=v),
    "thumbnail_map tile": lambda m, v: render.thumbnail_map(X, MAPS[:, :2, 0], tile=v),
    "thumbnail_map grid": lambda m, v: render.thumbnail_map(X, MAPS[:, :2, 0], grid=v),
    "scatter radius": lambda m, v: render.scatter(MAPS[:, :2, 0], radius=v),
    "export_projector thumbnail_size": lambda m, v: kv.tensorboard.export_projector(
        "/nonexistent-never-written", X.reshape(6, -1), images=X, thumbnail_size=v),
    "pointing_game tolerance": lambda m, v: kv.metrics.pointing_game(MAPS, MAPS > 0.5, tolerance=v),
}
WRONG_TYPE = {"model_randomization seed": 1.0, "pointing_game tolerance": "2"}
BAD_VALUE = {"dissect examples": -1, "model_randomization seed": -1, "pointing_game tolerance": -1.0}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_wrong_type_is_a_type_error_and_bad_value_a_value_error(model, call):
    name = call.split()[-1]
    with pytest.raises(TypeError, match=rf"`{name}` must be"):
        CALLS[call](model, WRONG_TYPE.get(call, 2.0))
    with pytest.raises(TypeError, match=rf"`{name}` must be"):
        CALLS[call](model, True)  # a bool is not a count
    with pytest.raises(ValueError, match=rf"`{name}` must be .*received {name}="):
        CALLS[call](model, BAD_VALUE.get(call, 0))


def test_the_shared_checks():
    assert check_int(np.int64(3), "k") == 3 and check_int(0, "examples", minimum=0) == 0
    assert check_number(np.float32(0.5), "quantile", low=0.0, high=1.0, high_open=True) == 0.5
    with pytest.raises(ValueError, match=r"`quantile` must be a finite number in \[0, 1\); received quantile=1.0"):
        check_number(1.0, "quantile", low=0.0, high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"finite"):
        check_number(float("nan"), "tolerance", low=0.0)
    assert check_indices(None, "units") is None
    np.testing.assert_array_equal(check_indices(np.int32(2), "units", 3), [2])
    with pytest.raises(TypeError, match=r"`units` must be a list of ints or None; received units='ab'"):
        check_indices("ab", "units")
    with pytest.raises(TypeError, match=r"`units` must be a list of ints"):
        check_indices([True, False], "units")
    with pytest.raises(ValueError, match=r"`units`=\[0, 3\] holds 3, out of range: the layer has 3 channel"):
        check_indices([0, 3], "units", 3)
