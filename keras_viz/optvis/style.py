"""Neural style transfer and texture synthesis (Gatys et al. 2016).

``x* = argmax_x  w_c · feature_match(content_layer, Φ(content))
                + w_s · mean_l gram_match(l, G_l(style)) - w_TV · TV(x)``

The content term keeps the arrangement of the content image at a deep layer; the style
terms match the Gram matrices (correlations between channels, position-free) of the style
image at several layers. Without a content image only the style terms remain: texture
synthesis. Built from the same objectives as everything else (:func:`optvis.feature_match`,
:func:`optvis.gram_match`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_viz.optvis._engine import Optimization
from keras_viz.optvis._checks import check_choice, check_int, check_positive, check_seed, check_size, check_value_range
from keras_viz.optvis._graph import check_images, checked_model, image_input, layer_outputs
from keras_viz.optvis.objectives import Objective, feature_match, gram_match
from keras_viz.optvis.params import fourier
from keras_viz.optvis.regularizers import total_variation

__all__ = ["style_objective", "style_transfer"]


def style_objective(
    model: keras.Model,
    content: np.ndarray | None,
    style: np.ndarray,
    content_layer: Any,
    style_layers: Sequence[Any],
    content_weight: float,
    style_weight: float,
) -> Objective:
    """The Gatys objective for checked content ``(N, H, W, C)`` (or None) and style batches."""
    style_outputs = layer_outputs(model, style, list(style_layers), argument="style_layers")
    style_term = sum(gram_match(layer, outputs) for layer, outputs in zip(style_layers, style_outputs))
    objective = (style_weight / len(style_layers)) * style_term
    if content is not None:
        (content_outputs,) = layer_outputs(model, content, [content_layer], argument="content_layer")
        objective = content_weight * feature_match(content_layer, content_outputs) + objective
    return objective


def style_transfer(
    model: keras.Model,
    content: Any,
    style: Any,
    *,
    content_layer: Any = None,
    style_layers: Sequence[Any],
    style_weight: float = 1.0,
    content_weight: float = 1.0,
    tv_weight: float = 0.01,
    steps: int = 300,
    size: Any = None,
    value_range: tuple[float, float] = (0, 1),
    seed: int = 0,
    param: Any = None,
    transforms: Any = None,
    learning_rate: float = 0.05,
    init: str = "noise",
    progress: bool = False,
    return_history: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Paints ``content`` in the style of ``style``; with ``content=None``, a texture of ``style``.

    Args:
        model: any Keras model with one image input (a feature extractor).
        content: ``(H, W, C)`` or ``(N, H, W, C)`` in ``value_range``, or None for a texture.
        style: ``(H, W, C)`` or ``(1, H, W, C)``; its size may differ from the content's
            when the model is fully convolutional up to the style layers.
        content_layer: layer whose activations keep the content (required with content).
        style_layers: layers whose Gram matrices define the style (early to deep).
        style_weight: weight of the style terms (their mean over ``style_layers``).
        content_weight: weight of the content term.
        tv_weight: weight of the total-variation prior.
        steps: optimisation steps.
        size: ``(height, width)`` or an int, the size of a texture (default: the style
            image's size); with content the result has the content's size (another
            ``size`` is an error).
        value_range: the model's input range.
        seed: seed of the initial noise.
        param: None (default): the Fourier parameterisation with the style image's spectrum
            and colours, ``optvis.fourier(reference=style)``; or ``"fourier"``, ``"pixel"``,
            an optvis parameterisation.
        transforms: random transforms during optimisation (none by default).
        learning_rate: Adam's step size.
        init: ``"noise"`` (default) or ``"content"`` (start from the content image).
        progress: show a Keras ``Progbar``.
        return_history: also return the ``(steps, N)`` objective values.

    Returns:
        float32 images shaped like ``content`` (a texture: like ``style`` or ``size``),
        in ``value_range``.

    Example:
        >>> painted = optvis.style_transfer(model, photo, painting, content_layer="block4_conv2",
        ...                                 style_layers=["block1_conv1", "block2_conv1", "block3_conv1"])
    """
    model = checked_model(model)
    value_range = check_value_range(value_range)
    steps = check_int(steps, "steps", 1)
    seed = check_seed(seed)
    style_weight = check_positive(style_weight, "style_weight", allow_zero=True)
    content_weight = check_positive(content_weight, "content_weight", allow_zero=True)
    tv_weight = check_positive(tv_weight, "tv_weight", allow_zero=True)
    init = check_choice(init, "init", ("noise", "content"))
    size = check_size(size)
    if isinstance(style_layers, (str, bytes)) or not isinstance(style_layers, Sequence):
        raise TypeError(
            f"`style_layers` must be a list of layers (names, '/'-paths, indices or layer objects); "
            f"received style_layers={style_layers!r:.80}"
        )
    if not style_layers:
        raise ValueError("`style_layers` is empty; name at least one layer.")
    declared, channels, fixed = image_input(model, "style_transfer")
    style_batch, _ = check_images(style, channels, value_range, "style", size=None)
    if style_batch.shape[0] != 1:
        raise ValueError(f"`style` must be one image, (H, W, C) or (1, H, W, C); received shape {np.shape(style)}.")
    if content is None:
        if init == "content":
            raise ValueError("`init`='content' needs a content image; content is None (texture synthesis).")
        texture_size = style_batch.shape[1:3] if size is None else size
        single = True
        content_batch = None
    else:
        if content_layer is None:
            raise ValueError("`content_layer` is required with a content image (e.g. a deep convolution).")
        content_batch, single = check_images(content, channels, value_range, "content")
        texture_size = content_batch.shape[1:3]
        if size is not None and size != tuple(texture_size):
            raise ValueError(
                f"`size`={size} applies to textures (content=None); with a content image the result "
                f"has the content's size, {tuple(texture_size)}: resize the content instead."
            )
    objective = style_objective(
        model, content_batch, style_batch, content_layer, style_layers, content_weight, style_weight
    )
    if param is None:
        param = fourier(reference=style_batch)
    optimization = Optimization(
        model,
        objective,
        size=tuple(int(s) for s in texture_size),
        param=param,
        transforms=transforms,
        regularizers=[total_variation(tv_weight)],
        learning_rate=learning_rate,
        value_range=value_range,
        batch=None if content_batch is None else len(content_batch),
        what="style_transfer",
    )
    start = content_batch if init == "content" else None
    images, history = optimization.run(steps, seed, progress=progress, init=start)
    if single:
        images = images[0]
    return (images, history) if return_history else images
