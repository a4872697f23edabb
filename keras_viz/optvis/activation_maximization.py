"""Activation maximisation: the image that most excites a unit, a channel or a class.

``x* = argmax_x S(x) - R(x)``: start from noise and climb the gradient of the objective
``S`` (Erhan et al. 2009; class models from logits, Simonyan et al. 2014), with the
regularisation that makes the result an image rather than an adversarial pattern
(Yosinski et al. 2015; Olah et al. 2017, "Feature Visualization": a decorrelated Fourier
parameterisation and transformation robustness, used by default here).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_viz.optvis._engine import Optimization
from keras_viz.optvis._graph import check_int, check_seed
from keras_viz.optvis.objectives import Objective

__all__ = ["ActivationMaximizer", "activation_maximization"]


class ActivationMaximizer:
    """Activation maximisation compiled once, to run again (every epoch of a callback).

    Takes the arguments of :func:`activation_maximization` except ``steps``, ``seed``,
    ``progress`` and ``init``, which :meth:`__call__` takes. The compiled step reads the
    model's weights when it runs, so a model that trains in between is seen as it is.
    """

    def __init__(
        self,
        model: keras.Model,
        objective: Objective,
        *,
        size: Any = None,
        param: Any = "fourier",
        transforms: Any = "standard",
        regularizers: Any = (),
        learning_rate: float = 0.05,
        value_range: tuple[float, float] = (0, 1),
        batch: int | None = None,
    ):
        self.optimization = Optimization(
            model,
            objective,
            size=size,
            param=param,
            transforms=transforms,
            regularizers=regularizers,
            learning_rate=learning_rate,
            value_range=value_range,
            batch=batch,
            what="activation_maximization",
        )
        self.objective = objective
        self.history: np.ndarray | None = None

    @property
    def names(self) -> list[str]:
        """One label per image (the member's name, with ``#r`` when a member has several images)."""
        opt = self.optimization
        names = self.objective.names
        per_member = opt.batch // self.objective.members
        if per_member == 1:
            return list(names)
        return [f"{names[k]} #{r}" for k, r in zip(opt.members, opt.replicas)]

    def __call__(self, steps: int = 256, seed: int = 0, *, progress: bool = False, init: Any = None) -> np.ndarray:
        images, self.history = self.optimization.run(steps, seed, progress=progress, init=init)
        return images


def activation_maximization(
    model: keras.Model,
    objective: Objective,
    *,
    steps: int = 256,
    size: Any = None,
    param: Any = "fourier",
    transforms: Any = "standard",
    regularizers: Any = (),
    learning_rate: float = 0.05,
    value_range: tuple[float, float] = (0, 1),
    seed: int = 0,
    progress: bool = False,
    batch: int | None = None,
    init: Any = None,
    return_history: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Optimises images to maximise ``objective`` (one image per member, as one batch).

    Args:
        model: any Keras model with one image input ``(N, H, W, C)``; nested and subclassed
            models included. It is never changed (inference mode, no weight update).
        objective: an optvis objective, e.g. ``optvis.channel("conv3", range(16))`` (16
            images) or ``optvis.class_score(3)``.
        steps: optimisation steps.
        size: ``(height, width)`` or an int; None (default) takes the model's input size.
            Another size works for fully convolutional models.
        param: ``"fourier"`` (default: decorrelated spectrum, :func:`optvis.fourier`),
            ``"pixel"``, a Keras generator model (latent code -> image, a generative
            prior) or an optvis parameterisation object.
        transforms: ``"standard"`` (default: pad, jitter, scale, rotate, jitter, scaled to
            the image size), None, a transform or a list of them.
        regularizers: a regularizer or a list, e.g. ``[optvis.total_variation(0.05),
            optvis.blur_every(4)]``; none by default.
        learning_rate: Adam's step size.
        value_range: the model's input range; images are returned in it.
        seed: the same seed gives the same images.
        progress: show a Keras ``Progbar``.
        batch: images in all (a multiple of the members; several per member with
            :func:`optvis.diversity`); None gives one per member.
        init: start from these images ``(B, H, W, C)`` (or one image) instead of noise.
        return_history: also return ``(steps, B)`` objective values, one per step and image.

    Returns:
        ``(B, H, W, C)`` float32 images in ``value_range``, member-major (image ``b`` is
        for member ``b // (B // K)``); with ``return_history``, ``(images, history)``.

    Raises:
        ValueError: unknown layer, index out of range, ``steps < 1``, invalid
            ``value_range``, a size the model cannot take, ...
        TypeError: ``objective`` is not an optvis objective, ``model`` not a Keras model.

    Example:
        >>> from keras_viz import optvis
        >>> images = optvis.activation_maximization(model, optvis.class_score(range(10)))
    """
    check_int(steps, "steps", 1)
    check_seed(seed)
    maximizer = ActivationMaximizer(
        model,
        objective,
        size=size,
        param=param,
        transforms=transforms,
        regularizers=regularizers,
        learning_rate=learning_rate,
        value_range=value_range,
        batch=batch,
    )
    images = maximizer(steps, seed, progress=progress, init=init)
    return (images, maximizer.history) if return_history else images
