"""Tests for keras_viz.render: values derived by hand, not only shapes."""

from __future__ import annotations

import ast
import importlib
import inspect
import math
import pkgutil

import numpy as np
import pytest
from PIL import Image

from keras_viz import render
from keras_viz.render import (
    available_colormaps,
    colormap,
    grid,
    heatmap_to_rgb,
    normalize,
    normalize_batch,
    overlay,
    sequence_strip,
    to_pil,
    to_uint8_image,
)

VIRIDIS_LOW = (68, 1, 84)  # #440154, published viridis(0)
VIRIDIS_MID = (33, 144, 140)  # #21908C, published viridis(0.5)
VIRIDIS_HIGH = (253, 231, 37)  # #FDE725, published viridis(1)


# --------------------------------------------------------------------------- #
# Module contract
# --------------------------------------------------------------------------- #


def test_package_does_not_import_tensorflow():
    imported = set()
    for info in pkgutil.iter_modules(render.__path__, prefix="keras_viz.render."):
        tree = ast.parse(inspect.getsource(importlib.import_module(info.name)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported, "no render module was parsed"
    assert not imported & {"tensorflow", "keras", "matplotlib"}


def test_public_api_is_listed_in_all():
    expected = {
        "normalize", "normalize_batch", "colormap", "available_colormaps",
        "to_uint8_image", "overlay", "heatmap_to_rgb", "sequence_strip", "grid",
        "to_pil",
    }
    assert expected <= set(render.__all__)  # picture families add their own functions
    assert all(callable(getattr(render, name)) for name in render.__all__)


# --------------------------------------------------------------------------- #
# normalize
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("percentile", [99.0, 100.0])
def test_normalize_maps_known_values(percentile):
    result = normalize(np.array([0.0, 5.0, 10.0]), percentile=percentile)
    np.testing.assert_allclose(result, [0.0, 0.5, 1.0], atol=1e-6)
    assert result.dtype == np.float32


def test_normalize_keeps_shape_and_is_affine_for_2d_maps():
    heatmap = np.array([[2.0, 4.0], [6.0, 10.0]])
    result = normalize(heatmap, percentile=100)
    np.testing.assert_allclose(result, [[0.0, 0.25], [0.5, 1.0]], atol=1e-6)


def test_percentile_clipping_clamps_an_outlier():
    values = np.arange(100, dtype=np.float64)
    values[-1] = 1e6
    without_clipping = normalize(values, percentile=100)
    clipped = normalize(values, percentile=98)
    # Without clipping every ordinary value is squashed near 0 by the outlier.
    assert without_clipping[50] < 1e-4
    # With clipping the outlier saturates at 1 and the rest spread over [0, 1].
    assert clipped[-1] == pytest.approx(1.0)
    assert clipped[50] == pytest.approx(0.5, abs=0.02)
    assert clipped[0] == pytest.approx(0.0)
    assert np.all(np.diff(clipped) >= 0)  # Order is kept.


def test_collapsed_clipping_window_keeps_sparse_hot_pixels_visible():
    heatmap = np.zeros((50, 50))
    heatmap[3, 4] = 7.0  # 1 pixel in 2500: the 99th percentile is 0.
    result = normalize(heatmap)
    assert result[3, 4] == pytest.approx(1.0)
    assert np.count_nonzero(result) == 1


def test_symmetric_normalize_keeps_sign_and_zero():
    result = normalize(np.array([-2.0, 0.0, 1.0]), percentile=100, symmetric=True)
    np.testing.assert_allclose(result, [-1.0, 0.0, 0.5], atol=1e-6)


def test_symmetric_normalize_clips_to_minus_one_one():
    values = np.concatenate([np.linspace(-1, 1, 99), [-50.0]])
    result = normalize(values, percentile=99, symmetric=True)
    assert result.min() == pytest.approx(-1.0)
    assert result.max() <= 1.0
    assert result[-1] == pytest.approx(-1.0)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("value", [0.0, 3.5, -2.0])
def test_constant_map_gives_zeros_without_warnings(value, symmetric):
    result = normalize(np.full((4, 5), value), symmetric=symmetric)
    np.testing.assert_array_equal(result, np.zeros((4, 5), np.float32))
    assert not np.any(np.isnan(result))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_normalize_rejects_non_finite_values(bad):
    with pytest.raises(ValueError, match="`heatmap` must be finite"):
        normalize(np.array([0.0, bad, 1.0]))


@pytest.mark.parametrize("percentile", [0, -1.0, 100.5, 1000])
def test_normalize_rejects_percentile_out_of_range(percentile):
    with pytest.raises(ValueError, match=rf"percentile={percentile!r}"):
        normalize(np.arange(4.0), percentile=percentile)


def test_normalize_rejects_low_percentile_for_two_tailed_clipping():
    with pytest.raises(ValueError, match=r"percentile.*symmetric=False.*percentile=30"):
        normalize(np.arange(4.0), percentile=30)
    # Symmetric normalisation only uses one percentile of |x|, so 30 is fine.
    assert normalize(np.arange(4.0), percentile=30, symmetric=True).max() == 1.0


def test_normalize_rejects_non_numeric_input_and_percentile():
    with pytest.raises(TypeError, match="`heatmap` must be a numeric array"):
        normalize(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="percentile='99'"):
        normalize(np.arange(4.0), percentile="99")
    with pytest.raises(ValueError, match="`heatmap` must not be empty"):
        normalize(np.array([]))


def test_normalize_batch_normalises_each_map_independently():
    maps = np.array([[0.0, 1.0, 2.0], [0.0, 10.0, 20.0], [-4.0, -2.0, 0.0]])
    result = normalize_batch(maps, percentile=100)
    np.testing.assert_allclose(result, [[0, 0.5, 1]] * 3, atol=1e-6)
    assert result.dtype == np.float32


def test_normalize_batch_is_batch_size_invariant():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(5, 6, 7))
    batched = normalize_batch(maps, symmetric=True)
    for index, one in enumerate(maps):
        np.testing.assert_array_equal(batched[index], normalize(one, symmetric=True))


def test_normalize_batch_rejects_single_1d_map_and_nan():
    with pytest.raises(ValueError, match=r"`maps` must be a batch.*\(3,\)"):
        normalize_batch(np.arange(3.0))
    with pytest.raises(ValueError, match="`maps` must be finite"):
        normalize_batch(np.array([[0.0, np.nan]]))


# --------------------------------------------------------------------------- #
# Colour maps
# --------------------------------------------------------------------------- #


def test_available_colormaps_lists_required_maps():
    names = available_colormaps()
    assert isinstance(names, tuple)
    assert {"viridis", "magma", "inferno", "gray", "coolwarm", "RdBu_r"} <= set(names)


def test_viridis_endpoints_and_midpoint_match_published_colours():
    rgb = colormap(np.array([0.0, 0.5, 1.0]), "viridis")
    assert rgb.dtype == np.uint8
    assert tuple(rgb[0]) == VIRIDIS_LOW
    assert tuple(rgb[1]) == VIRIDIS_MID
    assert tuple(rgb[2]) == VIRIDIS_HIGH


def test_colormap_clips_values_outside_unit_range():
    rgb = colormap(np.array([-3.0, 7.0]))
    assert tuple(rgb[0]) == VIRIDIS_LOW
    assert tuple(rgb[1]) == VIRIDIS_HIGH


@pytest.mark.parametrize(
    "name, low, high",
    [
        ("magma", (0, 0, 4), (252, 253, 191)),
        ("inferno", (0, 0, 4), (252, 255, 164)),
        ("gray", (0, 0, 0), (255, 255, 255)),
    ],
)
def test_sequential_colormap_endpoints(name, low, high):
    rgb = colormap(np.array([0.0, 1.0]), name)
    assert tuple(rgb[0]) == low
    assert tuple(rgb[1]) == high


def test_gray_interpolates_linearly_between_anchors():
    rgb = colormap(np.array([0.25, 0.5]), "gray")
    np.testing.assert_array_equal(rgb, [[64, 64, 64], [128, 128, 128]])


@pytest.mark.parametrize("name", ["viridis", "magma", "inferno", "gray"])
def test_sequential_colormaps_increase_in_luminance(name):
    rgb = colormap(np.linspace(0, 1, 64), name).astype(np.float64)
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(luminance) > 0)


@pytest.mark.parametrize("name", ["RdBu_r", "coolwarm"])
def test_diverging_colormap_is_blue_white_red_over_minus_one_one(name):
    negative, zero, positive = colormap(np.array([-1.0, 0.0, 1.0]), name).astype(int)
    assert zero.min() >= 215 and zero.max() - zero.min() <= 10  # White-ish grey.
    assert negative[2] > negative[0] + 50  # Blue dominates.
    assert positive[0] > positive[2] + 50  # Red dominates.
    # Values beyond [-1, 1] clip to the ends.
    np.testing.assert_array_equal(colormap(np.array([-9.0, 9.0]), name), [negative, positive])


def test_colormap_output_shape_follows_input_shape():
    assert colormap(np.zeros((2, 5, 4))).shape == (2, 5, 4, 3)


def test_unknown_colormap_lists_available_names():
    with pytest.raises(ValueError, match=r"Unknown colour map 'jet'.*viridis"):
        colormap(np.zeros(3), "jet")
    with pytest.raises(TypeError, match="Available colour maps"):
        colormap(np.zeros(3), None)


def test_colormap_rejects_nan_values():
    with pytest.raises(ValueError, match="`values` must be finite"):
        colormap(np.array([0.1, np.nan]))


# --------------------------------------------------------------------------- #
# to_uint8_image
# --------------------------------------------------------------------------- #


def test_to_uint8_image_min_max_scales_floats():
    image = np.array([[-1.0, 0.0], [0.5, 1.0]])
    result = to_uint8_image(image)
    assert result.shape == (2, 2, 3) and result.dtype == np.uint8
    np.testing.assert_array_equal(result[..., 0], [[0, 128], [191, 255]])
    # Grey input becomes three identical channels.
    np.testing.assert_array_equal(result[..., 0], result[..., 2])


def test_to_uint8_image_uses_value_range_when_given():
    image = np.full((2, 2, 3), 0.5)
    np.testing.assert_array_equal(to_uint8_image(image, value_range=(0, 1)), 128)
    np.testing.assert_array_equal(to_uint8_image(image, value_range=(-1, 1)), 191)
    # Values outside the range are clipped.
    np.testing.assert_array_equal(to_uint8_image(image, value_range=(0, 0.25)), 255)


def test_to_uint8_image_keeps_integer_images_in_byte_range():
    image = np.array([[[10, 20, 30], [40, 50, 60]]], dtype=np.int64)
    np.testing.assert_array_equal(to_uint8_image(image), image.astype(np.uint8))
    single = np.array([[[7], [9]]], dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8_image(single), [[[7, 7, 7], [9, 9, 9]]])


def test_to_uint8_image_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"`image` must have shape.*\(4, 4, 2\)"):
        to_uint8_image(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match=r"value_range=\(1, 1\)"):
        to_uint8_image(np.zeros((4, 4)), value_range=(1, 1))
    with pytest.raises(ValueError, match=r"value_range=\(0, 1, 2\)"):
        to_uint8_image(np.zeros((4, 4)), value_range=(0, 1, 2))
    with pytest.raises(ValueError, match="`image` must be finite"):
        to_uint8_image(np.full((2, 2), np.nan))


# --------------------------------------------------------------------------- #
# overlay
# --------------------------------------------------------------------------- #


def _checker_image(size: int = 8) -> np.ndarray:
    image = np.zeros((size, size, 3), dtype=np.uint8)
    image[::2, ::2] = (200, 100, 50)
    image[1::2, 1::2] = (20, 40, 60)
    return image


def _corner_heatmap(size: int = 8) -> np.ndarray:
    heatmap = np.zeros((size, size))
    heatmap[: size // 2, : size // 2] = 1.0
    return heatmap


def test_overlay_with_zero_alpha_returns_image_unchanged():
    image = _checker_image()
    np.testing.assert_array_equal(overlay(image, _corner_heatmap(), alpha=0.0), image)


def test_overlay_tints_hot_pixels_and_leaves_cold_pixels_alone():
    image = _checker_image()
    result = overlay(image, _corner_heatmap(), alpha=1.0)
    hot = (slice(0, 4), slice(0, 4))
    cold = (slice(4, 8), slice(4, 8))
    # Heat weight 1 and alpha 1: the pixel becomes exactly viridis(1).
    np.testing.assert_array_equal(result[hot], np.broadcast_to(VIRIDIS_HIGH, (4, 4, 3)))
    np.testing.assert_array_equal(result[cold], image[cold])


def test_overlay_blends_with_the_documented_formula():
    image = np.full((2, 2, 3), 100, dtype=np.uint8)
    heatmap = np.array([[0.0, 1.0], [0.0, 0.5]])
    result = overlay(image, heatmap, alpha=0.5, percentile=100).astype(np.float64)
    # w = 1 at [0, 1]: half image, half viridis(1).
    expected_hot = 0.5 * 100 + 0.5 * np.array(VIRIDIS_HIGH)
    np.testing.assert_allclose(result[0, 1], np.rint(expected_hot))
    # w = 0.5 at [1, 1]: a quarter of viridis(0.5).
    expected_mid = 0.75 * 100 + 0.25 * np.array(VIRIDIS_MID)
    np.testing.assert_allclose(result[1, 1], expected_mid, atol=1)
    np.testing.assert_array_equal(result[0, 0], [100, 100, 100])


def test_overlay_resizes_a_low_resolution_heatmap():
    image = _checker_image(8)
    low_res = np.array([[1.0, 0.0], [0.0, 0.0]])
    result = overlay(image, low_res, alpha=1.0)
    assert result.shape == (8, 8, 3)
    assert not np.array_equal(result[0, 0], image[0, 0])  # Hot corner is tinted.
    np.testing.assert_array_equal(result[6:, 6:], image[6:, 6:])  # Cold corner.


def test_overlay_accepts_a_coloured_heatmap_as_plain_alpha_blend():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    coloured = np.full((2, 2, 3), 200, dtype=np.uint8)
    np.testing.assert_array_equal(overlay(image, coloured, alpha=0.5), 100)


def test_overlay_with_diverging_map_tints_both_signs():
    image = np.full((1, 3, 3), 128, dtype=np.uint8)
    heatmap = np.array([[-1.0, 0.0, 1.0]])
    result = overlay(image, heatmap, alpha=1.0, colormap="RdBu_r", percentile=100)
    blue, red = colormap(np.array([-1.0, 1.0]), "RdBu_r")
    # Weight is |heat|: both extremes take the full colour, zero keeps the image.
    np.testing.assert_array_equal(result[0], [blue, [128, 128, 128], red])


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_overlay_rejects_alpha_outside_unit_range(alpha):
    with pytest.raises(ValueError, match=rf"`alpha` must be in \[0, 1\]; received alpha={alpha}"):
        overlay(_checker_image(), _corner_heatmap(), alpha=alpha)


def test_overlay_rejects_bad_heatmap_and_colormap():
    with pytest.raises(ValueError, match=r"`heatmap` must have shape.*\(2, 8, 8\)"):
        overlay(_checker_image(), np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="Unknown colour map 'hot'"):
        overlay(_checker_image(), _corner_heatmap(), colormap="hot")


# --------------------------------------------------------------------------- #
# heatmap_to_rgb and sequence_strip
# --------------------------------------------------------------------------- #


def test_heatmap_to_rgb_positive_map_uses_viridis():
    result = heatmap_to_rgb(np.array([[0.0, 10.0]]), percentile=100)
    assert result.shape == (1, 2, 3)
    assert tuple(result[0, 0]) == VIRIDIS_LOW
    assert tuple(result[0, 1]) == VIRIDIS_HIGH


def test_heatmap_to_rgb_signed_map_is_auto_symmetric_and_diverging():
    result = heatmap_to_rgb(np.array([-4.0, 0.0, 2.0]), percentile=100)
    expected = colormap(np.array([-1.0, 0.0, 0.5]), "RdBu_r")
    np.testing.assert_array_equal(result, expected)


def test_heatmap_to_rgb_explicit_choices_override_auto():
    signed = np.array([-4.0, 0.0, 4.0])
    unsigned = heatmap_to_rgb(signed, symmetric=False, percentile=100)
    np.testing.assert_array_equal(unsigned, colormap(np.array([0.0, 0.5, 1.0])))
    # Symmetric with a sequential map: [-1, 1] is shifted onto [0, 1].
    shifted = heatmap_to_rgb(signed, colormap="gray", percentile=100)
    np.testing.assert_array_equal(shifted[:, 0], [0, 128, 255])


def test_sequence_strip_repeats_coloured_values_over_rows():
    values = np.array([0.0, 1.0, 2.0, 3.0])
    strip = sequence_strip(values, height=5, colormap="magma")
    assert strip.shape == (5, 4, 3) and strip.dtype == np.uint8
    expected_row = heatmap_to_rgb(values, colormap="magma")
    for row in strip:
        np.testing.assert_array_equal(row, expected_row)


def test_sequence_strip_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"`values` must have shape \(T,\).*\(2, 2\)"):
        sequence_strip(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="height=0"):
        sequence_strip(np.zeros(3), height=0)


# --------------------------------------------------------------------------- #
# grid
# --------------------------------------------------------------------------- #


def _solid(value: int, size: int = 8) -> np.ndarray:
    return np.full((size, size, 3), value, dtype=np.uint8)


def test_grid_size_and_tile_placement_follow_the_arithmetic():
    tiles = [_solid(10 * (i + 1)) for i in range(5)]
    out = grid(tiles, columns=3, padding=2, scale=2, background=255)
    cell = 16  # 8 pixels * scale 2
    assert out.shape == (2 * cell + 3 * 2, 3 * cell + 4 * 2, 3)
    for index in range(5):
        row, col = divmod(index, 3)
        top, left = 2 + row * (cell + 2), 2 + col * (cell + 2)
        np.testing.assert_array_equal(out[top : top + cell, left : left + cell], 10 * (index + 1))
    # Padding and the unused sixth cell stay background.
    np.testing.assert_array_equal(out[:2], 255)
    np.testing.assert_array_equal(out[:, :2], 255)
    np.testing.assert_array_equal(out[20:36, 38:54], 255)


def test_grid_scale_is_nearest_neighbour():
    tile = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    out = grid([tile], padding=0, scale=3)
    expected = np.kron(tile, np.ones((3, 3), dtype=np.uint8))
    np.testing.assert_array_equal(out[..., 0], expected)


def test_grid_places_smaller_images_top_left_and_converts_floats():
    big = _solid(0, size=6)
    small = np.ones((2, 3), dtype=np.float32)  # Float in [0, 1], grey.
    out = grid([big, small], columns=2, padding=1, background=100)
    assert out.shape == (6 + 2, 2 * 6 + 3, 3)
    left = 1 + 6 + 1
    np.testing.assert_array_equal(out[1:3, left : left + 3], 255)
    np.testing.assert_array_equal(out[3:7, left : left + 6], 100)
    np.testing.assert_array_equal(out[1:3, left + 3 : left + 6], 100)


def test_grid_default_columns_is_ceil_sqrt_and_capped_at_count():
    tiles = [_solid(0, size=4)] * 5
    assert grid(tiles, padding=0).shape[:2] == (2 * 4, 3 * 4)
    assert grid(tiles[:2], columns=10, padding=0).shape[:2] == (4, 2 * 4)
    assert math.ceil(math.sqrt(5)) == 3


def test_grid_labels_add_a_strip_with_dark_text():
    tiles = [_solid(200, size=10) for _ in range(3)]
    out = grid(tiles, labels=["cat", "", "dog"], columns=3, padding=2, label_height=14)
    assert out.shape == (10 + 14 + 2 * 2, 3 * 10 + 4 * 2, 3)
    strips = [out[12:26, 2 + i * 12 : 12 + i * 12] for i in range(3)]
    assert strips[0].min() < 100  # Text drawn in dark ink on white.
    assert strips[2].min() < 100
    np.testing.assert_array_equal(strips[1], 255)  # An empty label draws nothing.
    np.testing.assert_array_equal(out[2:12, 2:12], 200)  # Tiles untouched by text.


def test_grid_default_label_height_fits_the_default_font():
    out_without = grid([_solid(0)], padding=0)
    out_with = grid([_solid(0)], labels=["x"], padding=0)
    assert out_without.shape == (8, 8, 3)
    assert 8 < out_with.shape[0] - 8 <= 30
    assert out_with[8:].min() < 100


def test_grid_labels_are_light_on_dark_background():
    out = grid([_solid(0)], labels=["Ag"], background=0, padding=0, label_height=14)
    assert out[8:].max() > 150


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"images": []}, ValueError, "`images` must hold at least one image"),
        ({"labels": ["a"]}, ValueError, r"len\(labels\)=1 for len\(images\)=2"),
        ({"labels": "ab"}, TypeError, "`labels` must be a sequence"),
        ({"columns": 0}, ValueError, "columns=0"),
        ({"padding": -1}, ValueError, "padding=-1"),
        ({"scale": 0}, ValueError, "scale=0"),
        ({"scale": 1.5}, ValueError, "scale=1.5"),
        ({"background": 300}, ValueError, "background=300"),
        ({"label_height": -2, "labels": ["a", "b"]}, ValueError, "label_height=-2"),
        ({"images": [_solid(0), np.full((2, 2), 1.5)]}, ValueError, r"images\[1\].*\[0, 1\]"),
        ({"images": [_solid(0), np.zeros((2, 2, 2))]}, ValueError, r"`images\[1\]` must have shape"),
        ({"images": [np.array([["a"]])]}, TypeError, r"images\[0\]"),
    ],
)
def test_grid_rejects_bad_inputs(kwargs, error, pattern):
    arguments = {"images": [_solid(0), _solid(0)], **kwargs}
    with pytest.raises(error, match=pattern):
        grid(**arguments)


# --------------------------------------------------------------------------- #
# to_pil
# --------------------------------------------------------------------------- #


def test_to_pil_round_trips_pixels_and_picks_mode():
    rgb = _checker_image()
    picture = to_pil(rgb)
    assert isinstance(picture, Image.Image) and picture.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(picture), rgb)
    assert to_pil(rgb[..., 0]).mode == "L"
    assert to_pil(rgb[..., :1]).mode == "L"


def test_to_pil_does_not_share_memory_with_the_array():
    grey = np.zeros((2, 2), dtype=np.uint8)
    picture = to_pil(grey)
    grey[0, 0] = 255
    assert picture.getpixel((0, 0)) == 0


def test_to_pil_rejects_float_and_bad_shapes():
    with pytest.raises(TypeError, match="`array` must be uint8; received dtype float64"):
        to_pil(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"`array` must have shape.*\(2, 2, 2\)"):
        to_pil(np.zeros((2, 2, 2), dtype=np.uint8))
