"""FilterCallback: kernel grids of chosen layers, every few epochs.

Unlike Keras' own ``write_images`` (which skips every convolution whose last kernel
axis is not 1, 3 or 4), every layer with weights is either drawn or listed, with the
reason, in a text summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from keras_viz import filters as filters_lib
from keras_viz._model import find_layer, layer_path
from keras_viz.callbacks.base import VizCallback
from keras_viz.tensorboard import image_summary

__all__ = ["FilterCallback"]


class FilterCallback(VizCallback):
    """Logs the weights of chosen layers as labelled tile grids.

    First-layer RGB filters are colour tiles; deeper convolutions grey tiles, one row
    per filter and one column per input channel (the first ``max_channels`` input
    channels of the first ``max_filters`` filters: 32 × 4 by default, a picture that
    stays readable and cheap to draw every epoch); Dense layers as images (one template
    per unit when the Dense reads a flattened image). Tags: ``filters/<layer path>``.

    Args:
        layers: layer names/paths/indices; None (default) draws every drawable layer
            (convolutions and Dense layers, nested models included).
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        max_filters: filters (or units) drawn per layer.
        max_channels: input channels drawn per filter for grey tiles.
        **options: ``run``, ``freq``, ``budget``, ``batch_freq``, ``max_outputs``,
            ``raise_errors``.
    """

    def __init__(
        self,
        layers: Sequence[Any] | None = None,
        *,
        log_dir: str,
        max_filters: int = 32,
        max_channels: int = 4,
        **options: Any,
    ):
        super().__init__(log_dir=log_dir, **options)
        if layers is not None and (isinstance(layers, (str, int)) or not isinstance(layers, Sequence)):
            raise TypeError(f"`layers` must be a list of layer names or None; received {layers!r}")
        self.layers = None if layers is None else list(layers)
        self.max_filters = max_filters
        self.max_channels = max_channels

    def _chosen(self) -> list[tuple[str, Any]]:
        model = self.model
        if self.layers is None:
            return filters_lib.drawable_layers(model)
        chosen = []
        for ref in self.layers:
            layer = find_layer(model, ref, argument="layers")
            chosen.append((layer_path(model, layer), layer))
        return chosen

    def _log_start(self):
        skipped = filters_lib.undrawable_layers(self.model)
        if self.layers is not None or not skipped:
            return None
        rows = "\n".join(f"| {path} | {reason} |" for path, reason in skipped)

        def write(writer):
            tf.summary.text(
                "filters/not_drawn",
                f"Layers with weights that are not drawn as filters:\n\n| layer | why |\n|---|---|\n{rows}",
                step=0,
            )

        return write

    def _log(self, step: int, prefix: str):
        read = []
        for path, layer in self._chosen():  # a snapshot of the weights, taken now
            tilesets = filters_lib.filter_tilesets(
                self.model, layer, max_filters=self.max_filters, max_channels=self.max_channels
            )
            kernel = getattr(layer, "kernel", None)
            shape = f", kernel {tuple(kernel.shape)}" if kernel is not None else ""
            read.append((path, tilesets, f"Weights of `{path}` ({type(layer).__name__}{shape})."))

        def write(writer):
            for path, tilesets, description in read:
                picture = filters_lib.draw_tilesets(tilesets)
                image_summary(f"{prefix}filters/{path}", picture, step=step, max_outputs=1, description=description)

        return write
