"""Explanation quality logged while a model trains: one scalar per method and metric.

Every ``freq`` epochs the callback explains a fixed set of inputs with each method and
scores the maps with :mod:`keras_viz.metrics` (deletion and insertion; with ground-truth
masks also the pointing game and energy in mask). Each score, averaged over the inputs,
becomes the scalar ``quality/<method>/<metric>`` in TensorBoard's Scalars tab, so one can
watch, for instance, Grad-CAM's pointing accuracy grow as the model learns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz import metrics as metrics_lib
from keras_viz import targets as targets_lib
from keras_viz._inputs import check_batch_size
from keras_viz.callbacks.base import VizCallback
from keras_viz.callbacks.explanations import _factories, _tag_prefixes
from keras_viz.explainers import ExplainerGroup, GradCAM, Saliency
from keras_viz.metrics.localisation import check_tolerance

__all__ = ["QUALITY_METRICS", "QualityCallback"]

QUALITY_METRICS: dict[str, str] = {
    "deletion": "Deletion AUC (Petsiuk et al. 2018): area under the target probability as the "
    "pixels the map ranks first are removed. **Lower is better.**",
    "insertion": "Insertion AUC (Petsiuk et al. 2018): area under the target probability as the "
    "pixels the map ranks first are put back into a blurred image. **Higher is better.**",
    "pointing_game": "Pointing game (Zhang et al. 2016): share of inputs whose map maximum lies "
    "on the mask (within `tolerance` pixels). **Higher is better.**",
    "energy_in_mask": "Share of the map's positive mass inside the mask (mean over inputs). "
    "**Higher is better.**",
}
"""Metric names accepted by :class:`QualityCallback`, with the description of their scalar."""

_MASK_METRICS = ("pointing_game", "energy_in_mask")


def _check_inputs(inputs: Any) -> np.ndarray:
    message = (
        "`inputs` of QualityCallback must be one array of images (N, H, W, C), e.g. x_val[:32]: the "
        "same images are scored at every step (datasets and multi-input models are not supported)."
    )
    if isinstance(inputs, (tf.data.Dataset, dict)):
        raise TypeError(message)
    try:
        array = np.asarray(inputs, np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(message) from error
    if array.ndim not in (3, 4) or array.shape[0] == 0:
        raise ValueError(
            f"`inputs` must be a non-empty batch of images (N, H, W, C) or sequences (N, T, C); "
            f"received shape {array.shape}."
        )
    return array


class QualityCallback(VizCallback):
    """Logs explanation-quality metrics of fixed inputs as TensorBoard scalars.

    Args:
        inputs: fixed images ``(N, H, W, C)`` (e.g. ``x_val[:32]``); all of them are scored
            (more inputs, steadier curves, slower logging).
        masks: ``(N, H, W)`` ground-truth masks of the objects (for example
            ``kv.datasets.make_shapes(...).masks``), needed by the localisation metrics.
        explainers: explainer classes (``kv.GradCAM``), callables ``model -> explainer``
            (``functools.partial(kv.SmoothGrad, samples=8)``) or explainers built for the
            trained model. Default: Saliency and Grad-CAM.
        metrics: names from :data:`QUALITY_METRICS` (``"deletion"``, ``"insertion"``,
            ``"pointing_game"``, ``"energy_in_mask"``). Default: all four with ``masks``,
            deletion and insertion without.
        targets: the true labels of ``inputs`` (explained and scored), or None for the
            predicted class of each input at each step.
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        tolerance: pointing-game tolerance in pixels (default 0: the maximum must be on the mask).
        steps: deletion/insertion steps (default 16).
        deletion_baseline / insertion_baseline: see :func:`keras_viz.metrics.deletion`
            (default 0.0) and :func:`~keras_viz.metrics.insertion` (default ``"blur"``).
        batch_size: perturbed copies per forward pass of deletion and insertion.
        **options: ``run``, ``freq``, ``batch_freq``, ``raise_errors``, ``background``
            (see :class:`~keras_viz.callbacks.base.VizCallback`).

    Scalars: ``quality/<method>/<metric>`` (``quality/grad_cam/pointing_game``), at the
    epoch index, like Keras' own scalars.

    Example:
        >>> data = kv.datasets.make_shapes(64, size=32)
        >>> QualityCallback(data.images, masks=data.masks, targets=data.labels,
        ...                 explainers=[kv.GradCAM], log_dir="logs", tolerance=2, freq=2)
    """

    def __init__(
        self,
        inputs: Any,
        *,
        masks: Any = None,
        explainers: Any = (Saliency, GradCAM),
        metrics: Any = None,
        targets: targets_lib.TargetSpec = None,
        log_dir: str,
        tolerance: float = 0.0,
        steps: int = 16,
        deletion_baseline: Any = 0.0,
        insertion_baseline: Any = "blur",
        batch_size: int = 64,
        **options: Any,
    ):
        super().__init__(log_dir=log_dir, **options)
        self.inputs = _check_inputs(inputs)
        self.masks = None if masks is None else np.asarray(masks)
        if masks is not None:  # shape, type and empty masks are checked here, not at every step
            metrics_lib.energy_in_mask(np.ones(self.inputs.shape[:-1], np.float32), self.masks)
        if metrics is None:
            metrics = ("pointing_game", "energy_in_mask", "deletion", "insertion") if masks is not None else (
                "deletion", "insertion")
        if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)) or not metrics:
            raise ValueError(f"`metrics` must be a non-empty list of metric names; received {metrics!r}.")
        for name in metrics:
            if name not in QUALITY_METRICS:
                raise ValueError(f"Unknown metric {name!r} in `metrics`; choose from: {', '.join(QUALITY_METRICS)}.")
            if name in _MASK_METRICS and masks is None:
                raise ValueError(f"Metric {name!r} compares maps with ground-truth masks: pass `masks=` as well.")
        self.metrics = tuple(dict.fromkeys(metrics))
        resolved = targets_lib.resolve(targets)
        if not isinstance(resolved, targets_lib.ClassTargets):
            raise TypeError(f"`targets` must be class labels or None; received {targets!r}.")
        if resolved.indices is not None and len(resolved.indices) != len(self.inputs):
            raise ValueError(f"`targets` has {len(resolved.indices)} entries but `inputs` has {len(self.inputs)}.")
        self.targets = targets
        self.factories = _factories(explainers)
        self.tolerance = check_tolerance(tolerance)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"`steps` must be a positive int; received {steps!r}.")
        self.steps = steps
        for baseline in (deletion_baseline, insertion_baseline):
            metrics_lib.baseline_images(self.inputs, baseline)  # fails early on a bad baseline
        self.deletion_baseline = deletion_baseline
        self.insertion_baseline = insertion_baseline
        batch_size = check_batch_size(batch_size)
        self.batch_size = batch_size
        self._group: ExplainerGroup | None = None
        self._scorer: metrics_lib.PerturbationScorer | None = None

    def _tools(self) -> tuple[ExplainerGroup, metrics_lib.PerturbationScorer]:
        """The explainers and the scorer of the trained model, built once (traced once)."""
        model = self.model
        if self._group is None or self._group.model is not model:
            self._group = ExplainerGroup([factory(model) for factory in self.factories])
            self._scorer = metrics_lib.PerturbationScorer(model, batch_size=self.batch_size)
        return self._group, self._scorer

    def scores(self) -> dict[str, float]:
        """``{"<method>/<metric>": mean score}`` of the model as it is now."""
        group, scorer = self._tools()
        explanations = group.explain(self.inputs, self.targets)
        values: dict[str, float] = {}
        for explainer, explanation, tag in zip(group.explainers, explanations, _tag_prefixes(group.explainers)):
            maps = np.asarray(tf.nest.flatten(explanation.maps)[0] if explainer.per_input else explanation.maps)
            if maps.shape == self.inputs.shape:  # a method that keeps channels: one value per pixel
                maps = np.abs(maps).max(axis=-1)
            classes = explanation.classes
            for name in self.metrics:
                if name == "pointing_game":
                    result = metrics_lib.pointing_game(maps, self.masks, tolerance=self.tolerance)
                elif name == "energy_in_mask":
                    result = metrics_lib.energy_in_mask(maps, self.masks)
                elif name == "deletion":
                    result = scorer.deletion(self.inputs, maps, classes, steps=self.steps, baseline=self.deletion_baseline)
                else:
                    result = scorer.insertion(self.inputs, maps, classes, steps=self.steps, baseline=self.insertion_baseline)
                result = np.asarray(result, np.float64)
                values[f"{tag}/{name}"] = float(np.nanmean(result)) if np.isfinite(result).any() else float("nan")
        return values

    def _log(self, step: int, prefix: str):
        values = self.scores()

        def write(writer):
            for name, value in values.items():
                metric = name.rsplit("/", 1)[-1]
                tf.summary.scalar(f"{prefix}quality/{name}", value, step=step, description=QUALITY_METRICS[metric])

        return write
