"""DeepDream: the layer's activation grows, shape and range are kept, larger images work."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from keras_viz import datasets, optvis


@pytest.fixture(scope="module")
def photo():
    """A greyscale photograph at 40x40, larger than the 16x16 model input."""
    return datasets.load_sample_photos(40).mean(axis=-1, keepdims=True)


def test_dream_raises_the_layer_norm_and_keeps_shape_and_range(digits, photo):
    dream = optvis.deep_dream(digits.model, photo[0], "block2_relu", octaves=2, steps=8)
    assert dream.shape == photo[0].shape and dream.dtype == np.float32
    assert dream.min() >= 0.0 and dream.max() <= 1.0
    objective = optvis.deepdream("block2_relu")
    crops = lambda images: np.stack([images[8:24, 8:24], images[20:36, 4:20]])  # noqa: E731 - model-size crops
    before = optvis.score(digits.model, objective, crops(photo[0]))
    after = optvis.score(digits.model, objective, crops(dream))
    assert np.all(after > 1.5 * before), (before, after)


def test_a_batch_and_weighted_layers(digits, photo):
    dreams = optvis.deep_dream(
        digits.model, photo, {"block2_relu": 1.0, "block3_relu": 0.5}, octaves=3, octave_scale=1.4, steps=3, seed=1
    )
    assert dreams.shape == photo.shape
    again = optvis.deep_dream(
        digits.model, photo, {"block2_relu": 1.0, "block3_relu": 0.5}, octaves=3, octave_scale=1.4, steps=3, seed=1
    )
    np.testing.assert_array_equal(dreams, again)
    assert np.abs(dreams - photo).mean() > 0.01


def test_dreams_on_large_images_of_a_model_with_a_dense_head():
    """The input check is lifted and the pass ends at the layer: Flatten -> Dense never runs."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    outputs = layers.Dense(2)(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    image = np.random.default_rng(0).uniform(size=(30, 27, 3)).astype(np.float32)
    dream = optvis.deep_dream(model, image, "conv", octaves=2, steps=2)
    assert dream.shape == image.shape
    assert model(np.zeros((1, 12, 12, 3))).shape == (1, 2)  # the model still works as before
    with pytest.raises(ValueError, match="incompatible"):  # and its input check is back
        model(image[None])


def test_a_keras_that_no_longer_reads_the_lifted_attribute_fails_clearly(monkeypatch):
    """If Keras renamed ``_manual_input_spec``, lifting the input check would silently do
    nothing and the model would refuse the larger image ("is it fully convolutional?")."""
    from keras.src.models.functional import Functional

    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    model = keras.Model(inputs, layers.Conv2D(2, 3, name="conv")(inputs))
    renamed = property(lambda self: [keras.layers.InputSpec(shape=(None, 12, 12, 1))])
    monkeypatch.setattr(Functional, "input_spec", renamed)
    image = np.random.default_rng(0).uniform(size=(20, 20, 1)).astype(np.float32)
    with pytest.raises(RuntimeError, match=r"could not lift the input-shape check .*_manual_input_spec"):
        optvis.deep_dream(model, image, "conv", octaves=1, steps=1)
    with pytest.raises(RuntimeError, match="_manual_input_spec"):
        optvis.activation_maximization(model, optvis.channel("conv", 0), steps=1, size=20)
    # at the model's own size nothing needs lifting
    assert optvis.activation_maximization(model, optvis.channel("conv", 0), steps=1).shape == (1, 12, 12, 1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(image=np.zeros((16, 16, 3))), ValueError, "channels"),
        (dict(image=np.full((16, 16, 1), 2.0)), ValueError, "value_range"),
        (dict(image=np.full((16, 16, 1), np.nan)), ValueError, "NaN"),
        (dict(image=np.zeros((16, 16))), ValueError, "shape"),
        (dict(octaves=9), ValueError, "octave"),
        (dict(octave_scale=0.5), ValueError, "octave_scale"),
        (dict(steps=0), ValueError, "steps"),
        (dict(step_size=-1.0), ValueError, "step_size"),
        (dict(layers="nope"), ValueError, "Unknown layer"),
        (dict(layers={}), ValueError, "empty"),
        (dict(layers=optvis.channel("block2_relu", range(2))), ValueError, "one member"),
        (dict(value_range=(1, 1)), ValueError, "value_range"),
    ],
)
def test_bad_input(digits, kwargs, error, match):
    arguments = dict(image=np.zeros((16, 16, 1), np.float32), layers="block2_relu", steps=1, octaves=1)
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        optvis.deep_dream(digits.model, arguments.pop("image"), arguments.pop("layers"), **arguments)
