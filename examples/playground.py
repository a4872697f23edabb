"""The TensorFlow-Playground view: a small network learning to separate two moons.

Seed 004 ("Visualization of training") shows playground.tensorflow.org: the input plane
coloured by the predicted class, the training points on top, and inside each neuron of the
network what it computes over the plane. This script trains a 2-8-6-1 tanh network on two
interleaved half-moons, snapshots the decision over the plane as it learns, draws the final
network, and logs the same views to TensorBoard with ``DecisionBoundaryCallback``.

    python examples/playground.py [--fast] [--out DIR]
    tensorboard --logdir DIR/logs          # the decision_boundary/* images (every 2nd epoch here)
"""

from __future__ import annotations

import os

import keras
import numpy as np
from sklearn.datasets import make_moons

import keras_viz as kv
from keras_viz import render
from keras_viz.callbacks import DecisionBoundaryCallback

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    epochs = 12 if args.fast else 60
    keras.utils.set_random_seed(0)
    x, y = make_moons(300, noise=0.15, random_state=0)
    x = x.astype("float32")
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(8, activation="tanh", name="hidden1"),
         keras.layers.Dense(6, activation="tanh", name="hidden2"),
         keras.layers.Dense(1, activation="sigmoid", name="output")],
        name="playground",
    )
    model.compile(keras.optimizers.Adam(0.03), "binary_crossentropy", metrics=["accuracy"])

    boundary = kv.DecisionBoundary(model, resolution=96)
    extent = kv.decision_boundary.data_extent(x)
    shown = sorted({1, epochs // 4, epochs // 2, epochs})
    snapshots, captions = [], []

    def snapshot(epoch, logs):
        if epoch + 1 in shown:
            plane = boundary(extent=extent)
            snapshots.append(render.decision_picture(plane.probabilities, extent, points=x, labels=y, size=192))
            captions.append(f"epoch {epoch + 1}: accuracy {logs['accuracy']:.2f}")

    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[
        keras.callbacks.LambdaCallback(on_epoch_end=snapshot),
        DecisionBoundaryCallback(x, y, log_dir=os.path.join(args.out, "logs"), freq=2),
    ])
    chain = kv.node_link.dense_chain(model)
    network = kv.node_link.node_link_diagram(
        model, node_images=boundary.neuron_maps(list(chain.names), extent)
    )
    return [
        save(render.grid(snapshots, labels=captions, columns=len(snapshots)), args.out, "playground_training"),
        save(network, args.out, "playground_network"),
    ]


if __name__ == "__main__":
    main()
