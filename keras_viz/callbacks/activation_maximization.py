"""ActivationMaximizationCallback: watch features emerge while the model trains."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from keras_viz import render
from keras_viz.callbacks.base import VizCallback
from keras_viz.optvis._checks import check_int, check_seed
from keras_viz.optvis._engine import check_settings
from keras_viz.optvis._graph import check_objective
from keras_viz.optvis.activation_maximization import ActivationMaximizer
from keras_viz.optvis.objectives import Objective
from keras_viz.tensorboard import image_summary

__all__ = ["ActivationMaximizationCallback"]


def _tag_of(name: str) -> str:
    """A TensorBoard tag from an objective's name: no spaces, only ``[A-Za-z0-9_.-/]``."""
    tag = re.sub(r"[^A-Za-z0-9_.\-/]+", "_", name).strip("_/")
    return tag or "objective"


class ActivationMaximizationCallback(VizCallback):
    """Logs images optimised for ``objective`` (one per member, labelled) at logged epochs.

    Epochs are logged every ``freq`` epochs, or by default within the callbacks' time
    ``budget`` (see :class:`~keras_viz.callbacks.VizCallback`). The same seed is used at every
    logging step, so from one step to the next only the model has changed: the pictures show
    its features emerge. The optimisation is compiled
    once (at the first logging step) and reads the current weights each time. Tag:
    ``activation_maximization/<objective>``, one labelled grid per step.

    Args:
        objective: an optvis objective, e.g. ``optvis.class_score(range(10),
            probability=True)`` or ``optvis.channel("conv3", range(16))``.
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        steps: optimisation steps per logging step. The default (128) costs about 0.4 s per
            logged epoch for 10 class images of the demo model on 2 CPU cores, plus about
            0.5 s once for compiling (benchmarks/OPTVIS.md).
        size: ``(height, width)``; None takes the model's input size.
        param: ``"fourier"`` (default), ``"pixel"``, a generator model, or
            ``optvis.fourier(reference=x_train[:256])`` (the data's spectrum: smoother
            pictures on small models).
        transforms: ``"standard"`` (default), None, or optvis transforms.
        regularizers: optvis regularizers.
        learning_rate: Adam's step size.
        value_range: the model's input range.
        seed: the seed used at every logging step.
        scale: integer upscaling of the tiles; None makes them about 96 pixels.
        name: tag suffix; None derives it from the objective's name.
        **options: ``run``, ``freq``, ``budget``, ``batch_freq``, ``raise_errors``,
            ``background`` (:class:`~keras_viz.callbacks.VizCallback`): by default
            (``freq=None``) epochs are logged within the callbacks' shared time ``budget``.

    Raises:
        TypeError, ValueError: at construction, for any setting that can be checked without
            the model (``objective``, ``steps``, ``size``, ``param``, ``transforms``,
            ``regularizers``, ``learning_rate``, ``value_range``, ``seed``, ``scale``,
            ``name``); what needs the model (layer names, channel indices, a size the model
            cannot take) fails at the first logged epoch.
    """

    def __init__(
        self,
        objective: Objective,
        *,
        log_dir: str,
        steps: int = 128,
        size: Any = None,
        param: Any = "fourier",
        transforms: Any = "standard",
        regularizers: Any = (),
        learning_rate: float = 0.05,
        value_range: tuple[float, float] = (0, 1),
        seed: int = 0,
        scale: int | None = None,
        name: str | None = None,
        **options: Any,
    ):
        options.setdefault("max_outputs", 1)
        super().__init__(log_dir=log_dir, **options)
        self.objective = check_objective(objective)
        self.steps = check_int(steps, "steps", 1)
        self.seed = check_seed(seed)
        # Everything that does not need the model is checked now, not at the first logged epoch.
        self._settings = check_settings(
            size=size, param=param, transforms=transforms, regularizers=regularizers,
            learning_rate=learning_rate, value_range=value_range,
        )
        self.value_range = self._settings["value_range"]
        self.learning_rate = self._settings["learning_rate"]
        if scale is not None:
            check_int(scale, "scale", 1)
        if name is not None and (not isinstance(name, str) or not name or " " in name):
            raise ValueError(f"`name` must be a tag without spaces, e.g. 'classes'; received {name!r}")
        self.scale = scale
        self.tag = "activation_maximization/" + (name or _tag_of(self.objective.name))
        self._maximizer: ActivationMaximizer | None = None

    def _optimiser(self) -> ActivationMaximizer:
        if self._maximizer is None or self._maximizer.optimization.model is not self.model:
            self._maximizer = ActivationMaximizer(self.model, self.objective, **self._settings)
        return self._maximizer

    def _log(self, step: int, prefix: str):
        maximizer = self._optimiser()
        images = maximizer(self.steps, self.seed)
        names = maximizer.names
        final = maximizer.history[-1]

        def write(writer):
            picture = render.optvis_grid(images, names, value_range=self.value_range, scale=self.scale)
            values = ", ".join(f"{n}: {v:.3g}" for n, v in zip(names, np.asarray(final)))
            image_summary(
                prefix + self.tag,
                picture[np.newaxis],
                step=step,
                max_outputs=1,
                description=(
                    f"Images optimised for `{self.objective.name}` ({self.steps} steps, seed {self.seed}), "
                    f"one per member. Objective at the last step: {values}."
                ),
            )

        return write
