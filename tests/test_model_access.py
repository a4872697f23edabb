"""Finding layers anywhere (nested models included) and reading them in the model's own pass."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import keras_viz as kv
from keras_viz._model import LayerRecorder, ModelInfo
from tests.conftest import sample_inputs


def _twin_backbones():
    def backbone(name):
        return keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3, name="conv")], name=name)

    inputs = keras.Input((8, 8, 1))
    a, b = backbone("left")(inputs), backbone("right")(inputs)
    x = layers.Concatenate()([a, b])
    return keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(x)))


def test_find_layer_by_name_path_index_and_object(model_zoo):
    nested = model_zoo["nested"]
    conv2 = nested.get_layer("backbone").get_layer("conv2")
    assert kv.find_layer(nested, "conv2") is conv2
    assert kv.find_layer(nested, "backbone/conv2") is conv2
    assert kv.find_layer(nested, conv2) is conv2
    assert kv.find_layer(nested, -1) is nested.layers[-1]
    assert [path for path, _ in kv.iter_layers(nested)][:4] == ["backbone", "backbone/conv1", "backbone/conv2", "backbone/conv2_relu"]


def test_ambiguous_names_ask_for_a_path():
    model = _twin_backbones()
    with pytest.raises(ValueError, match=r"`layer`='conv' is ambiguous.*left/conv, right/conv"):
        kv.find_layer(model, "conv")
    assert kv.find_layer(model, "right/conv") is model.get_layer("right").get_layer("conv")


def test_layer_of_another_model_is_refused(model_zoo):
    with pytest.raises(ValueError, match=r"layer 'conv1' does not belong to model 'nested'"):
        kv.find_layer(model_zoo["nested"], model_zoo["functional"].get_layer("conv1"))


@pytest.mark.parametrize("kind", ["sequential", "nested", "subclassed"])
def test_recorder_reads_a_layer_during_the_models_own_call(model_zoo, kind):
    model = model_zoo[kind]
    layer = kv.find_layer(model, "conv1")
    x = sample_inputs(kind, n=2)
    recorder = LayerRecorder([layer])
    with recorder.active():
        model(x, training=False)
    expected = layer(x if kind != "nested" else x)  # conv1 is the first layer in every kind
    np.testing.assert_allclose(recorder.output(layer), expected, rtol=1e-6)
    assert "call" not in layer.__dict__


def test_shared_layer_called_twice_is_refused():
    inputs = keras.Input((8, 8, 1))
    shared = layers.Conv2D(1, 3, padding="same", name="shared")
    x = shared(shared(inputs))
    model = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(x)))
    with pytest.raises(ValueError, match=r"Layer 'shared' is called 2 times in one forward pass"):
        kv.GradCAM(model, layer="shared")(np.ones((1, 8, 8, 1), np.float32))


def test_probe_finds_last_spatial_layer_inside_a_backbone(model_zoo):
    info = ModelInfo(model_zoo["nested"], sample_inputs("nested", n=1))
    assert info.default_spatial_layer(2).name == "conv2_relu"
    info = ModelInfo(model_zoo["conv1d"], sample_inputs("conv1d", n=1))
    assert info.default_spatial_layer(1).name == "conv2"


def test_grad_cam_on_nested_layer_equals_grad_cam_on_the_same_features(model_zoo):
    nested = model_zoo["nested"]
    x = sample_inputs("nested", n=3)
    by_path = kv.GradCAM(nested, layer="backbone/conv2_relu")(x, targets=1)
    by_default = kv.GradCAM(nested)(x, targets=1)
    np.testing.assert_array_equal(by_path, by_default)
    by_backbone = kv.GradCAM(nested, layer="backbone")(x, targets=1)  # the nested model's output
    np.testing.assert_allclose(by_backbone, by_default, rtol=1e-6)


def test_probe_of_a_never_called_model_records_each_call_once():
    class Fresh(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(2, 3, name="conv")
            self.gap = layers.GlobalAveragePooling2D()

        def call(self, x):
            return self.gap(self.conv(x))

    info = ModelInfo(Fresh(), np.ones((1, 8, 8, 1), np.float32))
    assert len(info.calls) == 2 and info.calls[0].layer.name == "conv"


def test_default_layer_treats_recurrent_and_attention_layers_as_whole():
    inputs = keras.Input((20, 3))
    x = layers.Conv1D(4, 3, activation="relu", name="conv")(inputs)
    x = layers.LSTM(5, return_sequences=True, name="lstm")(x)
    x = layers.MultiHeadAttention(2, 4, name="mha")(x, x)
    model = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling1D()(x)))
    info = ModelInfo(model, np.zeros((1, 20, 3), np.float32))
    assert info.default_spatial_layer(1).name == "mha"  # not one of its internal projections
    assert kv.GradCAM(model, layer="lstm")(np.ones((2, 20, 3), np.float32)).shape == (2, 20)


def test_a_user_function_named_relu_is_not_swapped():
    from keras_viz.backprop import relu_override

    def relu(x):  # a leaky variant that happens to be called relu
        return keras.ops.leaky_relu(x, 0.1)

    layer = layers.Dense(2, activation=relu)
    model = keras.Sequential([keras.Input((3,)), layer])
    with relu_override(model) as replaced:
        assert replaced == 0 and layer.activation is relu
