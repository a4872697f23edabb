"""Deconvnet: backpropagation that passes only positive signals through ReLUs.

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
Backward rule at a ReLU: ``(R > 0) · R`` (the forward activation is ignored), as
formulated by Springenberg et al. 2015.
"""

from __future__ import annotations

from keras_viz.explainers.saliency import Saliency


class Deconvnet(Saliency):
    """Deconvnet reconstruction of a class score or unit (Zeiler & Fergus 2014).

    Every ReLU of the model (``activation="relu"``, ``keras.layers.ReLU``,
    ``keras.layers.Activation("relu")``, nested models included) uses the deconvnet
    backward rule while the explainer's function is traced; the model itself is not
    changed. Arguments are those of :class:`Saliency`; ``reduce=None`` returns the
    signed reconstruction with its channels, as in the paper's figures.

    Example:
        >>> kv.Deconvnet(model, reduce=None)(images, targets=kv.Unit("conv5", channel=3))
    """

    method = "deconvnet"
    rule = "deconvnet"
    modified_relus = True
