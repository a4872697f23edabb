"""Visualize the weights: convolution filters and Dense templates as pictures.

The oldest way to look inside a network is to draw its learned weights
(Karpathy, CS231n "Visualizing what ConvNets learn"):

* **First-layer filters** look at pixels, so a filter with 3 input channels is
  itself a small colour image: AlexNet's first layer shows oriented edges,
  Gabor-like patterns and colour blobs (Krizhevsky, Sutskever & Hinton 2012,
  "ImageNet Classification with Deep Convolutional Neural Networks", Fig. 3).
  Smooth filters mean a well-trained layer; noisy ones a layer that has not
  converged or lacks regularisation (Zeiler & Fergus 2014, "Visualizing and
  Understanding Convolutional Networks", which used them to spot dead and
  aliased first-layer filters).
* **Deeper filters** mix many feature maps, so each (filter, input channel)
  slice is drawn as its own grey tile.
* **Dense weights** on a flattened image are templates: each unit of a linear
  classifier reshaped to the input image shows what that class "looks for"
  (CS231n, "Linear classification").

Keras' ``TensorBoard(write_images=True)`` silently skips every convolution
kernel whose last dimension is not 1, 3 or 4; here nothing is skipped
silently: `drawable_layers` lists what can be drawn and `undrawable_layers`
lists every other layer holding weights, with the reason.

Conventions shared by every function:

* **Symmetric normalisation around zero, per filter.** A tile's value is
  ``0.5 + 0.5 * w / max|w|``, where the maximum is taken over the *whole*
  filter (all its input channels and, for Conv3D, all its depth slices; for a
  Dense unit, its whole weight vector). So 0.5 (mid grey) is a zero weight,
  0 and 1 are the filter's largest negative and positive magnitudes, and the
  channels of one filter are comparable with each other (the brightness of
  two different filters is not: each has its own scale). An all-zero filter
  is uniformly 0.5.
* Tiles are float32 arrays in ``[0, 1]``: ``(h, w)`` grey or ``(h, w, 3)``
  RGB, ready for `keras_viz.render.grid`.
* Biases are not drawn (one number per filter carries no spatial pattern).

The package, one concern per module: :mod:`~keras_viz.filters.tiles` (the pure NumPy
maths: kernels and Dense weights to labelled tiles), :mod:`~keras_viz.filters.layers`
(the model side: which layers can be drawn and why not, reading a layer's weights into
tile sets) and :mod:`~keras_viz.filters.drawing` (tile sets to one labelled picture).

Example::

    import keras_viz as kv
    from keras_viz import filters, render

    picture = filters.filter_grid(model, "conv1")        # (H, W, 3) uint8
    render.to_pil(picture).save("conv1_filters.png")
    for path, reason in filters.undrawable_layers(model):
        print(f"not drawn: {path}: {reason}")
"""

from keras_viz.filters.drawing import draw_tilesets, filter_grid
from keras_viz.filters.layers import drawable_layers, filter_tilesets, undrawable_layers
from keras_viz.filters.tiles import (
    conv_filter_labels,
    conv_filter_tiles,
    dense_weight_image,
    dense_weight_labels,
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
