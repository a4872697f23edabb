"""Tests for keras_viz.datasets: digits, generated shapes with masks, sample photographs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits as sklearn_load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from keras_viz import datasets
from keras_viz.datasets import (
    DIGIT_CLASS_NAMES,
    SHAPE_KINDS,
    ShapesData,
    load_digits,
    load_sample_photos,
    make_shapes,
    resize_bilinear,
)


@pytest.fixture(scope="module")
def shapes() -> ShapesData:
    return make_shapes(600, size=32, seed=3)


# ----------------------------------------------------------------------------------------------
# resize_bilinear
# ----------------------------------------------------------------------------------------------


def test_resize_bilinear_matches_pillow_when_upsampling():
    rng = np.random.default_rng(0)
    small = rng.uniform(0.0, 1.0, size=(2, 8, 6)).astype(np.float32)
    ours = resize_bilinear(small, (32, 21))
    for image, resized in zip(small, ours):
        expected = np.asarray(
            Image.fromarray(image, mode="F").resize((21, 32), resample=Image.Resampling.BILINEAR)
        )
        np.testing.assert_allclose(resized, expected, atol=1e-5)


def test_resize_bilinear_identity_and_channels():
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(3, 5, 7, 2))
    np.testing.assert_allclose(resize_bilinear(images, (5, 7)), images, atol=1e-6)
    # Channels are resized independently.
    both = resize_bilinear(images, 11)
    np.testing.assert_allclose(both[..., 1], resize_bilinear(images[..., 1], 11), atol=1e-6)


def test_resize_bilinear_rejects_bad_input():
    with pytest.raises(ValueError, match=r"images.shape=\(4, 4\)"):
        resize_bilinear(np.zeros((4, 4)), 8)
    with pytest.raises(ValueError, match="size=0"):
        resize_bilinear(np.zeros((1, 4, 4)), 0)


# ----------------------------------------------------------------------------------------------
# load_digits
# ----------------------------------------------------------------------------------------------


def test_load_digits_shapes_dtypes_and_split_sizes():
    (x_train, y_train), (x_test, y_test) = load_digits(32)
    assert x_train.shape == (1438, 32, 32, 1) and x_test.shape == (359, 32, 32, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert len(y_train) + len(y_test) == 1797
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    assert x_train.max() == pytest.approx(1.0)  # value 16 maps to 1
    assert set(np.unique(np.concatenate([y_train, y_test]))) == set(range(10))
    assert DIGIT_CLASS_NAMES == tuple("0123456789")


def test_load_digits_size_8_is_the_original_data_permuted():
    reference = sklearn_load_digits()
    (x_train, y_train), (x_test, y_test) = load_digits(8, seed=5)
    x = np.concatenate([x_train, x_test])[..., 0]
    y = np.concatenate([y_train, y_test])
    # Same multiset of (pixels, label) rows as scikit-learn's data, pixels scaled by 1/16.
    ours = sorted(zip(map(tuple, np.rint(x * 16).reshape(-1, 64).astype(int)), y.tolist()))
    theirs = sorted(zip(map(tuple, reference.data.astype(int)), reference.target.tolist()))
    assert ours == theirs
    np.testing.assert_allclose(x * 16, np.rint(x * 16), atol=1e-5)  # no interpolation at size 8


def test_load_digits_three_channels_replicate_grey():
    (x_grey, _), _ = load_digits(16, seed=2)
    (x_rgb, _), _ = load_digits(16, channels=3, seed=2)
    assert x_rgb.shape == x_grey.shape[:-1] + (3,)
    for channel in range(3):
        np.testing.assert_array_equal(x_rgb[..., channel], x_grey[..., 0])


def test_load_digits_split_is_deterministic_per_seed():
    (_, y_a), (_, t_a) = load_digits(8, seed=7)
    (_, y_b), (_, t_b) = load_digits(8, seed=7)
    (_, y_c), _ = load_digits(8, seed=8)
    np.testing.assert_array_equal(y_a, y_b)
    np.testing.assert_array_equal(t_a, t_b)
    assert not np.array_equal(y_a, y_c)


def test_load_digits_test_fraction():
    (x_train, _), (x_test, _) = load_digits(8, test_fraction=0.5)
    assert len(x_test) == round(0.5 * 1797) and len(x_train) == 1797 - len(x_test)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"size": 7}, "size=7"),
        ({"size": 16.0}, "size=16.0"),
        ({"channels": 2}, "channels=2"),
        ({"test_fraction": 0.0}, "test_fraction=0.0"),
        ({"test_fraction": 1.0}, "test_fraction=1.0"),
    ],
)
def test_load_digits_rejects_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_digits(**kwargs)


# ----------------------------------------------------------------------------------------------
# make_shapes
# ----------------------------------------------------------------------------------------------


def test_make_shapes_shapes_dtypes_ranges(shapes):
    assert isinstance(shapes, ShapesData) and len(shapes) == 600
    assert shapes.images.shape == (600, 32, 32, 3) and shapes.images.dtype == np.float32
    assert shapes.masks.shape == (600, 32, 32) and shapes.masks.dtype == np.bool_
    assert shapes.labels.shape == (600,) and shapes.labels.dtype == np.int64
    assert shapes.images.min() >= 0.0 and shapes.images.max() <= 1.0
    assert shapes.class_names == ("circle", "square", "triangle")


def test_make_shapes_is_deterministic_per_seed():
    first = make_shapes(9, size=24, seed=11)
    second = make_shapes(9, size=24, seed=11)
    other = make_shapes(9, size=24, seed=12)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.masks, second.masks)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert not np.array_equal(first.images, other.images)
    assert not np.array_equal(first.masks, other.masks)


def test_make_shapes_labels_are_balanced():
    for n, kinds in [(10, 3), (600, 3), (7, 5)]:
        data = make_shapes(n, size=16, classes=SHAPE_KINDS[:kinds])
        counts = np.bincount(data.labels, minlength=kinds)
        assert counts.sum() == n and counts.max() - counts.min() <= 1


def test_make_shapes_masks_are_inside_and_within_area_bounds(shapes):
    areas = shapes.masks.mean(axis=(1, 2))
    assert areas.min() >= 0.10 and areas.max() <= 0.35
    border = np.zeros((32, 32), dtype=bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    assert not (shapes.masks & border).any()  # the shape is never cut by the image edge


def test_make_shapes_masks_are_exactly_the_shape_pixels():
    data = make_shapes(30, size=40, seed=4, classes=SHAPE_KINDS, noise=0.0)
    for image, mask in zip(data.images, data.masks):
        inside = image[mask]
        colour = inside[0]
        np.testing.assert_array_equal(inside, np.broadcast_to(colour, inside.shape))
        # No background pixel has the object's colour, so no object pixel is missing from the mask.
        outside = image[~mask]
        assert np.abs(outside - colour).sum(axis=1).min() > 0.05


def test_make_shapes_outline_identifies_the_kind():
    # Fraction of the bounding box that the shape fills: circle pi/4, square 1, triangle 1/2,
    # cross 5/9 (arms a third of the span); a ring has a hole at its centre.
    expected_fill = {"circle": math.pi / 4, "square": 1.0, "triangle": 0.5, "cross": 5 / 9}
    data = make_shapes(50, size=64, seed=6, classes=SHAPE_KINDS)
    for label, mask in zip(data.labels, data.masks):
        kind = data.class_names[label]
        rows, cols = np.nonzero(mask)
        box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        if kind == "ring":
            assert not box[box.shape[0] // 2, box.shape[1] // 2]
        else:
            assert box.mean() == pytest.approx(expected_fill[kind], abs=0.08), kind


def test_make_shapes_object_contrasts_with_background(shapes):
    for image, mask in zip(shapes.images, shapes.masks):
        inside = image[mask].mean(axis=0)
        outside = image[~mask].mean(axis=0)
        assert np.linalg.norm(inside - outside) > 0.2


def test_make_shapes_noise_has_requested_std():
    clean = make_shapes(20, size=32, seed=9, noise=0.0)
    noisy = make_shapes(20, size=32, seed=9, noise=0.05)
    # Same seed, same random stream: only the added noise differs (up to clipping at 0 and 1).
    residual = noisy.images - clean.images
    unclipped = (noisy.images > 0.0) & (noisy.images < 1.0)
    assert residual[unclipped].std() == pytest.approx(0.05, rel=0.1)


def test_make_shapes_class_is_not_predictable_from_colour_or_size(shapes):
    masks = shapes.masks[..., np.newaxis]
    inside = (shapes.images * masks).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
    outside = (shapes.images * ~masks).sum(axis=(1, 2)) / (~masks).sum(axis=(1, 2))
    whole = shapes.images.mean(axis=(1, 2))
    area = shapes.masks.mean(axis=(1, 2))[:, np.newaxis]
    # Class means of the mean colour are close to each other...
    class_means = np.stack([whole[shapes.labels == k].mean(axis=0) for k in range(3)])
    assert np.ptp(class_means, axis=0).max() < 0.05
    # ...and a classifier on colour and size statistics does no better than chance (1/3).
    features = np.concatenate([whole, inside, outside, area * 10], axis=1)
    accuracy = cross_val_score(
        LogisticRegression(max_iter=1000), features, shapes.labels, cv=5
    ).mean()
    assert accuracy < 0.42


def test_make_shapes_accepts_every_supported_kind_in_given_order():
    data = make_shapes(10, size=16, classes=("ring", "cross"))
    assert data.class_names == ("ring", "cross")
    assert set(np.unique(data.labels)) == {0, 1}
    assert {"circle", "square", "triangle"} <= set(SHAPE_KINDS)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n": 0}, "n=0"),
        ({"n": 2.5}, "n=2.5"),
        ({"n": 4, "size": 15}, "size=15"),
        ({"n": 4, "classes": ()}, r"classes=\(\)"),
        ({"n": 4, "classes": ("circle", "hexagon")}, "'hexagon'.*circle, square, triangle"),
        ({"n": 4, "classes": "circle"}, "classes='circle'"),
        ({"n": 4, "classes": ("circle", "circle")}, "must not repeat"),
        ({"n": 4, "noise": -0.1}, "noise=-0.1"),
        ({"n": 4, "noise": float("nan")}, "noise=nan"),
    ],
)
def test_make_shapes_rejects_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_shapes(**kwargs)


# ----------------------------------------------------------------------------------------------
# load_sample_photos
# ----------------------------------------------------------------------------------------------


def test_load_sample_photos_original_size():
    photos = load_sample_photos()
    assert photos.shape == (2, 427, 640, 3) and photos.dtype == np.float32
    assert photos.min() >= 0.0 and photos.max() <= 1.0
    assert photos.std(axis=(1, 2, 3)).min() > 0.1  # real photographs, not blank
    assert datasets.PHOTO_NAMES == ("china", "flower")


def test_load_sample_photos_centre_crop_and_resize():
    photos = load_sample_photos(64)
    assert photos.shape == (2, 64, 64, 3) and photos.dtype == np.float32
    original = load_sample_photos()
    # Centre crop 427x427 starting at column (640 - 427) // 2, shrunk: compare to a box average.
    left = (640 - 427) // 2
    crop_mean = original[:, :, left : left + 427].mean(axis=(1, 2))
    np.testing.assert_allclose(photos.mean(axis=(1, 2)), crop_mean, atol=0.02)


@pytest.mark.parametrize("size", [0, 2.0, "64"])
def test_load_sample_photos_rejects_bad_size(size):
    with pytest.raises(ValueError, match="size="):
        load_sample_photos(size)
