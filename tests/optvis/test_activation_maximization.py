"""Activation maximisation on a digits classifier trained in the test session."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from keras_viz import optvis
from tests.conftest import (
    IMAGE,
    functional_model,
    mixed_precision_model,
    multi_input_model,
    multi_output_model,
    nested_model,
    subclassed_model,
)

CHANNELS = optvis.channel("block3_relu", range(8))


@pytest.fixture(scope="module")
def reference(digits):
    return optvis.fourier(reference=digits.x_train[:256])


@pytest.fixture(scope="module")
def channel_run(digits, reference):
    images, history = optvis.activation_maximization(
        digits.model, CHANNELS, steps=128, param=reference, return_history=True
    )
    return images, history


def test_the_objective_rises_during_optimisation(channel_run):
    _, history = channel_run
    assert history.shape == (128, 8)
    early, late = history[:16].mean(axis=0), history[-16:].mean(axis=0)
    assert np.all(late > early) and (late - early).mean() > 1.0, (early, late)


def test_an_optimised_channel_beats_every_one_of_500_real_digits(digits, channel_run):
    images, _ = channel_run
    assert images.shape == (8, 16, 16, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    real = optvis.score(digits.model, CHANNELS, digits.real)  # (500, 8)
    optimised = np.diag(optvis.score(digits.model, CHANNELS, images))
    assert np.all(optimised > real.max(axis=0)), (optimised, real.max(axis=0))


def test_class_visualisations_are_classified_as_their_digit(digits, reference):
    objective = optvis.class_score(range(10), probability=True, log=True)
    images = optvis.activation_maximization(digits.model, objective, steps=96, param=reference)
    predicted = digits.model.predict(images, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(predicted, np.arange(10))


def test_same_seed_same_images_and_batch_equals_separate_runs(digits):
    objective = optvis.channel("block2_relu", [3, 0, 5])
    batched = optvis.activation_maximization(digits.model, objective, steps=24, seed=4)
    again = optvis.activation_maximization(digits.model, objective, steps=24, seed=4)
    np.testing.assert_array_equal(batched, again)
    other = optvis.activation_maximization(digits.model, objective, steps=24, seed=5)
    assert np.abs(other - batched).max() > 0.05
    separate = np.stack(
        [optvis.activation_maximization(digits.model, optvis.channel("block2_relu", c), steps=24, seed=4)[0] for c in (3, 0, 5)]
    )
    np.testing.assert_allclose(batched, separate, atol=1e-4)


def test_the_model_and_the_global_random_state_are_untouched(digits):
    model = digits.model
    weights = [w.copy() for w in model.get_weights()]
    layer_dicts = {layer.name: dict(layer.__dict__) for layer in model.layers}
    np.random.seed(11)
    tf.random.set_seed(11)
    expected_np, expected_tf = np.random.random(), tf.random.uniform([2]).numpy()
    np.random.seed(11)
    tf.random.set_seed(11)
    optvis.activation_maximization(model, optvis.class_score(1), steps=4, regularizers=[optvis.blur_every(2)])
    assert np.random.random() == expected_np
    np.testing.assert_array_equal(tf.random.uniform([2]).numpy(), expected_tf)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert {layer.name: dict(layer.__dict__) for layer in model.layers}.keys() == layer_dicts.keys()
    for layer in model.layers:
        assert set(layer.__dict__) == set(layer_dicts[layer.name])


@pytest.mark.parametrize(
    "build, layer, output",
    [
        (nested_model, "backbone/conv2", None),
        (subclassed_model, "conv2", None),
        (functional_model, "act1", None),
        (multi_output_model, "conv1", "cls"),
        (mixed_precision_model, "conv2", None),
    ],
)
def test_every_model_kind(build, layer, output):
    keras.utils.set_random_seed(1)
    model = build()
    objective = optvis.channel(layer, range(3)) + 0.1 * optvis.class_score(1, output=output)
    images, history = optvis.activation_maximization(model, objective, steps=12, return_history=True)
    assert images.shape == (3, *IMAGE) and np.all(np.isfinite(images))
    assert np.all(history[-1] > history[0])


def test_generator_prior_optimises_a_latent_code(digits):
    keras.utils.set_random_seed(2)
    decoder = keras.Sequential(
        [keras.Input((4,)), layers.Dense(16 * 16, activation="sigmoid"), layers.Reshape((16, 16, 1))], name="decoder"
    )
    images, history = optvis.activation_maximization(
        digits.model, optvis.class_score([2, 7]), steps=16, param=decoder, return_history=True
    )
    assert images.shape == (2, 16, 16, 1)
    assert np.all(history[-1] > history[0])
    with pytest.raises(ValueError, match="generator"):
        optvis.activation_maximization(digits.model, optvis.class_score(2), steps=2, param=optvis.generator(
            keras.Sequential([keras.Input((4,)), layers.Dense(64), layers.Reshape((8, 8, 1))])))
    with pytest.raises(ValueError, match="param='pixel' or 'fourier'"):
        optvis.activation_maximization(digits.model, optvis.class_score(2), steps=2, param=decoder,
                                       regularizers=[optvis.blur_every(2)])


@pytest.mark.parametrize("param", ["pixel", optvis.pixel(squash="clip"), "fourier"])
def test_projections_and_penalties_run_with_raw_parameterisations(digits, param):
    regularizers = [
        optvis.l1(0.01), optvis.l2(0.01), optvis.total_variation(0.1), optvis.blur_every(3),
        optvis.clip_small_norm(10), optvis.clip_small_contribution(10, every=2),
    ]
    images = optvis.activation_maximization(
        digits.model, optvis.class_score(3), steps=8, param=param, regularizers=regularizers, progress=True
    )
    assert images.shape == (1, 16, 16, 1) and 0.0 <= images.min() <= images.max() <= 1.0


def test_several_images_per_member_with_diversity(digits):
    objective = optvis.channel("block3_relu", 1) + 5.0 * optvis.diversity("block3_relu")
    images = optvis.activation_maximization(digits.model, objective, steps=16, batch=3)
    assert images.shape == (3, 16, 16, 1)
    assert min(np.abs(images[i] - images[j]).mean() for i, j in ((0, 1), (0, 2), (1, 2))) > 0.01


def test_members_with_diversity_equal_separate_runs(digits):
    # diversity compares the images of one member only: K members x 2 images in one batch
    # give what K runs of one member x 2 images give
    def objective(channels):
        return optvis.channel("block2_relu", channels) + 2.0 * optvis.diversity("block2_relu")

    batched = optvis.activation_maximization(digits.model, objective([3, 0]), steps=16, batch=4, seed=2)
    separate = np.concatenate(
        [optvis.activation_maximization(digits.model, objective(c), steps=16, batch=2, seed=2) for c in (3, 0)]
    )
    np.testing.assert_allclose(batched, separate, atol=1e-4)


def test_other_sizes_and_value_ranges(digits):
    images = optvis.activation_maximization(digits.model, optvis.channel("block2_relu", 0), steps=4, size=24,
                                            value_range=(-1.0, 1.0))
    assert images.shape == (1, 24, 24, 1) and images.min() >= -1.0 and images.max() <= 1.0
    start = np.full((16, 16, 1), 0.3, np.float32)
    images = optvis.activation_maximization(digits.model, optvis.class_score(0), steps=1, init=start,
                                            learning_rate=1e-6, transforms=None)
    np.testing.assert_allclose(images[0], start, atol=1e-3)


def test_bad_input_names_the_argument(digits):
    model = digits.model
    run = optvis.activation_maximization
    with pytest.raises(ValueError, match="Unknown layer 'conv9'"):
        run(model, optvis.channel("conv9", 0), steps=2)
    with pytest.raises(ValueError, match=r"`index`=64 is out of range .* 64 channels"):
        run(model, optvis.channel("block3_relu", 64), steps=2)
    with pytest.raises(ValueError, match="classes"):
        run(model, optvis.class_score(10), steps=2)
    with pytest.raises(ValueError, match="steps"):
        run(model, optvis.class_score(1), steps=0)
    with pytest.raises(TypeError, match="steps"):
        run(model, optvis.class_score(1), steps=2.5)
    with pytest.raises(ValueError, match="value_range"):
        run(model, optvis.class_score(1), steps=2, value_range=(1, 0))
    with pytest.raises(ValueError, match="value_range"):
        run(model, optvis.class_score(1), steps=2, value_range=(0, float("nan")))
    with pytest.raises(ValueError, match="seed"):
        run(model, optvis.class_score(1), steps=2, seed=-1)
    with pytest.raises(ValueError, match="learning_rate"):
        run(model, optvis.class_score(1), steps=2, learning_rate=0)
    with pytest.raises(ValueError, match="batch"):
        run(model, optvis.channel("block3_relu", range(2)), steps=2, batch=3)
    with pytest.raises(ValueError, match="size"):
        run(model, optvis.class_score(1), steps=2, size=(0, 4))
    with pytest.raises(TypeError, match="objective"):
        run(model, "block3_relu:1", steps=2)
    with pytest.raises(TypeError, match="model"):
        run("model.keras", optvis.class_score(1), steps=2)
    with pytest.raises(ValueError, match="init"):
        run(model, optvis.class_score(1), steps=2, init=np.zeros((8, 8, 1)))


def test_models_that_cannot_take_the_images_are_refused():
    dense_head = keras.Sequential(
        [keras.Input((8, 8, 1)), layers.Conv2D(2, 3, name="conv"), layers.Flatten(), layers.Dense(3, name="out")]
    )
    with pytest.raises(ValueError, match="could not be run"):
        optvis.activation_maximization(dense_head, optvis.class_score(1), steps=2, size=(12, 12))
    # ... while the convolution itself can be visualised at that size (the pass ends there).
    images = optvis.activation_maximization(dense_head, optvis.channel("conv", 1), steps=2, size=(12, 12))
    assert images.shape == (1, 12, 12, 1)
    with pytest.raises(ValueError, match="one image input"):
        optvis.activation_maximization(multi_input_model(), optvis.class_score(1), steps=2)
    sequence = keras.Sequential([keras.Input((10, 2)), layers.Conv1D(3, 3, name="conv"), layers.GlobalAveragePooling1D()])
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        optvis.activation_maximization(sequence, optvis.channel("conv", 0), steps=2)
    any_size = keras.Sequential([keras.Input((None, None, 3)), layers.Conv2D(2, 3, name="conv")])
    with pytest.raises(ValueError, match="size"):
        optvis.activation_maximization(any_size, optvis.channel("conv", 0), steps=2)
