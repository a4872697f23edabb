"""Guided backpropagation.

Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity: The All
Convolutional Net", ICLR workshop 2015. Backward rule at a ReLU with input ``f``:
``(f > 0) · (R > 0) · R``.
"""

from __future__ import annotations

from keras_viz.explainers.saliency import Saliency


class GuidedBackprop(Saliency):
    """Guided backpropagation (Springenberg et al. 2015).

    Every ReLU of the model uses the guided rule while the explainer's function is
    traced; the model itself is not changed. Arguments are those of
    :class:`Saliency`; ``reduce=None`` keeps the colour channels.

    Example:
        >>> kv.GuidedBackprop(model)(images)   # (N, H, W)
    """

    method = "guided_backprop"
    rule = "guided"
    modified_relus = True
