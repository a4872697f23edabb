"""Bad input gets a ValueError/TypeError naming the argument and the value received."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import keras_viz as kv
from tests.conftest import sample_inputs


@pytest.fixture(scope="module")
def model(model_zoo):
    return model_zoo["functional"]


@pytest.fixture(scope="module")
def flat_head_model():
    """Conv → Flatten → Dense: no GlobalAveragePooling head, so CAM must refuse."""
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(3, 3, activation="relu", name="conv"),
            layers.Flatten(name="flatten"),
            layers.Dense(2, activation="softmax", name="head"),
        ]
    )


X = sample_inputs("functional", n=2)


def test_unknown_layer_lists_candidates(model):
    with pytest.raises(ValueError, match=r"Unknown layer 'conv9' \(argument `layer`\). Did you mean: conv2, conv1\? Layers: conv1, bn1"):
        kv.GradCAM(model, layer="conv9")


def test_layer_index_out_of_range(model):
    with pytest.raises(ValueError, match=r"`layer`=99 is out of range"):
        kv.GradCAM(model, layer=99)


def test_layer_of_wrong_type(model):
    with pytest.raises(TypeError, match=r"`layer` must be a layer name.*received float"):
        kv.GradCAM(model, layer=1.5)


def test_cam_method_on_layer_without_spatial_axes(model):
    with pytest.raises(ValueError, match=r"`layer`='head' has output shape \(1, 3\), without 2-D spatial axes.*conv2"):
        kv.GradCAM(model, layer="head")(X)


def test_cam_needs_gap_dense_head(flat_head_model):
    x = np.random.default_rng(0).uniform(size=(2, 8, 8, 1)).astype(np.float32)
    with pytest.raises(ValueError, match=r"CAM needs the model to end in GlobalAveragePooling → Dense.*feeds flatten \(Flatten\).*GradCAM"):
        kv.CAM(flat_head_model)(x)
    assert kv.GradCAM(flat_head_model)(x).shape == (2, 8, 8)  # the suggested alternative works


def test_cam_rejects_unit_targets(model):
    with pytest.raises(ValueError, match="CAM explains output classes"):
        kv.CAM(model)(X, targets=kv.Unit("conv1", channel=0))


def test_model_without_spatial_layers():
    mlp = keras.Sequential([keras.Input((5,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    x = np.ones((2, 5), np.float32)
    with pytest.raises(ValueError, match="needs an input with spatial axes"):
        kv.GradCAM(mlp)(x)
    assert kv.Saliency(mlp)(x).shape == (2, 5)


@pytest.mark.parametrize("targets, message", [
    (3, r"class index 3, out of range for output 'head' with 3 classes"),
    ([0, 7], r"class index 7, out of range"),
    (-1, r"`targets`=-1 is a negative class index"),
    ([0, 1, 2], r"`targets` has 3 entries but `inputs` has 2 samples"),
    ("cat", r"`targets`='cat' is not understood"),
])
def test_bad_class_targets(model, targets, message):
    with pytest.raises(ValueError, match=message):
        kv.Saliency(model)(X, targets=targets)


@pytest.mark.parametrize("targets, message", [
    (True, r"`targets` must be a class index, not a bool"),
    ([0.5, 1.0], r"`targets` must hold integer class indices"),
    (object(), r"`targets` must be None, an int"),
])
def test_bad_target_types(model, targets, message):
    with pytest.raises(TypeError, match=message):
        kv.Saliency(model)(X, targets=targets)


def test_bad_units(model):
    with pytest.raises(ValueError, match=r"Unit channel=50 is out of range for layer 'conv1'"):
        kv.Saliency(model)(X, targets=kv.Unit("conv1", channel=50))
    with pytest.raises(ValueError, match=r"Unit position=\(1,\) has 1 coordinates"):
        kv.Saliency(model)(X, targets=kv.Unit("conv1", channel=0, position=(1,)))
    with pytest.raises(ValueError, match=r"Unknown layer 'nope'"):
        kv.Saliency(model)(X, targets=kv.Unit("nope"))
    with pytest.raises(TypeError, match="Unit `channel` must be an int"):
        kv.Unit("conv1", channel="red")


def test_callable_target_must_return_one_score_per_sample(model):
    with pytest.raises(ValueError, match=r"must return one score per sample.*returned shape \(None, 3\)"):
        kv.Saliency(model)(X, targets=lambda outputs: outputs)


@pytest.mark.parametrize("inputs, error, message", [
    (np.zeros((2, 8, 8, 3), np.float32), ValueError, r"`inputs` has shape \(2, 8, 8, 3\) but the model expects \(None, 16, 16, 3\)"),
    (np.zeros((16, 16, 3), np.float32), ValueError, r"`inputs` has shape \(16, 16, 3\) but the model expects"),
    (np.zeros((0, 16, 16, 3), np.float32), ValueError, r"`inputs` is an empty batch \(shape \(0, 16, 16, 3\)\)"),
    (np.full((2, 16, 16, 3), np.nan, np.float32), ValueError, r"`inputs` contains 1536 NaN or infinite value\(s\) \(first at index \(0, 0, 0, 0\)\)"),
    (np.where(np.arange(2 * 16 * 16 * 3).reshape(2, 16, 16, 3) == 5, np.inf, 0.0), ValueError, r"`inputs` contains 1 NaN or infinite value\(s\) \(first at index \(0, 0, 1, 2\)\)"),
    (np.zeros((2, 16, 16, 3), np.complex64), TypeError, r"`inputs` has dtype complex64"),
    (np.zeros((2, 16, 16, 3), bool), TypeError, r"`inputs` has dtype bool"),
    (np.array([["a"]]), TypeError, r"`inputs` has dtype <U1"),
    (np.float32(3.0), ValueError, r"`inputs` has shape \(\): expected a batch"),
])
def test_bad_inputs(model, inputs, error, message):
    with pytest.raises(error, match=message):
        kv.Saliency(model)(inputs)


def test_empty_dataset(model):
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, 16, 16, 3), np.float32)).batch(2)
    with pytest.raises(ValueError, match=r"`inputs` is an empty dataset"):
        kv.Saliency(model)(empty)


def test_integer_pixels_are_accepted(model):
    pixels = (X * 255).astype(np.uint8)
    np.testing.assert_allclose(
        kv.Saliency(model)(pixels, targets=0), kv.Saliency(model)(pixels.astype(np.float32), targets=0)
    )


def test_token_inputs_are_refused_by_methods_that_cannot_apply():
    # Gradient methods explain token models at the embedding (tests/explainers/test_tokens.py);
    # the class-activation family has no spatial input to map onto and says so.
    tokens = keras.Input((6,), dtype="int32")
    x = layers.Embedding(10, 4)(tokens)
    x = layers.GlobalAveragePooling1D()(x)
    text_model = keras.Model(tokens, layers.Dense(2)(x))
    with pytest.raises(TypeError, match=r"grad_cam cannot explain token-id inputs .*Saliency, GradientInput"):
        kv.GradCAM(text_model)(np.zeros((2, 6), np.int32))
    with pytest.raises(ValueError, match=r"needs `mask_token=`"):
        kv.Occlusion(text_model)(np.zeros((2, 6), np.int32))


def test_multi_input_mismatches(model_zoo):
    multi = model_zoo["multi_input"]
    image, extra = sample_inputs("multi_input", n=3)
    with pytest.raises(ValueError, match=r"different numbers of samples: \[3, 2\]"):
        kv.Saliency(multi)([image, extra[:2]])
    with pytest.raises(ValueError, match=r"has 1 array\(s\) but the model takes 2 input\(s\)"):
        kv.Saliency(multi)([image])


def test_multi_output_needs_output_argument(model_zoo):
    multi = model_zoo["multi_output"]
    x = sample_inputs("multi_output", n=2)
    with pytest.raises(ValueError, match=r"The model has 2 outputs \(aux, cls\); pass `output=`"):
        kv.Saliency(multi)(x)
    with pytest.raises(ValueError, match=r"Unknown output 'nope' \(argument `output`\). Outputs: aux, cls"):
        kv.Saliency(multi, output="nope")(x)
    by_name = kv.Saliency(multi, output="cls")(x, targets=1)
    by_index = kv.Saliency(multi, output=1)(x, targets=1)
    np.testing.assert_array_equal(by_name, by_index)


@pytest.mark.parametrize("make, error, message", [
    (lambda m: kv.Saliency(m, batch_size=0), ValueError, r"`batch_size` must be a positive int; received batch_size=0"),
    (lambda m: kv.Saliency(m, reduce="median"), ValueError, r"`reduce`='median' is not one of"),
    (lambda m: kv.SmoothGrad(m, samples=0), ValueError, r"`samples` must be a positive int; received 0"),
    (lambda m: kv.SmoothGrad(m, noise_level=-1.0), ValueError, r"`noise_level` must be a non-negative number"),
    (lambda m: kv.IntegratedGradients(m, method="simpson"), ValueError, r"`method`='simpson' is not one of"),
    (lambda m: kv.IntegratedGradients(m, steps=1), ValueError, r"`steps` must be at least 2 for the trapezoid rule"),
    (lambda m: kv.Occlusion(m, patch_size=0), ValueError, r"`patch_size` must be a positive int"),
    (lambda m: kv.Occlusion(m, fill=float("nan")), ValueError, r"`fill` must be a finite number"),
    (lambda m: kv.Saliency("model.keras"), TypeError, r"`model` must be a keras.Model.*received str"),
])
def test_bad_options(model, make, error, message):
    with pytest.raises(error, match=message):
        make(model)


def test_bad_baseline(model):
    with pytest.raises(ValueError, match=r"`baseline` of shape \(5,\) does not broadcast"):
        kv.IntegratedGradients(model, baseline=np.zeros(5))(X)


def test_direct_relu_calls_are_reported():
    class RawRelu(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(3, 3)
            self.gap = layers.GlobalAveragePooling2D()
            self.head = layers.Dense(2)

        def call(self, x):
            return self.head(self.gap(tf.nn.relu(self.conv(x))))

    raw = RawRelu()
    x = np.random.default_rng(0).uniform(size=(2, 8, 8, 1)).astype(np.float32)
    raw(x)
    with pytest.warns(UserWarning, match=r"guided_backprop: 1 ReLU operation\(s\) are called directly"):
        kv.GuidedBackprop(raw)(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kv.Saliency(raw)(x)  # plain gradients need no override: no warning


def test_non_tensorflow_backend_is_refused(model, monkeypatch):
    # Another backend cannot be loaded next to TensorFlow in one process (and JAX/torch
    # are not installed here), so the backend query is patched.
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match=r"need the TensorFlow Keras backend, but Keras is running with backend='jax'"):
        kv.Saliency(model)


def test_grad_cam_of_a_unit_before_the_layer(model):
    with pytest.raises(ValueError, match=r"The target does not depend on layer 'conv2'"):
        kv.GradCAM(model, layer="conv2")(X, targets=kv.Unit("conv1", channel=0))
