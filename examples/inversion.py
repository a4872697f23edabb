"""Feature inversion: what each layer of a digits CNN keeps of its input (Mahendran & Vedaldi 2015).

For a few test digits, the image reconstructed from the activations of each layer alone,
starting from noise: ``argmin_x ||Φ(x) - Φ0||² / ||Φ0||² + λ·TV(x)``. Two priors, one block
each: plain pixels with total variation (the paper's), and the Fourier parameterisation with
the training digits' spectrum (``optvis.fourier(reference=...)``), which keeps the
reconstructions as smooth as real digits. The first block keeps nearly everything; after
two poolings the exact shape is gone and only what the classifier needs remains.

    python examples/inversion.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

from keras_viz import optvis, render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save

LAYERS = ("block1_relu", "block1_pool", "block2_relu", "block2_pool", "block3_relu")


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, (x_train, _), (x_test, y_test) = digits_model(args.fast)
    picks = [int(np.flatnonzero(y_test == digit)[0]) for digit in ((2, 7) if args.fast else (2, 4, 7, 9))]
    images = x_test[picks]
    steps = 20 if args.fast else 300
    priors = {
        "pixels + TV": dict(param="pixel", tv_weight=0.5),
        "data spectrum": dict(param=optvis.fourier(reference=x_train[:256]), tv_weight=0.05),
    }
    tiles, labels = [], []
    for prior, options in priors.items():
        reconstructions = [optvis.invert(model, images, layer, steps=steps, **options) for layer in LAYERS]
        for row, image in enumerate(images):
            tiles += [image] + [r[row] for r in reconstructions]
            labels += [prior] + list(LAYERS)
    figure = render.optvis_grid(np.stack(tiles), labels, columns=1 + len(LAYERS), scale=3)
    return [save(figure, args.out, "inversion")]


if __name__ == "__main__":
    main()
