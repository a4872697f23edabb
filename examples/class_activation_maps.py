"""CAM, Grad-CAM, Grad-CAM++ and guided Grad-CAM: where a CNN looks for the class it predicts.

Seed 003 ("class activation maps"): CAM (Zhou et al. 2016) weights the last feature maps by the
dense weights of the class behind global average pooling; Grad-CAM (Selvaraju et al. 2017) uses
the spatial mean of the gradient instead, so it needs no particular head; Grad-CAM++
(Chattopadhyay et al. 2018) weights positive gradients per pixel; guided Grad-CAM multiplies the
upsampled Grad-CAM map with guided backpropagation for a sharp, class-specific picture. The model
is a small CNN trained on generated shapes on textured backgrounds; the last column shows the
true object mask.

    python examples/class_activation_maps.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

import keras_viz as kv
from keras_viz import datasets, render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save, shapes_model
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save, shapes_model


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, train = shapes_model(args.fast)
    test = datasets.make_shapes(6, size=32, seed=123)
    methods = {"CAM": kv.CAM(model), "Grad-CAM": kv.GradCAM(model), "Grad-CAM++": kv.GradCAMPlusPlus(model),
               "guided Grad-CAM": kv.GuidedGradCAM(model)}
    predicted = np.asarray(model(test.images, training=False)).argmax(axis=1)
    tiles, captions = [], []
    for i, image in enumerate(test.images):
        tiles.append(render.to_uint8_image(image, value_range=(0, 1)))
        captions.append(f"{test.class_names[test.labels[i]]} (says {train.class_names[predicted[i]]})")
        for name, explainer in methods.items():
            heat = np.asarray(explainer(image[None], targets=int(predicted[i])))[0]
            # Over a grey copy of the image, so the heat stands out from the coloured texture.
            tiles.append(render.overlay(image.mean(axis=-1), heat, alpha=0.8, colormap="inferno")
                         if name != "guided Grad-CAM" else render.heatmap_to_rgb(heat, colormap="RdBu_r"))
            captions.append(name)
        tiles.append(render.to_uint8_image(test.masks[i].astype(np.float32), value_range=(0, 1)))
        captions.append("true mask")
    figure = render.grid(tiles, labels=captions, columns=len(methods) + 2, scale=4)
    return [save(figure, args.out, "class_activation_maps")]


if __name__ == "__main__":
    main()
