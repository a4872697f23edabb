"""Occlusion sensitivity: slide a patch over the input and record the score drop.

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
section 4.2. Each pixel's value is the mean drop of the target score over the patches
that cover it (every pixel is covered: the last patch of a row is aligned to the edge).
"""

from __future__ import annotations

import itertools
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import Batch, input_names, signature_key
from keras_viz._model import LayerRecorder
from keras_viz.explainers._tokens import check_token_ids, check_token_value, token_vocabularies
from keras_viz.explainers.base import Explainer, Plan


def _check_extent(value: Any, name: str) -> None:
    values = (value,) if np.ndim(value) == 0 else tuple(value)
    if not values or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise ValueError(f"`{name}` must be a positive int or a tuple of positive ints; received {value!r}")


def _per_axis(value: Any, spatial: tuple[int, ...], name: str) -> tuple[int, ...]:
    values = (value,) * len(spatial) if np.ndim(value) == 0 else tuple(value)
    if len(values) != len(spatial) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise ValueError(
            f"`{name}`={value!r} must be a positive int or one positive int per spatial axis "
            f"({len(spatial)} here)."
        )
    return tuple(min(int(v), size) for v, size in zip(values, spatial))


def window_starts(length: int, size: int, stride: int) -> np.ndarray:
    """Start offsets along one axis; the last window ends exactly at ``length``."""
    starts = list(range(0, max(length - size, 0) + 1, stride))
    if starts[-1] + size < length:
        starts.append(length - size)
    return np.asarray(starts, np.int32)


def occlusion_windows(spatial: tuple[int, ...], size: tuple[int, ...], stride: tuple[int, ...]) -> np.ndarray:
    """All window start positions, shape ``(P, len(spatial))``."""
    axes = [window_starts(n, s, t) for n, s, t in zip(spatial, size, stride)]
    return np.asarray(list(itertools.product(*axes)), np.int32).reshape(-1, len(spatial))


def window_mask(starts: tf.Tensor, size: tuple[int, ...], spatial: tuple[int, ...]) -> tf.Tensor:
    """Boolean masks ``(B, *spatial)`` that are True inside each row's window."""
    mask = None
    for axis, (length, extent) in enumerate(zip(spatial, size)):
        positions = tf.range(length)[None, :]
        start = starts[:, axis : axis + 1]
        inside = tf.logical_and(positions >= start, positions < start + extent)
        shape = [-1] + [1] * len(spatial)
        shape[axis + 1] = length
        inside = tf.reshape(inside, shape)
        mask = inside if mask is None else tf.logical_and(mask, inside)
    return mask


def average_drops(drops: np.ndarray, windows: np.ndarray, size: tuple[int, ...], spatial: tuple[int, ...]) -> np.ndarray:
    """Per-position mean of the score drops of the windows that cover it.

    Args:
        drops: ``(N, P)`` score drops.
        windows: ``(P, d)`` window starts.
        size: window extent per axis.
        spatial: spatial shape.

    Returns:
        ``(N, *spatial)`` float32 map.
    """
    total = np.zeros((drops.shape[0], *spatial), np.float64)
    count = np.zeros(spatial, np.float64)
    for p, start in enumerate(windows):
        region = tuple(slice(s, s + e) for s, e in zip(start, size))
        total[(slice(None), *region)] += drops[:, p].reshape((-1,) + (1,) * len(spatial))
        count[region] += 1.0
    return (total / count).astype(np.float32)


class Occlusion(Explainer):
    """Occlusion sensitivity (Zeiler & Fergus 2014).

    Args:
        model: any Keras model on the TensorFlow backend.
        patch_size: patch extent, an int or one int per spatial axis. ``None``: an
            eighth of each spatial axis (at least 1).
        stride: step between patches; ``None``: half the patch (at least 1).
        fill: value written into the patch (e.g. 0 for black, or the data mean).
        use_logits: False by default: the map is the drop of the class probability,
            as in the paper. True uses the pre-softmax score.
        mask_token: for token-id inputs ``(N, T)``: the id written over occluded
            tokens (e.g. the padding or ``[MASK]`` id); required for them, and checked
            against the vocabulary of the ``Embedding`` that reads them. Token inputs
            are occluded one token at a time unless ``patch_size`` says otherwise, and
            their maps are ``(N, T)``. Token inputs are the integer inputs and those an
            ``Embedding`` layer reads directly (a subclassed model that declares no
            input dtype); every other input of a mixed model is filled with ``fill``.
        **options: ``output``, ``batch_size`` (occluded copies per forward pass).

    For a model with several inputs, each input with spatial axes is occluded on its
    own and gets its own map. Rank-2 inputs ``(N, features)`` are occluded along the
    feature axis.
    """

    method = "occlusion"
    accepts_tokens = True
    # Hundreds of occluded copies per sample, forward only: the compute dominates, not the
    # tracing (a forward pass traces quickly), and a graph runs it about twice as fast as
    # eager execution (fused convolutions), so occlusion traces at its first call.
    EAGER_CALLS = 0

    def __init__(
        self,
        model: keras.Model,
        *,
        patch_size: Any = None,
        stride: Any = None,
        fill: float = 0.0,
        use_logits: bool = False,
        mask_token: int | None = None,
        **options: Any,
    ):
        super().__init__(model, use_logits=use_logits, **options)
        if not isinstance(fill, (int, float, np.number)) or isinstance(fill, bool) or not np.isfinite(fill):
            raise ValueError(f"`fill` must be a finite number; received {fill!r}")
        for name, value in (("patch_size", patch_size), ("stride", stride)):
            if value is not None:
                _check_extent(value, name)
        self.patch_size = patch_size
        self.stride = stride
        self.fill = float(fill)
        if mask_token is not None and (
            isinstance(mask_token, bool) or not isinstance(mask_token, (int, np.integer)) or mask_token < 0
        ):
            raise ValueError(f"`mask_token` must be a non-negative token id; received {mask_token!r}")
        self.mask_token = None if mask_token is None else int(mask_token)
        self._token_inputs: dict[tuple, tuple[list[int], dict]] = {}

    def _plan(self, batch: Batch, structure: Any, target: Any) -> Plan:
        # Token ids (and the mask token) are checked against the embeddings' vocabularies
        # before the model runs on them: out of range, the gather fails with a cryptic
        # error on a CPU and silently returns zeros on a GPU.
        key = signature_key(structure, batch.inputs)
        if key not in self._token_inputs:
            vocabularies = token_vocabularies(self.model, structure, batch.inputs)
            tokens = sorted({i for i, a in enumerate(batch.inputs) if a.dtype.kind in "iu"} | set(vocabularies))
            if self.mask_token is not None:
                if not tokens:
                    raise ValueError(
                        f"`mask_token`={self.mask_token} applies to token-id inputs, but no input of "
                        f"model {self.model.name!r} holds integers or is read by an Embedding layer. "
                        f"Occlude other inputs with `fill`."
                    )
                check_token_value(self.mask_token, vocabularies, tokens, "mask_token")
            self._token_inputs[key] = (tokens, vocabularies)
        tokens, vocabularies = self._token_inputs[key]
        check_token_ids(vocabularies, batch.inputs, input_names(structure, len(batch.inputs)))
        return super()._plan(batch, structure, target)

    def _fills(self, batch: Batch, structure: Any) -> tuple[list[float], list[bool]]:
        """The value written into the patches of each flat input, and which inputs are tokens."""
        tokens, _ = self._token_inputs[signature_key(structure, batch.inputs)]
        if tokens and self.mask_token is None:
            raise ValueError(
                f"Occlusion of token-id inputs (input(s) {tokens}) needs `mask_token=`: the id "
                f"written over occluded tokens (e.g. the padding or [MASK] id)."
            )
        flags = [i in tokens for i in range(len(batch.inputs))]
        return [float(self.mask_token) if flag else self.fill for flag in flags], flags

    def _geometry(self, shape: tuple[int, ...], token: bool = False) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        spatial = shape[:-1] if len(shape) >= 2 else shape
        if self.patch_size is not None:
            size = _per_axis(self.patch_size, spatial, "patch_size")
        elif token:
            size = (1,) * len(spatial)  # one token at a time
        else:
            size = tuple(max(1, n // 8) for n in spatial)
        stride = (
            tuple(max(1, s // 2) for s in size)
            if self.stride is None
            else _per_axis(self.stride, spatial, "stride")
        )
        return spatial, size, stride

    def _explain_batch(self, batch: Batch, plan: Plan, predicted=None):
        fills, tokens = self._fills(batch, plan.structure)
        classes, base_scores = predicted if predicted is not None else self._predict(plan, batch)
        maps = []
        for index, shape in enumerate(plan.shapes):
            spatial, size, stride = self._geometry(shape, token=tokens[index])
            windows = occlusion_windows(spatial, size, stride)
            function = self._compiled(
                self._function_key(plan, "occlude", index, size, fills[index]),
                self._occluded_scores_body(plan, index, spatial, size, fills[index]),
                [
                    *self._input_specs(plan),
                    tf.TensorSpec((None,), tf.int32),  # classes
                    tf.TensorSpec((None,), tf.int32),  # row sample
                    tf.TensorSpec((None, len(spatial)), tf.int32),  # row window start
                ],
                eager=self._runs_eagerly(plan),
            )
            rows = np.repeat(np.arange(batch.size, dtype=np.int32), len(windows))
            starts = np.tile(windows, (batch.size, 1))
            scores = np.empty(len(rows), np.float32)
            step = self._copies_per_pass(plan)
            for begin in range(0, len(rows), step):
                part = slice(begin, begin + step)
                scores[part] = function(*batch.inputs, classes, rows[part], starts[part]).numpy()
            drops = base_scores[:, None] - scores.reshape(batch.size, len(windows))
            maps.append(average_drops(drops, windows, size, spatial))
        return maps, classes, base_scores

    def _occluded_scores_body(
        self, plan: Plan, index: int, spatial: tuple[int, ...], size: tuple[int, ...], fill: float
    ):
        count = len(plan.shapes)
        has_channels = len(plan.shapes[index]) >= 2

        def body(*args):
            inputs = list(args[:count])
            classes, rows, starts = args[count:]
            copies = [tf.gather(t, rows) for t in inputs]
            mask = window_mask(starts, size, spatial)
            if has_channels:
                mask = mask[..., None]
            target = copies[index]
            copies[index] = tf.where(mask, tf.cast(fill, target.dtype), target)
            recorder = LayerRecorder(plan.layers)
            _, scores, _ = self._forward(plan, copies, tf.gather(classes, rows), recorder)
            return scores

        return body
