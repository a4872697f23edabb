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

`model_diagram` chains the three. Each step has its own module:
:mod:`~keras_viz.architecture.graph`, :mod:`~keras_viz.architecture.layout` and
:mod:`~keras_viz.architecture.drawing`.

Example::

    picture = model_diagram(model)                       # functional / Sequential
    picture = model_diagram(subclassed, sample=x[:1])    # subclassed: needs a sample
    keras_viz.render.to_pil(picture).save("model.png")
"""

from keras_viz.architecture.drawing import model_diagram, render_graph
from keras_viz.architecture.graph import Graph, GraphNode, model_graph
from keras_viz.architecture.layout import Layout, layered_layout

__all__ = [
    "Graph",
    "GraphNode",
    "Layout",
    "layered_layout",
    "model_diagram",
    "model_graph",
    "render_graph",
]
