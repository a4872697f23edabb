"""ActivationCallback: feature maps of chosen layers for fixed inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_viz.activations import FeatureMaps, feature_map_grid, spatial_layers
from keras_viz.callbacks.base import VizCallback
from keras_viz.callbacks.explanations import _fixed_inputs
from keras_viz.tensorboard import image_summary

__all__ = ["ActivationCallback"]


class ActivationCallback(VizCallback):
    """Logs the feature maps of chosen layers for fixed inputs, one grid per layer.

    Each image shows the channels of one layer for one input (each channel normalised
    on its own; an all-black tile is a unit that is off for that input). Tags:
    ``activations/<layer path>``, one picture per input.

    Args:
        inputs: the fixed inputs (e.g. ``x_val[:4]``).
        layers: layer names/paths; None (default) takes the convolution layers (at
            most ``max_layers``, evenly spaced from first to last).
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        max_channels: channels drawn per layer.
        max_layers: most layers drawn when ``layers`` is None.
        **options: ``run``, ``freq``, ``budget``, ``batch_freq``, ``max_outputs`` (inputs
            drawn, default 4 here), ``raise_errors``.
    """

    def __init__(
        self,
        inputs: Any,
        layers: Sequence[Any] | None = None,
        *,
        log_dir: str,
        max_channels: int = 32,
        max_layers: int = 12,
        **options: Any,
    ):
        options.setdefault("max_outputs", 4)
        super().__init__(log_dir=log_dir, **options)
        self.inputs = _fixed_inputs(inputs, self.max_outputs)
        if layers is not None and (isinstance(layers, (str, int)) or not isinstance(layers, Sequence)):
            raise TypeError(f"`layers` must be a list of layer names or None; received {layers!r}")
        self.layers = None if layers is None else list(layers)
        self.max_channels = max_channels
        self.max_layers = max_layers
        self._maps: FeatureMaps | None = None

    def _feature_maps(self) -> FeatureMaps:
        if self._maps is None or self._maps.model is not self.model:
            layers = self.layers or spatial_layers(self.model, self.inputs, limit=self.max_layers)
            self._maps = FeatureMaps(self.model, layers)
        return self._maps

    def _log(self, step: int, prefix: str):
        maps = self._feature_maps()(self.inputs)

        def write(writer):
            for name, values in maps.items():
                pictures = [feature_map_grid(v, max_channels=self.max_channels) for v in values]
                height = max(p.shape[0] for p in pictures)
                width = max(p.shape[1] for p in pictures)
                batch = np.full((len(pictures), height, width, 3), 255, np.uint8)
                for i, picture in enumerate(pictures):
                    batch[i, : picture.shape[0], : picture.shape[1]] = picture
                image_summary(
                    f"{prefix}activations/{name}",
                    batch,
                    step=step,
                    max_outputs=self.max_outputs,
                    description=f"Feature maps of `{name}` (shape {values.shape[1:]}), one picture per input.",
                )

        return write
