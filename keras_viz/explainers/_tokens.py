"""Token-id inputs: where they are embedded, and how the embedding output is replaced.

Models that read integer token ids start with an ``Embedding`` layer; a gradient with
respect to an integer id means nothing, so gradient methods explain the *output of the
embedding layer*, ``E`` of shape ``(N, T, D)``, and sum or norm over ``D`` to get one
value per token (Li, Chen, Hovy & Jurafsky, "Visualizing and Understanding Neural
Models in NLP", NAACL 2016; Sundararajan et al. 2017 §6.3 for Integrated Gradients on
text).

The model still receives the real ids (so Keras masks from ``mask_zero=True`` and every
layer that reads the ids behave as usual); while the explainer's function is traced,
the embedding layer's ``call`` is routed (:func:`keras_viz._model.intercept`) so that
its output is *replaced* by a tensor the explainer controls (the watched embeddings, a
noisy copy, a point on the integration path). The model object is not changed.

This module holds the model side (finding the embedding of each token input,
computing and replacing embeddings); :mod:`keras_viz.explainers._token_explainer`
plugs it into the explainers.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._model import LayerCall, ModelInfo, find_layer, intercept, layer_path

__all__ = [
    "TokenPlan",
    "TokenSource",
    "embed",
    "replaced_embeddings",
    "resolve_reduce",
    "token_plan",
    "token_refusal",
]

TOKEN_METHODS = "Saliency, GradientInput, SmoothGrad, IntegratedGradients (at the embedding output) and Occlusion (with mask_token)"


def token_refusal(method: str, shapes: Sequence[tuple], dtypes: Sequence[Any]) -> str:
    """The error message of a method that cannot explain token-id inputs."""
    described = ", ".join(f"{(None, *s)} {tf.as_dtype(d).name}" for s, d in zip(shapes, dtypes))
    return (
        f"{method} cannot explain token-id inputs (inputs: {described}): it needs "
        f"{'a layer with spatial axes over an image or sequence input' if 'cam' in method else 'a differentiable input'}. "
        f"Token models are explained by {TOKEN_METHODS}."
    )


def resolve_reduce(mode: str | None, is_token: bool) -> str | None:
    """``"auto"``: the L2 norm over the embedding axis for tokens, ``max_abs`` otherwise."""
    if mode == "auto":
        return "l2" if is_token else "max_abs"
    return mode


@dataclasses.dataclass(frozen=True)
class TokenSource:
    """The embedding of one token input: the ``call_index``-th call of ``layer``."""

    input_index: int
    layer: keras.layers.Layer
    call_index: int
    path: str


@dataclasses.dataclass(frozen=True)
class TokenPlan:
    """Which flat inputs are token ids, and the layer call that embeds each."""

    sources: dict[int, TokenSource]
    embedded_shapes: tuple[tuple[int, ...], ...]  # per flat input: (T, D) for tokens, else its shape

    def is_token(self, index: int) -> bool:
        return index in self.sources


def _consumes(call: LayerCall, sample: tf.Tensor) -> bool:
    """True if ``call`` reads the values of ``sample`` (a model input) directly."""
    for tensor in call.inputs:
        if tensor is sample:
            return True
        if tuple(tensor.shape) == tuple(sample.shape) and np.array_equal(
            np.asarray(tf.cast(tensor, tf.float64)), np.asarray(tf.cast(sample, tf.float64))
        ):
            return True
    return False


def token_plan(
    model: keras.Model,
    info: ModelInfo,
    samples: Sequence[np.ndarray],
    embedding_layer: Any = None,
) -> TokenPlan | None:
    """Finds the embedding of every token input, or returns None for a model without any.

    A flat input is a token input when it holds integers, or when an ``Embedding``
    layer reads it directly (a subclassed model that declares no input dtype). Its
    embedding is the ``Embedding`` layer that reads it, or ``embedding_layer``.

    Args:
        model: the model.
        info: a probe of the model on inputs of the signature of ``samples``.
        samples: one batch of the flat inputs (only the first sample is used).
        embedding_layer: a layer reference (name, path, index, object) whose output is
            explained instead of the automatically found embedding.

    Raises:
        ValueError: a token input has no embedding layer, or ``embedding_layer`` is not
            called, does not produce a ``(N, T, D)`` tensor, or is ambiguous.
    """
    # The inputs the (possibly shared, cached) probe ran on; the layers it recorded read those.
    probes = list(info.sample_inputs)
    leaf_calls = [c for c in info.calls if not isinstance(c.layer, keras.Model)]
    by_input: dict[int, list[LayerCall]] = {
        i: [c for c in leaf_calls if isinstance(c.layer, keras.layers.Embedding) and _consumes(c, p)]
        for i, p in enumerate(probes)
    }
    tokens = [i for i, a in enumerate(samples) if a.dtype.kind in "iu" or by_input[i]]
    if embedding_layer is not None:
        sources = _given_sources(model, info, probes, tokens, embedding_layer)
    else:
        if not tokens:
            return None
        sources = {}
        for i in tokens:
            calls = by_input[i]
            if len(calls) != 1:
                found = ", ".join(c.path for c in calls) or "no Embedding layer"
                raise ValueError(
                    f"Input {i} of model {model.name!r} holds token ids, and {found} reads "
                    f"them directly; pass `embedding_layer=` to say whose output to explain."
                )
            sources[i] = _source(info, i, calls[0])
    shapes = []
    for i, array in enumerate(samples):
        if i in sources:
            shapes.append(_embedded_shape(info, sources[i], array))
        else:
            shapes.append(tuple(array.shape[1:]))
    return TokenPlan(sources, tuple(shapes))


def _source(info: ModelInfo, index: int, call: LayerCall) -> TokenSource:
    calls = info.calls_of(call.layer)
    position = next(k for k, c in enumerate(calls) if c is call)
    return TokenSource(index, call.layer, position, call.path)


def _given_sources(model, info, probes, tokens, reference) -> dict[int, TokenSource]:
    layer = find_layer(model, reference, argument="embedding_layer")
    calls = info.calls_of(layer)
    path = layer_path(model, layer)
    if not calls:
        raise ValueError(
            f"`embedding_layer`={reference!r} ({path}) is not called during the forward pass of "
            f"model {model.name!r}."
        )
    candidates = tokens or range(len(probes))  # a layer reading a float input is not an embedding
    matched = {i: [c for c in calls if _consumes(c, probes[i])] for i in candidates}
    sources = {i: _source(info, i, found[0]) for i, found in matched.items() if len(found) == 1}
    if sources:
        return sources
    if len(calls) == 1 and len(tokens) == 1:  # a later layer, e.g. embeddings + positions
        return {tokens[0]: _source(info, tokens[0], calls[0])}
    raise ValueError(
        f"`embedding_layer`={reference!r} ({path}) does not read a model input directly, and "
        f"the model has {len(tokens)} token input(s) and calls the layer {len(calls)} time(s), "
        f"so keras-viz cannot tell which input it embeds."
    )


def _embedded_shape(info: ModelInfo, source: TokenSource, ids: np.ndarray) -> tuple[int, ...]:
    call = info.calls_of(source.layer)[source.call_index]
    if len(call.outputs) != 1:
        raise ValueError(f"Embedding layer {source.path!r} returns {len(call.outputs)} tensors; expected one.")
    shape = tuple(call.outputs[0].shape[1:])
    if len(shape) != 2 or shape[0] != ids.shape[1]:
        raise ValueError(
            f"Embedding layer {source.path!r} outputs shape {(None, *shape)}; keras-viz explains "
            f"token inputs at a (N, T, D) embedding with T = {ids.shape[1]} tokens per sample."
        )
    if not call.outputs[0].dtype.is_floating:
        raise ValueError(f"Embedding layer {source.path!r} outputs dtype {call.outputs[0].dtype.name}, not floats.")
    return shape


@contextlib.contextmanager
def _routed(plan: TokenPlan, on_call) -> Iterator[None]:
    """Routes the embedding layers; ``on_call(input_index, output)`` returns what to hand on."""
    wanted = {(id(s.layer), s.call_index): i for i, s in plan.sources.items()}
    counters: dict[int, int] = {}

    def hook(layer, outputs, args, kwargs):
        k = counters.get(id(layer), 0)
        counters[id(layer)] = k + 1
        index = wanted.get((id(layer), k))
        return outputs if index is None else on_call(index, outputs)

    with intercept([s.layer for s in plan.sources.values()], hook):
        yield


def embed(model: keras.Model, plan: TokenPlan, structure_call, inputs: list[tf.Tensor]) -> list[tf.Tensor]:
    """The flat inputs with each token input replaced by its embedding (float32).

    Runs the model's own forward pass recording the embedding calls; traced inside a
    ``tf.function``, everything after the embeddings is pruned from the graph.

    Args:
        model: the model.
        plan: the token plan.
        structure_call: ``inputs -> model(...)``, calling the model on the flat inputs.
        inputs: the flat inputs (token ids as given).
    """
    recorded: dict[int, tf.Tensor] = {}

    def record(index, output):
        recorded[index] = output
        return output

    with _routed(plan, record):
        structure_call(inputs)
    missing = [plan.sources[i].path for i in plan.sources if i not in recorded]
    if missing:
        raise ValueError(f"Embedding layer(s) {', '.join(missing)} were not called in the forward pass.")
    return [
        tf.cast(recorded[i], tf.float32) if i in plan.sources else tf.cast(x, tf.float32)
        for i, x in enumerate(inputs)
    ]


@contextlib.contextmanager
def replaced_embeddings(plan: TokenPlan, sources: Sequence[tf.Tensor]) -> Iterator[None]:
    """While active, each embedding call of ``plan`` returns ``sources[input index]``.

    The replacement keeps the layer's own output dtype (mixed precision), and Keras
    attaches the layer's mask (``mask_zero=True``) to it as usual.
    """

    def replace(index, output):
        return tf.cast(sources[index], output.dtype)

    with _routed(plan, replace):
        yield
