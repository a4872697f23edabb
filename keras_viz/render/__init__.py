"""Pictures from raw arrays: normalise, colour, overlay, tile, and the picture families.

Explainers return raw float maps; this module turns them into uint8 RGB arrays
that TensorBoard, files or notebooks can show. Everything here is a pure
function over NumPy arrays (Pillow is used only for resizing and drawing text),
so the package never imports TensorFlow.

The core functions live in three modules: :mod:`keras_viz.render.colour` (normalisation
and colour maps), :mod:`keras_viz.render.images` (model inputs to RGB, heatmaps and
overlays) and :mod:`keras_viz.render.grids` (labelled grids, Pillow images). Each larger
picture family has its own module here too; all are re-exported below, so
``kv.render.<function>`` reaches them all.

Conventions used throughout:

* Normalised maps are float32 in ``[0, 1]``, or in ``[-1, 1]`` when normalised
  symmetrically (signed maps, where 0 means "no contribution").
* Sequential colour maps (``viridis``, ``magma``, ``inferno``, ``gray``) read
  values in ``[0, 1]``; diverging colour maps (``coolwarm``, ``RdBu_r``) read
  values in ``[-1, 1]`` and show negative as blue, 0 as white/light grey and
  positive as red.
* Pictures are uint8 arrays of shape ``(H, W, 3)``.

Example::

    rgb = heatmap_to_rgb(saliency_map)                  # (H, W, 3) uint8
    blended = overlay(image, saliency_map, alpha=0.6)
    sheet = grid([rgb, blended], labels=["saliency", "overlay"], scale=4)
    to_pil(sheet).save("saliency.png")
"""

from keras_viz.render.attention import (
    alignment_matrix,
    attention_heads,
    attention_heatmap,
    patch_attention_overlay,
    token_heatmap,
)
from keras_viz.render.colour import available_colormaps, colormap, normalize, normalize_batch
from keras_viz.render.grids import grid, to_pil
from keras_viz.render.images import heatmap_to_rgb, overlay, sequence_strip, to_uint8_image
from keras_viz.render.decision_boundary import class_colours, decision_picture, mix_class_colours
from keras_viz.render.node_link import edge_style, node_link
from keras_viz.render.quality import cascade_chart, line_chart, table_image
from keras_viz.render.embedding_maps import neighbor_rows, scatter, thumbnail_map
from keras_viz.render.patches import dissection_table, dissection_units, top_patches, top_patches_sheet
from keras_viz.render.optvis import adversarial_figure, optvis_grid, optvis_tile, perturbation_picture

__all__ = [
    "adversarial_figure",
    "alignment_matrix",
    "attention_heads",
    "attention_heatmap",
    "patch_attention_overlay",
    "token_heatmap",
    "available_colormaps",
    "cascade_chart",
    "class_colours",
    "colormap",
    "decision_picture",
    "edge_style",
    "grid",
    "heatmap_to_rgb",
    "line_chart",
    "mix_class_colours",
    "node_link",
    "normalize",
    "normalize_batch",
    "optvis_grid",
    "optvis_tile",
    "overlay",
    "perturbation_picture",
    "sequence_strip",
    "table_image",
    "to_pil",
    "to_uint8_image",
    "neighbor_rows",
    "scatter",
    "thumbnail_map",
    "dissection_table",
    "dissection_units",
    "top_patches",
    "top_patches_sheet",
]
