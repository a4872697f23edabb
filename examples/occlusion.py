"""Occlusion sensitivity: slide a grey square over the image and watch the class probability drop.

Zeiler & Fergus (2014), seeds 001, 003 and 004: if the network really uses the object, covering
it should lower the probability of the right class. For a few test digits this script draws the
image, the drop of the true class's probability with the patch centred at each position (red:
covering here hurts), and the overlay; the captions give the probability without occlusion and
its lowest value under a patch.

    python examples/occlusion.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

import keras_viz as kv
from keras_viz import render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _, (x_test, y_test) = digits_model(args.fast)
    picks = np.asarray([int(np.flatnonzero(y_test == digit)[0]) for digit in (0, 3, 5, 7)])
    images, labels = x_test[picks], y_test[picks]

    occlusion = kv.Occlusion(model, patch_size=8, stride=2, fill=0.5, batch_size=256)
    explanation = occlusion.explain(images, targets=labels)  # scores: probability without occlusion
    tiles, captions = [], []
    for image, label, drop, probability in zip(images, labels, explanation.maps, explanation.scores):
        tiles += [render.to_uint8_image(image, value_range=(0, 1)),
                  render.heatmap_to_rgb(drop, colormap="RdBu_r", symmetric=True),
                  render.overlay(image, np.maximum(drop, 0), alpha=0.6)]
        captions += [f"digit {label}: p={probability:.2f}", f"largest drop {drop.max():.2f}",
                     f"lowest p {probability - drop.max():.2f}"]
    figure = render.grid(tiles, labels=captions, columns=3, scale=4)
    return [save(figure, args.out, "occlusion")]


if __name__ == "__main__":
    main()
