"""EmbeddingCallback: the codes of a layer in TensorBoard's Embedding Projector, during training."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz import render
from keras_viz._checks import check_int
from keras_viz.callbacks.base import VizCallback
from keras_viz.callbacks.explanations import _fixed_inputs
from keras_viz.projector import export_projector
from keras_viz.tensorboard import image_summary
from keras_viz.views.embeddings import CodesAndOutputs, tsne_map

__all__ = ["EmbeddingCallback"]


class EmbeddingCallback(VizCallback):
    """Exports a layer's codes of fixed inputs to the Embedding Projector every ``freq`` epochs.

    Each export is its own run, ``<run>/epoch_NNNN`` (TensorBoard's projector only notices
    new runs), with the metadata columns ``label``, ``prediction`` and ``correct`` (when
    ``labels`` are given; ``prediction`` alone otherwise) and the inputs as sprite
    thumbnails. The codes and the predictions come from one compiled forward pass of the
    model (:class:`keras_viz.views.CodesAndOutputs`), so one watches the classes separate from epoch to epoch in the projector's
    run menu. With ``tsne=True`` a t-SNE scatter of the codes coloured by label is also
    logged as the image ``embeddings/<layer>/tsne`` of the run ``<run>``.

    Args:
        inputs: fixed inputs (e.g. ``x_val[:500]``); arrays, not a dataset.
        layer: the layer whose codes are exported (name, ``/``-path or index).
        labels: optional true label per input: ints or strings, or one-hot rows
            ``(N, K)`` (Keras' ``categorical_crossentropy`` targets), read as their argmax.
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        freq: export every ``freq`` epochs (and after the last); None (default): under the
            callbacks' shared time ``budget`` (first and last epoch always; see
            :class:`~keras_viz.callbacks.base.VizCallback`).
        class_names: names of integer labels and predictions in the metadata.
        pool: how spatial outputs become vectors (``"avg"``, ``"max"``, None).
        images: write the inputs as sprite thumbnails (default: when they are images).
        value_range: the inputs' value range for the thumbnails, e.g. ``(0, 1)``.
        tsne: also log a t-SNE map picture (costs a t-SNE fit per export).
        batch_size: samples per forward pass of the export.
        **options: ``run`` (default ``"keras_viz_embeddings"``), ``budget`` (the share of
            training time the callbacks may take when ``freq`` is None), ``batch_freq``,
            ``raise_errors``, ``background`` (see :class:`~keras_viz.callbacks.base.VizCallback`).

    Example:
        >>> kv.callbacks.EmbeddingCallback(x_val[:500], layer="features", labels=y_val[:500],
        ...                                log_dir="logs", freq=2)
    """

    def __init__(
        self,
        inputs: Any,
        *,
        layer: Any,
        labels: Sequence[Any] | None = None,
        log_dir: str,
        freq: int | None = None,
        class_names: Sequence[str] | None = None,
        pool: str | None = "avg",
        images: bool | None = None,
        value_range: tuple[float, float] | None = None,
        tsne: bool = False,
        batch_size: int = 64,
        **options: Any,
    ):
        options.setdefault("run", "keras_viz_embeddings")
        super().__init__(log_dir=log_dir, freq=freq, **options)
        if isinstance(inputs, (list, tuple, dict)):
            raise TypeError("`inputs` of EmbeddingCallback must be one array (models with one input).")
        self.inputs = _fixed_inputs(inputs, None)
        if layer is None or isinstance(layer, bool):
            raise TypeError(f"`layer` must be a layer name, path or index; received {layer!r}")
        self.layer = layer
        self.labels = None if labels is None else _check_labels(labels, len(self.inputs))
        self.class_names = None if class_names is None else [str(name) for name in class_names]
        if pool not in ("avg", "max", None):
            raise ValueError(f"`pool` must be 'avg', 'max' or None; received pool={pool!r}")
        self.pool = pool
        is_image = self.inputs.ndim == 4 and self.inputs.shape[-1] in (1, 3, 4)
        if images and not is_image:
            raise ValueError(f"`images`=True needs image inputs (N, H, W, C); received shape {self.inputs.shape}")
        self.images = is_image if images is None else bool(images)
        self.value_range = value_range
        self.tsne = bool(tsne)
        self.batch_size = check_int(batch_size, "batch_size")
        self._reader: CodesAndOutputs | None = None

    # -- reading (training thread) ---------------------------------------------

    def _codes_and_outputs(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """The layer's codes and the model's outputs, from one compiled forward pass."""
        if self._reader is None or self._reader.model is not self.model:
            self._reader = CodesAndOutputs(self.model, self.layer, pool=self.pool, batch_size=self.batch_size)
        return self._reader(self.inputs)

    def _log(self, step: int, prefix: str):
        codes, outputs = self._codes_and_outputs()
        single = outputs[0] if len(outputs) == 1 else None  # predictions of single-output classifiers
        predictions = single.argmax(axis=-1) if single is not None and single.ndim == 2 and single.shape[1] > 1 else None
        export_run = self._export_run(step, prefix)

        def write(writer):
            metadata = self._metadata(predictions)
            thumbnails = self._thumbnails() if self.images else None
            export_projector(
                self.log_dir, codes, metadata=metadata, images=thumbnails, run=export_run,
                name=_tensor_name(self.layer),
                description=f"Codes of layer `{self.layer}` at {'batch' if prefix else 'epoch'} {step}.",
            )
            if self.tsne and len(codes) > 5:
                points = tsne_map(codes, perplexity=min(30.0, (len(codes) - 1) / 3.0))
                picture = render.scatter(points, self.labels if self.labels is not None else predictions, class_names=self.class_names)
                image_summary(
                    f"{prefix}embeddings/{_tensor_name(self.layer)}/tsne", picture, step=step, max_outputs=1,
                    description=f"t-SNE map of the codes of `{self.layer}` for {len(codes)} inputs, coloured by label.",
                )

        return write

    # -- helpers ---------------------------------------------------------------

    def _export_run(self, step: int, prefix: str) -> str:
        base = f"{self.run}/{'batch' if prefix else 'epoch'}_{step:04d}"
        name, attempt = base, 0
        while tf.io.gfile.exists(os.path.join(self.log_dir, name, "projector_config.pbtxt")):
            attempt += 1
            name = f"{base}_{attempt}"
        return name

    def _named(self, values: Sequence[Any]) -> list[Any]:
        if self.class_names is None:
            return list(values)
        return [self.class_names[v] if isinstance(v, int) and 0 <= v < len(self.class_names) else v for v in values]

    def _metadata(self, predictions: np.ndarray | None) -> Any:
        columns: dict[str, list[Any]] = {}
        if self.labels is not None:
            columns["label"] = self._named(self.labels)
        if predictions is not None:
            columns["prediction"] = self._named([int(p) for p in predictions])
            if self.labels is not None:
                columns["correct"] = [
                    str(int(p) == label) if isinstance(label, int) else str(self._named([int(p)])[0] == label)
                    for p, label in zip(predictions, self.labels)
                ]
        if not columns:
            return None
        if len(columns) == 1:
            return next(iter(columns.values()))
        return columns

    def _thumbnails(self) -> np.ndarray:
        return np.stack([render.to_uint8_image(image, value_range=self.value_range) for image in self.inputs])


def _check_labels(labels: Any, count: int) -> list[Any]:
    """One label per input (ints or strings); one-hot rows ``(N, K)`` become their argmax."""
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"`labels` must hold one label per input; received {labels!r}")
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2:
        one_hot = array.dtype.kind in "biuf" and np.isin(array, (0, 1)).all() and (array.sum(axis=1) == 1).all()
        if not one_hot:
            raise ValueError(
                f"`labels` of shape {array.shape} must be one label per input (ints or strings) or "
                f"one-hot rows (N, K) with a single 1 per row; for probabilities pass their argmax."
            )
        array = array.argmax(axis=1)
    if array.ndim != 1:
        raise ValueError(f"`labels` must hold one label per input, shape (N,); received shape {array.shape}.")
    if len(array) != count:
        raise ValueError(f"`labels` has {len(array)} entries but `inputs` has {count}.")
    if array.dtype.kind == "f" and np.array_equal(array, np.round(array)):
        array = array.astype(np.int64)  # float class indices (1.0) compare with the predictions
    return list(array.tolist())


def _tensor_name(layer: Any) -> str:
    return str(layer).replace("/", "_") if not isinstance(layer, int) else f"layer_{layer}"
