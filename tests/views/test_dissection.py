"""Network dissection equals a brute-force IoU; a trained shapes model has a concept unit."""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import keras_viz as kv


def _brute_force(model, images, concept_masks, layer, quantile):
    """Bau et al. 2017 step by step over the whole dataset at once.

    The activations come from a plain Keras sub-model of the functional test model, not
    from keras-viz's layer readers (the machinery under test).
    """
    activation = keras.Model(model.input, model.get_layer(layer).output)(images, training=False).numpy()
    thresholds = np.array([np.quantile(activation[..., u], quantile, method="higher") for u in range(activation.shape[-1])])
    upsampled = tf.image.resize(activation, images.shape[1:3], method="bilinear").numpy()
    fired = upsampled > thresholds
    intersection = np.einsum("nhwu,nhwk->uk", fired.astype(np.float64), concept_masks.astype(np.float64))
    union = fired.sum((0, 1, 2))[:, None] + concept_masks.sum((0, 1, 2))[None, :] - intersection
    return thresholds, np.where(union > 0, intersection / np.maximum(union, 1), 0.0), fired


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((12, 12, 3))
    features = layers.Conv2D(5, 3, strides=2, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(features)))
    shapes = kv.datasets.make_shapes(30, size=16, seed=1, classes=("circle", "square", "cross"))
    images = shapes.images[:, 2:14, 2:14]
    segmentation, kinds = kv.views.shape_concepts(shapes)
    return model, images, segmentation[:, 2:14, 2:14], kinds


@pytest.mark.parametrize("quantile", [0.5, 0.9])
def test_thresholds_and_iou_equal_brute_force(small, quantile):
    model, images, segmentation, kinds = small
    concept_masks = segmentation[..., None] == np.arange(3)
    thresholds, iou, fired = _brute_force(model, images, concept_masks, "conv", quantile)
    result = kv.dissect(model, images, segmentation, "conv", concepts=kinds, quantile=quantile, batch_size=7, examples=2)
    np.testing.assert_allclose(result.thresholds, thresholds, rtol=1e-6)
    np.testing.assert_allclose(result.iou, iou, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(result.best_concept, iou.argmax(axis=1))
    assert result.concepts == kinds and list(result.units) == [0, 1, 2, 3, 4]
    # The examples are each unit's strongest inputs, with its thresholded map on them.
    for u in range(5):
        for e, index in enumerate(result.example_indices[u]):
            np.testing.assert_array_equal(result.example_masks[u, e], fired[index, ..., u])
            np.testing.assert_array_equal(result.example_images[u, e], images[index])


def test_mask_formats_and_dataset_agree(small):
    model, images, segmentation, kinds = small
    one_hot = segmentation[..., None] == np.arange(3)
    reference = kv.dissect(model, images, segmentation, "conv", concepts=kinds, quantile=0.8, units=[4, 1])
    as_dict = kv.dissect(model, images, {k: one_hot[..., i] for i, k in enumerate(kinds)}, "conv", quantile=0.8, units=[4, 1])
    dataset = tf.data.Dataset.from_tensor_slices((images, segmentation)).batch(8)
    streamed = kv.dissect(model, dataset, None, "conv", concepts=kinds, quantile=0.8, units=[4, 1])
    for other in (as_dict, streamed):
        np.testing.assert_allclose(other.iou, reference.iou, rtol=1e-6)
        np.testing.assert_allclose(other.thresholds, reference.thresholds, rtol=1e-6)
    full = kv.dissect(model, images, one_hot, "conv", quantile=0.8)
    np.testing.assert_allclose(full.iou[[4, 1]], reference.iou, rtol=1e-6)


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(5, 3, strides=2, padding="same", name="conv")
        self.pool = layers.GlobalAveragePooling2D()
        self.head = layers.Dense(2)

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


@pytest.mark.parametrize("kind", ["functional", "subclassed"])
@pytest.mark.parametrize("units", [[99], [0, 5], [-1]])
def test_units_out_of_range_is_a_value_error_naming_them(small, kind, units):
    model, images, segmentation, kinds = small
    if kind == "subclassed":  # no symbolic output: the range is checked when the layer first runs
        model = _Subclassed()
        model(images[:1])
    with pytest.raises(ValueError, match=rf"`units`=\[.*\] holds {units[-1]}, out of range: the layer has 5 channel"):
        kv.dissect(model, images, segmentation, "conv", concepts=kinds, units=units)


def test_passes_are_traced_once_per_model_and_layer_and_do_not_keep_the_model(small):
    """A second dissection (other units, quantile and data) reuses the compiled passes; the
    cache holds the graphs, not the model."""
    from keras_viz.views import dissection

    _, images, segmentation, kinds = small
    keras.utils.set_random_seed(5)
    inputs = keras.Input((12, 12, 3))
    model = keras.Model(inputs, layers.Conv2D(3, 3, name="conv")(inputs))
    first = kv.dissect(model, images, segmentation, "conv", concepts=kinds, quantile=0.9, batch_size=7)
    entry = dissection._READERS[model]["conv"]
    traced = entry.maxima_functions.values(), entry.fired_functions.values()
    assert len(traced[0]) == len(traced[1]) == 1  # 5 batches: traced at the third
    second = kv.dissect(model, images[:21], segmentation[:21], "conv", concepts=kinds, quantile=0.5, units=[2, 0],
                        batch_size=7)
    assert entry.maxima_functions.values() == traced[0] and entry.fired_functions.values() == traced[1]
    assert list(second.units) == [2, 0] and first.iou.shape == (3, 3)
    # The variables fed to the shared graph are set per call: equal to a fresh (uncached) run.
    alone = kv.dissect(model, images[:21], segmentation[:21], "conv", concepts=kinds, quantile=0.5, units=[0])
    np.testing.assert_allclose(second.iou[1], alone.iou[0], rtol=1e-6)
    reference = weakref.ref(model)
    del model, inputs, entry, first, second, alone
    gc.collect()
    assert reference() is None


def test_dataset_count_skips_the_counting_read_and_is_checked(small):
    model, images, segmentation, kinds = small
    dataset = tf.data.Dataset.from_tensor_slices((images, segmentation)).batch(8)
    reference = kv.dissect(model, images, segmentation, "conv", concepts=kinds, quantile=0.9)
    counted = kv.dissect(model, dataset, None, "conv", concepts=kinds, quantile=0.9, count=30)
    np.testing.assert_allclose(counted.iou, reference.iou, rtol=1e-6)
    with pytest.raises(ValueError, match=r"`count`=31 but `data` yielded 30 inputs"):
        kv.dissect(model, dataset, None, "conv", concepts=kinds, count=31)
    with pytest.raises(ValueError, match=r"`count`=29 but `data` has 30 inputs"):
        kv.dissect(model, images, segmentation, "conv", concepts=kinds, count=29)


def test_a_unit_of_a_trained_shapes_model_detects_a_shape_kind():
    """A small fully convolutional net trained to mark each kind's pixels (a densely
    labelled task, as the networks Bau et al. dissect): some unit of its last hidden
    convolution reaches IoU >= 0.3 with a shape kind."""
    keras.utils.set_random_seed(0)
    shapes = kv.datasets.make_shapes(600, size=32, seed=0, classes=("circle", "square"))
    segmentation, kinds = kv.views.shape_concepts(shapes)

    def block(filters, name):
        return [layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name),
                layers.BatchNormalization(momentum=0.8), layers.ReLU(name=f"{name}_relu")]

    model = keras.Sequential([keras.Input((32, 32, 3)), *block(16, "conv1"), layers.MaxPooling2D(), *block(32, "conv2"),
                              layers.MaxPooling2D(), *block(32, "conv3"), layers.UpSampling2D(4, interpolation="bilinear"),
                              layers.Conv2D(3, 1, activation="softmax", name="pixels")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(shapes.images[:500], segmentation[:500] + 1, epochs=8, batch_size=32, verbose=0)
    result = kv.dissect(model, shapes.images[500:], segmentation[500:], "conv3_relu", concepts=kinds, quantile=0.8)
    best = result.ranking()[0]
    assert result.best_iou[best] >= 0.3, (result.best_iou.max(), result.best_concept_names[best])
    # An untrained copy has no such unit: the IoU comes from training.
    keras.utils.set_random_seed(0)
    untrained = keras.models.clone_model(model)
    baseline = kv.dissect(untrained, shapes.images[500:], segmentation[500:], "conv3_relu", concepts=kinds, quantile=0.8)
    assert baseline.best_iou.max() < result.best_iou[best] - 0.05


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"quantile": 1.0}, ValueError, r"`quantile` must be a finite number in \[0, 1\); received quantile=1.0"),
        ({"quantile": "high"}, TypeError, r"`quantile` must be a number; received quantile='high'"),
        ({"units": [1.5]}, TypeError, r"`units` must be a list of ints"),
        ({"units": []}, ValueError, r"`units` must be a non-empty list of ints"),
        ({"batch_size": 0}, ValueError, r"`batch_size` must be a positive int; received batch_size=0"),
        ({"batch_size": 2.0}, TypeError, r"`batch_size` must be a positive int; received batch_size=2.0 of type float"),
        ({"examples": -1}, ValueError, r"`examples` must be an int >= 0"),
        ({"masks": np.zeros((30, 12, 12), np.float32)}, ValueError, r"`masks` must be \(N, H, W, K\) bool"),
        ({"masks": np.zeros((29, 12, 12), np.int32)}, ValueError, r"`masks` has 29 entries but `data` has 30"),
        ({"masks": np.zeros((30, 10, 10), np.int32)}, ValueError, r"\(H, W\) = the input size \(12, 12\)"),
        ({"concepts": ["a"]}, ValueError, r"`masks` holds the label 2 but `concepts` names only 1"),
        ({"masks": np.zeros((30, 12, 12, 2), bool), "concepts": ["a"]}, ValueError, r"`concepts` names 1 concept\(s\) but `masks` holds 2"),
        ({"masks": None}, ValueError, r"`masks` is None"),
        ({"layer": "dense"}, ValueError, r"2-D spatial output"),
    ],
)
def test_bad_arguments(small, kwargs, error, message):
    model, images, segmentation, kinds = small
    arguments = {"masks": segmentation, "layer": "conv", **kwargs}
    if "concepts" not in arguments:
        arguments["concepts"] = kinds if arguments["masks"] is not None and np.asarray(arguments["masks"]).dtype.kind == "i" else None
    masks, layer = arguments.pop("masks"), arguments.pop("layer")
    if layer == "dense":
        layer = model.layers[-1].name
    with pytest.raises(error, match=message):
        kv.dissect(model, images, masks, layer, **arguments)
