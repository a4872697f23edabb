"""Sanity check of every explainer: do its maps change when the model's weights are destroyed?

Adebayo et al., "Sanity Checks for Saliency Maps" (NeurIPS 2018): re-initialise the layers of a
trained model one after another from the output down (a cascade), explain the same images again
and measure the Spearman rank correlation with the maps of the trained model. A map that
explains the model must fall towards 0; one that stays high shows the image more than the model.

``--fast`` checks four methods on four images; the full run all eleven on 32 images.
Writes ``sanity_cascade.png`` (the curves), ``sanity_maps.png`` (one image's maps along the
cascade), ``sanity_table.png`` and ``sanity.md`` (the table).

    python examples/quality_sanity.py [--fast] [--out DIR]
"""

from __future__ import annotations

import keras_viz as kv
from keras_viz import render

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import explainer_zoo, parse_args, save, shapes_model, write_text
except ImportError:  # pragma: no cover
    from examples._shared import explainer_zoo, parse_args, save, shapes_model, write_text

SHOWN = ("saliency", "guided_backprop", "integrated_gradients", "grad_cam")  # rows of sanity_maps.png


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _ = shapes_model(args.fast)
    test = kv.datasets.make_shapes(4 if args.fast else 32, size=32, seed=2)
    images, labels = test.images, test.labels

    results = {}
    zoo = explainer_zoo(args.fast)
    for name, factory in zoo.items() if not args.fast else ((n, zoo[n]) for n in SHOWN):
        results[name] = kv.metrics.model_randomization(factory, model, images, labels, return_maps=name in SHOWN)
        print(f"{name:22s} after the top layer {results[name].mean[0]:+.2f}, after all {results[name].final:+.2f}")
    layers = next(iter(results.values())).layers

    written = [save(render.cascade_chart({n: r.mean for n, r in results.items()}, layers,
                                         size=(760, 420)), args.out, "sanity_cascade")]

    # One image's maps along the cascade, each normalised on its own (as in Adebayo et al.'s Fig. 2).
    tiles, captions = [], []
    steps = ["trained", *(layer.split("/")[-1] for layer in layers)]
    shown = [name for name in SHOWN if name in results]
    for name in shown:
        tiles.append(render.to_uint8_image(images[0], value_range=(0, 1)))
        captions.append(name)
        for step, caption in enumerate(steps):
            tiles.append(render.heatmap_to_rgb(results[name].maps[step, 0]))
            captions.append(caption if name == shown[-1] else "")
    picture = render.grid(tiles, labels=captions, columns=1 + len(steps), scale=3)
    written.append(save(picture, args.out, "sanity_maps"))

    rows = [[name, r.mean[0], r.mean[len(layers) // 2], r.final] for name, r in results.items()]
    header = ["method", f"top layer ({layers[0]})", f"down to {layers[len(layers) // 2]}", "all layers"]
    written.append(save(render.table_image(rows, header, title="Mean rank correlation with the trained model's maps"),
                        args.out, "sanity_table"))
    lines = [
        "## Sanity check: cascading model randomization",
        "",
        f"`kv.metrics.model_randomization` on the shapes CNN ({len(images)} test images, absolute maps, "
        f"Spearman rank correlation with the trained model's maps, mean over images). "
        f"Layers are re-initialised from the output down: {', '.join(f'`{x}`' for x in layers)}.",
        "",
        "| method | " + " | ".join(header[1:]) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *(f"| {r[0]} | " + " | ".join(f"{v:+.2f}" for v in r[1:]) + " |" for r in rows),
        "",
        "![cascade](sanity_cascade.png)",
        "",
        "![maps along the cascade](sanity_maps.png)",
        "",
    ]
    write_text("\n".join(lines), args.out, "sanity.md")
    return written


if __name__ == "__main__":
    main()
