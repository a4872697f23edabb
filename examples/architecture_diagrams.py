"""Architecture pictures: block diagrams of any model, node-link diagrams of small dense ones.

Seed 004 ("Network architecture visualization") names three kinds: node-link diagrams
(neurons as nodes, weighted connections as edges; only for small networks), block diagrams
(layers as blocks, arrows for the flow of data) and others. This script draws a block
diagram of a small residual CNN (the skip connection runs beside the boxes it bypasses),
and a node-link diagram of a small multilayer perceptron with its trained weights.

    python examples/architecture_diagrams.py [--fast] [--out DIR]
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

import keras_viz as kv

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save


def residual_cnn() -> keras.Model:
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(inputs)
    y = layers.Conv2D(16, 3, padding="same", activation="relu", name="res_conv1")(x)
    y = layers.Conv2D(16, 3, padding="same", name="res_conv2")(y)
    x = layers.Activation("relu", name="res_relu")(layers.Add(name="res_add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="predictions")(x), name="residual_cnn")


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    keras.utils.set_random_seed(0)
    from sklearn.datasets import load_iris

    iris = load_iris()
    x = ((iris.data - iris.data.mean(0)) / iris.data.std(0)).astype("float32")
    mlp = keras.Sequential(
        [keras.Input((4,)), layers.Dense(6, activation="relu", name="hidden"),
         layers.Dropout(0.1), layers.Dense(3, activation="softmax", name="species")],
        name="iris_mlp",
    )
    mlp.compile("adam", "sparse_categorical_crossentropy")
    mlp.fit(x, iris.target, epochs=20 if args.fast else 200, verbose=0)
    node_link = kv.node_link.node_link_diagram(mlp, input_label="sepal/petal", node_size=20)
    block = kv.architecture.model_diagram(residual_cnn())
    return [save(block, args.out, "architecture_block"), save(node_link, args.out, "architecture_node_link")]


if __name__ == "__main__":
    main()
