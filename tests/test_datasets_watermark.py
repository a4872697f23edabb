"""make_shapes(watermark=p): the class-specific confound and its masks."""

from __future__ import annotations

import numpy as np
import pytest

from keras_viz.datasets import SHAPE_KINDS, ShapesData, make_shapes


def test_watermark_zero_is_the_data_without_watermark():
    plain = make_shapes(30, size=32, seed=5)
    zero = make_shapes(30, size=32, seed=5, watermark=0)
    np.testing.assert_array_equal(plain.images, zero.images)
    np.testing.assert_array_equal(plain.masks, zero.masks)
    assert plain.watermark_masks.shape == (30, 32, 32) and not plain.watermark_masks.any()


def test_watermark_one_marks_every_image_in_its_class_corner_and_changes_nothing_else():
    clean = make_shapes(40, size=32, seed=5, classes=SHAPE_KINDS)
    marked = make_shapes(40, size=32, seed=5, classes=SHAPE_KINDS, watermark=1.0)
    tabs = marked.watermark_masks
    np.testing.assert_array_equal(marked.labels, clean.labels)
    assert tabs.any(axis=(1, 2)).all()
    side = 3  # round(32 / 10)
    corners = {0: (0, 0), 1: (0, 29), 2: (29, 0), 3: (29, 29), 4: (0, 0)}
    for tab, label in zip(tabs, marked.labels):
        top, left = corners[int(label)]
        expected = np.zeros((32, 32), bool)
        expected[top : top + side, left : left + side] = True
        np.testing.assert_array_equal(tab, expected)
    # Outside the tab every pixel is the clean image's; the object mask loses what the tab hides.
    np.testing.assert_array_equal(marked.images[~tabs], clean.images[~tabs])
    np.testing.assert_array_equal(marked.masks, clean.masks & ~tabs)
    # The tab's colour depends on the class (labels 0 and 4 share a corner, not a colour).
    means = {int(label): marked.images[i][tabs[i]].mean(axis=0) for i, label in enumerate(marked.labels)}
    assert np.abs(means[0] - means[4]).max() > 0.3


def test_watermark_probability_marks_about_that_share_and_is_deterministic():
    first = make_shapes(400, size=16, seed=3, watermark=0.3)
    second = make_shapes(400, size=16, seed=3, watermark=0.3)
    share = first.watermark_masks.any(axis=(1, 2)).mean()
    assert 0.22 < share < 0.38
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.watermark_masks, second.watermark_masks)
    assert first.watermark_masks.sum(axis=(1, 2)).max() == 4  # max(2, round(1.6)) squared


@pytest.mark.parametrize("watermark", [-0.1, 1.5, float("nan"), "yes", True, None])
def test_bad_watermark(watermark):
    with pytest.raises(ValueError, match="watermark"):
        make_shapes(4, size=16, watermark=watermark)


def test_shapes_data_without_watermark_masks_defaults_to_none_marked():
    data = make_shapes(3, size=16)
    bare = ShapesData(images=data.images, labels=data.labels, masks=data.masks, class_names=data.class_names)
    assert bare.watermark_masks.shape == data.masks.shape and not bare.watermark_masks.any()
