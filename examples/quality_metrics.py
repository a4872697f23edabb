"""Faithfulness and localisation of every explainer on the shapes data, beside two baselines.

For each method: deletion (Petsiuk et al. 2018; lower is better) with a black and with a
blurred baseline, insertion into a blurred image (higher is better), the pointing game on the
object mask (Zhang et al. 2016, 2 px tolerance at 32 px) and the share of the map's energy
inside the mask. Beside them, two maps that know nothing about the model: a random map and a
centred Gaussian (objects tend to be near the centre), and the object mask itself as an oracle
for localisation. A method is worth its pictures only where it beats the baselines.

Then a second model is trained with ``QualityCallback``, and the scalars it logged to
TensorBoard are read back and plotted: Grad-CAM's pointing accuracy grows as the model learns
(flat maps, which point nowhere, count as misses; their share is logged too).

Writes ``metrics_table.png``, ``metrics_curves.png``, ``metrics_training.png`` and ``metrics.md``.

    python examples/quality_metrics.py [--fast] [--out DIR]
"""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import keras_viz as kv
from keras_viz import render
from keras_viz.demo import build_demo_model

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import explainer_zoo, parse_args, save, shapes_model, write_text
except ImportError:  # pragma: no cover
    from examples._shared import explainer_zoo, parse_args, save, shapes_model, write_text

FAST_METHODS = ("saliency", "guided_backprop", "grad_cam")
CURVE_METHODS = ("saliency", "integrated_gradients", "grad_cam", "occlusion")


def centre_gaussian(count: int, size: int) -> np.ndarray:
    """A Gaussian bump in the image centre (σ = size/4), the same for every image."""
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    bump = np.exp(-((rows - size / 2) ** 2 + (cols - size / 2) ** 2) / (2 * (size / 4) ** 2))
    return np.broadcast_to(bump, (count, size, size)).astype(np.float32)


def quality_during_training(fast: bool, out_dir: str) -> dict[str, list[tuple[int, float]]]:
    """Trains a shapes model with QualityCallback and reads its scalars back from the event files."""
    keras.utils.set_random_seed(3)
    count, epochs = (200, 2) if fast else (1500, 8)
    data = kv.datasets.make_shapes(count, size=32, seed=11)
    probe = kv.datasets.make_shapes(8 if fast else 48, size=32, seed=12)
    model = build_demo_model((32, 32, 3), 3)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(5e-3, epochs * -(-count // 32))),
                  "sparse_categorical_crossentropy")
    callback = kv.callbacks.QualityCallback(
        probe.images, masks=probe.masks, targets=probe.labels, explainers=[kv.GradCAM, kv.Saliency],
        metrics=["pointing_game", "energy_in_mask", "insertion", "flat_maps"], tolerance=2, steps=8, log_dir=out_dir,
        freq=1,  # every epoch (the default follows the callbacks' shared time budget and skips some)
    )
    model.fit(data.images, data.labels, epochs=epochs, batch_size=32, verbose=0, callbacks=[callback])
    events = EventAccumulator(os.path.join(out_dir, "keras_viz"), size_guidance={"tensors": 0})
    events.Reload()
    return {
        tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
        for tag in sorted(events.Tags()["tensors"])
        if tag.startswith("quality/")  # not the text notes the callbacks may write
    }


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, _ = shapes_model(args.fast)
    test = kv.datasets.make_shapes(8 if args.fast else 200, size=32, seed=2)
    images, labels = test.images, test.labels
    zoo = explainer_zoo(args.fast)
    methods = {name: zoo[name] for name in (FAST_METHODS if args.fast else zoo)}

    maps = {name: factory(model)(images, targets=labels) for name, factory in methods.items()}
    maps["random map"] = np.random.default_rng(0).random(test.masks.shape).astype(np.float32)
    maps["centre Gaussian"] = centre_gaussian(len(images), 32)
    maps["object mask (oracle)"] = test.masks.astype(np.float32)

    scorer = kv.metrics.PerturbationScorer(model)
    steps = 16
    rows, curves = [], {}
    for name, heat in maps.items():
        deletion_black = scorer.deletion(images, heat, labels, steps=steps)
        deletion_curves = scorer.curves(images, heat, labels, mode="deletion", steps=steps, baseline="blur")
        insertion_curves = scorer.curves(images, heat, labels, mode="insertion", steps=steps)
        curves[name] = (deletion_curves.mean(0), insertion_curves.mean(0))
        rows.append([
            name,
            deletion_black.mean(),
            kv.metrics.area_under_curve(deletion_curves).mean(),
            kv.metrics.area_under_curve(insertion_curves).mean(),
            kv.metrics.pointing_game(heat, test.masks, tolerance=2).mean(),
            float(np.nanmean(kv.metrics.energy_in_mask(heat, test.masks))),
            kv.metrics.flat_maps(heat).mean(),  # flat maps point nowhere: pointing misses
        ])
        print(f"{name:22s} " + " ".join(f"{v:.3f}" for v in rows[-1][1:]))

    header = ["map", "deletion, black", "deletion, blur", "insertion", "pointing", "energy", "flat"]
    title = (f"Shapes CNN, {len(images)} test images. Deletion, flat: lower is better; "
             f"insertion, pointing, energy: higher is better.")
    written = [save(render.table_image(rows, header, title=title), args.out, "metrics_table")]
    header = ["map", "deletion, black ↓", "deletion, blur ↓", "insertion ↑", "pointing ↑", "energy ↑", "flat ↓"]

    x = np.linspace(0.0, 1.0, steps + 1)
    shown = [n for n in (*CURVE_METHODS, "random map", "centre Gaussian") if n in curves]
    charts = [
        render.line_chart({n: curves[n][i] for n in shown}, x=x, title=title, x_label=x_label,
                          y_label="probability of the class", y_range=(0, 1), size=(520, 340))
        for i, (title, x_label) in enumerate([("Deletion (to a blurred image)", "fraction of pixels removed"),
                                              ("Insertion (into a blurred image)", "fraction of pixels inserted")])
    ]
    written.append(save(np.concatenate(charts, axis=1), args.out, "metrics_curves"))

    with tempfile.TemporaryDirectory() as log_dir:
        logged = quality_during_training(args.fast, log_dir)
    series = {tag.removeprefix("quality/"): [v for _, v in values] for tag, values in logged.items()}
    epochs = [step + 1 for step, _ in next(iter(logged.values()))]
    written.append(save(render.line_chart(series, x_labels=[str(e) for e in epochs],
                                          title="QualityCallback scalars while training",
                                          x_label="epoch", y_range=(0, 1), size=(640, 360)),
                        args.out, "metrics_training"))

    lines = [
        "## Faithfulness and localisation on the shapes data",
        "",
        f"The shapes CNN (`kv.demo.build_demo_model`, 32x32 RGB, 3 classes), {len(images)} test images, "
        f"explaining the true class. Deletion and insertion: {steps} steps, area under the class "
        f"probability (`kv.metrics.deletion` with `baseline=0.0` (black) and `\"blur\"`, "
        f"`kv.metrics.insertion` from a blurred image). Pointing: `kv.metrics.pointing_game(tolerance=2)`; "
        f"energy: `kv.metrics.energy_in_mask`, both on the object mask; flat: share of maps with every "
        f"pixel equal (`kv.metrics.flat_maps`), which point nowhere and count as pointing misses.",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *(f"| {r[0]} | " + " | ".join(f"{v:.3f}" for v in r[1:]) + " |" for r in rows),
        "",
        "![mean deletion and insertion curves](metrics_curves.png)",
        "",
        "### During training",
        "",
        "`kv.callbacks.QualityCallback` logged `quality/<method>/<metric>` every epoch while another "
        "copy of the CNN trained; the values below were read back from its TensorBoard event files.",
        "",
        "| epoch | " + " | ".join(series) + " |",
        "|---:|" + "---:|" * len(series),
        *(f"| {epoch} | " + " | ".join(f"{values[i]:.3f}" for values in series.values()) + " |"
          for i, epoch in enumerate(epochs)),
        "",
        "![quality during training](metrics_training.png)",
        "",
    ]
    write_text("\n".join(lines), args.out, "metrics.md")
    return written


if __name__ == "__main__":
    main()
