"""Feature maps: what each convolution layer of a digit classifier outputs for one input.

Seeds 001-004 show activations layer by layer: early layers respond to strokes and edges at
their place in the image, later ones to larger parts at a coarser resolution. This script draws
the channels of the three ReLU layers of a small CNN for one test digit (each channel normalised
on its own; a black tile is a unit that is off for this input).

    python examples/feature_maps.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

import keras_viz as kv
from keras_viz import render
from keras_viz.activations import feature_map_grid

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save

LAYERS = ("block1_relu", "block2_relu", "block3_relu")


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _, (x_test, y_test) = digits_model(args.fast)
    image = x_test[int(np.flatnonzero(y_test == 4)[0])][None]
    maps = kv.FeatureMaps(model, list(LAYERS))(image)
    pictures = [np.kron(render.to_uint8_image(image[0], value_range=(0, 1)), np.ones((8, 8, 1), np.uint8))]
    # Tiles of about 96 px whatever the layer's resolution, so the grids line up.
    pictures += [feature_map_grid(maps[name][0], max_channels=16, scale=96 // maps[name].shape[1])
                 for name in LAYERS]
    captions = ["input"] + [f"{name} {maps[name].shape[1]}x{maps[name].shape[2]}x{maps[name].shape[3]}" for name in LAYERS]
    figure = render.grid(pictures, labels=captions, columns=2)
    return [save(figure, args.out, "feature_maps")]


if __name__ == "__main__":
    main()
