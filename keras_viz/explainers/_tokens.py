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

from keras_viz._inputs import pack
from keras_viz._model import find_layer, intercept, iter_layers, layer_path

__all__ = [
    "ProbedCall",
    "TokenPlan",
    "TokenSource",
    "check_token_ids",
    "check_token_value",
    "distinct_probe",
    "embed",
    "embedding_layers",
    "plan_vocabularies",
    "probe_reads",
    "replaced_embeddings",
    "resolve_reduce",
    "token_plan",
    "token_refusal",
    "token_vocabularies",
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


@dataclasses.dataclass(frozen=True)
class ProbedCall:
    """One call of a layer in the token probe: which flat model inputs it reads directly."""

    layer: keras.layers.Layer
    call_index: int  # position among the calls of ``layer`` in one forward pass
    path: str
    reads: frozenset[int]
    outputs: tuple[Any, ...]


def _vocabulary(layers: Sequence[keras.layers.Layer]) -> int | None:
    """The smallest ``input_dim`` of ``layers``: ids below it are valid for every one of them."""
    sizes = [int(layer.input_dim) for layer in layers if isinstance(getattr(layer, "input_dim", None), (int, np.integer))]
    return min(sizes) if sizes else None


def _may_hold_ids(array: np.ndarray) -> bool:
    """Integer arrays, and float arrays of whole non-negative numbers (a model that declares no dtype)."""
    if array.dtype.kind in "iu":
        return True
    if array.dtype.kind != "f" or array.size == 0:
        return False
    return bool(np.all(np.isfinite(array)) and np.all(array >= 0) and np.all(array == np.round(array)))


def distinct_probe(samples: Sequence[np.ndarray], vocabulary: int | None) -> list[np.ndarray]:
    """One sample per flat input for the token probe; the inputs that may hold ids get distinct ids.

    Which model input an embedding reads is told by comparing the values the layer
    receives with the values of each input. Keras converts input tensors on their way in,
    so identity cannot tell, and a user's sample can hold equal values in two inputs (a
    copy task, rows of padding). So every input that may hold ids gets its own ids drawn
    below ``vocabulary`` (valid for every embedding of the model, so the probe cannot fail
    on ids out of range), different from every other input's values. Other inputs keep
    the user's first sample. A private generator is used: the global random state is
    untouched.
    """
    probe = [np.asarray(a[:1]) for a in samples]
    if vocabulary is None or vocabulary < 2:
        return probe
    for index, array in enumerate(samples):
        if not _may_hold_ids(array):
            continue
        rng = np.random.default_rng(index)
        for _ in range(16):
            candidate = rng.integers(0, vocabulary, size=probe[index].shape).astype(array.dtype)
            others = [p for k, p in enumerate(probe) if k != index and p.shape == candidate.shape]
            if not any(np.array_equal(candidate.astype(np.float64), p.astype(np.float64)) for p in others):
                probe[index] = candidate
                break
    return probe


def probe_reads(
    model: keras.Model, structure: Any, samples: Sequence[np.ndarray], layers: Sequence[keras.layers.Layer]
) -> list[ProbedCall]:
    """Runs the model once (eagerly, one sample) and records which flat inputs each call of ``layers`` reads.

    A call *reads* input ``i`` when one of its tensor arguments holds exactly the values
    the model received as input ``i``; the probe values are distinct per input (see
    :func:`distinct_probe`), so equal values in the user's data cannot confuse inputs.
    """
    layers = list(dict.fromkeys(layers))
    if not layers:
        return []
    probe = distinct_probe(samples, _vocabulary(layers))
    paths = {id(layer): path for path, layer in iter_layers(model)}
    recorded: list[tuple[keras.layers.Layer, list[Any], list[Any]]] = []

    def hook(layer, outputs, args, kwargs):
        recorded.append(
            (
                layer,
                [t for t in tf.nest.flatten((args, kwargs)) if tf.is_tensor(t)],
                [t for t in tf.nest.flatten(outputs) if tf.is_tensor(t)],
            )
        )
        return outputs

    tensors = [tf.constant(p) for p in probe]
    try:
        if not model.built:
            model(pack(structure, tensors), training=False)  # Keras builds symbolically first
        with intercept(layers, hook):
            model(pack(structure, tensors), training=False)
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
        shapes = ", ".join(str((None, *a.shape[1:])) for a in samples)
        raise ValueError(f"The model could not be called on `inputs` of shape {shapes}: {error}") from error
    values = [np.asarray(p, np.float64) for p in probe]
    counts: dict[int, int] = {}
    calls = []
    for layer, arguments, outputs in recorded:
        reads = set()
        for tensor in arguments:
            array = np.asarray(tf.cast(tensor, tf.float64))
            reads.update(i for i, v in enumerate(values) if array.shape == v.shape and np.array_equal(array, v))
        k = counts.get(id(layer), 0)
        counts[id(layer)] = k + 1
        calls.append(ProbedCall(layer, k, paths.get(id(layer), layer.name), frozenset(reads), tuple(outputs)))
    return calls


def embedding_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every ``keras.layers.Embedding`` inside ``model``, at any depth."""
    return [layer for _, layer in iter_layers(model) if isinstance(layer, keras.layers.Embedding)]


def token_vocabularies(model: keras.Model, structure: Any, samples: Sequence[np.ndarray]) -> dict[int, list[tuple[str, int]]]:
    """``{flat input index: [(embedding path, input_dim)]}`` of the ``Embedding`` layers that read each input.

    For checking token ids before the model sees them (on CPU an id out of range fails
    inside the graph with a cryptic error; on GPU the gather silently returns zeros).
    Inputs no ``Embedding`` reads directly are left out. No probe runs for a model
    without ``Embedding`` layers or without inputs that may hold ids.
    """
    layers = embedding_layers(model)
    if not layers or not any(_may_hold_ids(np.asarray(a[:1])) for a in samples):
        return {}
    found: dict[int, list[tuple[str, int]]] = {}
    for call in probe_reads(model, structure, samples, layers):
        for index in sorted(call.reads):
            entry = (call.path, int(call.layer.input_dim))
            if entry not in found.setdefault(index, []):
                found[index].append(entry)
    return found


def check_token_ids(
    vocabularies: dict[int, list[tuple[str, int]]], arrays: Sequence[np.ndarray], names: Sequence[str]
) -> None:
    """Every id in ``arrays[i]`` must index the table of each embedding that reads input ``i``.

    Args:
        vocabularies: see :func:`token_vocabularies`.
        arrays: the flat inputs.
        names: how each flat input is named in messages (e.g. ``"inputs[1]"``).

    Raises:
        ValueError: naming the argument, the id and the embedding's range.
    """
    for index, tables in vocabularies.items():
        ids = np.asarray(arrays[index])
        if ids.size == 0:
            continue
        low, high = ids.min(), ids.max()
        for path, size in tables:
            if low < 0 or high >= size:
                bad = low if low < 0 else high
                raise ValueError(
                    f"`{names[index]}` holds token id {_id_text(bad)}, outside the vocabulary of "
                    f"embedding layer {path!r} (ids 0..{size - 1})."
                )


def check_token_value(
    value: int, vocabularies: dict[int, list[tuple[str, int]]], inputs: Sequence[int], argument: str
) -> None:
    """A token id given as an option (``mask_token``, ``baseline_token``) must be valid for ``inputs``."""
    for index in inputs:
        for path, size in vocabularies.get(index, []):
            if not 0 <= value < size:
                raise ValueError(
                    f"`{argument}`={value} is outside the vocabulary of embedding layer {path!r} "
                    f"(ids 0..{size - 1}), which reads token input {index}."
                )


def _id_text(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number == int(number) else str(number)


def token_plan(
    model: keras.Model,
    structure: Any,
    samples: Sequence[np.ndarray],
    embedding_layer: Any = None,
) -> TokenPlan | None:
    """Finds the embedding of every token input, or returns None for a model without any.

    A flat input is a token input when it holds integers, or when an ``Embedding``
    layer reads it directly (a subclassed model that declares no input dtype). Its
    embedding is the ``Embedding`` layer that reads it, or ``embedding_layer``.

    Which layer reads which input is found by one eager probe of the model on values that
    differ between inputs (:func:`probe_reads`), not on the user's data: two token inputs
    holding equal ids (a copy task, padding) are told apart, and ids out of the vocabulary
    cannot make the probe fail.

    Args:
        model: the model.
        structure: how the flat inputs are packed for the model (see :func:`pack`).
        samples: one batch of the flat inputs (only their shapes, dtypes and first
            sample are used).
        embedding_layer: a layer reference (name, path, index, object) whose output is
            explained instead of the automatically found embedding.

    Raises:
        ValueError: a token input has no embedding layer, or ``embedding_layer`` is not
            called, does not produce a ``(N, T, D)`` tensor, or is ambiguous.
    """
    given = None if embedding_layer is None else find_layer(model, embedding_layer, argument="embedding_layer")
    embeddings = embedding_layers(model)
    integers = [i for i, a in enumerate(samples) if a.dtype.kind in "iu"]
    if given is None and not embeddings:
        if integers:
            _no_embedding(model, integers[0], [])
        return None
    calls = probe_reads(model, structure, samples, embeddings + ([given] if given is not None else []))
    by_input: dict[int, list[ProbedCall]] = {
        i: [c for c in calls if isinstance(c.layer, keras.layers.Embedding) and i in c.reads]
        for i in range(len(samples))
    }
    tokens = [i for i in range(len(samples)) if i in integers or by_input[i]]
    if given is not None:
        sources = _given_sources(model, calls, given, embedding_layer, len(samples), tokens)
    else:
        if not tokens:
            return None
        sources = {}
        for i in tokens:
            if len(by_input[i]) != 1:
                _no_embedding(model, i, by_input[i])
            sources[i] = _source(i, by_input[i][0])
    shapes = []
    for i, array in enumerate(samples):
        if i in sources:
            shapes.append(_embedded_shape(sources[i][1], array))
        else:
            shapes.append(tuple(array.shape[1:]))
    return TokenPlan({i: source for i, (source, _) in sources.items()}, tuple(shapes))


def _no_embedding(model: keras.Model, index: int, calls: Sequence[ProbedCall]) -> None:
    found = ", ".join(dict.fromkeys(c.path for c in calls)) or "no Embedding layer"
    raise ValueError(
        f"Input {index} of model {model.name!r} holds token ids, and {found} reads "
        f"them directly; pass `embedding_layer=` to say whose output to explain."
    )


def _source(index: int, call: ProbedCall) -> tuple[TokenSource, ProbedCall]:
    return TokenSource(index, call.layer, call.call_index, call.path), call


def _given_sources(model, calls, layer, reference, count, tokens) -> dict[int, tuple[TokenSource, ProbedCall]]:
    mine = [c for c in calls if c.layer is layer]
    path = layer_path(model, layer)
    if not mine:
        raise ValueError(
            f"`embedding_layer`={reference!r} ({path}) is not called during the forward pass of "
            f"model {model.name!r}."
        )
    candidates = tokens or range(count)  # a layer reading a float input is not an embedding
    matched = {i: [c for c in mine if i in c.reads] for i in candidates}
    sources = {i: _source(i, found[0]) for i, found in matched.items() if len(found) == 1}
    if sources:
        return sources
    if len(mine) == 1 and len(tokens) == 1:  # a later layer, e.g. embeddings + positions
        return {tokens[0]: _source(tokens[0], mine[0])}
    raise ValueError(
        f"`embedding_layer`={reference!r} ({path}) does not read a model input directly, and "
        f"the model has {len(tokens)} token input(s) and calls the layer {len(mine)} time(s), "
        f"so keras-viz cannot tell which input it embeds."
    )


def _embedded_shape(call: ProbedCall, ids: np.ndarray) -> tuple[int, ...]:
    if len(call.outputs) != 1:
        raise ValueError(f"Embedding layer {call.path!r} returns {len(call.outputs)} tensors; expected one.")
    shape = tuple(call.outputs[0].shape[1:])
    if len(shape) != 2 or shape[0] != ids.shape[1]:
        raise ValueError(
            f"Embedding layer {call.path!r} outputs shape {(None, *shape)}; keras-viz explains "
            f"token inputs at a (N, T, D) embedding with T = {ids.shape[1]} tokens per sample."
        )
    if not call.outputs[0].dtype.is_floating:
        raise ValueError(f"Embedding layer {call.path!r} outputs dtype {call.outputs[0].dtype.name}, not floats.")
    return shape


def plan_vocabularies(plan: TokenPlan) -> dict[int, list[tuple[str, int]]]:
    """The vocabulary of each token input's embedding, for :func:`check_token_ids`."""
    return {
        index: [(source.path, int(source.layer.input_dim))]
        for index, source in plan.sources.items()
        if isinstance(getattr(source.layer, "input_dim", None), (int, np.integer))
    }


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
