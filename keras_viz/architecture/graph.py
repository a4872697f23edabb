"""Reading a Keras model into a `Graph`: one box per layer call, edges for the data flow.

Functional and Sequential models use Keras' own graph (the ``Node`` objects every call
of a layer leaves in ``layer._inbound_nodes``); subclassed models, which have no static
graph, are run once on a sample and their leaf layer calls are chained in call order.
See :mod:`keras_viz.architecture` for the whole diagram.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._model import ModelInfo, check_model, is_container

__all__ = [
    "Graph",
    "GraphNode",
    "keras_function",
    "model_graph",
]


@dataclasses.dataclass(frozen=True)
class GraphNode:
    """One box of the diagram: one call of a layer (or of a Keras op) in the model.

    Attributes:
        id: Key of the box, unique in its graph: the layer name, with ``#k``
            appended for the k-th call of a layer that runs several times.
        name: The layer name.
        type: The layer's class name (``"Conv2D"``); for a nested model its
            class (``"Functional"``, ``"Sequential"``...).
        output_shape: The output shape as text, batch axis shown as ``None``:
            ``"(None, 16, 16, 6)"``; several outputs are listed in brackets.
        params: ``layer.count_params()``: every weight of the layer, trainable or
            not, all the weights of its sub-layers for a nested model, 0 for a
            Keras op such as ``x * 2`` that has no weights.
        is_input: True for a model input (an ``InputLayer``, or the sample of a
            probed model).
        is_output: True if the box produces one of the model's outputs.
        is_nested_model: True for a model used as a layer. It is drawn as one box
            and not expanded: its inside is a diagram of its own
            (``model_diagram(model.get_layer(name))``).
    """

    id: str
    name: str
    type: str
    output_shape: str
    params: int
    is_input: bool = False
    is_output: bool = False
    is_nested_model: bool = False


@dataclasses.dataclass(frozen=True)
class Graph:
    """A model as boxes and arrows.

    Attributes:
        name: The model name.
        nodes: The boxes, each parent before its children.
        edges: ``(parent_id, child_id)`` pairs: data flows from parent to child.
        total_params: ``model.count_params()``.
        trainable_params: Number of trainable weights of the model.
        call_order: True when the edges chain the layer calls in the order a
            probe run made them (subclassed models) rather than follow the data.

    Raises:
        ValueError: If two nodes share an id or an edge names an unknown node.
    """

    name: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]
    total_params: int
    trainable_params: int
    call_order: bool = False

    def __post_init__(self) -> None:
        ids = [node.id for node in self.nodes]
        if len(set(ids)) != len(ids):
            repeated = sorted({key for key in ids if ids.count(key) > 1})
            raise ValueError(f"`nodes` must have unique ids; repeated: {', '.join(repeated)}.")
        known = set(ids)
        for edge in self.edges:
            if len(edge) != 2 or edge[0] not in known or edge[1] not in known:
                raise ValueError(
                    f"`edges` must be (parent_id, child_id) pairs of node ids; received "
                    f"edge={edge!r}. Node ids: {', '.join(ids[:20])}"
                    f"{'...' if len(ids) > 20 else ''}."
                )

    def node(self, node_id: str) -> GraphNode:
        """The node with id ``node_id``."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise ValueError(f"Unknown node id {node_id!r} (argument `node_id`).")

    def parents(self, node_id: str) -> list[str]:
        """Ids of the nodes whose output ``node_id`` receives, in edge order."""
        return [parent for parent, child in self.edges if child == node_id]

    def children(self, node_id: str) -> list[str]:
        """Ids of the nodes that receive the output of ``node_id``, in edge order."""
        return [child for parent, child in self.edges if parent == node_id]


def model_graph(model: keras.Model, sample: Any = None) -> Graph:
    """Reads a Keras model into a `Graph` of layer boxes and data-flow edges.

    Functional and Sequential models (with a known input shape) are read from
    Keras' own graph: one box per layer call (a layer called twice gets two
    boxes, ``name#0`` and ``name#1``), ``InputLayer`` boxes for the inputs and
    the real data flow, branches and merges included. A model used as a layer
    is one box (type = its class, params = all its weights); it is not expanded.
    ``sample`` is not used for these models.

    Subclassed models (and Sequential models whose input shape is unknown) have
    no static graph: the model is run once on ``sample`` and the calls of its
    leaf layers (layers that contain no other layers, so nested models do
    appear as their layers here) are chained in call order after an input box.
    `Graph.call_order` is then True, and the diagram title says so. Output
    shapes come from that run, with the batch axis written as ``None``.

    Args:
        model: Any Keras model.
        sample: A batch of inputs (one example is enough), as the model's
            ``call`` takes them. Required for subclassed models and Sequential
            models without an input shape; ignored otherwise.

    Returns:
        The `Graph`.

    Raises:
        TypeError: If ``model`` is not a Keras model.
        ValueError: If the model has no static graph and ``sample`` is None.
    """
    model = check_model(model)
    function = keras_function(model)
    if function is not None:
        return _static_graph(model, function)
    if sample is None:
        raise ValueError(
            f"`sample` is required for model {model.name!r} ({type(model).__name__}): it "
            f"has no static Keras graph (a subclassed model, or a Sequential model whose "
            f"input shape is unknown), so keras-viz must run it once on a sample batch to "
            f"see which layers it calls. Pass sample=<a batch of inputs; one example is "
            f"enough>; received sample=None."
        )
    return _probed_graph(model, sample)


def keras_function(model: keras.Model) -> Any | None:
    """The Keras ``Function`` holding the model's static graph, or None if it has none.

    A functional model is its own graph; a Sequential model has one once its input
    shape is known; a subclassed model has none (`model_graph` then needs a sample).

    Args:
        model: A Keras model.

    Returns:
        The object whose ``_nodes_by_depth`` and ``outputs`` describe the graph, or None.
    """
    if isinstance(model, keras.Sequential):
        return model._functional  # None until the input shape is known
    if hasattr(model, "_nodes_by_depth") and hasattr(model, "_operations"):
        return model  # a functional model is its own graph
    return None


def _static_graph(model: keras.Model, function: Any) -> Graph:
    """Builds the graph of a functional model from its Keras ``Node`` objects."""
    by_depth = function._nodes_by_depth
    # A node's depth is its distance to the outputs, so deepest first is a
    # topological order: every node comes after its parents.
    keras_nodes = [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]
    ids = _node_ids(keras_nodes)
    outputs = list(function.outputs)
    nodes = tuple(
        GraphNode(
            id=ids[id(node)],
            name=node.operation.name,
            type=type(node.operation).__name__,
            output_shape=_shape_text([tuple(t.shape) for t in node.outputs]),
            params=_param_count(node.operation),
            is_input=bool(node.is_input),
            is_output=any(t is out for t in node.outputs for out in outputs),
            is_nested_model=isinstance(node.operation, keras.Model),
        )
        for node in keras_nodes
    )
    edges: dict[tuple[str, str], None] = {}  # ordered set: x * x is one edge
    for node in keras_nodes:
        for parent in node.parent_nodes:
            if id(parent) in ids:
                edges[(ids[id(parent)], ids[id(node)])] = None
    return Graph(
        name=model.name,
        nodes=nodes,
        edges=tuple(edges),
        total_params=int(model.count_params()),
        trainable_params=_trainable_count(model),
    )


def _node_ids(keras_nodes: Sequence[Any]) -> dict[int, str]:
    """Box ids keyed by ``id(node)``: the layer name, ``name#k`` for shared layers."""
    calls: dict[int, int] = {}
    for node in keras_nodes:
        calls[id(node.operation)] = calls.get(id(node.operation), 0) + 1
    ids: dict[int, str] = {}
    taken: set[str] = set()
    for node in keras_nodes:
        operation = node.operation
        key = operation.name
        if calls[id(operation)] > 1:
            key = f"{key}#{operation._inbound_nodes.index(node)}"
        ids[id(node)] = _unique(key, taken)
    return ids


def _unique(key: str, taken: set[str]) -> str:
    """``key``, or ``key_2``, ``key_3``... if taken; records the result as taken."""
    candidate, suffix = key, 2
    while candidate in taken:
        candidate, suffix = f"{key}_{suffix}", suffix + 1
    taken.add(candidate)
    return candidate


def _probed_graph(model: keras.Model, sample: Any) -> Graph:
    """Chains the leaf layer calls of one probe run, in call order."""
    if not model.built:
        # The first call of an unbuilt model traces ``call`` symbolically to build it
        # before running it, and the probe would record both passes: build first.
        model(sample, training=False)
    info = ModelInfo(model, sample)
    calls = [call for call in info.calls if not is_container(call.layer)]
    taken: set[str] = set()
    input_shapes = [tuple(np.shape(x)) for x in tf.nest.flatten(sample)]
    nodes = [
        GraphNode(
            id=_unique("input", taken),
            name="input",
            type="Input",
            output_shape=_shape_text(_batch_as_none(input_shapes)),
            params=0,
            is_input=True,
        )
    ]
    counts: dict[int, int] = {}
    for call in calls:
        counts[id(call.layer)] = counts.get(id(call.layer), 0) + 1
    seen: dict[int, int] = {}
    for index, call in enumerate(calls):
        key = call.path
        if counts[id(call.layer)] > 1:
            key = f"{key}#{seen.get(id(call.layer), 0)}"
            seen[id(call.layer)] = seen.get(id(call.layer), 0) + 1
        nodes.append(
            GraphNode(
                id=_unique(key, taken),
                name=call.layer.name,
                type=type(call.layer).__name__,
                output_shape=_shape_text(_batch_as_none([tuple(t.shape) for t in call.outputs])),
                params=_param_count(call.layer),
                is_output=index == len(calls) - 1,
            )
        )
    edges = tuple((a.id, b.id) for a, b in zip(nodes, nodes[1:]))
    return Graph(
        name=model.name,
        nodes=tuple(nodes),
        edges=edges,
        total_params=int(model.count_params()),
        trainable_params=_trainable_count(model),
        call_order=True,
    )


def _batch_as_none(shapes: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Replaces the leading (batch) axis of concrete shapes by None."""
    return [(None, *shape[1:]) if shape else shape for shape in shapes]


def _shape_text(shapes: Sequence[tuple[Any, ...]]) -> str:
    """``"(None, 8, 8, 4)"`` for one shape, ``"[(None, 2), (None, 3)]"`` for several."""
    texts = [str(tuple(shape)) for shape in shapes]
    if len(texts) == 1:
        return texts[0]
    return "[" + ", ".join(texts) + "]"


def _param_count(operation: Any) -> int:
    """Weights of a layer (all of them); 0 for a Keras op, which has none."""
    if isinstance(operation, keras.layers.Layer):
        return int(operation.count_params())
    return 0


def _trainable_count(model: keras.Model) -> int:
    return int(sum(math.prod(weight.shape) for weight in model.trainable_weights))


def _check_graph(graph: Any) -> Graph:
    if not isinstance(graph, Graph):
        raise TypeError(
            f"`graph` must be a keras_viz.architecture.Graph (see model_graph); received "
            f"{type(graph).__name__}: {graph!r:.80}"
        )
    return graph
