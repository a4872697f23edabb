"""Tests for keras_viz.architecture: the graph read from Keras, the layout rules, the picture.

Ground truth is independent of the code under test: parameter counts are worked out
by hand (a k x k conv with c_in -> c_out channels has k*k*c_in*c_out + c_out weights),
graph shapes come from how the test models are wired.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
from keras import layers

from keras_viz import architecture
from keras_viz.architecture import (
    Graph,
    GraphNode,
    layered_layout,
    model_diagram,
    model_graph,
    render_graph,
)
from keras_viz.architecture import drawing
from tests.conftest import IMAGE, nested_model, sequential_model, subclassed_model


def _conv_params(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


def _residual_block(projection: bool = False) -> keras.Model:
    """Conv -> [Conv, skip] -> Add; with ``projection`` the skip is a 1x1 conv."""
    inputs = keras.Input((8, 8, 3), name="image")
    stem = layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    main = layers.Conv2D(4, 3, padding="same", name="main")(stem)
    skip = layers.Conv2D(4, 1, name="project")(stem) if projection else stem
    merged = layers.Add(name="add")([main, skip])
    return keras.Model(inputs, layers.ReLU(name="relu")(merged), name="residual")


def _chain_graph(length: int) -> Graph:
    nodes = tuple(
        GraphNode(
            id=f"layer{i}", name=f"layer{i}", type="Dense", output_shape="(None, 4)", params=20,
            is_input=i == 0, is_output=i == length - 1,
        )
        for i in range(length)
    )
    edges = tuple((f"layer{i}", f"layer{i + 1}") for i in range(length - 1))
    total = 20 * length
    return Graph("chain", nodes, edges, total_params=total, trainable_params=total)


def _node(key: str, **flags) -> GraphNode:
    return GraphNode(id=key, name=key, type="Dense", output_shape="(None, 4)", params=0, **flags)


def _dark(pixels: np.ndarray) -> np.ndarray:
    return pixels.max(axis=-1) < 100


# --------------------------------------------------------------------------- contract


def test_public_api_is_listed_in_all():
    assert set(architecture.__all__) == {
        "Graph", "GraphNode", "Layout", "layered_layout",
        "model_diagram", "model_graph", "render_graph",
    }


# --------------------------------------------------------------------------- model_graph


def test_sequential_model_is_a_chain_with_each_layers_param_count():
    model = sequential_model()
    graph = model_graph(model)
    ids = [node.id for node in graph.nodes]
    assert ids[1:] == [layer.name for layer in model.layers]  # plus the InputLayer first
    assert graph.edges == tuple(zip(ids, ids[1:]))
    assert not graph.call_order
    for layer in model.layers:
        assert graph.node(layer.name).params == layer.count_params()
    # Independent counts: conv 3x3 3->6, conv 3x3 6->8, dense 8->3.
    assert graph.node("conv1").params == _conv_params(3, 3, 6) == 168
    assert graph.node("conv2").params == _conv_params(3, 6, 8) == 440
    assert graph.node("head").params == 8 * 3 + 3
    assert graph.total_params == graph.trainable_params == 168 + 440 + 27
    assert graph.node(ids[0]).is_input and graph.node(ids[0]).type == "InputLayer"
    assert [node.id for node in graph.nodes if node.is_output] == ["head"]
    assert graph.node("conv1").output_shape == "(None, 14, 14, 6)"
    assert graph.node("head").output_shape == "(None, 3)"


def test_trainable_params_exclude_batch_norm_statistics():
    inputs = keras.Input((4,))
    outputs = layers.BatchNormalization(name="bn")(layers.Dense(8, name="dense")(inputs))
    graph = model_graph(keras.Model(inputs, outputs))
    assert graph.node("bn").params == 4 * 8  # gamma, beta, moving mean, moving variance
    assert graph.total_params == (4 * 8 + 8) + 32
    assert graph.trainable_params == (4 * 8 + 8) + 16


def test_residual_block_merges_two_branches_side_by_side():
    graph = model_graph(_residual_block())
    assert sorted(graph.parents("add")) == ["main", "stem"]
    assert graph.children("stem") == ["main", "add"]

    layout = layered_layout(graph)
    assert [layout.rank[key] for key in ("image", "stem", "main", "add", "relu")] == [0, 1, 2, 3, 4]
    # The identity skip crosses rank 2 beside the conv path: its own column, no overlap.
    (waypoint,) = layout.routes[("stem", "add")]
    assert layout.rank[waypoint] == layout.rank["main"] == 2
    assert set(layout.ranks[2]) == {"main", waypoint}
    clearance = 0.5 + layout.width_of(waypoint) / 2
    assert abs(layout.x[waypoint] - layout.x["main"]) >= clearance
    # The main path stays straight; the skip connection is what moves aside.
    assert layout.x["main"] == pytest.approx(layout.x["stem"], abs=0.05)
    assert layout.x["add"] == pytest.approx(layout.x["stem"], abs=0.05)


def test_projection_shortcut_is_a_second_column_of_boxes():
    graph = model_graph(_residual_block(projection=True))
    assert sorted(graph.parents("add")) == ["main", "project"]
    layout = layered_layout(graph)
    assert layout.rank["main"] == layout.rank["project"] == 2
    assert abs(layout.x["main"] - layout.x["project"]) >= 1.0  # two boxes, not overlapping
    # The merge sits between its two inputs.
    low, high = sorted((layout.x["main"], layout.x["project"]))
    assert low < layout.x["add"] < high


def test_multi_input_multi_output_model():
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = layers.GlobalAveragePooling2D(name="gap")(layers.Conv2D(2, 3, name="conv")(image))
    x = layers.Concatenate(name="concat")([x, layers.Dense(2, name="meta_dense")(meta)])
    model = keras.Model(
        [image, meta], [layers.Dense(1, name="score")(x), layers.Dense(3, name="label")(x)]
    )
    graph = model_graph(model)
    assert sorted(node.id for node in graph.nodes if node.is_input) == ["image", "meta"]
    assert sorted(node.id for node in graph.nodes if node.is_output) == ["label", "score"]
    assert sorted(graph.parents("concat")) == ["gap", "meta_dense"]
    layout = layered_layout(graph)
    assert layout.rank["image"] == layout.rank["meta"] == 0
    assert layout.rank["score"] == layout.rank["label"] == layout.rank["concat"] + 1


def test_nested_model_is_one_box_with_its_total_params():
    model = nested_model()
    backbone = model.get_layer("backbone")
    graph = model_graph(model)
    box = graph.node("backbone")
    assert box.is_nested_model and box.type == "Sequential"
    assert box.params == backbone.count_params() == _conv_params(3, 3, 6) + _conv_params(3, 6, 8)
    assert box.output_shape == "(None, 12, 12, 8)"
    assert "conv1" not in {node.id for node in graph.nodes}  # not expanded
    assert len(graph.nodes) == 5  # input, backbone, gap, drop, head


def test_shared_layer_gets_one_box_per_call():
    shared = layers.Dense(4, name="shared")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], layers.Add(name="add")([shared(a), shared(b)]))
    graph = model_graph(model)
    assert {"shared#0", "shared#1"} <= {node.id for node in graph.nodes}
    assert sorted(graph.parents("add")) == ["shared#0", "shared#1"]
    assert graph.parents("shared#0") == ["a"] and graph.parents("shared#1") == ["b"]


class _OutOfOrder(keras.Model):
    """Layers created in one order and called in the other."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.late = layers.Dense(2, name="late")
        self.early = layers.Dense(5, name="early")

    def call(self, x):
        return self.late(self.early(x))


def test_subclassed_model_is_chained_in_call_order():
    model = _OutOfOrder(name="out_of_order")
    graph = model_graph(model, sample=np.zeros((1, 3), np.float32))
    ids = [node.id for node in graph.nodes]
    assert ids == ["input", "early", "late"]  # call order, not attribute order
    assert graph.edges == (("input", "early"), ("early", "late"))
    assert graph.call_order
    assert graph.node("input").output_shape == "(None, 3)"
    assert graph.node("early").params == 3 * 5 + 5
    assert graph.node("late").output_shape == "(None, 2)" and graph.node("late").is_output

    conftest_model = subclassed_model()
    sample = np.zeros((2, *IMAGE), np.float32)
    assert [node.id for node in model_graph(conftest_model, sample).nodes] == [
        "input", "conv1", "conv2", "gap", "head",
    ]


def test_model_without_static_graph_needs_a_sample():
    with pytest.raises(ValueError, match=r"`sample` is required.*subclassed.*sample=None"):
        model_graph(subclassed_model())
    unbuilt = keras.Sequential([layers.Dense(3, name="dense")])
    with pytest.raises(ValueError, match="`sample`"):
        model_graph(unbuilt)
    graph = model_graph(unbuilt, sample=np.zeros((1, 4), np.float32))
    assert [node.id for node in graph.nodes] == ["input", "dense"]


def test_model_graph_rejects_non_models():
    with pytest.raises(TypeError, match="`model` must be a keras.Model"):
        model_graph("resnet")


# --------------------------------------------------------------------------- layered_layout


def test_rank_is_longest_path_and_long_edges_get_waypoints():
    edges = (("a", "b"), ("b", "c"), ("a", "c"))
    layout = layered_layout(Graph("g", (_node("a"), _node("b"), _node("c")), edges, 0, 0))
    assert [layout.rank[key] for key in "abc"] == [0, 1, 2]
    (waypoint,) = layout.routes[("a", "c")]
    assert layout.rank[waypoint] == 1 and layout.waypoints == {waypoint}
    assert layout.routes[("a", "b")] == layout.routes[("b", "c")] == ()
    assert layout.ranks[1] == ("b", waypoint)  # ties: boxes before waypoints


def test_barycentre_ordering_removes_a_crossing():
    # In graph order rank 1 would be (c, d) with a->d and b->c crossing.
    graph = Graph(
        "g", (_node("a"), _node("b"), _node("c"), _node("d")), (("b", "c"), ("a", "d")), 0, 0
    )
    layout = layered_layout(graph)
    assert layout.ranks == (("a", "b"), ("d", "c"))
    assert layout.x["a"] < layout.x["b"] and layout.x["d"] < layout.x["c"]


def test_layout_rejects_cycles_and_unknown_edges():
    with pytest.raises(ValueError, match="cycle"):
        layered_layout(Graph("g", (_node("a"), _node("b")), (("a", "b"), ("b", "a")), 0, 0))
    with pytest.raises(ValueError, match=r"`edges`.*'ghost'"):
        Graph("g", (_node("a"),), (("a", "ghost"),), 0, 0)
    with pytest.raises(ValueError, match="unique ids"):
        Graph("g", (_node("a"), _node("a")), (), 0, 0)


# --------------------------------------------------------------------------- render_graph


def test_rendered_box_holds_dark_text():
    graph = Graph("one", (_node("dense_layer"),), (), 0, 0)
    picture = render_graph(graph)
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
    fill = np.all(picture == drawing._LAYER_FILL, axis=-1)
    rows, cols = np.nonzero(fill)
    box = picture[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert _dark(box).sum() > 50  # three lines of text inside the box
    title = picture[: rows.min()]
    assert _dark(title).sum() > 20  # the title line


def test_rendered_model_shows_every_kind_of_box():
    picture = model_diagram(nested_model())
    fills = ("_INPUT_FILL", "_NESTED_FILL", "_OUTPUT_FILL", "_LAYER_FILL")
    for colour in (getattr(drawing, name) for name in fills):
        assert np.all(picture == colour, axis=-1).sum() > 500
    assert 0.001 < _dark(picture).mean() < 0.2  # text and lines, mostly background


def test_model_diagram_is_render_of_model_graph():
    model = _residual_block()
    expected = render_graph(model_graph(model), font_size=14)
    np.testing.assert_array_equal(model_diagram(model, font_size=14), expected)


def test_larger_font_gives_larger_picture():
    graph = model_graph(sequential_model())
    small, large = render_graph(graph, font_size=10), render_graph(graph, font_size=16)
    assert large.shape[0] > small.shape[0] and large.shape[1] > small.shape[1]


def test_tall_graph_wraps_into_panels_within_max_height():
    graph = _chain_graph(300)
    single = render_graph(graph)
    assert single.shape[0] <= 16384
    wrapped = render_graph(graph, max_height=3000)
    assert wrapped.shape[0] <= 3000
    assert wrapped.shape[1] > single.shape[1]  # several columns side by side
    assert _dark(wrapped).sum() > _dark(single).sum() * 0.5  # still drawn, not just scaled away


def test_never_fails_on_tiny_limits():
    picture = render_graph(_chain_graph(400), max_width=300, max_height=400)
    assert picture.shape[0] <= 400 and picture.shape[1] <= 300


@pytest.mark.parametrize(
    "options, match",
    [
        ({"max_width": 0}, "`max_width` must be an integer >= 64; received max_width=0"),
        ({"max_height": 10.5}, "`max_height`"),
        ({"font_size": -3}, "`font_size`"),
    ],
)
def test_render_rejects_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        render_graph(_chain_graph(2), **options)


def test_render_rejects_non_graphs():
    with pytest.raises(TypeError, match="`graph` must be"):
        render_graph(sequential_model())


# --------------------------------------------------------------------------- deep model
# DEEP MODEL: ResNet50 (177 layers, weights=None). Builds in about 1 s on a CPU; the
# graph + picture itself must take well under 5 s.


def test_deep_resnet50_renders_within_limits():
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    start = time.perf_counter()
    graph = model_graph(model)
    picture = render_graph(graph)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0
    assert len(graph.nodes) == len(model.layers) == 177
    assert graph.total_params == model.count_params()
    assert sum(node.params for node in graph.nodes) == model.count_params()
    assert picture.dtype == np.uint8 and picture.shape[2] == 3
    assert picture.shape[0] <= 16384 and picture.shape[1] <= 2000
    assert _dark(picture).sum() > 10_000
    # Every block's Add merges two branches.
    adds = [node.id for node in graph.nodes if node.type == "Add"]
    assert len(adds) == 16 and all(len(graph.parents(add)) == 2 for add in adds)
