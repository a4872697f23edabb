"""The layered (Sugiyama) layout of a `Graph`: boxes in ranks, skip connections beside them.

Pure geometry over the graph: rank = longest path from the inputs, a waypoint on every
rank that a long edge crosses, barycentre ordering within each rank to reduce
crossings, and horizontal positions (isotonic regression) that keep the main path
straight and push skip connections to the side. Positions are in box widths; the
pixels are :mod:`keras_viz.architecture.drawing`'s business.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from keras_viz.architecture.graph import Graph, _check_graph, _unique

__all__ = [
    "Layout",
    "layered_layout",
]

# Horizontal geometry of a layout, in box widths.
_GAP = 0.25  # between neighbours in a rank
_WAYPOINT_WIDTH = 0.1  # room taken by a long edge passing through a rank
# How strongly an entry resists being pushed sideways when a rank is packed:
# boxes hold their place, waypoints (skip connections) give way.
_NODE_WEIGHT = 1.0
_WAYPOINT_WEIGHT = 0.01
_SWEEPS = 4  # barycentre sweeps (down, up, down, up)


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
