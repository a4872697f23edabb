"""Block diagrams of Keras models: layers as boxes, data flow as arrows.

The diagram is built in three pure steps, each usable on its own:

1. `model_graph` reads the model into a `Graph` of boxes (one per layer call) and
   edges. Functional and Sequential models use Keras' own graph (the ``Node``
   objects every call of a layer leaves in ``layer._inbound_nodes``); subclassed
   models, which have no static graph, are run once on a sample and their leaf
   layer calls are chained in call order.
2. `layered_layout` places the boxes in rows ("ranks") with the classic layered
   (Sugiyama) recipe: rank = longest path from the inputs, a waypoint on every rank
   that a long edge (a skip connection) crosses, a barycentre ordering within each
   rank to reduce crossings, and horizontal positions that keep the main path
   straight and push skip connections to the side.
3. `render_graph` draws the layout with Pillow into a uint8 ``(H, W, 3)`` picture.

`model_diagram` chains the three.

Example::

    picture = model_diagram(model)                       # functional / Sequential
    picture = model_diagram(subclassed, sample=x[:1])    # subclassed: needs a sample
    keras_viz.render.to_pil(picture).save("model.png")
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont

from keras_viz._model import ModelInfo, check_model, is_container

__all__ = [
    "Graph",
    "GraphNode",
    "Layout",
    "layered_layout",
    "model_diagram",
    "model_graph",
    "render_graph",
]

# Horizontal geometry of a layout, in box widths.
_GAP = 0.25  # between neighbours in a rank
_WAYPOINT_WIDTH = 0.1  # room taken by a long edge passing through a rank
# How strongly an entry resists being pushed sideways when a rank is packed:
# boxes hold their place, waypoints (skip connections) give way.
_NODE_WEIGHT = 1.0
_WAYPOINT_WEIGHT = 0.01
_SWEEPS = 4  # barycentre sweeps (down, up, down, up)

_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_SOFT_INK = (70, 70, 70)
_EDGE = (90, 90, 90)
_PANEL_RULE = (200, 200, 200)
_LAYER_FILL = (223, 234, 248)
_INPUT_FILL = (218, 240, 218)
_OUTPUT_FILL = (253, 229, 200)
_NESTED_FILL = (232, 222, 247)

_MIN_FONT_SIZE = 6
_MAX_LABEL_CHARS = 48  # boxes are at most this many average characters wide


# --------------------------------------------------------------------------- graph


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
    function = _keras_function(model)
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


def _keras_function(model: keras.Model) -> Any | None:
    """The Keras ``Function`` holding the model's static graph, or None if it has none."""
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


# --------------------------------------------------------------------------- layout


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where `layered_layout` puts every box and every bend of a long edge.

    Attributes:
        ranks: For each rank (row, top to bottom), the keys placed in it from
            left to right: node ids and waypoint keys.
        rank: The rank of every key.
        x: The horizontal centre of every key, in box widths (a box is 1 wide,
            a waypoint `_WAYPOINT_WIDTH`); only differences matter.
        routes: For every edge ``(parent_id, child_id)``, the waypoint keys it
            passes through, one per rank strictly between its two ends.
        waypoints: All waypoint keys (the keys that are not node ids).
    """

    ranks: tuple[tuple[str, ...], ...]
    rank: Mapping[str, int]
    x: Mapping[str, float]
    routes: Mapping[tuple[str, str], tuple[str, ...]]
    waypoints: frozenset[str]

    def width_of(self, key: str) -> float:
        """Width of a key in box widths (1 for a box)."""
        return _WAYPOINT_WIDTH if key in self.waypoints else 1.0


def layered_layout(graph: Graph) -> Layout:
    """Places the boxes of a graph in ranks, top to bottom.

    Rules:

    * Rank: the length of the longest path from a node without parents (the
      inputs), so every arrow points down and merges sit below all their inputs.
    * An edge spanning several ranks (a skip connection) gets a waypoint on every
      rank it crosses; the waypoints take part in ordering and placement like
      thin boxes, so the skip path becomes a column of its own beside the boxes.
    * Order within a rank: barycentre heuristic. Starting from graph order,
      `_SWEEPS` sweeps alternately sort each rank by the mean position of its
      neighbours in the rank above (down sweeps) or below (up sweeps); the
      order with the fewest crossings is kept. Ties keep the earlier order, so
      boxes come before waypoints and the main path stays left.
    * Horizontal position, rank by rank from the top: a box wants to sit under
      the mean x of the nodes its edges start from (the source of a skip
      connection counts, not its waypoint), a waypoint under the previous
      point of its edge; each rank is then packed with the least weighted
      squared displacement that keeps the order and the spacing (isotonic
      regression), with boxes weighted 100 times waypoints, so boxes stay in
      line and skip connections move aside. Parentless nodes are packed left to
      right around 0.

    Args:
        graph: The graph to place.

    Returns:
        The `Layout`.

    Raises:
        TypeError: If ``graph`` is not a `Graph`.
        ValueError: If the graph has a cycle.
    """
    graph = _check_graph(graph)
    order = _topological_order(graph)
    rank = _longest_path_ranks(graph, order)
    rank_of, parents, routes, waypoints, creation = _add_waypoints(graph, order, rank)
    children: dict[str, list[str]] = {key: [] for key in rank_of}
    for key, ups in parents.items():
        for up in ups:
            children[up].append(key)
    initial = [[] for _ in range(max(rank_of.values(), default=-1) + 1)]
    for key in sorted(rank_of, key=creation.__getitem__):
        initial[rank_of[key]].append(key)
    ranks = _order_ranks(initial, parents, children)
    origin = _edge_origins(routes)
    x = _place_ranks(ranks, parents, origin, waypoints)
    return Layout(
        ranks=tuple(tuple(keys) for keys in ranks),
        rank=MappingProxyType(dict(rank_of)),
        x=MappingProxyType(x),
        routes=MappingProxyType(routes),
        waypoints=frozenset(waypoints),
    )


def _check_graph(graph: Any) -> Graph:
    if not isinstance(graph, Graph):
        raise TypeError(
            f"`graph` must be a keras_viz.architecture.Graph (see model_graph); received "
            f"{type(graph).__name__}: {graph!r:.80}"
        )
    return graph


def _topological_order(graph: Graph) -> list[str]:
    """Node ids, parents first, otherwise in graph order (Kahn's algorithm)."""
    position = {node.id: i for i, node in enumerate(graph.nodes)}
    missing = {node.id: 0 for node in graph.nodes}
    children: dict[str, list[str]] = {node.id: [] for node in graph.nodes}
    for parent, child in dict.fromkeys(graph.edges):
        missing[child] += 1
        children[parent].append(child)
    ready = sorted((key for key, count in missing.items() if count == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        key = ready.pop(0)
        order.append(key)
        for child in children[key]:
            missing[child] -= 1
            if missing[child] == 0:
                ready.append(child)
                ready.sort(key=position.__getitem__)
    if len(order) != len(graph.nodes):
        stuck = [key for key, count in missing.items() if count > 0]
        raise ValueError(
            f"`graph` has a cycle through {', '.join(stuck[:10])}; a block diagram needs "
            f"an acyclic graph."
        )
    return order


def _longest_path_ranks(graph: Graph, order: Sequence[str]) -> dict[str, int]:
    """Rank of each node: the number of edges on the longest path reaching it."""
    parents: dict[str, list[str]] = {key: [] for key in order}
    for parent, child in graph.edges:
        parents[child].append(parent)
    rank: dict[str, int] = {}
    for key in order:
        rank[key] = max((rank[parent] + 1 for parent in parents[key]), default=0)
    return rank


def _add_waypoints(
    graph: Graph, order: Sequence[str], rank: Mapping[str, int]
) -> tuple[
    dict[str, int],
    dict[str, list[str]],
    dict[tuple[str, str], tuple[str, ...]],
    set[str],
    dict[str, int],
]:
    """Splits long edges with one waypoint per crossed rank.

    Returns:
        ``(rank_of, parents, routes, waypoints, creation)``: the rank of every
        key, its parents between adjacent ranks, the waypoints of every edge, the
        waypoint keys, and a creation index (nodes first, then waypoints) used
        to break ties when ordering.
    """
    rank_of = dict(rank)
    creation = {key: i for i, key in enumerate(order)}
    parents: dict[str, list[str]] = {key: [] for key in order}
    routes: dict[tuple[str, str], tuple[str, ...]] = {}
    waypoints: set[str] = set()
    taken = set(order)
    for parent, child in dict.fromkeys(graph.edges):
        chain = []
        previous = parent
        for r in range(rank[parent] + 1, rank[child]):
            key = _unique(f"{parent}->{child}@{r}", taken)
            rank_of[key] = r
            creation[key] = len(creation)
            parents[key] = [previous]
            waypoints.add(key)
            chain.append(key)
            previous = key
        parents[child].append(previous)
        routes[(parent, child)] = tuple(chain)
    return rank_of, parents, routes, waypoints, creation


def _order_ranks(
    initial: Sequence[Sequence[str]],
    parents: Mapping[str, Sequence[str]],
    children: Mapping[str, Sequence[str]],
) -> list[list[str]]:
    """Barycentre sweeps over the ranks; returns the order with fewest crossings."""
    ranks = [list(keys) for keys in initial]
    best, best_crossings = [list(keys) for keys in ranks], _crossings(ranks, parents)
    for sweep in range(_SWEEPS):
        if sweep % 2 == 0:
            for r in range(1, len(ranks)):
                ranks[r] = _barycentre_sorted(ranks[r], ranks[r - 1], parents)
        else:
            for r in range(len(ranks) - 2, -1, -1):
                ranks[r] = _barycentre_sorted(ranks[r], ranks[r + 1], children)
        crossings = _crossings(ranks, parents)
        if crossings < best_crossings:
            best, best_crossings = [list(keys) for keys in ranks], crossings
    return best


def _barycentre_sorted(
    keys: Sequence[str], neighbour_rank: Sequence[str], neighbours: Mapping[str, Sequence[str]]
) -> list[str]:
    """``keys`` sorted by the mean position of their neighbours (stable)."""
    position = {key: i for i, key in enumerate(neighbour_rank)}

    def barycentre(item: tuple[int, str]) -> float:
        index, key = item
        found = [position[n] for n in neighbours[key] if n in position]
        # Scale the own index to the neighbour rank so keys without neighbours stay put.
        own = index * max(len(neighbour_rank) - 1, 0) / max(len(keys) - 1, 1)
        return sum(found) / len(found) if found else own

    return [key for _, key in sorted(enumerate(keys), key=barycentre)]


def _crossings(ranks: Sequence[Sequence[str]], parents: Mapping[str, Sequence[str]]) -> int:
    """Number of pairs of edges that cross between adjacent ranks."""
    total = 0
    for upper, lower in zip(ranks, ranks[1:]):
        up_position = {key: i for i, key in enumerate(upper)}
        pairs = sorted(
            (up_position[parent], i)
            for i, key in enumerate(lower)
            for parent in parents[key]
            if parent in up_position
        )
        ends = [end for _, end in pairs]
        # After sorting by the upper end, crossings are inversions of the lower ends
        # (pairs sharing an upper end never cross).
        for a in range(len(pairs)):
            for b in range(a + 1, len(pairs)):
                if pairs[a][0] != pairs[b][0] and ends[a] > ends[b]:
                    total += 1
    return total


def _edge_origins(routes: Mapping[tuple[str, str], tuple[str, ...]]) -> dict[tuple[str, str], str]:
    """For each adjacent-rank hop into a node, the node the whole edge starts from."""
    origin: dict[tuple[str, str], str] = {}
    for (parent, child), chain in routes.items():
        last = chain[-1] if chain else parent
        origin[(last, child)] = parent
    return origin


def _place_ranks(
    ranks: Sequence[Sequence[str]],
    parents: Mapping[str, Sequence[str]],
    origin: Mapping[tuple[str, str], str],
    waypoints: set[str],
) -> dict[str, float]:
    """Horizontal centres, rank by rank from the top (see `layered_layout`)."""
    x: dict[str, float] = {}
    for keys in ranks:
        widths = [_WAYPOINT_WIDTH if key in waypoints else 1.0 for key in keys]
        offsets = _packed_offsets(widths)
        packed_centre = sum(offsets) / len(offsets) if offsets else 0.0
        desired = []
        for key, offset in zip(keys, offsets):
            ups = parents[key]
            if not ups:
                desired.append(offset - packed_centre)
            elif key in waypoints:
                desired.append(x[ups[0]])
            else:
                desired.append(sum(x[origin.get((up, key), up)] for up in ups) / len(ups))
        weights = [_WAYPOINT_WEIGHT if key in waypoints else _NODE_WEIGHT for key in keys]
        shifts = _isotonic([want - offset for want, offset in zip(desired, offsets)], weights)
        for key, shift, offset in zip(keys, shifts, offsets):
            x[key] = shift + offset
    return x


def _packed_offsets(widths: Sequence[float]) -> list[float]:
    """Centres of entries of ``widths`` packed left to right with `_GAP` between them."""
    offsets: list[float] = []
    for i, width in enumerate(widths):
        if i == 0:
            offsets.append(0.0)
        else:
            offsets.append(offsets[-1] + (widths[i - 1] + width) / 2 + _GAP)
    return offsets


def _isotonic(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted least-squares non-decreasing fit of ``values`` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(values, weights):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, weight2, count2 = blocks.pop()
            mean1, weight1, count1 = blocks.pop()
            total = weight1 + weight2
            blocks.append([(mean1 * weight1 + mean2 * weight2) / total, total, count1 + count2])
    fitted: list[float] = []
    for mean, _, count in blocks:
        fitted.extend([mean] * int(count))
    return fitted


# --------------------------------------------------------------------------- render


@dataclasses.dataclass(frozen=True)
class _Metrics:
    """Pixel sizes derived from the font."""

    font: Any
    line_height: int
    padding: int
    box_width: int
    box_height: int
    rank_gap: int
    margin: int
    line_width: int


@dataclasses.dataclass(frozen=True)
class _Frame:
    """Pixel frame of a rendered layout: panels of ranks side by side."""

    metrics: _Metrics
    title_height: int
    ranks_per_panel: int
    panels: int
    panel_width: int
    x_min: float
    width: int
    height: int


def render_graph(
    graph: Graph,
    *,
    max_width: int = 2000,
    max_height: int = 16384,
    font_size: int | None = None,
) -> np.ndarray:
    """Draws a graph as a block diagram.

    Layout: `layered_layout` (ranks top to bottom, branches side by side). Each
    box shows ``name (Type)``, the output shape and the parameter count; model
    inputs are green, outputs orange, nested models purple with a double border,
    other layers blue. Arrows run from the bottom of a box to the top of the
    next, leaving and entering each box on the side of the box at the other end,
    so the arrows into a merge stay apart; a skip connection runs down its own
    column beside the boxes it bypasses. The title gives the model name and
    total / trainable parameters (and says when boxes follow the call order of
    a probed model rather than its data flow).

    Size rules, which never fail: a diagram taller than ``max_height`` is
    wrapped into several panels of consecutive ranks placed side by side (an
    arrow crossing panels leaves the bottom of one and enters the top of the
    next); one wider than ``max_width`` is redrawn with a smaller font (down to
    6 px) and, if still too wide or too tall, scaled down.

    Args:
        graph: From `model_graph`.
        max_width: Largest width of the picture in pixels. Defaults to 2000.
        max_height: Largest height in pixels. Defaults to 16384.
        font_size: Size of Pillow's default font in pixels, or None for its own
            default size (10 px with FreeType).

    Returns:
        A uint8 array of shape ``(H, W, 3)``.

    Raises:
        TypeError: If ``graph`` is not a `Graph`.
        ValueError: If ``max_width``, ``max_height`` or ``font_size`` is not a
            positive integer (``max_width`` and ``max_height`` at least 64).
    """
    graph = _check_graph(graph)
    max_width = _check_size(max_width, "max_width", minimum=64)
    max_height = _check_size(max_height, "max_height", minimum=64)
    font = _load_font(font_size)
    layout = layered_layout(graph)
    title = _title_lines(graph)
    frame = _fitted_frame(graph, layout, title, font, max_width, max_height)
    picture = _draw(graph, layout, title, frame)
    return _fit_within(picture, max_width, max_height)


def model_diagram(model: keras.Model, sample: Any = None, **render_options: Any) -> np.ndarray:
    """Block diagram of a Keras model: ``render_graph(model_graph(model, sample))``.

    Args:
        model: Any Keras model.
        sample: A batch of inputs; required only for models without a static
            graph (see `model_graph`).
        **render_options: Keyword options of `render_graph` (``max_width``,
            ``max_height``, ``font_size``).

    Returns:
        A uint8 array of shape ``(H, W, 3)``.

    Raises:
        TypeError: If ``model`` is not a Keras model or an option is unknown.
        ValueError: As `model_graph` and `render_graph`.
    """
    return render_graph(model_graph(model, sample), **render_options)


def _check_size(value: Any, name: str, minimum: int = 1) -> int:
    is_integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not is_integer or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; received {name}={value!r}.")
    return int(value)


def _load_font(font_size: int | None) -> Any:
    """Pillow's default font, at ``font_size`` pixels if given."""
    font = ImageFont.load_default()
    if font_size is None:
        return font
    font_size = _check_size(font_size, "font_size")
    if isinstance(font, ImageFont.FreeTypeFont):
        return font.font_variant(size=font_size)
    # Without FreeType the default font is a fixed bitmap; say so instead of ignoring it.
    raise ValueError(
        f"`font_size`={font_size} needs Pillow built with FreeType; this Pillow only has a "
        f"fixed-size bitmap default font. Pass font_size=None."
    )


def _can_shrink(font: Any) -> bool:
    return isinstance(font, ImageFont.FreeTypeFont) and font.size > _MIN_FONT_SIZE


def _title_lines(graph: Graph) -> list[str]:
    frozen = graph.total_params - graph.trainable_params
    lines = [
        f"{graph.name}  -  total params: {graph.total_params:,}  "
        f"(trainable: {graph.trainable_params:,}, non-trainable: {frozen:,})"
    ]
    if graph.call_order:
        lines.append(
            "No static graph (subclassed model): boxes are the layer calls of one run on "
            "the sample, in call order, not a data-flow graph."
        )
    return lines


def _box_lines(node: GraphNode) -> list[str]:
    lines = [f"{node.id} ({node.type})", node.output_shape]
    if not node.is_input:
        lines.append(f"{node.params:,} params")
    return lines


def _text_width(font: Any, text: str) -> float:
    return float(font.getlength(text))


def _metrics(graph: Graph, font: Any) -> _Metrics:
    _, top, _, bottom = font.getbbox("Ag(,)")
    line_height = int(bottom - top) + max(2, int((bottom - top) * 0.3))
    padding = max(3, line_height // 2)
    widest = max(
        (_text_width(font, line) for node in graph.nodes for line in _box_lines(node)),
        default=0.0,
    )
    cap = _MAX_LABEL_CHARS * _text_width(font, "x")
    box_width = int(math.ceil(min(max(widest, 10 * line_height), cap))) + 2 * padding
    return _Metrics(
        font=font,
        line_height=line_height,
        padding=padding,
        box_width=box_width,
        box_height=3 * line_height + 2 * padding,
        rank_gap=2 * line_height + 4,
        margin=2 * line_height,
        line_width=max(1, line_height // 10),
    )


def _fitted_frame(
    graph: Graph,
    layout: Layout,
    title: Sequence[str],
    font: Any,
    max_width: int,
    max_height: int,
) -> _Frame:
    """The frame at the largest font size (not above ``font``'s) that fits ``max_width``.

    Shrinking the font also shortens the ranks, so fewer panels are needed; the
    search stops at `_MIN_FONT_SIZE` (or at once for a fixed bitmap font).
    """
    frame = _frame(graph, layout, title, font, max_height)
    while frame.width > max_width and _can_shrink(frame.metrics.font):
        size = frame.metrics.font.size
        smaller = min(size - 1, max(_MIN_FONT_SIZE, int(size * max_width / frame.width)))
        smaller_font = frame.metrics.font.font_variant(size=smaller)
        frame = _frame(graph, layout, title, smaller_font, max_height)
    return frame


def _frame(
    graph: Graph, layout: Layout, title: Sequence[str], font: Any, max_height: int
) -> _Frame:
    """Pixel frame: ranks per panel so that the height stays within ``max_height``."""
    m = _metrics(graph, font)
    title_height = len(title) * m.line_height + m.margin
    keys = list(layout.x)
    lefts = [layout.x[k] - layout.width_of(k) / 2 for k in keys]
    rights = [layout.x[k] + layout.width_of(k) / 2 for k in keys]
    x_min, x_max = (min(lefts), max(rights)) if keys else (0.0, 1.0)
    panel_width = int(math.ceil((x_max - x_min) * m.box_width))
    pitch = m.box_height + m.rank_gap
    count = max(len(layout.ranks), 1)
    fixed = 2 * m.margin + title_height
    per_panel = max(1, (max_height - fixed + m.rank_gap) // pitch)
    panels = math.ceil(count / per_panel)
    per_panel = math.ceil(count / panels)  # balance the panels
    content_height = per_panel * pitch - m.rank_gap
    title_width = max(_text_width(font, line) for line in title)
    diagram_width = panels * panel_width + (panels - 1) * 2 * m.margin
    return _Frame(
        metrics=m,
        title_height=title_height,
        ranks_per_panel=per_panel,
        panels=panels,
        panel_width=panel_width,
        x_min=x_min,
        width=int(math.ceil(max(title_width, diagram_width))) + 2 * m.margin,
        height=fixed + content_height,
    )


def _draw(graph: Graph, layout: Layout, title: Sequence[str], frame: _Frame) -> np.ndarray:
    m = frame.metrics
    image = Image.new("RGB", (frame.width, frame.height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(title):
        draw.text((m.margin, m.margin + i * m.line_height), line, fill=_INK, font=m.font)
    for panel in range(1, frame.panels):
        left = _panel_left(frame, panel) - m.margin
        rule = [(left, frame.title_height + m.margin), (left, frame.height - m.margin)]
        draw.line(rule, fill=_PANEL_RULE)
    ports = _ports(graph, layout, frame)
    for edge in dict.fromkeys(graph.edges):
        _draw_edge(draw, layout, frame, edge, ports)
    for node in graph.nodes:
        _draw_box(draw, node, _box_origin(layout, frame, node.id), m)
    return np.asarray(image, dtype=np.uint8)


def _panel_left(frame: _Frame, panel: int) -> int:
    return frame.metrics.margin + panel * (frame.panel_width + 2 * frame.metrics.margin)


def _rank_top(frame: _Frame, rank: int) -> tuple[int, int]:
    """``(panel, y of the top of the rank's boxes)``."""
    panel, row = divmod(rank, frame.ranks_per_panel)
    m = frame.metrics
    return panel, frame.title_height + m.margin + row * (m.box_height + m.rank_gap)


def _x_pixels(layout: Layout, frame: _Frame, key: str, panel: int) -> float:
    return _panel_left(frame, panel) + (layout.x[key] - frame.x_min) * frame.metrics.box_width


def _box_origin(layout: Layout, frame: _Frame, key: str) -> tuple[float, float]:
    """Top-left corner of a node's box in pixels."""
    panel, top = _rank_top(frame, layout.rank[key])
    return _x_pixels(layout, frame, key, panel) - frame.metrics.box_width / 2, top


def _ports(graph: Graph, layout: Layout, frame: _Frame) -> dict[tuple[str, str, str], float]:
    """x offsets from the box centre where each edge leaves (``"out"``) or enters (``"in"``).

    An arrow leaves and enters a box on the side of the point it comes from or
    goes to (half-way towards it, clamped to the box), so an arrow from straight
    above is vertical and the two arrows into a merge stay apart.
    """
    ports: dict[tuple[str, str, str], float] = {}
    reach = 0.5 * frame.metrics.box_width - frame.metrics.padding
    for edge in dict.fromkeys(graph.edges):
        parent, child = edge
        route = layout.routes[edge]
        after_parent = route[0] if route else child
        before_child = route[-1] if route else parent
        for side, node, other in (("out", parent, after_parent), ("in", child, before_child)):
            offset = 0.5 * (layout.x[other] - layout.x[node]) * frame.metrics.box_width
            ports[(side, parent, child)] = max(-reach, min(reach, offset))
    return ports


def _draw_edge(
    draw: ImageDraw.ImageDraw,
    layout: Layout,
    frame: _Frame,
    edge: tuple[str, str],
    ports: Mapping[tuple[str, str, str], float],
) -> None:
    """Draws one edge: down from the parent, through its waypoints, into the child."""
    m = frame.metrics
    parent, child = edge
    # Points as (rank, panel, x, y); each waypoint contributes the top and bottom of its rank.
    points = []
    panel, top = _rank_top(frame, layout.rank[parent])
    x = _x_pixels(layout, frame, parent, panel) + ports[("out", parent, child)]
    points.append((panel, x, top + m.box_height))
    for key in layout.routes[edge]:
        panel, top = _rank_top(frame, layout.rank[key])
        x = _x_pixels(layout, frame, key, panel)
        points.extend([(panel, x, top), (panel, x, top + m.box_height)])
    panel, top = _rank_top(frame, layout.rank[child])
    x = _x_pixels(layout, frame, child, panel) + ports[("in", parent, child)]
    points.append((panel, x, top))
    half_gap = m.rank_gap / 2
    for (p0, x0, y0), (p1, x1, y1) in zip(points, points[1:]):
        if p0 == p1:
            draw.line([(x0, y0), (x1, y1)], fill=_EDGE, width=m.line_width)
        else:  # the hop crosses into the next panel: leave at the bottom, enter at the top
            draw.line([(x0, y0), (x0, y0 + half_gap)], fill=_EDGE, width=m.line_width)
            draw.line([(x1, y1 - half_gap), (x1, y1)], fill=_EDGE, width=m.line_width)
    (p0, x0, y0), (p1, x1, y1) = points[-2], points[-1]
    if p0 != p1:
        x0, y0 = x1, y1 - half_gap
    _draw_arrowhead(draw, (x0, y0), (x1, y1), size=max(4.0, m.line_height * 0.5))


def _draw_arrowhead(
    draw: ImageDraw.ImageDraw, start: tuple[float, float], tip: tuple[float, float], size: float
) -> None:
    dx, dy = tip[0] - start[0], tip[1] - start[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    base = (tip[0] - ux * size, tip[1] - uy * size)
    half = size * 0.45
    left = (base[0] - uy * half, base[1] + ux * half)
    right = (base[0] + uy * half, base[1] - ux * half)
    draw.polygon([tip, left, right], fill=_EDGE)


def _fill(node: GraphNode) -> tuple[int, int, int]:
    if node.is_input:
        return _INPUT_FILL
    if node.is_nested_model:
        return _NESTED_FILL
    if node.is_output:
        return _OUTPUT_FILL
    return _LAYER_FILL


def _draw_box(
    draw: ImageDraw.ImageDraw, node: GraphNode, origin: tuple[float, float], m: _Metrics
) -> None:
    left, top = origin
    right, bottom = left + m.box_width, top + m.box_height
    draw.rectangle([left, top, right, bottom], fill=_fill(node), outline=_INK, width=m.line_width)
    if node.is_nested_model:
        inset = 2 + m.line_width
        inner = [left + inset, top + inset, right - inset, bottom - inset]
        draw.rectangle(inner, outline=_INK, width=m.line_width)
    room = m.box_width - 2 * m.padding
    for i, line in enumerate(_box_lines(node)):
        text = _fit_text(m.font, line, room)
        x = left + (m.box_width - _text_width(m.font, text)) / 2
        y = top + m.padding + i * m.line_height
        draw.text((x, y), text, fill=_INK if i == 0 else _SOFT_INK, font=m.font)


def _fit_text(font: Any, text: str, width: float) -> str:
    """``text``, shortened with ``...`` to fit ``width`` pixels."""
    if _text_width(font, text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if _text_width(font, text[:middle] + "...") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "..."


def _fit_within(picture: np.ndarray, max_width: int, max_height: int) -> np.ndarray:
    """Scales ``picture`` down (keeping its aspect) until it fits; never up."""
    height, width = picture.shape[:2]
    scale = min(1.0, max_width / width, max_height / height)
    if scale >= 1.0:
        return picture
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    smaller = Image.fromarray(picture).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(smaller, dtype=np.uint8)
