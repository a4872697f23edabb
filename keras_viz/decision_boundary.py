"""Decision boundaries of models with 2-D inputs: the TensorFlow-Playground view.

Seed 004 ("Visualization of training") shows playground.tensorflow.org: for a network
that classifies points of the plane, colour the plane by the predicted class (stronger
where the network is confident), put the training points on top, and show, inside each
neuron of the network diagram, what that neuron computes over the same plane. Logged
every epoch (:class:`keras_viz.callbacks.DecisionBoundaryCallback`), it shows the
boundary bend as the network learns.

Example::

    plane = kv.DecisionBoundary(model)(x_train)            # probabilities on a 128 x 128 grid
    picture = kv.render.decision_picture(plane.probabilities, plane.extent,
                                         points=x_train, labels=y_train)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import check_batch_size
from keras_viz._model import check_backend, check_model, declared_inputs, logits_of, output_names
from keras_viz.activations import FeatureMaps
from keras_viz.render.colour import colormap

__all__ = ["DecisionBoundary", "Plane", "data_extent", "plane_grid", "to_probabilities"]


def data_extent(points: Any, margin: float = 0.1) -> tuple[float, float, float, float]:
    """``(x_min, x_max, y_min, y_max)`` of ``points`` (N, 2), widened by ``margin`` of each span."""
    xy = np.asarray(points, np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0 or not np.all(np.isfinite(xy)):
        raise ValueError(f"`points` must be finite (N, 2) coordinates with N >= 1; received shape {xy.shape}.")
    if not (isinstance(margin, (int, float)) and not isinstance(margin, bool) and margin >= 0):
        raise ValueError(f"`margin` must be a number >= 0; received margin={margin!r}.")
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    low, high = low - margin * span, high + margin * span
    return float(low[0]), float(high[0]), float(low[1]), float(high[1])


def plane_grid(extent: Sequence[float], resolution: int) -> np.ndarray:
    """The ``resolution²`` points of a regular grid over ``extent``, float32 ``(R*R, 2)``.

    Row-major like an image: the first row is the *top* of the plane (largest y), each
    row runs left to right (increasing x); pixel centres sit at the cell centres.
    """
    x_min, x_max, y_min, y_max = (float(v) for v in extent)
    if not (x_min < x_max and y_min < y_max):
        raise ValueError(f"`extent` must be (x_min, x_max, y_min, y_max) with min < max; received {extent!r}.")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 2:
        raise ValueError(f"`resolution` must be an int >= 2; received resolution={resolution!r}.")
    step_x = (x_max - x_min) / resolution
    step_y = (y_max - y_min) / resolution
    xs = x_min + step_x * (np.arange(resolution) + 0.5)
    ys = y_max - step_y * (np.arange(resolution) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=-1).astype(np.float32)


def to_probabilities(logits: np.ndarray) -> np.ndarray:
    """Class scores before the final squashing ``(N, K)`` as probabilities ``(N, max(K, 2))``.

    One unit is a binary classifier's logit (sigmoid: the probability of the positive
    class); several units are class logits (softmax).
    """
    values = np.asarray(logits, np.float64)
    if values.ndim != 2:
        raise ValueError(f"model outputs must be (N, classes); received shape {values.shape}.")
    if values.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-values[:, 0]))
        return np.stack([1.0 - p, p], axis=-1)
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class Plane:
    """A model's decision over a grid of the input plane.

    Attributes:
        probabilities: ``(R, R, K)`` class probabilities (K >= 2; a single sigmoid unit
            gives K = 2), row 0 the top of the plane.
        extent: ``(x_min, x_max, y_min, y_max)``.
    """

    probabilities: np.ndarray
    extent: tuple[float, float, float, float]

    @property
    def classes(self) -> np.ndarray:
        """``(R, R)`` predicted class at each grid point."""
        return self.probabilities.argmax(axis=-1)


def _signed_unit(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] for a diverging map: by magnitude if signed, by range if not."""
    low, high = float(values.min()), float(values.max())
    if low >= 0.0:
        return np.clip(2.0 * (values - low) / ((high - low) or 1.0) - 1.0, -1.0, 1.0)
    return np.clip(values / (max(abs(low), abs(high)) or 1.0), -1.0, 1.0)


class DecisionBoundary:
    """Evaluates a classifier of 2-D points over a grid of the plane.

    Args:
        model: a Keras model whose single input is ``(N, 2)`` points and whose output
            (or ``output``, for several outputs) is ``(N, K)`` class scores.
        resolution: grid points per axis.
        margin: how far the plane extends beyond the data, as a share of its span.
        output: name or index of the output for multi-output models.
        batch_size: grid points per forward pass.

    Example:
        >>> plane = kv.DecisionBoundary(model)(x_train)
        >>> plane.probabilities.shape     # (128, 128, K)
    """

    def __init__(
        self,
        model: keras.Model,
        *,
        resolution: int = 128,
        margin: float = 0.1,
        output: str | int | None = None,
        batch_size: int = 4096,
    ):
        check_backend()
        self.model = check_model(model)
        plane_grid((0, 1, 0, 1), resolution)  # validates resolution
        data_extent(np.zeros((1, 2)), margin)  # validates margin
        batch_size = check_batch_size(batch_size)
        inputs = declared_inputs(self.model)
        if inputs is not None and (len(inputs) != 1 or tuple(inputs[0].shape[1:]) != (2,)):
            shapes = [tuple(i.shape) for i in inputs]
            raise ValueError(
                f"`model` {self.model.name!r} must take one input of 2-D points (N, 2) to be drawn "
                f"over the plane; its inputs have shapes {shapes}."
            )
        self.resolution = int(resolution)
        self.margin = float(margin)
        self.output = output
        self.batch_size = int(batch_size)
        self._output_names: list[str] = []
        self._forward = tf.function(self._logits, autograph=False, reduce_retracing=True)

    def _logits(self, points: tf.Tensor) -> list[tf.Tensor]:
        """Each output's scores before a final softmax/sigmoid, found in the traced graph.

        Reading the squashing op off the graph (as the explainers do) tells a probability
        output from a logit output whatever values it takes; an output with no softmax or
        sigmoid is taken as logits.
        """
        outputs = self.model(points, training=False)
        self._output_names = output_names(self.model, outputs)
        return [logits_of(t) for t in tf.nest.flatten(outputs)]

    def __call__(self, points: Any = None, *, extent: Sequence[float] | None = None) -> Plane:
        """The decision over the plane spanned by ``points`` (or over ``extent``)."""
        if extent is None:
            if points is None:
                raise ValueError("Pass `points` (to span the plane) or `extent`; received neither.")
            extent = data_extent(points, self.margin)
        grid = plane_grid(extent, self.resolution)
        outputs = np.concatenate(
            [self._select(self._forward(tf.constant(grid[i : i + self.batch_size])))
             for i in range(0, len(grid), self.batch_size)]
        )
        probabilities = to_probabilities(outputs).astype(np.float32)  # outputs: logits
        return Plane(probabilities.reshape(self.resolution, self.resolution, -1), tuple(float(v) for v in extent))

    def _select(self, logits: list[tf.Tensor]) -> np.ndarray:
        if len(logits) == 1:
            return np.asarray(logits[0], np.float64)
        names = self._output_names
        if isinstance(self.output, str) and self.output in names:
            return np.asarray(logits[names.index(self.output)], np.float64)
        if isinstance(self.output, (int, np.integer)) and not isinstance(self.output, bool) and -len(logits) <= self.output < len(logits):
            return np.asarray(logits[int(self.output)], np.float64)
        raise ValueError(
            f"`output` must name one of the model's {len(logits)} outputs ({', '.join(names)}) or "
            f"index it; received output={self.output!r}."
        )

    def neuron_maps(
        self, layers: Sequence[Any], extent: Sequence[float], *, resolution: int = 24
    ) -> list[np.ndarray]:
        """What each neuron of ``layers`` computes over the plane, as pictures.

        Returns, first for the two input coordinates and then for each layer, uint8
        pictures ``(units, resolution, resolution, 3)``: the unit's output over the plane
        on a diverging colour map, as the playground draws inside each neuron: signed
        layers are scaled by their largest magnitude (0 is white); layers whose outputs
        are all >= 0 (ReLU, sigmoid) run from their minimum (blue) to their maximum (red).
        """
        grid = plane_grid(extent, resolution)
        values = [grid]
        if layers:
            maps = FeatureMaps(self.model, list(layers), batch_size=self.batch_size)(grid)
            values += [np.asarray(v, np.float32).reshape(len(grid), -1) for v in maps.values()]
        pictures = []
        for column in values:
            coloured = colormap(_signed_unit(column), "RdBu_r")  # (R*R, units, 3)
            pictures.append(np.ascontiguousarray(
                coloured.reshape(resolution, resolution, column.shape[1], 3).transpose(2, 0, 1, 3)
            ))
        return pictures
