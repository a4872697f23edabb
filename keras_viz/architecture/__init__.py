"""Block diagrams of Keras models (moved from ``keras_viz/architecture.py``)."""

from keras_viz.architecture.drawing import (
    Graph,
    GraphNode,
    Layout,
    layered_layout,
    model_diagram,
    model_graph,
    render_graph,
)

__all__ = [
    "Graph",
    "GraphNode",
    "Layout",
    "layered_layout",
    "model_diagram",
    "model_graph",
    "render_graph",
]
