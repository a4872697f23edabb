"""Tests for keras_viz.filters: drawn weights are checked against hand-set kernels."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from keras_viz import filters, render
from keras_viz.filters import (
    conv_filter_labels,
    conv_filter_tiles,
    dense_weight_image,
    dense_weight_labels,
    drawable_layers,
    filter_grid,
    undrawable_layers,
)
from keras_viz.filters.layers import _flattened_input_shape, _layer_tilesets

PAD = 2  # render.grid's default padding.


def _expected(values: np.ndarray, magnitude: float) -> np.ndarray:
    """The documented normalisation: 0.5 + 0.5 * w / max|w| of the filter."""
    return 0.5 + 0.5 * np.asarray(values, np.float64) / magnitude


def _uint8(unit: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(unit) * 255).astype(np.uint8)


def _cell(picture: np.ndarray, row: int, col: int, size: tuple[int, int], cell=None):
    """Pixels of the tile at (row, col) of a render.grid with no labels, scale 1."""
    cell_h, cell_w = cell or size
    top = PAD + row * (cell_h + PAD)
    left = PAD + col * (cell_w + PAD)
    return picture[top : top + size[0], left : left + size[1]]


def _set_kernel(layer: keras.layers.Layer, kernel: np.ndarray) -> None:
    weights = layer.get_weights()
    weights[0] = kernel.astype(np.float32)
    layer.set_weights(weights)


def _rgb_conv_kernel() -> np.ndarray:
    """Conv2D(2 filters, 3x3, 3 channels): f0 pure positive red, f1 a blue ramp."""
    kernel = np.zeros((3, 3, 3, 2))
    kernel[:, :, 0, 0] = 0.7  # filter 0: red only, positive, constant
    kernel[:, :, 2, 1] = [[-2.0, 0.0, 2.0]] * 3  # filter 1: blue, left -, right +
    return kernel


# --------------------------------------------------------------------------- #
# Module contract
# --------------------------------------------------------------------------- #


def test_public_api_is_listed_in_all():
    assert set(filters.__all__) == {
        "conv_filter_tiles", "conv_filter_labels", "dense_weight_image",
        "dense_weight_labels", "filter_grid", "drawable_layers", "undrawable_layers",
        "filter_tilesets", "draw_tilesets",
    }
    assert all(callable(getattr(filters, name)) for name in filters.__all__)


# --------------------------------------------------------------------------- #
# Conv2D with 3 input channels: RGB tiles show the known weights
# --------------------------------------------------------------------------- #


def test_rgb_tiles_are_symmetrically_normalised_per_filter():
    tiles = conv_filter_tiles(_rgb_conv_kernel())
    assert [tile.shape for tile in tiles] == [(3, 3, 3), (3, 3, 3)]
    red = tiles[0]
    np.testing.assert_allclose(red[..., 0], 1.0)  # the filter's largest weight
    np.testing.assert_allclose(red[..., 1:], 0.5)  # zero weights are neutral grey
    blue = tiles[1]
    np.testing.assert_allclose(blue[..., 2], [[0.0, 0.5, 1.0]] * 3)
    np.testing.assert_allclose(blue[..., :2], 0.5)
    assert conv_filter_labels(_rgb_conv_kernel()) == ["f0", "f1"]


def test_grid_of_a_conv_layer_shows_the_known_weights():
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(2, 3, name="conv")])
    _set_kernel(model.get_layer("conv"), _rgb_conv_kernel())
    picture = filter_grid(model, "conv", scale=1, labels=False)
    assert picture.dtype == np.uint8
    assert picture.shape == (3 + 2 * PAD, 2 * 3 + 3 * PAD, 3)  # 2 tiles side by side
    np.testing.assert_array_equal(_cell(picture, 0, 0, (3, 3)), np.full((3, 3, 3), [255, 128, 128]))
    blue = _cell(picture, 0, 1, (3, 3))
    np.testing.assert_array_equal(blue[..., 2], [[0, 128, 255]] * 3)
    np.testing.assert_array_equal(blue[..., :2], 128)


def test_auto_scale_makes_3x3_kernels_at_least_24_pixels():
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(2, 3, name="conv")])
    picture = filter_grid(model, labels=False)  # default layer: the first drawable one
    # scale = ceil(24 / 3) = 8: two 24x24 tiles side by side.
    assert picture.shape == (24 + 2 * PAD, 2 * 24 + 3 * PAD, 3)


# --------------------------------------------------------------------------- #
# Deeper convolutions: grey tiles, one row per filter, one column per channel
# --------------------------------------------------------------------------- #


def test_five_input_channels_give_grey_tiles_filter_by_channel():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 5, 4))
    kernel[0, 0, 1, 0] = 10.0  # the largest weight of filter 0 sits on channel 1
    tiles = conv_filter_tiles(kernel, max_filters=2, max_channels=3)
    labels = conv_filter_labels(kernel, max_filters=2, max_channels=3)
    assert len(tiles) == min(4, 2) * min(5, 3)
    assert labels == ["f0 c0", "f0 c1", "f0 c2", "f1 c0", "f1 c1", "f1 c2"]
    assert all(tile.shape == (3, 3) for tile in tiles)
    for index, (o, c) in enumerate([(o, c) for o in range(2) for c in range(3)]):
        # One scale per filter over all 5 channels, so channels are comparable.
        magnitude = np.abs(kernel[..., o]).max()
        np.testing.assert_allclose(tiles[index], _expected(kernel[:, :, c, o], magnitude), atol=1e-6)
    assert tiles[1][0, 0] == pytest.approx(1.0)


def test_grid_rows_are_filters_and_columns_are_channels():
    kernel = np.zeros((3, 3, 5, 4))
    for o in range(4):
        for c in range(5):
            kernel[1, 1, c, o] = (c + 1) * (1 if o % 2 == 0 else -1)  # centre weight
    model = keras.Sequential([keras.Input((8, 8, 5)), layers.Conv2D(4, 3, name="deep")])
    _set_kernel(model.get_layer("deep"), kernel)

    picture = filter_grid(model, "deep", scale=1, labels=False, max_channels=8)
    # 4 rows (filters) x 5 columns (channels), every input channel shown.
    assert picture.shape == (4 * 3 + 5 * PAD, 5 * 3 + 6 * PAD, 3)
    for o in range(4):
        for c in range(5):
            centre = _cell(picture, o, c, (3, 3))[1, 1]
            expected = _uint8(_expected(kernel[1, 1, c, o], 5.0))
            assert centre[0] == centre[1] == centre[2]  # grey
            assert abs(int(centre[0]) - int(expected)) <= 1  # float32 rounding of x.5

    capped = filter_grid(model, "deep", scale=1, labels=False, max_filters=3, max_channels=2)
    assert capped.shape == (3 * 3 + 4 * PAD, 2 * 3 + 3 * PAD, 3)


def test_conv1d_filters_are_channel_by_tap_images():
    kernel = np.arange(24, dtype=float).reshape(4, 3, 2) - 12  # (k=4, in=3, out=2)
    tiles = conv_filter_tiles(kernel)
    assert [tile.shape for tile in tiles] == [(3, 4), (3, 4)]
    np.testing.assert_allclose(tiles[1], _expected(kernel[:, :, 1].T, np.abs(kernel[..., 1]).max()), atol=1e-6)
    assert [t.shape for t in conv_filter_tiles(kernel, max_channels=2)] == [(2, 4), (2, 4)]


def test_conv3d_shows_the_middle_slice_with_the_whole_filter_scale():
    kernel = np.zeros((3, 2, 2, 1, 1))
    kernel[1, :, :, 0, 0] = [[1.0, -1.0], [0.0, 0.5]]
    kernel[0, 0, 0, 0, 0] = 4.0  # largest weight in another depth slice
    (tile,) = conv_filter_tiles(kernel)
    np.testing.assert_allclose(tile, _expected(kernel[1, :, :, 0, 0], 4.0), atol=1e-6)


def test_transposed_kernels_are_read_as_out_in():
    kernel = np.zeros((2, 2, 3, 2))  # Conv2DTranspose: (kh, kw, out=3, in=2)
    kernel[:, :, 2, 1] = [[1.0, 2.0], [3.0, 4.0]]  # output channel 2 from input channel 1
    tiles = conv_filter_tiles(kernel, layout="transpose")
    labels = conv_filter_labels(kernel, layout="transpose")
    assert labels == ["f0 c0", "f0 c1", "f1 c0", "f1 c1", "f2 c0", "f2 c1"]
    np.testing.assert_allclose(tiles[labels.index("f2 c1")], _expected(kernel[:, :, 2, 1], 4.0), atol=1e-6)
    np.testing.assert_allclose(tiles[labels.index("f2 c0")], 0.5)


def test_depthwise_tiles_are_one_per_channel_and_multiplier():
    kernel = np.zeros((3, 3, 2, 2))  # (kh, kw, in=2, multiplier=2)
    kernel[:, :, 1, 0] = np.eye(3)
    tiles = conv_filter_tiles(kernel, layout="depthwise")
    labels = conv_filter_labels(kernel, layout="depthwise")
    assert labels == ["c0 m0", "c0 m1", "c1 m0", "c1 m1"]
    np.testing.assert_allclose(tiles[2], _expected(np.eye(3), 1.0))
    assert conv_filter_labels(np.ones((3, 3, 4, 1)), layout="depthwise") == ["c0", "c1", "c2", "c3"]
    assert len(conv_filter_tiles(np.ones((3, 3, 4, 3)), layout="depthwise", max_filters=5)) == 5


def test_all_zero_filter_is_neutral_grey():
    (tile,) = conv_filter_tiles(np.zeros((3, 3, 3, 1)))
    np.testing.assert_allclose(tile, 0.5)


def test_rgb_can_be_turned_off_for_three_channel_inputs():
    tiles = conv_filter_tiles(_rgb_conv_kernel(), rgb=False)
    assert len(tiles) == 2 * 3 and tiles[0].shape == (3, 3)


# --------------------------------------------------------------------------- #
# Dense
# --------------------------------------------------------------------------- #

PATTERN = np.array(
    [[1.0, 0.0, 0.0, -1.0], [0.0, 2.0, -2.0, 0.0], [0.0, -2.0, 2.0, 0.0], [-1.0, 0.0, 0.0, 1.0]]
)


def _flatten_dense_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            layers.Rescaling(1 / 255.0),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(3, name="dense"),
        ]
    )
    kernel = np.zeros((16, 3))
    kernel[:, 1] = PATTERN.reshape(-1)  # unit 1 holds the pattern, others are 0
    _set_kernel(model.get_layer("dense"), kernel)
    return model


def test_dense_unit_template_reproduces_the_pattern():
    kernel = _flatten_dense_model().get_layer("dense").get_weights()[0]
    tiles = dense_weight_image(kernel, (4, 4, 1))
    assert dense_weight_labels(kernel, (4, 4, 1)) == ["u0", "u1", "u2"]
    np.testing.assert_allclose(tiles[1], _expected(PATTERN, 2.0), atol=1e-6)
    np.testing.assert_allclose(tiles[0], 0.5)
    np.testing.assert_allclose(dense_weight_image(kernel, (4, 4))[1], tiles[1])


def test_dense_input_shape_is_found_after_flatten_of_the_input():
    model = _flatten_dense_model()
    picture = filter_grid(model, "dense", scale=1, labels=False)
    # 3 unit templates of 4x4, ceil(sqrt(3)) = 2 columns.
    assert picture.shape == (2 * 4 + 3 * PAD, 2 * 4 + 3 * PAD, 3)
    np.testing.assert_array_equal(_cell(picture, 0, 1, (4, 4))[..., 0], _uint8(_expected(PATTERN, 2.0)))


def test_dense_rgb_templates():
    kernel = np.zeros((2 * 2 * 3, 2))
    template = np.zeros((2, 2, 3))
    template[0, 0] = [1.0, 0.0, -1.0]
    kernel[:, 0] = template.reshape(-1)
    tiles = dense_weight_image(kernel, (2, 2, 3))
    assert tiles[0].shape == (2, 2, 3)
    np.testing.assert_allclose(tiles[0], _expected(template, 1.0), atol=1e-6)


def test_dense_whole_kernel_without_image_shape():
    kernel = np.array([[1.0, -2.0], [0.0, 1.0], [2.0, 0.0], [-1.0, 0.5]])  # (in=4, units=2)
    (picture,) = dense_weight_image(kernel)
    # One row per unit, one column per input, one scale for the whole kernel.
    np.testing.assert_allclose(picture, _expected(kernel.T, 2.0), atol=1e-6)
    assert dense_weight_labels(kernel) == ["units x inputs: 2 x 4"]


def test_dense_whole_kernel_is_capped_and_not_a_thin_strip():
    kernel = np.random.default_rng(0).normal(size=(3000, 10))
    (picture,) = dense_weight_image(kernel)
    assert max(picture.shape) == 1024
    assert picture.shape[0] * 4 >= picture.shape[1]  # 10 units stretched, not 3 px tall
    assert picture.min() >= 0.0 and picture.max() <= 1.0
    (small,) = dense_weight_image(kernel, max_side=100)
    assert small.shape[1] == 100
    # Only the long side is averaged: the 10 units stay 10 bands of equal rows.
    band = picture.shape[0] // 10
    assert picture.shape[0] == 10 * band
    np.testing.assert_array_equal(picture[::band], picture[band - 1 :: band])
    assert len(np.unique(picture[::band, 0])) == 10


def test_dense_whole_kernel_downsampling_is_a_box_average():
    kernel = np.random.default_rng(1).normal(size=(2048, 4))
    (picture,) = dense_weight_image(kernel, max_side=1024)
    full = _expected(kernel.T, np.abs(kernel).max())
    averaged = full.reshape(4, 1024, 2).mean(axis=-1)  # each pixel: 2 adjacent inputs
    band = picture.shape[0] // 4
    np.testing.assert_allclose(picture[::band], averaged, atol=1e-5)


def test_dense_input_shape_not_found_behind_weighted_layers_or_in_subclassed_models(model_zoo):
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2, name="d")]
    )
    assert _flattened_input_shape(model.get_layer("d")) is None
    assert _flattened_input_shape(model_zoo["subclassed"].head) is None
    assert _flattened_input_shape(_flatten_dense_model().get_layer("dense")) == (4, 4, 1)


def test_dense_input_shape_can_be_given_explicitly_for_subclassed_models():
    class Linear(keras.Model):
        def __init__(self):
            super().__init__(name="linear")
            self.flatten = layers.Flatten()
            self.classifier = layers.Dense(2, name="classifier")

        def call(self, x):
            return self.classifier(self.flatten(x))

    model = Linear()
    model(np.zeros((1, 4, 4, 1), np.float32))
    kernel = np.zeros((16, 2))
    kernel[:, 0] = PATTERN.reshape(-1)
    _set_kernel(model.classifier, kernel)
    whole = filter_grid(model, "classifier", scale=1, labels=False)
    assert whole.shape[1] == 16 + 2 * PAD  # the whole (2 x 16) kernel, no shape known
    picture = filter_grid(model, "classifier", scale=1, labels=False, input_shape=(4, 4, 1))
    np.testing.assert_array_equal(_cell(picture, 0, 0, (4, 4))[..., 0], _uint8(_expected(PATTERN, 2.0)))


def test_dense_input_shape_is_found_inside_a_nested_model():
    inner = keras.Sequential([keras.Input((4, 4, 1)), layers.Flatten(), layers.Dense(2, name="d")], name="inner")
    inputs = keras.Input((4, 4, 1))
    outer = keras.Model(inputs, inner(inputs))
    assert _flattened_input_shape(inner.get_layer("d")) == (4, 4, 1)
    picture = filter_grid(outer, "inner/d", scale=1, labels=False)
    assert picture.shape == (4 + 2 * PAD, 2 * 4 + 3 * PAD, 3)


# --------------------------------------------------------------------------- #
# Every drawable layer kind
# --------------------------------------------------------------------------- #

KIND_MODELS = {
    "Conv1D": ((10, 2), lambda: layers.Conv1D(3, 3)),
    "Conv2D": ((8, 8, 3), lambda: layers.Conv2D(3, 3)),
    "Conv2D_grouped": ((8, 8, 6), lambda: layers.Conv2D(4, 3, groups=2)),
    "Conv3D": ((6, 6, 6, 2), lambda: layers.Conv3D(3, 3)),
    "Conv1DTranspose": ((10, 2), lambda: layers.Conv1DTranspose(3, 3)),
    "Conv2DTranspose": ((8, 8, 2), lambda: layers.Conv2DTranspose(3, 3)),
    "Conv3DTranspose": ((4, 4, 4, 2), lambda: layers.Conv3DTranspose(3, 3)),
    "DepthwiseConv1D": ((10, 3), lambda: layers.DepthwiseConv1D(3, depth_multiplier=2)),
    "DepthwiseConv2D": ((8, 8, 3), lambda: layers.DepthwiseConv2D(3)),
    "SeparableConv1D": ((10, 3), lambda: layers.SeparableConv1D(4, 3)),
    "SeparableConv2D": ((8, 8, 3), lambda: layers.SeparableConv2D(4, 3, depth_multiplier=2)),
    "Dense": ((5,), lambda: layers.Dense(4)),
    "Dense_on_sequence": ((7, 5), lambda: layers.Dense(4)),
}


@pytest.mark.parametrize("kind", sorted(KIND_MODELS))
def test_every_supported_layer_kind_draws(kind):
    shape, make = KIND_MODELS[kind]
    layer = make()
    model = keras.Sequential([keras.Input(shape), layer])
    assert [found for _, found in drawable_layers(model)] == [layer]
    assert undrawable_layers(model) == []
    for picture in (filter_grid(model), filter_grid(layer), filter_grid(model, 0, labels=False)):
        assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[-1] == 3
        assert picture.size > 0 and picture.min() < 255  # something besides background


def test_separable_conv_draws_depthwise_and_pointwise_kernels():
    layer = layers.SeparableConv2D(4, 3, depth_multiplier=1)
    model = keras.Sequential([keras.Input((8, 8, 2)), layer])
    depthwise, pointwise = layer.get_weights()[:2]
    pointwise[0, 0] = [[1.0, 0.0, 0.0, -1.0], [0.0, 0.5, 0.0, 0.0]]  # (in=2, out=4)
    layer.set_weights([depthwise, pointwise, layer.get_weights()[2]])
    tilesets = _layer_tilesets(layer, max_filters=64, max_channels=8, input_shape=None)
    assert tilesets[0].labels == ["c0", "c1"]
    assert tilesets[1].labels == ["pointwise filters x channels: 4 x 2"]
    np.testing.assert_allclose(tilesets[1].tiles[0], _expected(pointwise[0, 0].T, 1.0), atol=1e-6)
    only_depthwise = filter_grid(model, scale=1, labels=False, max_filters=64)
    assert only_depthwise.shape[0] > 3 + 2 * PAD  # two sections stacked


# --------------------------------------------------------------------------- #
# Model kinds, nesting and what is not drawn
# --------------------------------------------------------------------------- #


def test_every_model_kind_draws_every_drawable_layer(model_zoo):
    for kind, model in model_zoo.items():
        found = drawable_layers(model)
        assert found, kind
        for path, _ in found:
            picture = filter_grid(model, path)
            assert picture.dtype == np.uint8 and picture.shape[-1] == 3, (kind, path)


def test_nested_layers_are_found_with_their_paths(model_zoo):
    nested = model_zoo["nested"]
    paths = [path for path, _ in drawable_layers(nested)]
    assert paths == ["backbone/conv1", "backbone/conv2", "head"]
    # The default layer is the first convolution, inside the backbone: RGB tiles.
    by_default = filter_grid(nested, labels=False, scale=1)
    by_path = filter_grid(nested, "backbone/conv1", labels=False, scale=1)
    np.testing.assert_array_equal(by_default, by_path)
    assert not np.array_equal(by_default[..., 0], by_default[..., 1])  # coloured


def test_undrawable_layers_are_listed_with_reasons():
    inputs = keras.Input((5,), dtype="int32")
    x = layers.Embedding(20, 4, name="embed")(inputs)
    x = layers.Bidirectional(layers.LSTM(3), name="bilstm")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Dense(8, name="dense")(x)
    x = layers.Reshape((2, 4))(x)
    x = layers.EinsumDense("abc,cd->abd", output_shape=(2, 3), name="einsum")(x)
    model = keras.Model(inputs, x)
    found = dict(undrawable_layers(model))
    assert set(found) == {
        "embed", "bilstm/forward_lstm/lstm_cell", "bilstm/backward_lstm/lstm_cell", "bn", "einsum",
    }
    assert found["embed"].startswith("Embedding: an embedding table")
    assert "embeddings (20, 4)" in found["embed"]
    assert "recurrent" in found["bilstm/forward_lstm/lstm_cell"]
    assert "normalisation" in found["bn"] and "moving_mean (6,)" in found["bn"]
    assert "'abc,cd->abd'" in found["einsum"]
    assert [path for path, _ in drawable_layers(model)] == ["dense"]


def test_weights_added_by_a_model_itself_are_reported():
    class Scaled(keras.Model):
        def __init__(self):
            super().__init__(name="scaled")
            self.dense = layers.Dense(2)

        def build(self, input_shape):
            self.temperature = self.add_weight(shape=(1,), name="temperature")

        def call(self, x):
            return self.dense(x) / self.temperature

    model = Scaled()
    model(np.zeros((1, 3), np.float32))
    found = undrawable_layers(model)
    assert [path for path, _ in found] == ["scaled"]
    assert "temperature (1,)" in found[0][1]


def test_unbuilt_and_quantized_drawable_layers_are_reported_not_skipped():
    unbuilt = keras.Sequential([layers.Conv2D(2, 3, name="conv")])
    assert drawable_layers(unbuilt) == []
    assert "not built yet" in dict(undrawable_layers(unbuilt))["conv"]

    quantized = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="q")])
    quantized.get_layer("q").quantize("int8")
    assert drawable_layers(quantized) == []
    assert "quantized to int8" in dict(undrawable_layers(quantized))["q"]


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: conv_filter_tiles(np.ones(5)), ValueError, r"`kernel` must have rank .*shape \(5,\)"),
        (lambda: conv_filter_tiles(np.ones((3, 3))), ValueError, r"`kernel` must have rank"),
        (lambda: conv_filter_tiles(np.ones((3, 3, 0, 2))), ValueError, r"`kernel` must not be empty"),
        (lambda: conv_filter_tiles(np.full((3, 3, 1, 1), np.nan)), ValueError, r"`kernel` must be finite"),
        (lambda: conv_filter_tiles(np.array([["a"]])), TypeError, r"`kernel` must be a numeric"),
        (lambda: conv_filter_tiles(np.ones((3, 3, 3, 1)), max_filters=0), ValueError, r"max_filters=0"),
        (lambda: conv_filter_tiles(np.ones((3, 3, 3, 1)), max_channels=True), ValueError, r"max_channels=True"),
        (lambda: conv_filter_tiles(np.ones((3, 3, 3, 1)), layout="nhwc"), ValueError, r"layout='nhwc'"),
        (lambda: conv_filter_tiles(np.ones((3, 3, 5, 1)), rgb=True), ValueError, r"`rgb`=True needs .*5 input"),
        (lambda: conv_filter_tiles(np.ones((3, 3, 3, 1)), rgb="yes"), ValueError, r"rgb='yes'"),
        (lambda: conv_filter_tiles(np.ones((3, 3, 1)), rgb=True), ValueError, r"`rgb`=True needs a 2-D or 3-D"),
        (lambda: conv_filter_tiles(np.ones((3, 3, 3, 1)), layout="depthwise", rgb=True), ValueError, r"layout='depthwise'"),
        (lambda: dense_weight_image(np.ones((3, 3, 3))), ValueError, r"`kernel` must be a Dense kernel of rank 2"),
        (lambda: dense_weight_image(np.ones((16, 2)), (4, 5)), ValueError, r"`input_shape`=\(4, 5\) holds 20"),
        (lambda: dense_weight_image(np.ones((16, 2)), (4, -4)), ValueError, r"input_shape=\(4, -4\)"),
        (lambda: dense_weight_image(np.ones((16, 2)), 16), ValueError, r"input_shape=16"),
        (lambda: dense_weight_image(np.ones((16, 2)), max_units=-1), ValueError, r"max_units=-1"),
    ],
)
def test_bad_kernels_and_options_are_refused_with_the_argument_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bad_filter_grid_arguments_are_refused(model_zoo):
    model = model_zoo["functional"]
    with pytest.raises(TypeError, match=r"`model_or_layer` must be a keras.Model"):
        filter_grid(np.ones((3, 3, 3, 2)))
    with pytest.raises(TypeError, match=r"`layer` can only be given with a keras.Model"):
        filter_grid(model.get_layer("conv1"), "conv1")
    with pytest.raises(ValueError, match=r"Unknown layer 'conv9'"):
        filter_grid(model, "conv9")
    with pytest.raises(ValueError, match=r"`scale` must be a positive integer; received scale=0"):
        filter_grid(model, "conv1", scale=0)
    with pytest.raises(ValueError, match=r"`input_shape` applies only to Dense layers"):
        filter_grid(model, "conv1", input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"Layer 'bn1' cannot be drawn: BatchNormalization.*Drawable layers: conv1, conv2, head"):
        filter_grid(model, "bn1")
    with pytest.raises(ValueError, match=r"Layer 'gap' cannot be drawn: GlobalAveragePooling2D has no weights"):
        filter_grid(model, "gap")
    with pytest.raises(TypeError, match=r"`model` must be a keras.Model"):
        drawable_layers("model")
    with pytest.raises(TypeError, match=r"`model` must be a keras.Model"):
        undrawable_layers(None)


def test_containers_and_models_without_drawable_layers_explain_why():
    recurrent = keras.Sequential([keras.Input((4, 2)), layers.LSTM(3, name="lstm")])
    with pytest.raises(ValueError, match=r"has no layer whose weights can be drawn.*lstm/lstm_cell: LSTMCell"):
        filter_grid(recurrent)
    with pytest.raises(ValueError, match=r"LSTM is a container.*lstm/lstm_cell: LSTMCell"):
        filter_grid(recurrent, "lstm")


# --------------------------------------------------------------------------- #
# A legible picture, written and read back as PNG
# --------------------------------------------------------------------------- #


def _gabor_bank(size: int = 7, filters_per_colour: int = 4) -> np.ndarray:
    """First-layer-like filters: oriented Gabors in grey, red-green and blue-yellow."""
    centre = np.arange(size) - (size - 1) / 2
    y, x = np.meshgrid(centre, centre, indexing="ij")
    colours = [(1.0, 1.0, 1.0), (1.0, -1.0, 0.0), (-0.5, -0.5, 1.0)]
    kernel = np.zeros((size, size, 3, len(colours) * filters_per_colour))
    for index in range(kernel.shape[-1]):
        theta = np.pi * (index % filters_per_colour) / filters_per_colour
        along = x * np.cos(theta) + y * np.sin(theta)
        gabor = np.exp(-(x**2 + y**2) / (2 * (size / 4) ** 2)) * np.cos(2 * np.pi * along / 4)
        kernel[..., index] = gabor[..., None] * np.asarray(colours[index // filters_per_colour])
    return kernel


def test_first_layer_gabor_grid_round_trips_through_png(tmp_path):
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(12, 7, name="conv1")])
    kernel = _gabor_bank()
    _set_kernel(model.get_layer("conv1"), kernel)
    picture = filter_grid(model)
    path = tmp_path / "conv1_filters.png"
    render.to_pil(picture).save(path)
    decoded = np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"))
    np.testing.assert_array_equal(decoded, picture)

    plain = filter_grid(model, scale=1, labels=False)  # 12 tiles, 4 columns
    for index in (0, 5, 10):
        row, col = divmod(index, 4)
        magnitude = np.abs(kernel[..., index]).max()
        expected = _expected(kernel[..., index], magnitude) * 255
        # Within one level: the kernel is stored as float32, so x.5 may round either way.
        np.testing.assert_allclose(_cell(plain, row, col, (7, 7)), expected, atol=1.0)


def test_tilesets_are_a_snapshot_of_the_weights():
    import keras

    layer = keras.layers.Conv2D(2, 3)
    layer.build((None, 8, 8, 3))
    tilesets = filters.filter_tilesets(layer)
    before = filters.draw_tilesets(tilesets)
    layer.kernel.assign(layer.kernel * 0.0 + 1.0)  # the weights change after the read
    np.testing.assert_array_equal(filters.draw_tilesets(tilesets), before)
    assert not np.array_equal(filters.filter_grid(layer), before)
