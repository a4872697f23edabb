"""Backprop vs deconvnet vs guided backprop: three rules for passing a gradient through a ReLU.

The seeds' figure: for a few digits, the plain gradient (Simonyan et al. 2014), the deconvnet
(Zeiler & Fergus 2014) and guided backpropagation (Springenberg et al. 2015) of the true class.
Guided backprop keeps only paths that are both active forward and positive backward, which
is why it looks sharpest.

    python examples/backprop_rules.py [--fast] [--out DIR]
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
    picks = np.asarray([int(np.flatnonzero(y_test == digit)[0]) for digit in range(4)])
    images, labels = x_test[picks], y_test[picks]

    # reduce=None: the signed gradient itself, as the papers draw it.
    methods = {"backprop": kv.Saliency(model, reduce=None), "deconvnet": kv.Deconvnet(model, reduce=None),
               "guided backprop": kv.GuidedBackprop(model, reduce=None)}
    tiles, captions = [], []
    for image, label in zip(images, labels):
        tiles.append(render.to_uint8_image(image, value_range=(0, 1)))
        captions.append(f"digit {label}")
        for name, explainer in methods.items():
            gradient = np.asarray(explainer(image[None], targets=int(label)))[0, ..., 0]
            tiles.append(render.heatmap_to_rgb(gradient, colormap="RdBu_r"))
            captions.append(name)
    figure = render.grid(tiles, labels=captions, columns=1 + len(methods), scale=4)
    return [save(figure, args.out, "backprop_rules")]


if __name__ == "__main__":
    main()
