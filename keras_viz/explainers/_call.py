"""One explainer call: validated inputs and targets, walked batch by batch, joined into an Explanation.

Shared by :class:`~keras_viz.explainers.base.Explainer`,
:class:`~keras_viz.explainers.group.ExplainerGroup` and
:func:`~keras_viz.views.explain_dataset.explain_dataset`, so several explainers can
walk the same batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_viz import targets as targets_lib
from keras_viz._inputs import Batch, Inputs, pack

__all__ = ["ExplainerCall", "Explanation"]


@dataclasses.dataclass
class Explanation:
    """The result of :meth:`~keras_viz.explainers.base.Explainer.explain`.

    Attributes:
        maps: the attribution maps, shaped like ``Explainer.__call__``'s result.
        classes: ``(N,)`` class index explained for each sample (the predicted class
            where ``targets`` was None), or None for unit and callable targets.
        scores: ``(N,)`` target score of each sample (the logit by default).
    """

    maps: Any
    classes: np.ndarray | None
    scores: np.ndarray


class ExplainerCall:
    """The validated inputs and targets of one call, iterated batch by batch.

    Shared by :class:`~keras_viz.explainers.base.Explainer` and :class:`~keras_viz.explainers.group.ExplainerGroup`,
    so several explainers can walk the same batches.
    """

    def __init__(self, model: keras.Model, inputs: Any, targets: targets_lib.TargetSpec):
        self.data = Inputs(inputs, model)
        self.target = targets_lib.resolve(targets)
        if self.target == "labels" and self.data.dataset is None:
            raise ValueError(
                "`targets`='labels' takes labels from a tf.data.Dataset yielding (x, y); "
                "for arrays pass the labels themselves as `targets`."
            )
        self._check_count(self.data.count)

    @property
    def structure(self) -> Any:
        return self.data.structure

    @property
    def is_class_target(self) -> bool:
        return isinstance(self.target, targets_lib.ClassTargets) or self.target == "labels"

    def _check_count(self, count: int | None) -> None:
        target = self.target
        if isinstance(target, targets_lib.ClassTargets) and target.indices is not None:
            if count is not None and len(target.indices) != count:
                raise ValueError(
                    f"`targets` has {len(target.indices)} entries but `inputs` has {count} samples."
                )

    def batches(self, batch_size: int):
        """Yields ``(batch, target for that batch)``."""
        for batch in self.data.batches(batch_size):
            yield batch, self._batch_target(batch)
        self._check_count(self.data.count)

    def _batch_target(self, batch: Batch) -> Any:
        target = self.target
        if target == "labels":
            if batch.labels is None:
                raise ValueError(
                    "`targets`='labels' but the dataset yields no labels; it must yield (x, y)."
                )
            return targets_lib.ClassTargets(targets_lib.class_indices(batch.labels))
        if isinstance(target, targets_lib.ClassTargets) and target.indices is not None:
            return targets_lib.ClassTargets(target.take(batch.offset, batch.size))
        return target

    def explanation(self, parts: Sequence[tuple], *, per_input: bool) -> Explanation:
        """Joins per-batch ``(maps, classes, scores)`` into one :class:`Explanation`."""
        flat_maps = [np.concatenate(chunks, axis=0) for chunks in zip(*(p[0] for p in parts))]
        return Explanation(
            maps=pack(self.structure, flat_maps) if per_input else flat_maps[0],
            classes=np.concatenate([p[1] for p in parts]) if self.is_class_target else None,
            scores=np.concatenate([p[2] for p in parts]),
        )

