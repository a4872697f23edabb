"""The confound experiment: a model trained on watermarked shapes looks at the watermark.

The seeds' cautionary tale: the network that "detected tanks" had learned that the tank photos
were taken on cloudy days. ``make_shapes(..., watermark=1)`` plants such a confound: every
training image carries a small tab in a corner (and a colour) chosen by its class. One model
is trained on these images, another on clean ones. On test images that carry the tab both are
accurate, but Grad-CAM shows the difference: the confounded model points at the tab, the clean
one at the shape. Without the tab the confounded model falls towards chance.

Writes ``confound.png`` (images with both models' Grad-CAM) and ``confound.md`` (the numbers).

    python examples/quality_confound.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

import keras_viz as kv
from keras_viz import render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save, shapes_model, write_text
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save, shapes_model, write_text

CELL = 4  # the CNN's last convolution is 8x8 at 32 px: a Grad-CAM cell covers 4x4 pixels


def _cells(masks: np.ndarray) -> np.ndarray:
    """Pixel masks -> masks of the Grad-CAM cells that hold any of their pixels."""
    n, h, w = masks.shape
    return masks.reshape(n, h // CELL, CELL, w // CELL, CELL).any(axis=(2, 4))


def _near(masks: np.ndarray) -> np.ndarray:
    """The pixels of the cells within one cell of a marked cell (the tab's corner, 8x8 px at 32 px)."""
    cells = np.pad(_cells(masks), ((0, 0), (1, 1), (1, 1)))
    near = np.zeros_like(cells[:, 1:-1, 1:-1])
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            near |= cells[:, dy : dy + near.shape[1], dx : dx + near.shape[2]]
    return near.repeat(CELL, axis=1).repeat(CELL, axis=2)


def _accuracy(model, data) -> float:
    return float((np.argmax(np.asarray(model(data.images, training=False)), axis=1) == data.labels).mean())


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    models = {"clean": shapes_model(args.fast)[0], "confounded": shapes_model(args.fast, watermark=1.0)[0]}
    count = 8 if args.fast else 200
    marked = kv.datasets.make_shapes(count, size=32, seed=2, watermark=1.0)
    clean = kv.datasets.make_shapes(count, size=32, seed=2)  # the same images without the tab

    rows, overlays = [], {}
    for name, model in models.items():
        explainer = kv.GradCAM(model)
        maps = explainer(marked.images, targets=marked.labels)
        cell_maps = kv.GradCAM(model, upsample=False)(marked.images, targets=marked.labels)
        on_mark = kv.metrics.pointing_game(cell_maps, _cells(marked.watermark_masks), tolerance=1.5).mean()
        on_shape = kv.metrics.pointing_game(maps, marked.masks, tolerance=2).mean()
        energy = np.nanmean(kv.metrics.energy_in_mask(maps, _near(marked.watermark_masks)))
        flat = kv.metrics.flat_maps(cell_maps).mean()  # flat maps point nowhere: misses on both masks
        rows.append([name, _accuracy(model, marked), _accuracy(model, clean), on_mark, on_shape, energy, flat])
        overlays[name] = maps
        print(f"{name:11s} accuracy with tab {rows[-1][1]:.2f}, without {rows[-1][2]:.2f}; "
              f"Grad-CAM maximum on the tab (±1 cell) {on_mark:.2f}, on the shape (2 px) {on_shape:.2f}")

    shown = np.arange(min(count, 6))
    tiles, captions = [], []
    for i in shown:
        tiles.append(render.to_uint8_image(marked.images[i], value_range=(0, 1)))
        captions.append(marked.class_names[marked.labels[i]])
        for name in models:
            tiles.append(render.overlay(marked.images[i], overlays[name][i], alpha=0.8, colormap="inferno"))
            captions.append(f"{name} model")
    written = [save(render.grid(tiles, labels=captions, columns=1 + len(models), scale=4), args.out, "confound")]

    header = ["model", "accuracy (tab)", "accuracy (no tab)", "Grad-CAM max on tab", "Grad-CAM max on shape",
              "Grad-CAM energy near tab", "flat Grad-CAM maps"]
    lines = [
        "## The confound experiment",
        "",
        f"Two copies of the shapes CNN, one trained on `make_shapes(watermark=0)` and one on "
        f"`make_shapes(watermark=1)` (every image carries its class's corner tab). Tested on {count} "
        f"new images with the tab, and on the same images without it. \"Grad-CAM max on tab\": share of "
        f"images whose Grad-CAM maximum is in the tab's cell or a neighbouring one (one cell = 4x4 px); "
        f"\"on shape\": pointing game on the object mask with 2 px tolerance; \"energy near tab\": share of the Grad-CAM map's mass in "
        f"the tab's cell and its neighbours (an 8x8 px corner, 6 % of the image); \"flat\": share of "
        f"Grad-CAM maps with every cell equal (`kv.metrics.flat_maps`), which point nowhere and count as misses.",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *(f"| {r[0]} | " + " | ".join(f"{v:.2f}" for v in r[1:]) + " |" for r in rows),
        "",
        "![Grad-CAM of both models](confound.png)",
        "",
    ]
    write_text("\n".join(lines), args.out, "confound.md")
    return written


if __name__ == "__main__":
    main()
