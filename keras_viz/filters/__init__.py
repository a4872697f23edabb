"""Visualize the weights (moved from ``keras_viz/filters.py``)."""

from keras_viz.filters.tiles import (
    conv_filter_labels,
    conv_filter_tiles,
    dense_weight_image,
    dense_weight_labels,
    draw_tilesets,
    drawable_layers,
    filter_grid,
    filter_tilesets,
    undrawable_layers,
)

__all__ = [
    "conv_filter_labels",
    "conv_filter_tiles",
    "dense_weight_image",
    "dense_weight_labels",
    "drawable_layers",
    "draw_tilesets",
    "filter_grid",
    "filter_tilesets",
    "undrawable_layers",
]
