"""``keras-viz dream``: DeepDream of image files with a saved model.

Writes ``<stem>_dream.png`` per image, at the image's own size (or ``--size``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from keras_viz.cli import _common
from keras_viz.cli._common import CommandError

NAME = "dream"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="DeepDream image files with a saved .keras model",
        description=(
            "DeepDream (Mordvintsev et al. 2015): amplify what chosen layers see in an image, by "
            "gradient ascent on their mean square over several octaves. Works on images larger than "
            "the model's input when the model is fully convolutional up to the layers. Example: "
            "keras-viz dream model.keras photo.jpg --layer conv3 --layer conv4 --output dreams/"
        ),
    )
    _common.add_model_options(parser)
    _common.add_image_options(parser)
    parser.add_argument(
        "--layer", action="append", required=True, type=_common.layer_reference, metavar="LAYER",
        help="layer to dream on: name, 'outer/inner' path or index; repeat for several (equal weights)",
    )
    parser.add_argument("--octaves", type=_common.int_at_least(1), default=4, help="number of scales (default: %(default)s)")
    parser.add_argument(
        "--octave-scale", type=_positive_float, default=1.3, help="size ratio between scales, >= 1 (default: %(default)s)"
    )
    parser.add_argument("--steps", type=_common.int_at_least(1), default=20, help="steps per octave (default: %(default)s)")
    parser.add_argument(
        "--step-size", type=_positive_float, default=0.01,
        help="step as a fraction of the input range (default: %(default)s)",
    )
    parser.add_argument("--seed", type=_common.int_at_least(0), default=0, help="random seed (default: %(default)s)")
    _common.add_output_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.octave_scale < 1:
        raise CommandError(f"--octave-scale must be >= 1, got {args.octave_scale:g}")
    input_range = _common.check_input_range(args.input_range)
    stems = _common.stems_of(args.images)
    images = [_common.read_image(path) for path in args.images]
    model = _common.load_model(args.model, args.custom_objects)
    try:
        shape = tuple(model.inputs[0].shape) if len(model.inputs or []) == 1 else None
    except (AttributeError, ValueError):
        shape = None
    if shape is None or len(shape) != 4 or shape[-1] not in (1, 3):
        raise CommandError(f"{NAME} takes models with one greyscale or RGB image input (N, H, W, C); got {shape}")
    channels = int(shape[-1])
    height, width = (args.size if args.size else (None, None))

    import numpy as np

    from keras_viz import optvis, render

    layers = {layer: 1.0 for layer in args.layer}
    os.makedirs(args.output, exist_ok=True)
    for path, stem, image in zip(args.images, stems, images):
        inputs = _common.model_input(image, height, width, channels, input_range)
        dream = optvis.deep_dream(
            model, inputs[0], layers, octaves=args.octaves, octave_scale=args.octave_scale,
            steps=args.steps, step_size=args.step_size, value_range=input_range, seed=args.seed,
        )
        out = os.path.join(args.output, f"{stem}_dream.png")
        render.to_pil(render.to_uint8_image(np.asarray(dream), value_range=input_range)).save(out)
        print(f"{path}: dream of {', '.join(str(layer) for layer in args.layer)} -> {out}")
    return 0
