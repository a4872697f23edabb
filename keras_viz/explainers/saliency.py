"""Saliency maps: the gradient of the class score with respect to the input.

Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps", ICLR workshop 2014. For an image the map is
``M_ij = max_c |∂S/∂x_ijc|``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import tensorflow as tf

from keras_viz.explainers._ops import check_reduce, reduce_channels
from keras_viz.explainers._token_explainer import TokenSupport
from keras_viz.explainers._tokens import resolve_reduce
from keras_viz.explainers.base import ForwardPass, SinglePassExplainer


class Saliency(TokenSupport, SinglePassExplainer):
    """Vanilla gradient saliency (Simonyan et al. 2014).

    Args:
        model: any Keras model on the TensorFlow backend.
        reduce: how the channel axis is collapsed: ``"auto"`` (default: the paper's
            ``max_c |grad|`` for images and sequences, the L2 norm over the embedding
            axis for token inputs), ``"max_abs"``, ``"sum"``, ``"abs_sum"``, ``"mean"``,
            ``"l2"``, or ``None`` to return the raw signed gradient with its channels.
        embedding_layer: for token-id inputs, the layer whose output is explained
            (default: the ``Embedding`` layer that reads the ids); maps are ``(N, T)``.
        **options: ``output``, ``batch_size``, ``use_logits`` (see :class:`Explainer`).

    Example:
        >>> maps = kv.Saliency(model)(images, targets=labels)   # (N, H, W)
        >>> grads = kv.Saliency(model, reduce=None)(images)     # (N, H, W, C), signed
        >>> kv.Saliency(text_model)(token_ids)                  # (N, T), per token
    """

    method = "saliency"
    rule: ClassVar[str] = "backprop"
    default_reduce: ClassVar[str | None] = "max_abs"

    def __init__(self, model: keras.Model, *, reduce: str | None = "auto", **options: Any):
        super().__init__(model, **options)
        self.reduce = check_reduce(reduce, auto=True)

    def _attribute(self, forward: ForwardPass) -> list[tf.Tensor]:
        grads = forward.gradients(forward.inputs, rule=self.rule)
        tokens = forward.plan.tokens
        return [
            reduce_channels(g, resolve_reduce(self.reduce, tokens is not None and tokens.is_token(i)))
            for i, g in enumerate(grads)
        ]
