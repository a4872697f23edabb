"""Saliency maps, and object segmentation from them without any mask supervision.

Seed 001 (Simonyan et al. 2014): the gradient of the class score with respect to the pixels,
``max_c |dS/dx|``, says which pixels matter; although the network never saw a mask, the map
locates the object well enough to segment it. As in the paper, the map only *seeds* the
segmentation (they used GrabCut): the most salient pixels give the object's colour, the least
salient ones the background's, and every pixel takes the nearer colour. For test shapes this
script draws the saliency map, the seeds (red: object, blue: background), the mask and the true
mask with their intersection over union (IoU); it prints the mean IoU beside a plain threshold
of the map and a centred disc of the objects' mean area.

    python examples/saliency_segmentation.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

import keras_viz as kv
from keras_viz import datasets, render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save, shapes_model
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save, shapes_model


def _blur(values: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a map (or an RGB image) in [0, 1]."""
    picture = Image.fromarray(np.clip(values * 255, 0, 255).astype(np.uint8))
    return np.asarray(picture.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255


def seeds(saliency: np.ndarray, object_share: float = 0.08, background_share: float = 0.4):
    """``(object seeds, background seeds)``: the most and the least salient pixels of the blurred map."""
    smooth = _blur(saliency / (saliency.max() or 1.0), 3)
    return smooth >= np.quantile(smooth, 1 - object_share), smooth <= np.quantile(smooth, background_share)


def segment(image: np.ndarray, saliency: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels nearer the object seeds' mean colour than the background seeds' (a one-Gaussian GrabCut)."""
    inside, outside = seeds(saliency)
    colours = _blur(image, 1)
    near_object = ((colours - colours[inside].mean(0)) ** 2).sum(-1)
    near_background = ((colours - colours[outside].mean(0)) ** 2).sum(-1)
    return near_object < near_background, inside, outside


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _ = shapes_model(args.fast)
    test = datasets.make_shapes(24 if args.fast else 100, size=32, seed=321)
    saliency = kv.Saliency(model)(test.images)
    results = [segment(image, s) for image, s in zip(test.images, saliency)]
    scores = np.array([iou(mask, truth) for (mask, _, _), truth in zip(results, test.masks)])
    share = float(test.masks.mean())
    threshold = np.mean([iou(_blur(s / s.max(), 3) >= np.quantile(_blur(s / s.max(), 3), 1 - share), t)
                         for s, t in zip(saliency, test.masks)])
    yy, xx = np.mgrid[:32, :32]
    disc = (yy - 15.5) ** 2 + (xx - 15.5) ** 2 <= share * 32 * 32 / np.pi
    baseline = np.mean([iou(disc, truth) for truth in test.masks])
    print(f"mean IoU: saliency-seeded colour model {scores.mean():.3f}; thresholded saliency {threshold:.3f}; "
          f"centred disc {baseline:.3f}")

    tiles, captions = [], []
    for i in range(4):
        mask, inside, outside = results[i]
        seed_picture = np.full((32, 32, 3), 255, np.uint8)
        seed_picture[inside], seed_picture[outside] = (214, 39, 40), (31, 119, 180)
        tiles += [render.to_uint8_image(test.images[i], value_range=(0, 1)),
                  render.heatmap_to_rgb(saliency[i], colormap="gray"), seed_picture,
                  render.to_uint8_image(mask.astype(np.float32), value_range=(0, 1)),
                  render.to_uint8_image(test.masks[i].astype(np.float32), value_range=(0, 1))]
        captions += [test.class_names[test.labels[i]], "saliency", "seeds", f"mask IoU {scores[i]:.2f}",
                     "true mask" if i < 3 else f"mean IoU {scores.mean():.2f}"]
    figure = render.grid(tiles, labels=captions, columns=5, scale=4)
    return [save(figure, args.out, "saliency_segmentation")]


if __name__ == "__main__":
    main()
