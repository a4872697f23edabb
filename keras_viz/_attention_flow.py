"""What feeds an attention layer: self- or cross-attention, and which model input each axis comes from.

Read while :class:`keras_viz.AttentionMaps` traces the model's forward pass:

* **Kind.** A layer is *self-attention* when its query, key and value are the same
  tensor (``MultiHeadAttention(x, x)``, ``Attention([x, x])``), and *cross-attention*
  otherwise (a decoder's queries over an encoder's output). Only self-attention maps
  positions of one sequence onto the same positions, so only self-attention layers can
  be chained by attention rollout (Abnar & Zuidema 2020); a cross-attention layer whose
  query and key have equal lengths is still cross-attention.
* **Axis sources.** The query axis of a layer indexes positions of whatever its query
  tensor was computed from. Walking the traced graph back from the query (and key)
  tensor to the function's inputs gives the flat model inputs whose values flow into
  it, so labels can be taken from the right input (source or target tokens). Two
  rules keep the walk to *positions*: ops that read only a shape (``Shape``, ``Size``,
  ...) are not followed (learned queries broadcast to the batch size come from no
  input), and the output of an attention layer is followed to its query only (its
  positions are the query's; the keys only weight them), so a decoder's residual
  stream stays the decoder's through its cross-attention layers.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

__all__ = ["AttentionCall", "attention_operands", "input_sources", "same_tensor"]

SELF = "self"
CROSS = "cross"

_SHAPE_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank", "TensorListLength"})
_PASS_THROUGH_OPS = frozenset({"Identity", "Cast"})


@dataclasses.dataclass
class AttentionCall:
    """One call of an attention layer: its operands and what it returned."""

    layer: keras.layers.Layer
    query: Any
    key: Any
    value: Any
    outputs: list[Any]

    @property
    def kind(self) -> str:
        """``"self"`` when query, key and value are one tensor, else ``"cross"``."""
        return SELF if same_tensor(self.query, self.key) and same_tensor(self.query, self.value) else CROSS


def _bound(layer: keras.layers.Layer, args: tuple, kwargs: dict) -> dict[str, Any] | None:
    try:
        return dict(inspect.signature(type(layer).call).bind(layer, *args, **kwargs).arguments)
    except (TypeError, ValueError):
        return None


def attention_operands(layer: keras.layers.Layer, args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
    """``(query, key, value)`` of a call of ``layer`` (the arguments of its ``call``).

    ``MultiHeadAttention`` and ``GroupQueryAttention``: ``call(query, value, key=None)``,
    the key defaulting to the value. ``Attention`` and ``AdditiveAttention``:
    ``call([query, value(, key)])``. Any other layer: the tensors among its arguments
    (masks and ``training`` left out), in order: one tensor is query, key and value; two
    are query and key (= value); three are query, key and value.
    """
    from keras_viz.attention import _MULTI_HEAD  # the layer families attention.py reads

    bound = _bound(layer, args, kwargs)
    if bound is None:
        return None, None, None
    if isinstance(layer, _MULTI_HEAD):
        value = bound.get("value")
        key = bound.get("key")
        return bound.get("query"), value if key is None else key, value
    if isinstance(layer, keras.layers.Attention) and isinstance(bound.get("inputs"), (list, tuple)):
        inputs = list(bound["inputs"])
        if len(inputs) >= 2:
            return inputs[0], inputs[2] if len(inputs) > 2 else inputs[1], inputs[1]
    tensors = [
        tensor
        for name, value in bound.items()
        if name != "self" and "mask" not in name and name != "training"
        for tensor in tf.nest.flatten(value)
        if tf.is_tensor(tensor)
    ]
    if not tensors:
        return None, None, None
    if len(tensors) == 1:
        return tensors[0], tensors[0], tensors[0]
    return tensors[0], tensors[1], tensors[2] if len(tensors) > 2 else tensors[1]


def _graph_name(tensor: Any) -> str | None:
    """The name of a graph tensor; None for eager tensors and anything else."""
    if tensor is None or not tf.is_tensor(tensor) or not hasattr(tensor, "op"):
        return None
    try:
        return tensor.name  # eager tensors have no name
    except (AttributeError, ValueError):
        return None


def _pass_through(tensor: Any) -> Any:
    """``tensor`` before any Identity or Cast ops (Keras may cast each operand on its own)."""
    while _graph_name(tensor) is not None and tensor.op.type in _PASS_THROUGH_OPS and tensor.op.inputs:
        tensor = tensor.op.inputs[0]
    return tensor


def same_tensor(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are one tensor (up to Identity/Cast ops in a graph)."""
    if a is None or b is None:
        return a is b
    if a is b:
        return True
    first, second = _graph_name(_pass_through(a)), _graph_name(_pass_through(b))
    return first is not None and first == second


def input_sources(
    tensor: Any,
    placeholders: Mapping[str, int],
    redirects: Mapping[str, Any],
    memo: dict[str, frozenset[int]],
) -> tuple[int, ...]:
    """The flat model inputs whose values flow into ``tensor`` along its positions.

    Args:
        tensor: a tensor of the traced forward pass.
        placeholders: graph name of each traced function input -> flat input index.
        redirects: graph name of an attention layer's output -> its query tensor.
        memo: shared between calls on one graph (each tensor is resolved once).

    Returns:
        Sorted input indices; empty for a tensor computed from no input (learned
        queries), or for an eager tensor (no graph to walk).
    """
    root = _graph_name(tensor)
    if root is None:
        return ()
    stack, visiting = [tensor], set()
    while stack:
        current = stack[-1]
        name = current.name
        if name in memo:
            stack.pop()
            continue
        visiting.add(name)
        parents = _parents(current, placeholders, redirects)
        pending = [p for p in parents if p.name not in memo and p.name not in visiting]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        found = {placeholders[name]} if name in placeholders else set()
        for parent in parents:
            found.update(memo.get(parent.name, ()))
        memo[name] = frozenset(found)
    return tuple(sorted(memo[root]))


def _parents(tensor: Any, placeholders: Mapping[str, int], redirects: Mapping[str, Any]) -> Sequence[Any]:
    name = tensor.name
    if name in placeholders:
        return ()
    if name in redirects:
        return (redirects[name],)
    if tensor.op.type in _SHAPE_OPS:
        return ()
    return tuple(tensor.op.inputs)
