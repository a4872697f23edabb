"""Model randomization and rank correlation on small models: hand computations, the copy, errors."""

from __future__ import annotations

import functools
import random

import keras
import numpy as np
import pytest

import keras_viz as kv
from keras_viz.metrics import model_randomization, randomizable_layers, rank_correlation
from tests.conftest import IMAGE, MODEL_KINDS, sample_inputs


def test_rank_correlation_hand_computation():
    a = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    b = np.array([[10.0, 20.0, 30.0, 40.0], [4.0, 3.0, 2.0, 1.0], [1.0, 3.0, 2.0, 4.0]])
    # Spearman: 1 - 6 Σd² / (n(n²-1)) without ties: third row d = (0, 1, -1, 0) -> 1 - 12/60 = 0.8
    np.testing.assert_allclose(rank_correlation(a, b), [1.0, -1.0, 0.8])


def test_rank_correlation_ties_take_average_ranks():
    a = np.array([[1.0, 1.0, 2.0, 3.0]])  # ranks 0.5, 0.5, 2, 3
    b = np.array([[1.0, 2.0, 3.0, 4.0]])  # ranks 0, 1, 2, 3
    ra, rb = np.array([0.5, 0.5, 2, 3]), np.array([0, 1, 2, 3.0])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    expected = (ra * rb).sum() / np.sqrt((ra**2).sum() * (rb**2).sum())
    assert rank_correlation(a, b)[0] == pytest.approx(expected)
    # Only the order matters (a monotone transform changes nothing); 2-D maps are flattened.
    maps = np.random.default_rng(0).normal(size=(3, 5, 5))
    np.testing.assert_allclose(rank_correlation(maps, np.exp(maps)), 1.0)


def test_rank_correlation_constant_maps():
    constant, varied = np.zeros((1, 6)), np.arange(6.0)[None]
    assert rank_correlation(constant, varied)[0] == 0.0
    assert rank_correlation(constant, constant)[0] == 1.0


@pytest.mark.parametrize(
    "a, b, match",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "same shape"),
        (np.zeros((3,)), np.zeros((3,)), "non-empty batches"),
        (np.full((1, 3), np.nan), np.zeros((1, 3)), "NaN"),
    ],
)
def test_rank_correlation_errors(a, b, match):
    with pytest.raises(ValueError, match=match):
        rank_correlation(a, b)


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_model_kind_works_on_a_copy_and_is_left_unchanged(kind, model_zoo):
    model = model_zoo[kind]
    images = sample_inputs(kind, n=3)
    options = {"output": 1} if kind == "multi_output" else {}
    before = _weights(model)
    python_state, numpy_state = random.getstate(), np.random.get_state()[1].copy()
    result = model_randomization(kv.Saliency, model, images, 1, **options)
    assert random.getstate() == python_state and np.array_equal(np.random.get_state()[1], numpy_state)
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)
    assert result.layers == randomizable_layers(model, images)
    assert result.correlations.shape == (len(result.layers), 3)
    assert np.isfinite(result.correlations).all()


def test_cascade_order_is_top_down_and_one_at_a_time_restores(model_zoo):
    model = model_zoo["functional"]
    images = sample_inputs("functional", n=4)
    assert randomizable_layers(model, images) == ["head", "conv2", "bn1", "conv1"]
    cascade = model_randomization(kv.Saliency, model, images, 0, return_maps=True)
    single = model_randomization(kv.Saliency, model, images, 0, cascade=False, return_maps=True)
    assert cascade.cascade and not single.cascade
    # The first step randomizes the same layer with the same seed in both modes.
    np.testing.assert_allclose(cascade.correlations[0], single.correlations[0])
    np.testing.assert_allclose(cascade.maps[1], single.maps[1])
    # Independent steps: randomizing only conv1 differs from randomizing everything.
    assert not np.allclose(cascade.maps[-1], single.maps[-1])
    # Same seed, same result; another seed, other weights.
    again = model_randomization(kv.Saliency, model, images, 0)
    np.testing.assert_array_equal(again.correlations, cascade.correlations)
    other = model_randomization(kv.Saliency, model, images, 0, seed=5)
    assert not np.array_equal(other.correlations, cascade.correlations)


def test_an_explainer_compared_with_itself_gives_one(model_zoo):
    # Randomizing a layer the explained output does not read leaves the map as it was.
    model = model_zoo["multi_output"]
    images = sample_inputs("multi_output", n=4)
    result = model_randomization(kv.Saliency, model, images, 1, output="cls", layers=["aux"])
    assert result.layers == ["aux"]
    np.testing.assert_allclose(result.correlations, 1.0)
    np.testing.assert_allclose(rank_correlation(images, images), 1.0)


def test_explainer_options_and_factories_are_passed(model_zoo):
    model = model_zoo["functional"]
    images = sample_inputs("functional", n=2)
    by_option = model_randomization(kv.GradCAM, model, images, 0, layer="conv2", layers=["head"])
    by_factory = model_randomization(functools.partial(kv.GradCAM, layer="conv2"), model, images, 0, layers=["head"])
    np.testing.assert_allclose(by_option.correlations, by_factory.correlations)
    assert by_option.method == "grad_cam"


class Unclonable(keras.Model):
    """A subclassed model whose constructor needs an argument its config does not carry."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.conv = keras.layers.Conv2D(4, 3, activation="relu")
        self.gap = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.head(self.gap(self.conv(x * self.scale)))


def test_subclassed_model_that_cannot_be_cloned_gets_a_clear_error_or_a_clone_function():
    keras.utils.set_random_seed(2)
    model = Unclonable(2.0)
    images = sample_inputs("functional", n=2)
    model(images)
    with pytest.raises(ValueError, match="clone="):
        model_randomization(kv.Saliency, model, images, 0)
    result = model_randomization(kv.Saliency, model, images, 0, clone=lambda m: Unclonable(m.scale))
    assert result.layers == [model.head.name, model.conv.name]  # the names in the user's model
    # A clone function that builds something else is caught by comparing outputs.
    with pytest.raises(ValueError, match="other outputs"):
        model_randomization(kv.Saliency, model, images, 0, clone=lambda m: Unclonable(3.0))


@pytest.mark.parametrize(
    "arguments, error, match",
    [
        ({"explainer_class": "saliency"}, TypeError, "explainer class"),
        ({"explainer_class": int}, TypeError, "explainer class"),
        ({"layers": ["gap"]}, ValueError, "owns no weights"),
        ({"layers": ["nope"]}, ValueError, "Unknown layer"),
        ({"layers": "head"}, ValueError, "list of layer names"),
        ({"seed": -1}, ValueError, "`seed`"),
    ],
)
def test_bad_arguments(arguments, error, match, model_zoo):
    model = model_zoo["functional"]
    options = {"explainer_class": kv.Saliency, **arguments}
    explainer_class = options.pop("explainer_class")
    with pytest.raises(error, match=match):
        model_randomization(explainer_class, model, sample_inputs("functional", n=2), 0, **options)


def test_an_explainer_instance_is_refused(model_zoo):
    model = model_zoo["functional"]
    with pytest.raises(TypeError, match="not an explainer built"):
        model_randomization(kv.Saliency(model), model, np.zeros((1, *IMAGE), np.float32), 0)
