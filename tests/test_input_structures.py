"""A traced function packs its flat inputs with the structure it was traced for: a dict is
flattened in sorted-key order and a list keeps its own, so a model whose inputs share a
shape must not reuse a list-traced function for a dict (or the reverse)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_viz as kv


@pytest.fixture(scope="module")
def two_inputs():
    keras.utils.set_random_seed(0)
    z = keras.Input((6, 6, 1), name="z")
    a = keras.Input((6, 6, 1), name="a")  # sorts before "z": dict order differs from list order
    hidden = keras.layers.Conv2D(3, 3, name="c")(keras.layers.Concatenate()([z, 2.0 * a]))
    model = keras.Model([z, a], keras.layers.Dense(2, name="head")(keras.layers.Flatten()(hidden)))
    rng = np.random.default_rng(0)
    xz, xa = (rng.normal(size=(5, 6, 6, 1)).astype(np.float32) for _ in range(2))
    truth = keras.Model(model.inputs, model.get_layer("c").output)([xz, xa]).numpy()
    return model, xz, xa, truth


def _calls(xz, xa):
    # list, list, list (traced at the third), then dict, dict, dict, then list again
    return [[xz, xa]] * 3 + [{"z": xz, "a": xa}] * 3 + [[xz, xa]]


def test_feature_maps_and_top_activations_follow_the_structure(two_inputs):
    model, xz, xa, truth = two_inputs
    maps = kv.FeatureMaps(model, ["c"])
    for inputs in _calls(xz, xa):
        np.testing.assert_allclose(maps(inputs)["c"], truth, rtol=1e-5, atol=1e-6)
    expected = truth.reshape(5, -1, 3).max(axis=1).max(axis=0)
    for inputs in _calls(xz, xa):
        top = kv.top_activations(model, inputs, "c", k=1, patches=False)
        np.testing.assert_allclose(top.values[:, 0], expected, rtol=1e-5)


def test_codes_and_explainers_follow_the_structure(two_inputs):
    model, xz, xa, truth = two_inputs
    codes = kv.views.CodesAndOutputs(model, "c", pool="max")
    saliency = kv.Saliency(model)
    reference = saliency([xz, xa], targets=0)
    for inputs in _calls(xz, xa):
        np.testing.assert_allclose(codes(inputs)[0], truth.max(axis=(1, 2)), rtol=1e-5)
        maps = saliency(inputs, targets=0)
        flat = [maps["z"], maps["a"]] if isinstance(maps, dict) else maps
        np.testing.assert_allclose(flat[0], reference[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(flat[1], reference[1], rtol=1e-5, atol=1e-7)
