"""Feature inversion: early layers keep more of the image than the deepest convolution."""

from __future__ import annotations

import numpy as np
import pytest

from keras_viz import optvis


@pytest.fixture(scope="module")
def reconstructions(digits):
    images = digits.x_test[[0, 3, 5, 7]]
    early, early_history = optvis.invert(digits.model, images, "block1_relu", steps=150, return_history=True)
    deep = optvis.invert(digits.model, images, "block3_relu", steps=150)
    return images, early, early_history, deep


def test_an_early_layer_reconstructs_better_than_the_deepest_convolution(reconstructions):
    images, early, _, deep = reconstructions
    early_error = np.mean((early - images) ** 2, axis=(1, 2, 3))
    deep_error = np.mean((deep - images) ** 2, axis=(1, 2, 3))
    assert np.all(early_error < deep_error), (early_error, deep_error)
    assert early_error.mean() < 0.01  # nearly exact from the first block


def test_the_feature_distance_falls_and_the_layout_is_kept(reconstructions):
    images, early, history, _ = reconstructions
    assert early.shape == images.shape and early.min() >= 0 and early.max() <= 1
    assert np.all(history[-1] > history[0])  # -||Φ(x) - Φ0||² / ||Φ0||² rises towards 0
    assert np.all(history[-1] > -0.05)


def test_single_image_and_bad_input(digits):
    single = optvis.invert(digits.model, digits.x_test[0], "block2_relu", steps=2)
    assert single.shape == digits.x_test[0].shape
    with pytest.raises(ValueError, match="pixels"):
        optvis.invert(digits.model, np.zeros((2, 20, 20, 1)), "block2_relu", steps=2)
    with pytest.raises(ValueError, match="Unknown layer"):
        optvis.invert(digits.model, digits.x_test[:1], "nope", steps=2)
    with pytest.raises(ValueError, match="tv_weight"):
        optvis.invert(digits.model, digits.x_test[:1], "block2_relu", steps=2, tv_weight=-1)
    with pytest.raises(ValueError, match="steps"):
        optvis.invert(digits.model, digits.x_test[:1], "block2_relu", steps=0)
