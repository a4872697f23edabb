"""Attention weights: read them during the model's own forward pass, and roll them out.

Attention layers compute, for each query position, a distribution over the key
positions (Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to
Align and Translate", ICLR 2015; Vaswani et al., "Attention Is All You Need", NeurIPS
2017). :class:`AttentionMaps` reads those distributions for given inputs, from every
attention layer wherever it sits (functional, Sequential, subclassed or nested models),
as ``(N, heads, T_query, T_key)`` float32 arrays; :func:`attention_rollout` combines the
layers of a stack into one token-to-token map (Abnar & Zuidema, "Quantifying Attention
Flow in Transformers", ACL 2020).

How the weights are read (Keras 3.12 to 3.15 tested; see setup.cfg for the supported range):

* ``keras.layers.MultiHeadAttention`` (and subclasses) and ``GroupQueryAttention``: the
  layer's ``_compute_attention`` is routed through a hook while the forward pass is
  traced, and its own result is handed on unchanged, so the model's outputs stay
  bit-identical. On the explicit path (dropout, a model that asks for the scores) the
  method returns the weights. On the fused ``dot_product_attention`` path,
  which returns none, the hook reads the weights the kernel applied from the traced
  graph (the softmax feeding its final einsum; no extra computation), and zeroes masked
  positions as the explicit path does. They equal what ``return_attention_scores=True``
  returns up to float rounding (the fused kernel scales the logits after the product,
  the explicit path the query before it: differences of about 1e-9). Where that graph
  is not found (eager execution, another backend), the hook asks the same method once
  more with ``return_attention_scores`` on (pre-dropout weights, exactly equal).
* ``keras.layers.Attention`` and ``AdditiveAttention``: their ``_apply_scores`` returns
  the weights beside the output. They are post-dropout in training, so capture always
  runs in inference mode.
* A layer of your own declares which of its methods returns its weights with a class
  attribute (see :data:`ATTENTION_METHOD_ATTRIBUTE`)::

      class MyAttention(keras.layers.Layer):
          keras_viz_attention = "attention_weights"     # or ("method", index in its result)

          def attention_weights(self, query, key):      # (N, [heads,] T_query, T_key)
              return ops.softmax(ops.einsum("bqd,bkd->bqk", query, key), axis=-1)

          def call(self, query, key):
              return ops.einsum("bqk,bkd->bqd", self.attention_weights(query, key), key)

While the pass is traced, each layer's ``call`` is routed too, to record its query,
key and value: self-attention (one tensor) or cross-attention, and which model inputs
each axis comes from (:mod:`keras_viz._attention_flow`). Rollout chains only
self-attention (:mod:`keras_viz._rollout`).

Why an internal method and not ``call``: ``MultiHeadAttention.call`` returns no weights
unless asked, and it removes the Keras masks from its inputs as it runs, so a hook after
``call`` could neither read the weights nor recompute them with the masks; the method
that computes them sees the projected query, key and value and the combined mask.

The model is never changed: the routing is a scoped override removed when tracing ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._attention_flow import AttentionCall, attention_operands, input_sources
from keras_viz._inputs import Inputs, check_batch_size, input_names, pack, signature_key
from keras_viz._model import (
    check_backend,
    check_model,
    find_layer,
    intercept,
    iter_layers,
    patched_attribute,
)
from keras_viz._rollout import (  # noqa: F401 - re-exported: the maths on what is captured here
    HEAD_FUSIONS,
    attention_entropy,
    attention_rollout,
    fuse_heads,
    self_attention_stack,
)
from keras_viz.explainers._tokens import check_token_ids, token_vocabularies

__all__ = [
    "ATTENTION_METHOD_ATTRIBUTE",
    "AttentionMaps",
    "CapturedAttention",
    "attention_entropy",
    "attention_layers",
    "attention_rollout",
    "capturing",
    "self_attention_stack",
    "fuse_heads",
    "is_attention_layer",
]

ATTENTION_METHOD_ATTRIBUTE = "keras_viz_attention"
"""Class attribute by which a custom layer names the method that returns its weights.

Its value is a method name (the method returns the weights, ``(N, T_query, T_key)`` or
``(N, heads, T_query, T_key)``), or ``(method name, index)`` when the method returns a
tuple holding the weights at ``index``. The method must be called through ``self``
inside the layer's ``call`` (``self.attention_weights(...)``), once per call.
"""



# --------------------------------------------------------------------------- routes


@dataclasses.dataclass(frozen=True)
class _Route:
    """Where one layer's weights are read: the routed method and how to read its result."""

    method: str
    read: Callable[[keras.layers.Layer, Any, tuple, dict], Any]


_FUSED_EQUATION = "BNTS,BSNH->BTNH"  # keras/src/backend/tensorflow/nn.py, _dot_product_attention_xla


def _fused_weights(attention_output: Any) -> tf.Tensor | None:
    """The weights the fused ``dot_product_attention`` used, read from the graph being traced.

    On the TensorFlow backend the fused kernel is ``einsum("BNTS,BSNH->BTNH", softmax(...),
    value)``; its first operand is the attention weights the layer applied. Returns None
    when the graph has another shape (eager execution, another backend or Keras version):
    the caller then asks the layer for its weights instead.
    """
    try:
        op = attention_output.op
    except AttributeError:  # an eager tensor: no graph to read
        return None
    if op.type != "Einsum" or op.get_attr("equation").decode() != _FUSED_EQUATION:
        return None
    weights = op.inputs[0]
    source = weights.op
    while source.type in ("Cast", "Identity"):
        source = source.inputs[0].op
    return weights if source.type == "Softmax" else None


def _mha_weights(layer: keras.layers.Layer, outputs: Any, args: tuple, kwargs: dict) -> tf.Tensor:
    """The weights of one ``_compute_attention`` call of a MultiHeadAttention."""
    if isinstance(outputs, (tuple, list)) and len(outputs) == 2 and outputs[1] is not None:
        return outputs[1]  # the explicit path (dropout, or the model asks for the scores)
    method = type(layer)._compute_attention
    signature = inspect.signature(method)
    bound = signature.bind(layer, *args, **kwargs)
    fused = _fused_weights(outputs[0] if isinstance(outputs, (tuple, list)) else outputs)
    if fused is not None:
        mask = bound.arguments.get("attention_mask")
        if mask is not None:  # as Keras' explicit path does: masked weights (and fully masked rows) are 0
            mask = tf.cast(mask, tf.bool)
            while mask.shape.rank < fused.shape.rank:
                mask = tf.expand_dims(mask, axis=-3)
            fused = tf.where(mask, fused, tf.zeros_like(fused))
        return fused
    if "training" in signature.parameters:
        bound.arguments["training"] = False
    if "return_attention_scores" in signature.parameters:
        bound.arguments["return_attention_scores"] = True
        result = method(*bound.args, **bound.kwargs)
    elif hasattr(layer, "_return_attention_scores"):  # GroupQueryAttention keeps it on self
        with patched_attribute(layer, "_return_attention_scores", True):
            result = method(*bound.args, **bound.kwargs)
    else:
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) computed its attention without "
            f"weights, and this Keras version ({keras.__version__}) offers no way to ask "
            f"`_compute_attention` for them. keras-viz supports the Keras versions named in "
            f"its setup.cfg."
        )
    return result[1]


def _apply_scores_weights(layer, outputs, args, kwargs) -> tf.Tensor:
    """``Attention._apply_scores`` returns ``(output, weights)``."""
    return outputs[1]


def _custom_route(layer: keras.layers.Layer) -> _Route | None:
    spec = getattr(type(layer), ATTENTION_METHOD_ATTRIBUTE, None)
    if spec is None:
        return None
    if isinstance(spec, str):
        method, index = spec, None
    elif (
        isinstance(spec, tuple)
        and len(spec) == 2
        and isinstance(spec[0], str)
        and isinstance(spec[1], int)
        and not isinstance(spec[1], bool)
    ):
        method, index = spec
    else:
        raise TypeError(
            f"{type(layer).__name__}.{ATTENTION_METHOD_ATTRIBUTE} must be a method name or a "
            f"(method name, index) pair; received {spec!r}"
        )
    if not callable(getattr(layer, method, None)):
        raise ValueError(
            f"{type(layer).__name__}.{ATTENTION_METHOD_ATTRIBUTE}={spec!r} names no method of "
            f"layer {layer.name!r}."
        )

    def read(layer, outputs, args, kwargs):
        return outputs if index is None else outputs[index]

    return _Route(method, read)


_MULTI_HEAD = tuple(
    kind for kind in (keras.layers.MultiHeadAttention, getattr(keras.layers, "GroupQueryAttention", None)) if kind
)


def _route(layer: keras.layers.Layer) -> _Route | None:
    custom = _custom_route(layer)
    if custom is not None:
        return custom
    if isinstance(layer, _MULTI_HEAD):
        route = _Route("_compute_attention", _mha_weights)
    elif isinstance(layer, keras.layers.Attention):  # AdditiveAttention is a subclass
        route = _Route("_apply_scores", _apply_scores_weights)
    else:
        return None
    if not callable(getattr(layer, route.method, None)):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has no `{route.method}` method in this "
            f"Keras version ({keras.__version__}), which keras-viz reads the weights from; see the "
            f"Keras range in keras-viz's setup.cfg."
        )
    return route


def is_attention_layer(layer: keras.layers.Layer) -> bool:
    """True for layers whose weights :class:`AttentionMaps` can read."""
    return _route(layer) is not None


def attention_layers(model: keras.Model) -> list[tuple[str, keras.layers.Layer]]:
    """``(path, layer)`` of every attention layer inside ``model``, depth first."""
    return [(path, layer) for path, layer in iter_layers(model) if is_attention_layer(layer)]


def _check_flash(path: str, layer: keras.layers.Layer) -> None:
    if getattr(layer, "_flash_attention", False):
        raise ValueError(
            f"Attention layer {path!r} ({type(layer).__name__}) runs with flash attention "
            f"(flash_attention=True, or keras.config.enable_flash_attention() was on when it "
            f"was created). Flash attention never forms the attention weights, so they cannot "
            f"be read. Build the layer with flash_attention=False (the weights are the same) "
            f"to see its attention."
        )


def _as_heads(weights: tf.Tensor, layer: keras.layers.Layer, path: str) -> tf.Tensor:
    """``(N, heads, T_query, T_key)`` from a layer's weights tensor."""
    rank = weights.shape.rank
    if rank == 3:  # Attention, AdditiveAttention, single-head custom layers
        return weights[:, None]
    if rank == 4:
        return weights
    axes = getattr(layer, "_attention_axes", None)
    if axes is not None and rank == 2 + 2 * len(axes):
        # MultiHeadAttention over several axes (e.g. an image's height and width):
        # (N, heads, q1..qk, k1..kk) -> (N, heads, q1*..*qk, k1*..*kk).
        shape = tf.shape(weights)
        queries = tf.reduce_prod(shape[2 : 2 + len(axes)])
        return tf.reshape(weights, tf.stack([shape[0], shape[1], queries, -1]))
    raise ValueError(
        f"Attention layer {path!r} produced weights of shape {tuple(weights.shape)}; keras-viz "
        f"reads (N, T_query, T_key) or (N, heads, T_query, T_key) weights (attention over "
        f"only some of several axes is not supported)."
    )


# --------------------------------------------------------------------------- capture


class AttentionMaps:
    """Reads the attention weights of a model's attention layers for given inputs.

    One forward pass in inference mode per batch, compiled once per input signature.
    Token-id inputs are passed as they are.

    Args:
        model: any Keras model on the TensorFlow backend.
        layers: attention layers (names, ``/``-paths, indices or objects); None
            (default) finds every ``MultiHeadAttention`` (and subclasses),
            ``GroupQueryAttention``, ``Attention``, ``AdditiveAttention`` and every layer
            that declares :data:`ATTENTION_METHOD_ATTRIBUTE`, at any depth.
        batch_size: samples per forward pass.

    Returns (when called):
        A :class:`CapturedAttention`: the dict ``{layer path: (N, heads, T_query, T_key)
        float32}`` in call order (heads = 1 for ``Attention`` and ``AdditiveAttention``),
        with ``kinds`` (self- or cross-attention per layer) and ``query_inputs`` /
        ``key_inputs`` (the model inputs each axis comes from); the object keeps the
        same three attributes of its last call. A layer called several times in one
        forward pass (a shared layer) gives ``path``, ``path#1``, ``path#2``, ... Rows of
        fully masked query positions are all zero for ``MultiHeadAttention``; with
        ``layers=None``, attention layers the forward pass does not call are left out.
        Inputs are passed on as they are (integer ids, boolean masks); token ids are
        checked against the vocabulary of the ``Embedding`` that reads them first.

    Raises:
        ValueError: the model has no attention layer, a named layer is not one, a
            layer runs with flash attention (which never forms the weights), or a token
            id is outside its embedding's vocabulary.

    Example:
        >>> maps = kv.AttentionMaps(model)(token_ids)
        >>> maps["encoder/block_0/attention"].shape     # (N, heads, T, T)
    """

    def __init__(self, model: keras.Model, layers: Sequence[Any] | None = None, *, batch_size: int = 32):
        check_backend()
        self.model = check_model(model)
        self.batch_size = check_batch_size(batch_size)
        found = attention_layers(model)
        paths = {id(layer): path for path, layer in iter_layers(model)}
        if layers is None:
            if not found:
                kinds = ", ".join(type(layer).__name__ for _, layer in iter_layers(model)) or "none"
                raise ValueError(
                    f"Model {model.name!r} has no attention layer (MultiHeadAttention, "
                    f"GroupQueryAttention, Attention, AdditiveAttention, or a layer that "
                    f"declares `{ATTENTION_METHOD_ATTRIBUTE}`). Its layers: {kinds}."
                )
            self.layers = [layer for _, layer in found]
            self.strict = False
        else:
            if isinstance(layers, (str, int, keras.layers.Layer)) or not isinstance(layers, Sequence) or not layers:
                raise ValueError(f"`layers` must be a non-empty list of layers or None; received {layers!r}")
            self.layers = []
            for reference in layers:
                layer = find_layer(model, reference, argument="layers")
                if not is_attention_layer(layer):
                    names = ", ".join(path for path, _ in found) or "none"
                    raise ValueError(
                        f"`layers`: {reference!r} is a {type(layer).__name__}, not an attention "
                        f"layer. Attention layers of model {model.name!r}: {names}."
                    )
                self.layers.append(layer)
            self.strict = True
        self.paths = [paths.get(id(layer), layer.name) for layer in self.layers]
        for path, layer in zip(self.paths, self.layers):
            _check_flash(path, layer)
        self._functions: dict[tuple, tuple[Any, list[str]]] = {}
        self._vocabularies: dict[tuple, dict[int, list[tuple[str, int]]]] = {}
        self.kinds: dict[str, str] = {}
        self.query_inputs: dict[str, tuple[int, ...]] = {}
        self.key_inputs: dict[str, tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return f"AttentionMaps(model={self.model.name!r}, layers={self.paths!r})"

    def __call__(self, inputs: Any) -> "CapturedAttention":
        data = Inputs(inputs, self.model, forward=True)
        parts: list[list[np.ndarray]] = []
        layout: _Layout | None = None
        for batch in data.batches(self.batch_size):
            function, layout = self._function(batch.inputs, data.structure)
            # Ids out of range would fail inside the graph (CPU) or gather zeros (GPU).
            vocabularies = self._vocabularies[signature_key(data.structure, batch.inputs)]
            check_token_ids(vocabularies, batch.inputs, input_names(data.structure, len(batch.inputs)))
            try:
                parts.append([t.numpy() for t in function(*batch.inputs)])
            except tf.errors.InvalidArgumentError as error:
                raise ValueError(f"The model could not be run on `inputs`: {_error_summary(error)}") from None
        names = layout.names
        if len(parts) == 1:
            arrays = dict(zip(names, parts[0]))
        else:
            arrays = {name: np.concatenate(chunks, axis=0) for name, chunks in zip(names, zip(*parts))}
        result = CapturedAttention(arrays, layout.kinds, layout.query_inputs, layout.key_inputs)
        self.kinds = dict(result.kinds)
        self.query_inputs = dict(result.query_inputs)
        self.key_inputs = dict(result.key_inputs)
        return result

    def _function(self, arrays: list[np.ndarray], structure: Any):
        key = signature_key(structure, arrays)
        if key in self._functions:
            return self._functions[key]
        # Which embedding reads which token input (a probe on safe ids), then the ids are
        # checked before the model ever runs on them.
        self._vocabularies[key] = token_vocabularies(self.model, structure, arrays)
        check_token_ids(self._vocabularies[key], arrays, input_names(structure, len(arrays)))
        if not self.model.built:
            self.model(pack(structure, [tf.constant(a[:1]) for a in arrays]), training=False)
        layout = _Layout()
        count = len(arrays)

        def body(*inputs):
            captured: list[tuple[keras.layers.Layer, tf.Tensor]] = []
            calls: list[AttentionCall] = []
            with capturing(self.layers, captured, calls):
                self.model(pack(structure, list(inputs[:count])), training=False)
            layout.names = self._names(captured)
            layout.describe(captured, calls, inputs[:count])
            return [tf.cast(weights, tf.float32) for _, weights in captured]

        specs = [tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in arrays]
        function = tf.function(body, autograph=False).get_concrete_function(*specs)
        self._functions[key] = (function, layout)
        return function, layout

    def _names(self, captured: list[tuple[keras.layers.Layer, tf.Tensor]]) -> list[str]:
        path_of = {id(layer): path for layer, path in zip(self.layers, self.paths)}
        seen: dict[int, int] = {}
        names = []
        for layer, _ in captured:
            calls = seen.get(id(layer), 0)
            seen[id(layer)] = calls + 1
            names.append(path_of[id(layer)] + (f"#{calls}" if calls else ""))
        if self.strict:
            missing = [path for layer, path in zip(self.layers, self.paths) if id(layer) not in seen]
            if missing:
                raise ValueError(
                    f"Attention layer(s) {', '.join(missing)} are not called during the forward "
                    f"pass of model {self.model.name!r}, so their weights cannot be read."
                )
        elif not captured:
            raise ValueError(
                f"None of the attention layers of model {self.model.name!r} "
                f"({', '.join(self.paths)}) is called during its forward pass."
            )
        return names


class CapturedAttention(dict):
    """What :class:`AttentionMaps` returns: ``{layer path: (N, heads, T_query, T_key)}``, a dict.

    Besides the weights it says how each captured layer is wired, read while the forward
    pass was traced (see :mod:`keras_viz._attention_flow`):

    Attributes:
        kinds: ``{path: "self" or "cross"}``: self-attention when the layer's query, key
            and value are one tensor (``MultiHeadAttention(x, x)``), cross-attention
            otherwise, whatever the lengths. Only self-attention layers are rolled out by
            :func:`attention_rollout`.
        query_inputs: ``{path: (flat model input indices)}``: the model inputs whose
            values flow into the layer's query positions (``()`` when they come from no
            input, e.g. learned queries); labels of the query axis are taken from those.
        key_inputs: the same for the key positions.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray] = (),
        kinds: Mapping[str, str] | None = None,
        query_inputs: Mapping[str, tuple[int, ...]] | None = None,
        key_inputs: Mapping[str, tuple[int, ...]] | None = None,
    ):
        super().__init__(arrays)
        self.kinds = dict(kinds or {})
        self.query_inputs = dict(query_inputs or {})
        self.key_inputs = dict(key_inputs or {})


class _Layout:
    """Names and wiring of the captured layers of one traced signature."""

    def __init__(self):
        self.names: list[str] = []
        self.kinds: dict[str, str] = {}
        self.query_inputs: dict[str, tuple[int, ...]] = {}
        self.key_inputs: dict[str, tuple[int, ...]] = {}

    def describe(self, captured: list, calls: list[AttentionCall], inputs: Sequence[tf.Tensor]) -> None:
        """Matches the k-th capture of a layer with its k-th call and reads kind and axis sources."""
        by_layer: dict[int, list[AttentionCall]] = {}
        for call in calls:
            by_layer.setdefault(id(call.layer), []).append(call)
        placeholders = {t.name: i for i, t in enumerate(inputs) if hasattr(t, "op")}
        redirects = {t.name: call.query for call in calls if call.query is not None for t in call.outputs if hasattr(t, "op")}
        memo: dict[str, frozenset[int]] = {}
        seen: dict[int, int] = {}
        self.kinds, self.query_inputs, self.key_inputs = {}, {}, {}
        for name, (layer, _) in zip(self.names, captured):
            k = seen.get(id(layer), 0)
            seen[id(layer)] = k + 1
            mine = by_layer.get(id(layer), [])
            call = mine[k] if k < len(mine) else None
            if call is None:
                continue
            self.kinds[name] = call.kind
            self.query_inputs[name] = input_sources(call.query, placeholders, redirects, memo)
            self.key_inputs[name] = input_sources(call.key, placeholders, redirects, memo)


def _error_summary(error: tf.errors.OpError) -> str:
    """The lines of a TensorFlow error that say what went wrong, without the graph's traceback."""
    lines = []
    for line in str(error.message).splitlines():
        text = line.strip()
        if (
            not text
            or text.startswith(("Graph execution error", "Detected at node", "defined at", "File ", "[[", "Stack trace"))
            or line.startswith(("  ", "\t"))
        ):
            continue
        lines.append(text)
    return " ".join(lines) or type(error).__name__


def _by_method(layers: Sequence[keras.layers.Layer]) -> dict[str, list[keras.layers.Layer]]:
    groups: dict[str, list[keras.layers.Layer]] = {}
    for layer in layers:
        groups.setdefault(_route(layer).method, []).append(layer)
    return groups


@contextlib.contextmanager
def capturing(
    layers: Sequence[keras.layers.Layer], captured: list, calls: list | None = None
) -> Iterator[list]:
    """Appends ``(layer, (N, heads, T_query, T_key) weights)`` to ``captured`` at each call.

    For use around a forward pass that is being traced (or run eagerly); each layer's
    weights method is routed through a hook that reads the weights and hands the
    method's own result on unchanged. With ``calls`` (a list), each call of a layer also
    appends an :class:`~keras_viz._attention_flow.AttentionCall`: the query, key and
    value it was called with and its outputs (self- or cross-attention, see
    :mod:`keras_viz._attention_flow`).
    """

    def hook(layer, outputs, args, kwargs):
        weights = tf.convert_to_tensor(_route(layer).read(layer, outputs, args, kwargs))
        captured.append((layer, _as_heads(weights, layer, layer.name)))
        return outputs

    def record(layer, outputs, args, kwargs):
        query, key, value = attention_operands(layer, args, kwargs)
        flat = [t for t in tf.nest.flatten(outputs) if tf.is_tensor(t)]
        calls.append(AttentionCall(layer, query, key, value, flat))
        return outputs

    with contextlib.ExitStack() as stack:
        for method, group in _by_method(layers).items():
            stack.enter_context(intercept(group, hook, method=method))
        if calls is not None:  # after the weights methods: `call` may be one of them
            stack.enter_context(intercept(layers, record))
        yield captured
