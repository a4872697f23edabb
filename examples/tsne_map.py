"""CNN codes in 2-D: t-SNE scatter, Karpathy's thumbnail grid, and nearest neighbours.

Which digits does the network think alike? The global-average-pooled codes of the test digits
are laid out with t-SNE (van der Maaten & Hinton 2008): a scatter coloured by the true class,
and the same map as a grid of thumbnails (Karpathy's "t-SNE visualization of CNN codes").
Then, as in Krizhevsky et al. 2012, a few test digits with their nearest training digits in
feature space and, for contrast, in pixel space.

    python examples/tsne_map.py [--fast] [--out DIR]
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
    model, (x_train, _), (x_test, y_test) = digits_model(args.fast)
    codes = kv.embeddings(model, x_test, "gap")
    points = kv.tsne_map(codes, perplexity=30)
    scatter = render.scatter(points, [int(v) for v in y_test], size=480)
    thumbnails = render.thumbnail_map(x_test, points, grid=16 if args.fast else 20, value_range=(0.0, 1.0))

    picks = np.asarray([int(np.flatnonzero(y_test == digit)[0]) for digit in (1, 4, 7)])
    features, pixels = kv.nearest_neighbors(model, x_test[picks], x_train, "gap", k=5)
    rows = render.neighbor_rows(x_test[picks], x_train[features], x_train[pixels], value_range=(0.0, 1.0), scale=2)
    return [save(scatter, args.out, "tsne_scatter"), save(thumbnails, args.out, "tsne_thumbnails"),
            save(rows, args.out, "nearest_neighbors")]


if __name__ == "__main__":
    main()
