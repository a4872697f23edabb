"""Receptive fields equal the support of the input gradient of a unit (brute force)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import keras_viz as kv

SHAPE = (23, 21, 2)


def _stack() -> keras.Model:
    """Strides, 'same' and 'valid' padding, dilation, zero-padding, cropping, pooling and a merge."""
    inputs = keras.Input(SHAPE)
    x = layers.Conv2D(3, 3, strides=2, padding="same", name="c1")(inputs)
    x = layers.ZeroPadding2D(((1, 2), (0, 1)), name="zp")(x)
    x = layers.AveragePooling2D(2, strides=1, name="pool")(x)
    y = layers.Conv2D(3, 3, dilation_rate=2, padding="same", name="dilated")(x)
    x = layers.Add(name="add")([x, y])
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.DepthwiseConv2D((3, 2), strides=(2, 1), name="depthwise")(x)
    x = layers.Cropping2D(((1, 0), (0, 1)), name="crop")(x)
    x = layers.SeparableConv2D(4, 3, padding="same", name="separable")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(x)
    outputs = layers.Dense(2, name="head")(layers.Flatten(name="flatten")(x))
    return keras.Model(inputs, outputs, name="stack")


def _nested() -> keras.Model:
    backbone = keras.Sequential(
        [keras.Input(SHAPE), layers.Conv2D(3, 5, strides=2, name="b1"), layers.Conv2D(3, 3, dilation_rate=2, padding="same", name="b2")],
        name="backbone",
    )
    inputs = keras.Input(SHAPE)
    x = backbone(inputs)
    x = layers.Conv2D(2, 3, strides=2, padding="same", name="top")(x)
    return keras.Model(inputs, layers.GlobalAveragePooling2D()(x), name="nested")


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.c1 = layers.Conv2D(3, 4, strides=3, padding="same", name="s1")
        self.c2 = layers.Conv2D(2, 3, name="s2")

    def call(self, x):
        return self.c2(self.c1(x))


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(3)
    sub = Subclassed()
    sub(np.zeros((1, *SHAPE), np.float32))
    return {"stack": _stack(), "nested": _nested(), "subclassed": sub}


def _support(model: keras.Model, layer: keras.layers.Layer, position: tuple[int, int]) -> np.ndarray:
    """Pixels whose gradient is non-zero for some of a few random inputs (max pooling routes
    the gradient to one argmax per window, so one input shows only part of the field)."""
    recorder = kv._model.LayerRecorder([layer])
    union = np.zeros(SHAPE[:2], bool)
    for seed in range(6):
        x = tf.constant(np.random.default_rng(seed).normal(size=(1, *SHAPE)).astype(np.float32))
        with tf.GradientTape() as tape:
            tape.watch(x)
            with recorder.active():
                model(x)
            unit = tf.reduce_sum(recorder.output(layer)[0, position[0], position[1], :])
        union |= np.abs(tape.gradient(unit, x).numpy()[0]).sum(-1) > 0
    return union


CASES = [
    ("stack", "c1"), ("stack", "zp"), ("stack", "pool"), ("stack", "dilated"), ("stack", "add"),
    ("stack", "depthwise"), ("stack", "crop"), ("stack", "separable"), ("stack", "maxpool"),
    ("nested", "b1"), ("nested", "backbone/b2"), ("nested", "top"), ("nested", "backbone"),
    ("subclassed", "s2"),
]


@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_region_equals_nonzero_input_gradient(models, kind, name):
    model = models[kind]
    field = kv.receptive_field(model, name, input_shape=SHAPE if kind == "subclassed" else None)
    layer = kv.find_layer(model, name)
    if isinstance(layer, keras.Model):
        layer = layer.layers[-1]
    rows, cols = field.output_shape
    for position in {(0, 0), (rows - 1, cols - 1), (rows // 2, cols // 2), (0, cols - 1)}:
        expected = np.zeros(SHAPE[:2], bool)
        (r0, r1), (c0, c1) = field.region(position)
        expected[r0:r1, c0:c1] = True
        np.testing.assert_array_equal(_support(model, layer, position), expected, err_msg=f"{name} at {position}")


def test_known_numbers_and_unclipped_region(models):
    field = kv.receptive_field(models["stack"], "c1")
    assert (field.size, field.stride, field.offset) == ((3, 3), (2, 2), (-1, -1))  # 'same' on 23: pad 1 before
    assert field.region((0, 0), clip=False) == ((-1, 2), (-1, 2))
    assert field.region((0, 0)) == ((0, 2), (0, 2))
    assert kv.receptive_field(models["stack"], "dilated").size == (13, 13)


def test_causal_conv1d():
    model = keras.Sequential([keras.Input((20, 1)), layers.Conv1D(1, 3, dilation_rate=2, padding="causal", name="c")])
    field = kv.receptive_field(model, "c")
    assert (field.size, field.stride, field.offset) == ((5,), (1,), (-4,))
    assert field.region((6,)) == ((2, 7),)


@pytest.mark.parametrize(
    "build,layer,message",
    [
        (lambda: _stack(), "head", r"without spatial axes"),
        (lambda: _stack(), "flatten", r"without spatial axes"),
        (lambda: keras.Sequential([keras.Input((8, 8, 1)), layers.UpSampling2D(name="up"), layers.Conv2D(1, 3, name="c")]), "c",
         r"Cannot follow the receptive field through layer 'up' \(UpSampling2D\)"),
        (lambda: keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2DTranspose(1, 3, name="t"), layers.Conv2D(1, 3, name="c")]), "c",
         r"through layer 't'.*upsamples"),
        (lambda: keras.Sequential([keras.Input((8, 8, 1)), layers.Resizing(4, 4, name="r"), layers.Conv2D(1, 3, name="c")]), "c",
         r"through layer 'r' \(Resizing\)"),
    ],
)
def test_layers_without_a_receptive_field_are_refused(build, layer, message):
    with pytest.raises(ValueError, match=message):
        kv.receptive_field(build(), layer)


def test_subclassed_model_needs_an_input_shape(models):
    with pytest.raises(ValueError, match=r"declares no input shape; pass `input_shape="):
        kv.receptive_field(models["subclassed"], "s2")


def test_region_position_is_checked(models):
    field = kv.receptive_field(models["stack"], "c1")
    with pytest.raises(ValueError, match=r"`position`=\(12, 0\) is not a unit"):
        field.region((12, 0))
    with pytest.raises(ValueError, match=r"`position`"):
        field.region((1,))
