"""DecisionBoundaryCallback: the TensorFlow-Playground view of a 2-D classifier, every epoch."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_viz.callbacks.base import VizCallback
from keras_viz.decision_boundary import DecisionBoundary, data_extent, plane_grid
from keras_viz.node_link import dense_chain, node_link_diagram
from keras_viz.render.decision_boundary import decision_picture
from keras_viz.tensorboard import image_summary

__all__ = ["DecisionBoundaryCallback"]


class DecisionBoundaryCallback(VizCallback):
    """Logs a 2-D classifier's decision over the input plane every ``freq`` epochs.

    Tags: ``decision_boundary/plane``, the plane coloured by the predicted class (faded
    where the model is unsure, boundaries drawn) with the fixed points on top; and, for
    a chain of Dense layers, ``decision_boundary/network``, the node-link diagram with
    the current weights and, inside each neuron, what it computes over the plane (as
    playground.tensorflow.org draws it). The plane is fixed at the first logged epoch
    (the points' extent), so the pictures of successive epochs line up.

    Args:
        points: ``(N, 2)`` points to draw (e.g. the training set; a few hundred).
        labels: ``(N,)`` their class indices (colours), or None.
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        resolution: grid points per axis of the plane.
        size: picture width and height in pixels.
        network: also log the node-link diagram when the model is a chain of Dense
            layers (other models log the plane only).
        max_units: most neurons drawn per layer in the diagram.
        output: output name or index for multi-output models.
        **options: ``run``, ``freq`` (default 1: every epoch, unlike the other callbacks'
            time budget: evaluating a small 2-D classifier over the grid takes milliseconds,
            and watching the boundary move epoch by epoch is the point), ``budget``,
            ``batch_freq``, ``raise_errors``.
    """

    def __init__(
        self,
        points: Any,
        labels: Any = None,
        *,
        log_dir: str,
        resolution: int = 96,
        size: int = 256,
        network: bool = True,
        max_units: int = 12,
        output: str | int | None = None,
        **options: Any,
    ):
        options.setdefault("freq", 1)
        super().__init__(log_dir=log_dir, **options)
        self.points = np.asarray(points, np.float32)
        self.extent = data_extent(self.points)  # validates the points
        self.labels = None if labels is None else np.asarray(labels).reshape(-1)
        if self.labels is not None and len(self.labels) != len(self.points):
            raise ValueError(
                f"`labels` must have one entry per point ({len(self.points)}); received {len(self.labels)}."
            )
        plane_grid(self.extent, resolution)  # validates resolution
        for name, value, minimum in (("size", size, 16), ("max_units", max_units, 2)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"`{name}` must be an int >= {minimum}; received {name}={value!r}.")
        if output is not None and (isinstance(output, bool) or not isinstance(output, (str, int, np.integer))):
            raise TypeError(f"`output` must be an output name or index; received output={output!r}.")
        self.resolution = int(resolution)
        self.size = int(size)
        self.network = bool(network)
        self.max_units = int(max_units)
        self.output = output
        self._boundary: DecisionBoundary | None = None

    def _log(self, step: int, prefix: str):
        if self._boundary is None or self._boundary.model is not self.model:
            self._boundary = DecisionBoundary(self.model, resolution=self.resolution, output=self.output)
        plane = self._boundary(extent=self.extent)
        diagram = None
        if self.network:
            try:
                chain = dense_chain(self.model)
            except ValueError:
                chain = None  # not a chain of Dense layers: the plane alone
            if chain is not None:
                images = self._boundary.neuron_maps(list(chain.names), self.extent)
                diagram = node_link_diagram(self.model, max_units=self.max_units, node_images=images)
        picture = decision_picture(
            plane.probabilities, plane.extent, points=self.points, labels=self.labels, size=self.size
        )

        def write(writer):
            image_summary(
                f"{prefix}decision_boundary/plane",
                picture,
                step=step,
                description="Predicted class over the input plane (faded where unsure), with the points.",
            )
            if diagram is not None:
                image_summary(
                    f"{prefix}decision_boundary/network",
                    diagram,
                    step=step,
                    description="Neurons (each showing its output over the plane) and weights "
                    "(red positive, blue negative, thicker = larger).",
                )

        return write
