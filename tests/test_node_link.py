"""Node-link diagrams: edge styles by hand, pixels of hand-weighted chains, dense-chain reading."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from keras_viz import node_link, render
from keras_viz.render.node_link import edge_style

RED = render.colormap(np.array([1.0]), "RdBu_r")[0]
BLUE = render.colormap(np.array([-1.0]), "RdBu_r")[0]


def test_edge_style_by_hand():
    colours, widths = edge_style(np.array([2.0, -2.0 / 3.0, 0.0, 5.0]), scale=2.0)
    np.testing.assert_array_equal(widths, [4, 2, 1, 4])  # 1 + round(3 |w| / scale), clipped
    np.testing.assert_array_equal(colours[0], RED)
    np.testing.assert_array_equal(colours[3], RED)
    np.testing.assert_array_equal(colours[2], render.colormap(np.array([0.0]), "RdBu_r")[0])
    assert colours[1, 2] > colours[1, 0]  # negative: bluish


def _colour_runs(row: np.ndarray, colour: np.ndarray, tolerance: int = 30) -> np.ndarray:
    return np.flatnonzero(np.abs(row.astype(int) - colour.astype(int)).max(axis=-1) <= tolerance)


def test_one_neuron_chain_draws_a_red_then_a_blue_edge():
    picture = render.node_link([np.array([[1.0]]), np.array([[-1.0]])], node_size=16)
    assert picture.dtype == np.uint8 and picture.ndim == 3
    rows = [r for r in range(picture.shape[0]) if len(_colour_runs(picture[r], RED)) > 20]
    assert rows, "no red edge"
    middle = picture[rows[len(rows) // 2]]
    red, blue = _colour_runs(middle, RED), _colour_runs(middle, BLUE)
    assert len(red) > 20 and len(blue) > 20
    assert red.max() < blue.min()  # the positive weight comes first, left to right


def test_bias_fills_the_node():
    picture = render.node_link([np.array([[0.0]])], biases=[np.array([3.0])], node_size=20)
    # the layer's single neuron is the right-most node; its centre is pure red
    reds = np.argwhere(np.abs(picture.astype(int) - RED.astype(int)).max(axis=-1) <= 2)
    assert len(reds) > 50 and reds[:, 1].min() > picture.shape[1] // 2


def test_wide_layers_are_capped_and_node_images_are_drawn():
    kernels = [np.ones((3, 40)), np.ones((40, 2))]
    capped = render.node_link(kernels, max_units=8)
    small = render.node_link([np.ones((3, 8)), np.ones((8, 2))], max_units=8)
    assert capped.shape == small.shape  # 7 neurons and a "+33" mark fill the same rows as 8
    images = [None, np.zeros((40, 4, 4, 3), np.uint8) + np.array([0, 200, 0], np.uint8), None]
    with_images = render.node_link(kernels, node_images=images, max_units=8, node_size=24)
    green = np.all(with_images == [0, 200, 0], axis=-1)
    assert green.sum() >= 7 * 20 * 20  # seven 24-px tiles (less the outline)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kernels=[np.ones((2, 3)), np.ones((4, 1))]), "must chain"),
        (dict(kernels=[np.ones(3)]), "2-D"),
        (dict(kernels=[]), "non-empty"),
        (dict(kernels=[np.ones((2, 3))], biases=[np.ones(2)]), r"biases\[0\]"),
        (dict(kernels=[np.ones((2, 3))], max_units=1), "max_units"),
        (dict(kernels=[np.ones((2, 3))], column_labels=["a"]), "column_labels"),
        (dict(kernels=[np.array([[np.nan]])]), "finite"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render.node_link(**kwargs)


# --------------------------------------------------------------------------- dense_chain


def _sequential():
    model = keras.Sequential(
        [keras.Input((3,)), layers.Dense(4, name="a"), layers.Activation("tanh", name="act"),
         layers.Dropout(0.5), layers.Dense(2, activation="softmax", use_bias=False, name="b")]
    )
    return model


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.first = layers.Dense(5, activation="relu", name="first")
        self.second = layers.Dense(2, name="second")

    def call(self, x):
        return self.second(self.first(x))


def test_dense_chain_of_a_sequential_model_reads_its_weights():
    model = _sequential()
    chain = node_link.dense_chain(model)
    assert chain.names == ("a", "b") and chain.widths == (3, 4, 2)
    np.testing.assert_array_equal(chain.kernels[0], model.get_layer("a").get_weights()[0])
    np.testing.assert_array_equal(chain.biases[0], model.get_layer("a").get_weights()[1])
    assert chain.biases[1] is None
    assert chain.activations == ("tanh", "softmax")  # the Activation layer belongs to "a"


def test_dense_chain_of_functional_and_subclassed_models():
    inputs = keras.Input((2,))
    outputs = layers.Dense(1, name="out")(layers.Dense(3, name="h")(inputs))
    assert node_link.dense_chain(keras.Model(inputs, outputs)).widths == (2, 3, 1)
    subclassed = _Subclassed()
    subclassed(np.zeros((1, 6), np.float32))
    chain = node_link.dense_chain(subclassed)
    assert chain.names == ("first", "second") and chain.widths == (6, 5, 2)
    assert node_link.node_link_diagram(subclassed).ndim == 3


def test_models_that_are_not_dense_chains_are_refused_with_the_reason():
    conv = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match="Conv2D.*model_diagram"):
        node_link.dense_chain(conv)
    inputs = keras.Input((2,))
    merged = layers.Add()([layers.Dense(3)(inputs), layers.Dense(3)(inputs)])
    with pytest.raises(ValueError, match="branches or merges"):
        node_link.dense_chain(keras.Model(inputs, merged))
    no_dense = keras.Sequential([keras.Input((4,)), layers.Activation("relu")])
    with pytest.raises(ValueError, match="no Dense layer"):
        node_link.dense_chain(no_dense)
