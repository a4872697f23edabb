"""Pictures of optimised images and the adversarial figure (pure NumPy/Pillow)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from keras_viz import render


def test_perturbation_picture_is_mid_grey_plus_the_amplified_change():
    change = np.array([[[0.0], [0.05], [-0.05], [0.01]]], np.float32)  # (1, 4, 1)
    picture = render.perturbation_picture(change, value_range=(0.0, 1.0), amplification=10)
    assert picture.shape == (1, 4, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[0, :, 0], [128, 255, 0, 153])
    wide = render.perturbation_picture(change * 2, value_range=(-1.0, 1.0), amplification=10)
    np.testing.assert_array_equal(wide, picture)
    with pytest.raises(ValueError, match="amplification"):
        render.perturbation_picture(change, amplification=0)


def test_adversarial_figure_rows_are_original_perturbation_adversarial():
    rng = np.random.default_rng(0)
    originals = rng.uniform(size=(2, 8, 8, 1)).astype(np.float32)
    adversarials = np.clip(originals + rng.choice([-0.05, 0.05], size=originals.shape), 0, 1).astype(np.float32)
    figure = render.adversarial_figure(originals, adversarials, [3, 1], [5, 7], scale=2)
    expected = render.grid(
        [
            render.to_uint8_image(originals[0], value_range=(0, 1)),
            render.perturbation_picture(adversarials[0] - originals[0]),
            render.to_uint8_image(adversarials[0], value_range=(0, 1)),
            render.to_uint8_image(originals[1], value_range=(0, 1)),
            render.perturbation_picture(adversarials[1] - originals[1]),
            render.to_uint8_image(adversarials[1], value_range=(0, 1)),
        ],
        labels=["original: 3", "perturbation x10", "adversarial: 5", "original: 1", "perturbation x10", "adversarial: 7"],
        columns=3,
        scale=2,
    )
    np.testing.assert_array_equal(figure, expected)
    default = render.adversarial_figure(originals, adversarials, [3, 1], [5, 7])
    named = render.adversarial_figure(originals, adversarials, [3, 1], [5, 7], class_names=list("abcdefgh"))
    assert default.shape[1] == 3 * 96 + 4 * 2  # tiles about 96 pixels wide: labels fit
    assert named.shape == default.shape and not np.array_equal(named, default)


def test_adversarial_figure_refuses_mismatches():
    images = np.zeros((2, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="same shape"):
        render.adversarial_figure(images, images[:1], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="one class per image"):
        render.adversarial_figure(images, images, [0], [0, 1])


def test_optvis_grid_labels_and_normalises():
    images = np.linspace(0.4, 0.6, 2 * 4 * 4).reshape(2, 4, 4, 1).astype(np.float32)
    plain = render.optvis_grid(images, ["a", "b"], scale=3)
    stretched = render.optvis_grid(images, ["a", "b"], scale=3, normalize=True)
    assert plain.shape == stretched.shape and plain.shape[1] == 2 * 12 + 3 * 2
    tiles = stretched[2:14, 2:14]
    assert tiles.min() == 0 and tiles.max() == 255 and plain[2:14, 2:14].max() < 160
    assert render.optvis_grid(images).shape[1] >= 2 * 96  # tiles about 96 pixels by default
    with pytest.raises(ValueError, match="images"):
        render.optvis_grid(np.zeros((0, 4, 4, 2)))


@pytest.mark.parametrize("channels", [2, 4, 5])
def test_any_channel_count_is_one_grey_panel_per_channel(channels):
    rng = np.random.default_rng(channels)
    image = rng.uniform(-1.0, 1.0, size=(3, 4, channels)).astype(np.float32)
    tile = render.optvis_tile(image, value_range=(-1.0, 1.0))
    assert tile.shape == (3, channels * 4 + channels - 1, 3) and tile.dtype == np.uint8
    for c in range(channels):
        panel = tile[:, c * 5 : c * 5 + 4]
        grey = np.rint((image[..., c] + 1.0) / 2.0 * 255).astype(np.uint8)
        for rgb in range(3):
            np.testing.assert_array_equal(panel[..., rgb], grey)
        if c:
            np.testing.assert_array_equal(tile[:, c * 5 - 1], np.tile(render.optvis.PANEL_SEPARATOR, (3, 1)))
    # one tile per image in a grid (labels stay aligned), and the adversarial figure too
    batch = np.stack([image, -image])
    picture = render.optvis_grid(batch, ["a", "b"], value_range=(-1.0, 1.0), scale=2)
    np.testing.assert_array_equal(picture[2 : 2 + 6, 2 : 2 + 2 * tile.shape[1]], tile.repeat(2, 0).repeat(2, 1))
    figure = render.adversarial_figure(batch / 2 + 0.5, np.clip(batch / 2 + 0.51, 0, 1), [0, 1], [1, 0], scale=1)
    assert figure.shape[1] >= 3 * tile.shape[1]


def test_one_and_three_channels_are_grey_and_rgb_as_before():
    rgb = np.random.default_rng(1).uniform(size=(4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(render.optvis_tile(rgb), render.to_uint8_image(rgb, value_range=(0, 1)))
    np.testing.assert_array_equal(render.optvis_tile(rgb[..., :1]), render.to_uint8_image(rgb[..., :1], value_range=(0, 1)))
    np.testing.assert_array_equal(render.optvis_tile(rgb, normalize=True), render.to_uint8_image(rgb))


def test_render_does_not_import_tensorflow():
    assert "keras_viz.render.optvis" in sys.modules
    import keras_viz.render.optvis as module

    assert "tensorflow" not in module.__dict__ and "keras" not in module.__dict__
