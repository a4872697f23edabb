"""TrainingHealthCallback: dead ReLUs, histograms, and the model's block diagram."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz.architecture import model_diagram
from keras_viz.callbacks.base import VizCallback
from keras_viz.callbacks.explanations import _fixed_inputs
from keras_viz.health import HealthProbe, unit_norms
from keras_viz.tensorboard import histogram_summary, image_summary

__all__ = ["TrainingHealthCallback"]


class TrainingHealthCallback(VizCallback):
    """Logs training health on a fixed batch, in inference mode.

    At every logged epoch, for each ReLU layer: the fraction of dead units (scalar
    ``health/dead_relu/<layer>``: units that output zero for every input of the batch)
    and a histogram of its activations (``health/activations/<layer>``); for each
    weight: a histogram of its values (``health/weights/<variable>``); with labels, the
    gradient norm of each trainable variable (scalar ``health/gradient_norm/<variable>``)
    and a histogram of its per-unit gradient norms (``health/gradient_unit_norms/...``).
    A text summary ``health/warnings`` names layers whose dead fraction exceeds
    ``dead_threshold``. Once, at the start of training, a block diagram of the model
    is logged as ``architecture/model``.

    Args:
        inputs: a fixed batch (e.g. 64 training samples).
        labels: its targets (for gradients of the compiled loss); None skips gradients.
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        dead_threshold: dead fraction above which a layer is reported (default 0.5:
            "mostly dead").
        loss: loss function for the gradients; default: the model's compiled loss.
        diagram: log the block diagram at the start of training.
        **options: ``run``, ``freq``, ``budget``, ``batch_freq``, ``max_outputs``,
            ``raise_errors``.
    """

    def __init__(
        self,
        inputs: Any,
        labels: Any = None,
        *,
        log_dir: str,
        dead_threshold: float = 0.5,
        loss: Any = None,
        diagram: bool = True,
        **options: Any,
    ):
        super().__init__(log_dir=log_dir, **options)
        self.inputs = _fixed_inputs(inputs, 10**9)
        self.labels = None if labels is None else np.asarray(labels)
        if not 0.0 <= float(dead_threshold) <= 1.0:
            raise ValueError(f"`dead_threshold` must be in [0, 1]; received {dead_threshold!r}")
        self.dead_threshold = float(dead_threshold)
        self.loss = loss
        self.diagram = bool(diagram)
        self._probe: HealthProbe | None = None

    def _health_probe(self) -> HealthProbe:
        if self._probe is None or self._probe.model is not self.model:
            self._probe = HealthProbe(self.model, self.inputs, self.labels, loss=self.loss)
        return self._probe

    def _log_start(self):
        if not self.diagram:
            return None
        sample = self.inputs[:1] if isinstance(self.inputs, np.ndarray) else None
        picture = model_diagram(self.model, sample)

        def write(writer):
            image_summary("architecture/model", picture, step=0, max_outputs=1, description="Block diagram of the model.")

        return write

    def _log(self, step: int, prefix: str):
        probe = self._health_probe()
        report = probe()
        notes = list(probe.notes)
        warnings = [
            f"- **{layer}**: {fraction:.0%} of its ReLU units are dead on the fixed batch."
            for layer, fraction in report.dead.items()
            if fraction > self.dead_threshold
        ]
        if warnings:
            notes.insert(0, "Mostly dead ReLU layers (the network may have stopped learning there):\n\n" + "\n".join(warnings))

        def write(writer):
            for layer, fraction in report.dead.items():
                tf.summary.scalar(f"{prefix}health/dead_relu/{layer}", fraction, step=step)
            for layer, values in report.activations.items():
                histogram_summary(f"{prefix}health/activations/{layer}", values, step=step)
            for name, values in report.weights.items():
                histogram_summary(f"{prefix}health/weights/{name}", values, step=step)
            for name, gradient in report.gradients.items():
                tf.summary.scalar(f"{prefix}health/gradient_norm/{name}", float(np.linalg.norm(gradient)), step=step)
                histogram_summary(f"{prefix}health/gradient_unit_norms/{name}", unit_norms(gradient), step=step)
            if report.loss is not None:
                tf.summary.scalar(f"{prefix}health/loss_on_fixed_batch", report.loss, step=step)
            if notes:
                tf.summary.text(f"{prefix}health/warnings", "\n\n".join(notes), step=step)

        return write
