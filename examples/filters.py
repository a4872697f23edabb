"""Filters: the weights of the first convolution as colour tiles, deeper ones per input channel.

Seeds 001, 003 and 004 show first-layer filters of ImageNet networks (oriented edges and colour
blobs). This script draws the first-layer 3x3 RGB filters of a small CNN trained on generated
coloured shapes (each tile is one filter, its three channels shown as a colour; grey is zero),
and the second convolution's filters, one grey tile per input channel.

    python examples/filters.py [--fast] [--out DIR]
"""

from __future__ import annotations

import keras_viz as kv

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save, shapes_model
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save, shapes_model


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _ = shapes_model(args.fast)
    first = kv.filters.filter_grid(model, "block1_conv", scale=12)
    second = kv.filters.filter_grid(model, "block2_conv", max_filters=16, max_channels=8, scale=8)
    return [save(first, args.out, "filters_first_layer"), save(second, args.out, "filters_second_layer")]


if __name__ == "__main__":
    main()
