"""``keras-viz quality``: how far can a method's maps of a saved model be trusted?

For each image: deletion and insertion (Petsiuk et al. 2018) of the method's map, and with
``--masks`` the pointing game and the energy inside the mask; with ``--sanity`` the
cascading model-randomization check (Adebayo et al. 2018). Prints a table and writes
``quality_<method>.csv`` and ``quality_<method>_curves.png`` (and, with ``--sanity``,
``quality_<method>_sanity.csv`` and ``quality_<method>_sanity.png``).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
from typing import Any

from keras_viz.cli import _common
from keras_viz.cli._common import CommandError
from keras_viz.cli.explain import _EXPLAINERS, LAYER_METHODS, METHODS, canonical_method

NAME = "quality"


def baseline_value(text: str) -> float | str:
    """A baseline: a number, ``mean`` or ``blur``."""
    if text in ("mean", "blur"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number, 'mean' or 'blur', got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="score a method's maps of a saved model: deletion, insertion, pointing game, sanity check",
        description=(
            "Measure how far a method's explanations of a saved .keras image model can be trusted: "
            "deletion and insertion (Petsiuk et al. 2018; lower deletion and higher insertion are "
            "better), with --masks the pointing game and the share of the map's energy on the mask, and "
            "with --sanity the cascading model-randomization check (Adebayo et al. 2018: maps that "
            "explain the model change when its weights are re-initialised). Prints a table and writes "
            "quality_<method>.csv and quality_<method>_curves.png. Example: keras-viz quality model.keras "
            "*.png --method grad_cam --masks masks/*.png --sanity"
        ),
    )
    _common.add_model_options(parser)
    _common.add_image_options(parser)
    parser.add_argument(
        "--method", required=True, type=canonical_method, metavar="METHOD", help=f"one of: {', '.join(METHODS)}"
    )
    _common.add_layer_option(
        parser, "layer for cam, grad_cam, grad_cam_plus_plus, guided_grad_cam (default: the last spatial layer)"
    )
    _common.add_target_option(parser, "class index to explain and score (default: the predicted class of each image)")
    parser.add_argument(
        "--steps", type=_common.int_at_least(1), default=16,
        help="deletion/insertion steps (default: %(default)s)",
    )
    parser.add_argument(
        "--deletion-baseline", type=baseline_value, default=0.0, metavar="VALUE",
        help="what deleted pixels become: a number in the model's input range, 'mean' or 'blur' "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--insertion-baseline", type=baseline_value, default="blur", metavar="VALUE",
        help="the image insertion starts from: a number, 'mean' or 'blur' (default: %(default)s)",
    )
    parser.add_argument(
        "--masks", nargs="+", metavar="MASK",
        help="one ground-truth mask image per IMAGE, in the same order (non-zero pixels are the object); "
        "adds the pointing game and the energy in the mask",
    )
    parser.add_argument(
        "--tolerance", type=non_negative_float, default=0.0, metavar="PIXELS",
        help="pointing-game tolerance in pixels of the model input (default: %(default)s; Zhang et al. "
        "use 15 at 224 px)",
    )
    parser.add_argument(
        "--sanity", action="store_true",
        help="also run the cascading model-randomization check (re-initialises a copy of the model "
        "layer by layer; the saved model is not changed)",
    )
    _common.add_output_option(parser)
    return parser


def _read_masks(paths: list[str], count: int) -> list[Any]:
    if len(paths) != count:
        raise CommandError(f"--masks needs one mask per image: {count} image(s), {len(paths)} mask(s)")
    return [_common.read_image(path) for path in paths]


def _mask_array(mask: Any, height: int, width: int) -> Any:
    import numpy as np
    from PIL import Image

    grey = mask.convert("L")
    if grey.size != (width, height):
        grey = grey.resize((width, height), resample=Image.Resampling.NEAREST)
    return np.asarray(grey) > 0


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def text(value: Any) -> str:
        if isinstance(value, float):
            return "n/a" if math.isnan(value) else f"{value:.4f}"
        return str(value)

    cells = [header] + [[text(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _write_csv(path: str, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def run(args: argparse.Namespace) -> int:
    method = args.method
    if args.layer is not None and method not in LAYER_METHODS:
        raise CommandError(f"--layer applies to {', '.join(LAYER_METHODS)}; method {method} takes no layer")
    if args.masks is None and args.tolerance:
        raise CommandError("--tolerance applies to the pointing game, which needs --masks")
    input_range = _common.check_input_range(args.input_range)
    stems = _common.stems_of(args.images)
    # Every file is read before the (slow) import of TensorFlow and the model load.
    images = [_common.read_image(path) for path in args.images]
    masks = _read_masks(args.masks, len(images)) if args.masks is not None else None

    model = _common.load_model(args.model, args.custom_objects)
    height, width, channels = _common.input_geometry(model, args.size, NAME)

    import numpy as np

    import keras_viz as kv
    from keras_viz import metrics, render

    inputs = [_common.model_input(image, height, width, channels, input_range) for image in images]
    if len({array.shape for array in inputs}) > 1:
        raise CommandError("the images have different sizes and the model accepts any size: pass --size H W")
    batch = np.concatenate(inputs)
    size = batch.shape[1:3]
    options: dict[str, Any] = {"layer": args.layer} if args.layer is not None else {}
    explainer_class = getattr(kv, _EXPLAINERS[method])
    explanation = explainer_class(model, **options).explain(batch, targets=args.target)
    maps = np.asarray(explanation.maps)
    classes = explanation.classes

    scorer = metrics.PerturbationScorer(model)
    deletion_curves = scorer.curves(batch, maps, classes, mode="deletion", steps=args.steps,
                                    baseline=args.deletion_baseline)
    insertion_curves = scorer.curves(batch, maps, classes, mode="insertion", steps=args.steps,
                                     baseline=args.insertion_baseline)
    header = ["image", "class", "deletion", "insertion"]
    columns = [classes.tolist(), metrics.area_under_curve(deletion_curves).tolist(),
               metrics.area_under_curve(insertion_curves).tolist()]
    if masks is not None:
        truth = np.stack([_mask_array(mask, size[0], size[1]) for mask in masks])
        empty = [stems[i] for i in range(len(truth)) if not truth[i].any()]
        if empty:
            raise CommandError(f"mask of {empty[0]} is empty (no non-zero pixel after resizing to {size[0]}x{size[1]})")
        header += ["pointing", "energy"]
        columns += [metrics.pointing_game(maps, truth, tolerance=args.tolerance).astype(int).tolist(),
                    metrics.energy_in_mask(maps, truth).tolist()]
    rows = [[stem, *values] for stem, *values in zip(stems, *columns)]
    means = ["mean", ""] + [float(np.nanmean(np.asarray(column, np.float64))) for column in columns[1:]]

    os.makedirs(args.output, exist_ok=True)
    csv_path = os.path.join(args.output, f"quality_{method}.csv")
    _write_csv(csv_path, header, rows + [means])
    x = np.linspace(0.0, 1.0, args.steps + 1)
    chart = render.line_chart(
        {"deletion": deletion_curves.mean(0), "insertion": insertion_curves.mean(0)}, x=x,
        title=f"{method}: mean over {len(rows)} image(s)", x_label="fraction of pixels removed / inserted",
        y_label="score of the class", size=(560, 340),
    )
    png_path = os.path.join(args.output, f"quality_{method}_curves.png")
    render.to_pil(chart).save(png_path)
    print(_table(header, rows + [means]))
    flat = metrics.flat_maps(maps)
    if flat.any():
        print(f"note: {int(flat.sum())} of {len(flat)} map(s) are flat (every pixel equal: "
              f"{', '.join(stem for stem, f in zip(stems, flat) if f)}); they point nowhere"
              + (" (pointing-game misses)" if masks is not None else "")
              + " and their deletion/insertion curves only follow the pixel order.")
    print(f"wrote {csv_path}, {png_path}")

    if args.sanity:
        result = metrics.model_randomization(explainer_class, model, batch, classes, **options)
        sanity_rows = [[layer, *[float(v) for v in values], float(np.mean(values))]
                       for layer, values in zip(result.layers, result.correlations)]
        sanity_header = ["randomized down to", *stems, "mean"]
        sanity_csv = os.path.join(args.output, f"quality_{method}_sanity.csv")
        _write_csv(sanity_csv, sanity_header, sanity_rows)
        sanity_png = os.path.join(args.output, f"quality_{method}_sanity.png")
        render.to_pil(render.cascade_chart({method: result.mean}, result.layers)).save(sanity_png)
        print()
        print("Sanity check (Spearman rank correlation of |map| with the trained model's; "
              "a map that explains the model falls towards 0):")
        print(_table(["randomized down to", "mean correlation"], [[r[0], r[-1]] for r in sanity_rows]))
        print(f"wrote {sanity_csv}, {sanity_png}")
    return 0
