"""Explaining a whole dataset: Grad-CAM streamed over a tf.data pipeline, written as shards.

``kv.explain_dataset`` runs any explainer over data of any size one batch at a time (here a
``tf.data.Dataset`` yielding (digits, labels), explained against the labels), writing ``.npy``
shards; with ``strategy=tf.distribute.MirroredStrategy()`` the batches are spread over the
devices. The figure averages the Grad-CAM maps of each class from the shards: where, on
average, the network looks for each digit.

    python examples/explain_dataset.py [--fast] [--out DIR]
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

import keras_viz as kv
from keras_viz import render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _, (x_test, y_test) = digits_model(args.fast)
    dataset = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(64).prefetch(2)
    shards = kv.explain_dataset(kv.GradCAM(model), dataset, targets="labels", output_dir=os.path.join(args.out, "grad_cam_shards"))
    maps = np.concatenate([np.load(path) for path in shards if path.endswith("_maps.npy")])
    print(f"{len(shards)} shard files, {len(maps)} maps")
    tiles, captions = [], []
    for digit in range(10):
        mean_map = maps[y_test == digit].mean(axis=0)
        mean_digit = x_test[y_test == digit].mean(axis=0)
        tiles.append(render.overlay(render.to_uint8_image(mean_digit, value_range=(0, 1)), mean_map, alpha=0.6))
        captions.append(f"digit {digit}")
    return [save(render.grid(tiles, labels=captions, columns=5, scale=3), args.out, "explain_dataset_mean_grad_cam")]


if __name__ == "__main__":
    main()
