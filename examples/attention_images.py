"""Where a small attention model looks in an image: its attention over patches, over the image.

Seed 004's Show, Attend and Tell (Xu et al. 2015) shows a caption model's attention over an
image. Here a small CNN cuts generated shape images into an 8x8 grid of patch features and one
learned query attends over them to tell circle, square and triangle apart. The overlay shows
the attention (mean over heads) laid over each held-out image; the data set's exact shape masks
say how much of the attention falls on the object.

    python examples/attention_images.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

import keras_viz as kv
from keras_viz import render
from keras_viz.attention_demo import train_patch_attention_model

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, test, accuracy = train_patch_attention_model(args.fast, verbose=0 if args.fast else 2)
    weights = kv.AttentionMaps(model, ["patch_attention"])(test.images)["patch_attention"]
    received = weights.mean(axis=1)[:, 0]  # (N, patches): the class query's attention, heads averaged
    side = int(np.sqrt(received.shape[1]))
    cell = test.images.shape[1] // side
    on_object = test.masks.reshape(len(test), side, cell, side, cell).mean(axis=(2, 4)).reshape(len(test), -1) > 0.5
    share = float(np.mean((received * on_object).sum(axis=1)))
    print(f"accuracy {accuracy:.1%}; attention on the object's patches: {share:.1%} "
          f"(they are {on_object.mean():.1%} of the image)")

    probabilities = model.predict(test.images[:8], verbose=0)
    tiles, captions = [], []
    for i in range(8):
        tiles.append(render.to_uint8_image(test.images[i], value_range=(0, 1)))
        captions.append(test.class_names[test.labels[i]])
        tiles.append(render.patch_attention_overlay(test.images[i], received[i], value_range=(0, 1)))
        predicted = int(np.argmax(probabilities[i]))
        captions.append(f"{test.class_names[predicted]} {probabilities[i, predicted]:.2f}")
    figure = render.grid(tiles, labels=captions, columns=4, scale=3)
    return [save(figure, args.out, "attention_images")]


if __name__ == "__main__":
    main()
