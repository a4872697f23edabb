"""Quality pictures: line charts, the cascade chart and tables (pure NumPy + Pillow)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from keras_viz import render
from keras_viz.render.quality import PALETTE


def _has_colour(picture, colour, tolerance=10):
    return (np.abs(picture.astype(int) - np.array(colour)).max(axis=-1) <= tolerance).sum()


def test_line_chart_draws_each_series_in_its_colour_where_the_data_is():
    picture = render.line_chart({"rising": [0, 1], "falling": [1, 0]}, y_range=(0, 1), size=(300, 200))
    assert picture.shape == (200, 300, 3) and picture.dtype == np.uint8
    assert _has_colour(picture, PALETTE[0]) > 50 and _has_colour(picture, PALETTE[1]) > 50
    rows, cols = np.nonzero(np.abs(picture.astype(int) - PALETTE[0]).max(-1) <= 10)
    plot = cols < cols.max() - 40  # leave out the legend swatch
    # "rising" goes up from left to right: its leftmost pixels are lower (larger row) than its rightmost.
    left, right = cols[plot].min(), cols[plot].max()
    assert rows[plot][cols[plot] == left].mean() > rows[plot][cols[plot] == right].mean()


def test_line_chart_leaves_gaps_for_nan_and_accepts_labels():
    picture = render.line_chart({"a": [0.2, np.nan, 0.4]}, x_labels=["x", "y", "z"], markers=False)
    assert _has_colour(picture, PALETTE[0]) > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"series": {}}, "non-empty mapping"),
        ({"series": {"a": [1, 2], "b": [1]}}, "same, non-zero length"),
        ({"series": {"a": [1, 2]}, "x": [0]}, "2 finite positions"),
        ({"series": {"a": [1, 2]}, "x_labels": ["one"]}, "2 labels"),
        ({"series": {"a": [1, 2]}, "y_range": (1, 0)}, "low < high"),
        ({"series": {"a": [1, 2]}, "size": (10, 10)}, "size"),
    ],
)
def test_line_chart_errors(kwargs, match):
    series = kwargs.pop("series")
    with pytest.raises(ValueError, match=match):
        render.line_chart(series, **kwargs)


def test_cascade_chart_starts_at_trained_and_checks_lengths():
    layers = ["head", "backbone/conv2", "backbone/conv1"]
    picture = render.cascade_chart({"saliency": [0.5, 0.2, 0.1], "guided": [0.9, 0.8, 0.6]}, layers)
    assert _has_colour(picture, PALETTE[0]) > 50 and _has_colour(picture, PALETTE[1]) > 50
    with pytest.raises(ValueError, match="3 layers"):
        render.cascade_chart({"saliency": [0.5, 0.2]}, layers)


def test_table_image_grows_with_rows_and_columns():
    one = render.table_image([["saliency", 0.5]], ["method", "score"])
    two = render.table_image([["saliency", 0.5], ["grad_cam", float("nan")]], ["method", "score"], title="t")
    wide = render.table_image([["saliency", 0.5, 0.25, "a long cell of text"]], ["method", "a", "b", "c"])
    assert two.shape[0] > one.shape[0] and wide.shape[1] > one.shape[1]
    assert one.std() > 5
    with pytest.raises(ValueError, match="nothing to draw"):
        render.table_image([])


def test_render_quality_never_imports_tensorflow():
    code = "import sys, keras_viz.render.quality; assert 'tensorflow' not in sys.modules, 'tf imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
