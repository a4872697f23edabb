"""Training health: dead ReLUs, activation, weight and gradient statistics.

The lecture notes name what training visualization is for: spotting a network that is
not converging or whose ReLUs are dying. :class:`HealthProbe` runs one compiled
forward (and, when labels and a loss are known, backward) pass on a fixed batch, in
inference mode, and returns per-layer statistics; nothing in the model, its optimizer
or its metrics is touched.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import Inputs, pack
from keras_viz._model import LayerRecorder, check_backend, check_model, iter_layers, single_tensor
from keras_viz.backprop import _swap_for

__all__ = ["HealthProbe", "HealthReport", "dead_fraction", "relu_layers", "unit_norms"]


def relu_layers(model: keras.Model) -> list[tuple[str, keras.layers.Layer]]:
    """Every layer whose output is a ReLU (``activation="relu"``, ``ReLU``, ``Activation("relu")``)."""
    found = []
    for path, layer in iter_layers(model):
        if isinstance(layer, keras.layers.ReLU) and float(layer.negative_slope) == 0.0:
            found.append((path, layer))
        elif _swap_for(layer.__dict__.get("activation")) is not None:
            found.append((path, layer))
    return found


def dead_fraction(activation: np.ndarray) -> float:
    """Fraction of units (channels) that output zero for every sample and position.

    Args:
        activation: ReLU output ``(N, ..., C)`` on a batch.
    """
    activation = np.asarray(activation)
    if activation.ndim < 2:
        raise ValueError(f"`activation` must be (N, ..., C); received shape {activation.shape}")
    alive = (activation > 0).reshape(-1, activation.shape[-1]).any(axis=0)
    return float(1.0 - alive.mean())


def unit_norms(values: np.ndarray) -> np.ndarray:
    """L2 norm per output unit (last axis) of a weight or gradient tensor."""
    values = np.asarray(values, np.float64)
    if values.ndim == 0:
        return np.abs(values).reshape(1)
    return np.sqrt((values.reshape(-1, values.shape[-1]) ** 2).sum(axis=0))


@dataclasses.dataclass
class HealthReport:
    """Statistics of one probe, keyed by layer path (and variable path)."""

    dead: dict[str, float]  # ReLU layer -> fraction of dead units
    activations: dict[str, np.ndarray]  # ReLU layer -> activation values
    weights: dict[str, np.ndarray]  # variable path -> values
    gradients: dict[str, np.ndarray]  # variable path -> gradient (empty without labels/loss)
    loss: float | None


class HealthProbe:
    """Measures training health on a fixed batch.

    Args:
        model: any Keras model on the TensorFlow backend.
        inputs: a fixed batch of inputs.
        labels: its targets, for gradients of the model's compiled loss; None skips
            gradients.
        loss: a loss function ``(y_true, y_pred) -> loss``; default: the loss the model
            was compiled with (single-output models).
    """

    def __init__(self, model: keras.Model, inputs: Any, labels: Any = None, loss: Any = None):
        check_backend()
        self.model = check_model(model)
        data = Inputs(inputs, model)
        (self.batch,) = list(data.batches(max(int(data.count), 1)))
        self.structure = data.structure
        self.labels = None if labels is None else np.asarray(labels)
        self.loss = loss
        self.layers = relu_layers(model)
        self.notes: list[str] = []
        self._function = None

    def _loss_function(self):
        if self.labels is None:
            self.notes.append("Gradients are not logged: no labels were given.")
            return None
        loss = self.loss if self.loss is not None else getattr(self.model, "loss", None)
        if loss is None or isinstance(loss, (dict, list, tuple)):
            self.notes.append(
                "Gradients are not logged: pass `loss=` (the model has no single compiled loss)."
            )
            return None
        return keras.losses.get(loss) if isinstance(loss, str) else loss

    def _build(self):
        loss_fn = self._loss_function()
        layers = [layer for _, layer in self.layers]
        variables = list(self.model.trainable_variables)
        count = len(self.batch.inputs)

        def body(*args):
            inputs = list(args[:count])
            recorder = LayerRecorder(layers)
            with tf.GradientTape() as tape:  # watches the variables it reads, as Keras' train_step
                with recorder.active():
                    outputs = self.model(pack(self.structure, inputs), training=False)
                loss = tf.constant(0.0)
                if loss_fn is not None:
                    loss = tf.reduce_mean(tf.cast(loss_fn(args[count], outputs), tf.float32))
            grads = tape.gradient(loss, variables) if loss_fn is not None else []
            grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
            acts = []
            for path, layer in self.layers:
                try:
                    output = single_tensor(recorder.output(layer), f"Layer {layer.name!r}")
                except ValueError as reason:  # an RNN cell or a shared layer: runs several times
                    skipped.append(f"{path} ({reason})")
                    continue
                readable.append(path)
                acts.append(tf.cast(output, tf.float32))
            return acts, grads, loss

        readable: list[str] = []
        skipped: list[str] = []

        specs = [tf.TensorSpec((None, *a.shape[1:]), tf.float32) for a in self.batch.inputs]
        if loss_fn is not None:
            specs.append(tf.TensorSpec((None, *self.labels.shape[1:]), tf.as_dtype(self.labels.dtype)))
        self._function = tf.function(body, autograph=False).get_concrete_function(*specs)
        self._has_loss = loss_fn is not None
        self._readable = readable
        if skipped:
            self.notes.append(
                "Dead-ReLU statistics are not computed for ReLU layers that do not run once "
                "with one output per forward pass: " + "; ".join(skipped)
            )

    def __call__(self) -> HealthReport:
        if self._function is None:
            self._build()
        args = list(self.batch.inputs)
        if self._has_loss:
            args.append(self.labels)
        acts, grads, loss = self._function(*args)
        activations = {name: a.numpy() for name, a in zip(self._readable, acts)}
        variables = self.model.trainable_variables
        paths = [_variable_path(v) for v in variables]
        return HealthReport(
            dead={name: dead_fraction(a) for name, a in activations.items()},
            activations=activations,
            weights={_variable_path(v): np.asarray(v) for v in self.model.weights},
            gradients={p: g.numpy() for p, g in zip(paths, grads)} if self._has_loss else {},
            loss=float(loss) if self._has_loss else None,
        )


def _variable_path(variable: Any) -> str:
    return str(getattr(variable, "path", None) or variable.name).replace(" ", "_")
