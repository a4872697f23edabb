"""Integrated Gradients: the path integral of gradients from a baseline to the input.

Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017:
``IG_i(x) = (x_i − x'_i) · ∫_0^1 ∂F(x' + α(x − x'))/∂x_i dα``, which satisfies
completeness: ``Σ_i IG_i(x) = F(x) − F(x')``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import Batch
from keras_viz.explainers._ops import check_reduce, reduce_channels
from keras_viz.explainers._token_explainer import TokenSupport
from keras_viz.explainers._tokens import check_token_value, plan_vocabularies
from keras_viz.explainers.base import Plan, SampledGradientExplainer

METHODS = ("trapezoid", "midpoint", "left", "right", "gausslegendre")


def integration_points(steps: int, method: str = "trapezoid") -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``α`` in [0, 1] and quadrature weights summing to 1.

    Args:
        steps: number of points on the path.
        method: ``"trapezoid"`` (default), ``"midpoint"``, ``"left"``, ``"right"`` Riemann
            sums, or ``"gausslegendre"``.

    Returns:
        ``(alphas, weights)``, float32 arrays of length ``steps``.
    """
    if method == "trapezoid":
        if steps < 2:
            raise ValueError(f"`steps` must be at least 2 for the trapezoid rule; received {steps}")
        alphas = np.linspace(0.0, 1.0, steps)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2.0
    elif method == "midpoint":
        alphas = (np.arange(steps) + 0.5) / steps
        weights = np.full(steps, 1.0 / steps)
    elif method == "left":
        alphas = np.arange(steps) / steps
        weights = np.full(steps, 1.0 / steps)
    elif method == "right":
        alphas = (np.arange(steps) + 1.0) / steps
        weights = np.full(steps, 1.0 / steps)
    elif method == "gausslegendre":
        nodes, node_weights = np.polynomial.legendre.leggauss(steps)
        alphas, weights = (nodes + 1.0) / 2.0, node_weights / 2.0
    else:
        raise ValueError(f"`method`={method!r} is not one of {', '.join(METHODS)}.")
    return alphas.astype(np.float32), weights.astype(np.float32)


def integrated_gradients(inputs: np.ndarray, baseline: np.ndarray, mean_gradient: np.ndarray) -> np.ndarray:
    """``(x − x') · mean path gradient``."""
    return (inputs - baseline) * mean_gradient


def _token_baseline_message(shape: tuple, index: int, embedded: tuple) -> str:
    length, dim = embedded
    return (
        f"`baseline` of shape {shape} does not fit token input {index}: Integrated Gradients of "
        f"token ids runs in embedding space, from the baseline to the embedding of the ids, "
        f"shape (T, D) = {(length, dim)} per sample. Accepted: a number (0 = the all-zero "
        f"embedding), or a float array that broadcasts to {(length, dim)}, e.g. one embedding "
        f"vector ({dim},) or {(length, dim)} itself. An integer array of token ids (e.g. shaped ({length},)) "
        f"is not: for the embedding of a token id at every position pass `baseline_token=ID`."
    )


class IntegratedGradients(TokenSupport, SampledGradientExplainer):
    """Integrated Gradients (Sundararajan et al. 2017).

    Args:
        model: any Keras model on the TensorFlow backend.
        steps: points on the straight path from the baseline to the input.
        method: quadrature rule (see :func:`integration_points`).
        baseline: ``x'``: a number (default 0, a black image), or an array shaped
            like one sample (or a list of them for a multi-input model). For a token
            input the baseline is a point in embedding space: a number, or an array
            that broadcasts to the embedding of one sample ``(T, D)`` (e.g. one vector
            ``(D,)``); for the embedding of a token id use ``baseline_token``.
        reduce: channel reduction (default ``"sum"``, which keeps completeness per
            pixel, or per token over the embedding axis); ``None`` keeps channels.
        embedding_layer: for token-id inputs, the layer whose output is explained
            (default: the ``Embedding`` layer that reads the ids); maps are ``(N, T)``.
            The path runs in embedding space from ``baseline`` (a number: 0 is the
            all-zero embedding) or from the embedding of ``baseline_token`` at every
            position, to the input's embedding; the model reads the real ids
            throughout (masks included), so completeness holds for that path.
        baseline_token: for token inputs, a token id (e.g. the padding id) whose
            embedding at every position is the baseline; checked against the
            embedding's vocabulary.
        **options: ``output``, ``batch_size`` (path points per forward pass),
            ``use_logits``.

    Example:
        >>> ig = kv.IntegratedGradients(model, steps=64)(images, targets=labels)
    """

    method = "integrated_gradients"

    def __init__(
        self,
        model: keras.Model,
        *,
        steps: int = 50,
        method: str = "trapezoid",
        baseline: Any = 0.0,
        reduce: str | None = "sum",
        baseline_token: int | None = None,
        **options: Any,
    ):
        super().__init__(model, **options)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"`steps` must be a positive int; received {steps!r}")
        self.alphas, self.weights = integration_points(int(steps), method)
        self.steps = int(steps)
        self.integration = method
        self.baseline = baseline
        if baseline_token is not None and (
            isinstance(baseline_token, bool) or not isinstance(baseline_token, (int, np.integer)) or baseline_token < 0
        ):
            raise ValueError(f"`baseline_token` must be a non-negative token id; received {baseline_token!r}")
        self.baseline_token = None if baseline_token is None else int(baseline_token)
        self.reduce = check_reduce(reduce)

    def _baselines(self, batch: Batch) -> list[np.ndarray]:
        given = self.baseline
        if not isinstance(given, (list, tuple)) or len(batch.inputs) == 1:
            given = [given] * len(batch.inputs)  # one baseline (a number or an array) for each input
        if len(given) != len(batch.inputs):
            raise ValueError(
                f"`baseline` has {len(given)} entries but the model takes {len(batch.inputs)} inputs."
            )
        baselines = []
        tokens = getattr(batch, "token_inputs", frozenset())
        for index, (value, x) in enumerate(zip(given, batch.inputs)):
            array = np.asarray(value, np.float32)
            ids_like = index in tokens and isinstance(value, np.ndarray) and value.ndim >= 1 and value.dtype.kind in "iu"
            try:
                if ids_like:  # integer ids: would broadcast silently when T == D
                    raise ValueError
                baselines.append(np.broadcast_to(array, x.shape).copy())
            except ValueError:
                if index in tokens:
                    raise ValueError(_token_baseline_message(array.shape, index, x.shape[1:])) from None
                raise ValueError(
                    f"`baseline` of shape {array.shape} does not broadcast to the inputs' sample "
                    f"shape {x.shape[1:]}."
                ) from None
            if not np.all(np.isfinite(array)):
                raise ValueError("`baseline` contains NaN or infinite values.")
        return baselines

    def _rows(self, batch: Batch):
        samples = np.repeat(np.arange(batch.size, dtype=np.int32), self.steps)
        alphas = np.tile(self.alphas, batch.size)
        weights = np.tile(self.weights, batch.size)
        return samples, alphas, weights

    def _extra_inputs(self, plan: Plan, batch: Batch) -> list[np.ndarray]:
        baselines = self._baselines(batch)
        if self.baseline_token is None:
            return baselines
        if plan.tokens is None:
            raise ValueError(
                f"`baseline_token`={self.baseline_token} applies to token-id inputs; the model's "
                f"inputs are not token ids. Use `baseline` instead."
            )
        check_token_value(self.baseline_token, plan_vocabularies(plan.tokens), plan.tokens.sources, "baseline_token")
        filled = [
            np.full_like(ids, self.baseline_token) if plan.tokens.is_token(i) else ids
            for i, ids in enumerate(batch.ids)
        ]
        embedded = self._embedded(plan, filled)
        return [embedded[i] if plan.tokens.is_token(i) else b for i, b in enumerate(baselines)]

    def _points(self, plan, inputs, extra, params, keys):
        return [
            b + tf.reshape(params, [-1] + [1] * (x.shape.rank - 1)) * (x - b)
            for x, b in zip(inputs, extra)
        ]

    def _combine(self, batch, extra, gradient_sums):
        return [
            reduce_channels(tf.constant(integrated_gradients(x, b, g)), self.reduce).numpy()
            for x, b, g in zip(batch.inputs, extra, gradient_sums)
        ]
