"""Network dissection (Bau et al. 2017): which units of a layer detect which labelled concept.

Generated shapes (``kv.datasets.make_shapes``) come with exact pixel masks, so each shape kind
is a densely labelled concept. A small fully convolutional network is trained to mark the
pixels of each kind; then every unit of its last hidden convolution is thresholded at its
top activation quantile, upsampled to the image and scored by IoU against each kind's masks.
The figure is the ranking table and, for the best units, the images where they fire most with
the thresholded region outlined.

    python examples/network_dissection.py [--fast] [--out DIR]
"""

from __future__ import annotations

import keras
from keras import layers

import keras_viz as kv
from keras_viz import render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save


def shape_segmenter(kinds: int, size: int = 32) -> keras.Model:
    """Conv blocks down to 1/4 resolution, then a per-pixel classifier (background + kinds)."""

    def block(filters: int, name: str) -> list[layers.Layer]:
        return [layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name),
                layers.BatchNormalization(momentum=0.8, name=f"{name}_bn"), layers.ReLU(name=f"{name}_relu")]

    return keras.Sequential([
        keras.Input((size, size, 3)), *block(16, "conv1"), layers.MaxPooling2D(name="pool1"),
        *block(32, "conv2"), layers.MaxPooling2D(name="pool2"), *block(32, "conv3"),
        layers.UpSampling2D(4, interpolation="bilinear", name="up"),
        layers.Conv2D(kinds + 1, 1, activation="softmax", name="pixels"),
    ], name="shape_segmenter")


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    keras.utils.set_random_seed(0)
    shapes = kv.datasets.make_shapes(300 if args.fast else 1500, size=32, seed=0, classes=("circle", "square"))
    segmentation, kinds = kv.views.shape_concepts(shapes)
    train = len(shapes) * 5 // 6
    model = shape_segmenter(len(kinds))
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(shapes.images[:train], segmentation[:train] + 1, epochs=4 if args.fast else 15, batch_size=32, verbose=0)

    result = kv.dissect(model, shapes.images[train:], segmentation[train:], "conv3_relu", concepts=kinds, quantile=0.8)
    ranking = result.ranking()
    for row in ranking[:5]:
        print(f"unit {result.units[row]}: {result.best_concept_names[row]} IoU {result.best_iou[row]:.3f}")
    table = render.dissection_table(result.units, result.concepts, result.best_iou, result.best_concept, top=12,
                                    title=f"{result.layer}, quantile {result.quantile}")
    best = ranking[:4]
    units = render.dissection_units(
        result.example_images[best], result.example_masks[best],
        [f"unit {result.units[r]}: {result.best_concept_names[r]} {result.best_iou[r]:.2f}" for r in best],
        value_range=(0.0, 1.0), scale=3,
    )
    return [save(table, args.out, "dissection_table"), save(units, args.out, "dissection_top_units")]


if __name__ == "__main__":
    main()
