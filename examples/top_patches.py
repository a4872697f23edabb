"""Maximally activating patches: for channels of each convolution, the top-9 receptive-field crops.

The seeds' "Layer 1..5: Top-9 Patches" figure (Springenberg et al. 2015; Zeiler & Fergus 2014):
run every test digit through the digits CNN, keep for each channel the 9 digits where it is
strongest and crop the receptive field of that unit. Deeper layers see larger fields (their
size is printed). For the last layer each patch is drawn beside its guided-backprop map.

    python examples/top_patches.py [--fast] [--out DIR]
"""

from __future__ import annotations

import keras_viz as kv
from keras_viz import render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import digits_model, parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import digits_model, parse_args, save


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _, (x_test, _) = digits_model(args.fast)
    written = []
    layers = ["block1_conv", "block2_conv", "block3_conv"]
    for name in layers:
        top = kv.top_activations(model, x_test, name, channels=range(6 if args.fast else 12), k=9, batch_size=128)
        guided = kv.views.guided_patches(model, x_test, top) if name == layers[-1] else None
        field = top.receptive_field
        print(f"{name}: receptive field {field.size} px, stride {field.stride}, offset {field.offset}")
        scale = max(1, 48 // field.size[0])
        sheet = render.top_patches_sheet(
            top.patches, top.values, channels=top.channels, value_range=(0.0, 1.0), scale=scale, guided=guided,
            columns=3,
        )
        written.append(save(sheet, args.out, f"top_patches_{name}"))
    return written


if __name__ == "__main__":
    main()
