"""Dataset-level views: what a unit responds to across the data, and which inputs look alike.

* :func:`receptive_field` -- the input pixels a unit of a convolutional layer sees.
* :func:`top_activations` -- per channel, the inputs and receptive-field patches that
  activate it most (running top-k over a stream); :func:`guided_patches` adds their
  guided-backprop maps.
* :func:`dissect` -- network dissection (Bau et al. 2017): IoU of each unit's thresholded
  map with labelled concept masks.
* :func:`embeddings` ("CNN codes"), :func:`tsne_map`, :func:`pca_map`,
  :func:`nearest_neighbors` (feature space vs pixel space); :class:`CodesAndOutputs`
  reads codes and predictions in one pass.
* :func:`explain_dataset` -- any explainer over a stream of any size, optionally spread
  over the replicas of a ``tf.distribute`` strategy.

Pictures of these results are in :mod:`keras_viz.render` (``top_patches``, ``scatter``,
``thumbnail_map``, ``neighbor_rows``, ``dissection_table``, ``dissection_units``); the
TensorBoard Embedding Projector export is :func:`keras_viz.tensorboard.export_projector`.
"""

from keras_viz.views.dissection import Dissection, dissect, shape_concepts
from keras_viz.views.embeddings import (
    CodesAndOutputs,
    NearestNeighbors,
    embeddings,
    nearest_neighbors,
    pca_map,
    tsne_map,
)
from keras_viz.views.explain_dataset import explain_dataset
from keras_viz.views.receptive_field import ReceptiveField, receptive_field
from keras_viz.views.top_activations import TopActivations, guided_patches, top_activations

__all__ = [
    "CodesAndOutputs",
    "Dissection",
    "NearestNeighbors",
    "ReceptiveField",
    "TopActivations",
    "dissect",
    "embeddings",
    "explain_dataset",
    "guided_patches",
    "nearest_neighbors",
    "pca_map",
    "receptive_field",
    "shape_concepts",
    "top_activations",
    "tsne_map",
]
