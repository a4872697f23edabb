"""Decision boundaries over the plane: closed forms on hand-weighted models, pictures, callback."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import keras_viz as kv
from keras_viz import render
from keras_viz.callbacks import DecisionBoundaryCallback
from keras_viz.decision_boundary import data_extent, plane_grid, to_probabilities
from tests.test_tensorboard import read_images


def _logistic(w=(1.0, -1.0), b=0.0) -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), layers.Dense(1, activation="sigmoid", name="out")])
    model.get_layer("out").set_weights([np.array(w, np.float32).reshape(2, 1), np.array([b], np.float32)])
    return model


def test_plane_grid_runs_like_an_image_from_the_top_left():
    grid = plane_grid((0.0, 4.0, 0.0, 2.0), 2)
    np.testing.assert_allclose(grid, [[1.0, 1.5], [3.0, 1.5], [1.0, 0.5], [3.0, 0.5]])


def test_logistic_model_plane_equals_the_closed_form():
    model = _logistic(w=(2.0, -1.0), b=0.5)
    plane = kv.DecisionBoundary(model, resolution=16)(extent=(-2, 2, -3, 3))
    grid = plane_grid((-2, 2, -3, 3), 16).reshape(16, 16, 2)
    expected = 1.0 / (1.0 + np.exp(-(2.0 * grid[..., 0] - grid[..., 1] + 0.5)))
    np.testing.assert_allclose(plane.probabilities[..., 1], expected, atol=1e-5)
    np.testing.assert_allclose(plane.probabilities.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(plane.classes, expected > 0.5)


def test_softmax_model_regions_and_logits():
    model = keras.Sequential([keras.Input((2,)), layers.Dense(3, name="logits")])
    model.get_layer("logits").set_weights([np.array([[1, -1, 0], [0, 0, 1]], np.float32), np.zeros(3, np.float32)])
    plane = kv.DecisionBoundary(model, resolution=8)(extent=(-1, 1, -1, 1))
    grid = plane_grid((-1, 1, -1, 1), 8)
    logits = grid @ np.array([[1, -1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(plane.classes.ravel(), logits.argmax(1))  # softmax applied to logits
    p, q = 1 / (1 + np.exp(2.0)), 1 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(to_probabilities(np.array([[-2.0], [0.5]])), [[1 - p, p], [1 - q, q]])
    np.testing.assert_allclose(to_probabilities(np.array([[0.0, np.log(3.0)]])), [[0.25, 0.75]])


def test_a_logit_output_is_read_as_logits_whatever_its_values():
    """A Dense(1) logit (trained with from_logits=True) with values inside [0, 1] is still a logit."""
    model = keras.Sequential([keras.Input((2,)), layers.Dense(1, name="logit")])
    model.get_layer("logit").set_weights([np.array([[0.1], [0.1]], np.float32), np.array([0.3], np.float32)])
    plane = kv.DecisionBoundary(model, resolution=8)(extent=(-1, 1, -1, 1))
    grid = plane_grid((-1, 1, -1, 1), 8)
    expected = 1 / (1 + np.exp(-(0.1 * grid.sum(1) + 0.3)))  # logits in [0.1, 0.5]: all class 1
    np.testing.assert_allclose(plane.probabilities[..., 1].ravel(), expected, atol=1e-6)
    assert plane.classes.all()


def test_multi_output_models_choose_the_output_by_name_or_index():
    inputs = keras.Input((2,))
    a = layers.Dense(2, activation="softmax", name="a")(inputs)
    b = layers.Dense(1, activation="sigmoid", name="b")(inputs)
    model = keras.Model(inputs, [a, b])
    assert kv.DecisionBoundary(model, output="b", resolution=4)(extent=(0, 1, 0, 1)).probabilities.shape == (4, 4, 2)
    assert kv.DecisionBoundary(model, output=0, resolution=4)(extent=(0, 1, 0, 1)).probabilities.shape == (4, 4, 2)
    with pytest.raises(ValueError, match="`output`"):
        kv.DecisionBoundary(model, output="c", resolution=4)(extent=(0, 1, 0, 1))


def test_picture_colours_the_classes_and_draws_points():
    probs = np.zeros((4, 4))
    probs[:, 2:] = 1.0  # right half: class 1
    picture = render.decision_picture(probs, (0, 4, 0, 4), size=64, boundary=False)
    orange, blue = render.class_colours(2)
    np.testing.assert_array_equal(picture[32, 5], orange)
    np.testing.assert_array_equal(picture[32, 60], blue)
    with_point = render.decision_picture(probs, (0, 4, 0, 4), points=[[3.0, 3.0]], labels=[0], size=64)
    np.testing.assert_array_equal(with_point[16, 47], orange)  # x=3 -> column 47, y=3 -> row 16
    np.testing.assert_array_equal(render.mix_class_colours([0.5, 0.5]), [255, 255, 255])
    with pytest.raises(ValueError, match="labels"):
        render.decision_picture(probs, (0, 4, 0, 4), points=[[1, 1]], labels=[5])
    with pytest.raises(ValueError, match="extent"):
        render.decision_picture(probs, (4, 0, 0, 4))


def test_neuron_maps_show_the_inputs_and_each_unit():
    model = keras.Sequential([keras.Input((2,)), layers.Dense(3, activation="relu", name="h"), layers.Dense(1, name="o")])
    boundary = kv.DecisionBoundary(model)
    maps = boundary.neuron_maps(["h", "o"], (-1, 1, -1, 1), resolution=8)
    assert [m.shape for m in maps] == [(2, 8, 8, 3), (3, 8, 8, 3), (1, 8, 8, 3)]
    x_map = maps[0][0].astype(int)
    assert x_map[4, -1, 0] > x_map[4, -1, 2] and x_map[4, 0, 2] > x_map[4, 0, 0]  # x: red right, blue left


def test_bad_models_and_points_are_refused():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        kv.DecisionBoundary(keras.Sequential([keras.Input((3,)), layers.Dense(2)]))
    with pytest.raises(ValueError, match="resolution"):
        kv.DecisionBoundary(_logistic(), resolution=1)
    with pytest.raises(ValueError, match="points"):
        data_extent(np.zeros((5, 3)))


@pytest.fixture(scope="module")
def moons():
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, np.pi, 120)
    upper = np.stack([np.cos(angle[:60]), np.sin(angle[:60])], 1)
    lower = np.stack([1 - np.cos(angle[60:]), 0.5 - np.sin(angle[60:])], 1)
    x = np.concatenate([upper, lower]).astype("float32")
    return x, np.repeat([0, 1], 60)


def test_callback_logs_plane_and_network_every_epoch(moons, tmp_path):
    x, y = moons
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), layers.Dense(4, activation="tanh", name="h"),
                              layers.Dense(1, activation="sigmoid", name="o")])
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[DecisionBoundaryCallback(x, y, log_dir=tmp_path, size=64, resolution=16)])
    written = read_images(tmp_path / "keras_viz")
    assert [e["step"] for e in written["decision_boundary/plane"]] == [0, 1]
    assert [e["step"] for e in written["decision_boundary/network"]] == [0, 1]
    plane = np.asarray(written["decision_boundary/plane"][-1]["images"][0].convert("RGB"))
    assert plane.shape == (64, 64, 3) and plane.std() > 10


def test_callback_on_a_model_that_is_not_a_dense_chain_logs_the_plane(moons, tmp_path):
    x, y = moons
    model = keras.Sequential([keras.Input((2,)), layers.Dense(4), layers.BatchNormalization(),
                              layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[DecisionBoundaryCallback(x, y, log_dir=tmp_path, raise_errors=True)])
    written = read_images(tmp_path / "keras_viz")
    assert "decision_boundary/plane" in written and "decision_boundary/network" not in written
    with pytest.raises(ValueError, match="labels"):
        DecisionBoundaryCallback(x, y[:3], log_dir=tmp_path)
    for bad, match in ((dict(resolution=1), "resolution"), (dict(size=-3), "size"), (dict(max_units=0), "max_units"),
                       (dict(output=1.5), "output")):
        with pytest.raises((ValueError, TypeError), match=match):
            DecisionBoundaryCallback(x, y, log_dir=tmp_path, **bad)
