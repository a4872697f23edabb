"""Node-link diagrams of small dense Keras networks (seed 004: neurons as nodes, weights as edges).

:func:`dense_chain` reads a model that is a chain of ``Dense`` layers (with weight-free
layers such as ``Dropout`` or ``Activation`` between them) into its weight matrices;
:func:`node_link_diagram` draws them with :func:`keras_viz.render.node_link.node_link`.
Anything else (convolutions, branches, recurrent layers) is refused with the reason:
those networks are drawn as block diagrams (:func:`keras_viz.architecture.model_diagram`).

Example::

    picture = kv.node_link.node_link_diagram(mlp)        # (H, W, 3) uint8
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from keras_viz import architecture
from keras_viz._model import check_model, find_layer, iter_layers
from keras_viz.architecture.graph import keras_function
from keras_viz.render.node_link import node_link

__all__ = ["DenseChain", "dense_chain", "node_link_diagram"]

# Layers without weights that keep the number of units: drawn as part of the edge.
_PASS_THROUGH = (
    keras.layers.InputLayer,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
    keras.layers.Identity,
    keras.layers.ActivityRegularization,
)


@dataclasses.dataclass(frozen=True)
class DenseChain:
    """The weights of a chain of Dense layers.

    Attributes:
        names: the layer paths, in data order.
        kernels: ``(inputs, units)`` weight matrices.
        biases: ``(units,)`` bias vectors (None for ``use_bias=False``).
        activations: each layer's activation name, including one applied by a following
            ``Activation``/``ReLU`` layer (``"linear"`` when none).
    """

    names: tuple[str, ...]
    kernels: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray | None, ...]
    activations: tuple[str, ...]

    @property
    def widths(self) -> tuple[int, ...]:
        """Neurons per column: the inputs, then each layer's units."""
        return (self.kernels[0].shape[0], *(k.shape[1] for k in self.kernels))


def dense_chain(model: keras.Model) -> DenseChain:
    """Reads a model that is a chain of Dense layers.

    Functional and Sequential models are read from their static graph, which must be a
    single path from one input to one output; subclassed models from the order in which
    a probe call runs their layers (with the chain checked by the weight shapes).

    Args:
        model: A Keras model built on ``(N, features)`` inputs.

    Returns:
        The :class:`DenseChain`.

    Raises:
        ValueError: If the model has a layer that is neither Dense nor weight-free and
            shape-keeping, branches or merges, several inputs, or no Dense layer.
    """
    model = check_model(model)
    dense = [layer for _, layer in iter_layers(model) if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError(
            f"`model` {model.name!r} has no Dense layer: node-link diagrams draw networks of "
            f"Dense layers. Use keras_viz.architecture.model_diagram(model) for a block diagram."
        )
    sample = None
    if keras_function(model) is None:  # no static graph: probe it
        if not dense[0].built:
            raise ValueError(f"`model` {model.name!r} is not built; call it on a batch first.")
        sample = np.zeros((1, int(dense[0].kernel.shape[0])), np.float32)
    graph = architecture.model_graph(model, sample)
    for node in graph.nodes:
        if len(graph.parents(node.id)) > 1 or len(graph.children(node.id)) > 1:
            raise ValueError(
                f"`model` {model.name!r} branches or merges at layer {node.name!r}: a node-link "
                f"diagram draws a single chain of Dense layers. Use "
                f"keras_viz.architecture.model_diagram(model) for a block diagram."
            )
    names, kernels, biases, activations = [], [], [], []
    for node in graph.nodes:
        if node.is_input:
            continue
        if node.is_nested_model:
            raise ValueError(
                f"`model` {model.name!r} contains the nested model {node.name!r}; draw it on its "
                f"own with node_link_diagram(model.get_layer({node.name!r}))."
            )
        layer = find_layer(model, node.name.split("#")[0])
        if isinstance(layer, keras.layers.Dense):
            kernel, bias = _dense_weights(layer)
            if kernels and kernels[-1].shape[1] != kernel.shape[0]:
                raise ValueError(
                    f"Layer {layer.name!r} takes {kernel.shape[0]} inputs but the Dense layer before "
                    f"it has {kernels[-1].shape[1]} units: `model` {model.name!r} is not a chain of "
                    f"Dense layers."
                )
            names.append(layer.name)
            kernels.append(kernel)
            biases.append(bias)
            activations.append(_activation_name(getattr(layer, "activation", None)))
        elif isinstance(layer, _PASS_THROUGH):
            if activations and isinstance(layer, (keras.layers.Activation, keras.layers.ReLU,
                                                  keras.layers.LeakyReLU, keras.layers.ELU,
                                                  keras.layers.PReLU, keras.layers.Softmax)):
                activations[-1] = _activation_name(getattr(layer, "activation", None)) or type(layer).__name__.lower()
        else:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) is not a Dense layer nor a "
                f"weight-free layer that keeps the units (Dropout, Activation, ...): a node-link "
                f"diagram draws neurons and their weights, which this layer does not have as a "
                f"matrix. Use keras_viz.architecture.model_diagram(model) for a block diagram."
            )
    return DenseChain(tuple(names), tuple(kernels), tuple(biases), tuple(activations))


def _dense_weights(layer: keras.layers.Dense) -> tuple[np.ndarray, np.ndarray | None]:
    if not layer.built:
        raise ValueError(f"Layer {layer.name!r} is not built; call the model on a batch first.")
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float32)
    if kernel.ndim != 2:
        raise ValueError(f"Layer {layer.name!r} has a {kernel.ndim}-D kernel; node-link diagrams need 2-D ones.")
    bias = np.asarray(keras.ops.convert_to_numpy(layer.bias), np.float32) if layer.use_bias else None
    return kernel, bias


def _activation_name(activation: Any) -> str:
    if activation is None:
        return ""
    name = getattr(activation, "__name__", None) or type(activation).__name__
    return str(name).lower()


def node_link_diagram(
    model: keras.Model,
    *,
    max_units: int = 16,
    node_images: Any = None,
    input_label: str = "input",
    **render_options: Any,
) -> np.ndarray:
    """A node-link diagram of a chain of Dense layers, with its current weights.

    Nodes are neurons (filled by their bias), edges are weights (red positive, blue
    negative, thicker for larger magnitudes); each column is labelled with the layer name
    and activation. See :func:`keras_viz.render.node_link.node_link` for the drawing.

    Args:
        model: A model that is a chain of Dense layers (see :func:`dense_chain`).
        max_units: Most neurons drawn per column.
        node_images: Optional pictures per column (see ``node_link``), e.g. each neuron's
            output over a 2-D input plane (:func:`keras_viz.decision_boundary.neuron_maps`).
        input_label: Label of the input column.
        **render_options: Other options of ``node_link`` (``node_size``, ``colormap_name``).

    Returns:
        uint8 ``(H, W, 3)``.
    """
    chain = dense_chain(model)
    labels = [f"{input_label} ({chain.widths[0]})"] + [
        f"{name} ({units}{', ' + act if act and act != 'linear' else ''})"
        for name, units, act in zip(chain.names, chain.widths[1:], chain.activations)
    ]
    return node_link(
        chain.kernels,
        chain.biases,
        column_labels=labels,
        node_images=node_images,
        max_units=max_units,
        **render_options,
    )
