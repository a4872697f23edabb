"""``keras-viz visualize``: activation maximisation of a saved model's channels or class.

Writes ``<stem>_<what>.png`` per optimised image at the model's input resolution and
``<stem>_visualize.png``, all of them side by side, labelled and enlarged. Models with one
or three input channels give grey or RGB pictures; any other channel count is drawn as one
grey panel per channel, side by side (:func:`keras_viz.render.optvis_tile`).
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from keras_viz.cli import _common
from keras_viz.cli._common import CommandError

NAME = "visualize"
PARAMS = ("fourier", "pixel")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="optimise images that excite a channel or a class of a saved .keras model",
        description=(
            "Activation maximisation (feature visualisation by optimisation): start from noise and "
            "climb the gradient of a channel's mean activation (--layer with --channels) or of a "
            "class score (--target), with a decorrelated Fourier parameterisation and random "
            "transforms. Writes one PNG per image and a labelled grid. Example: keras-viz visualize "
            "model.keras --layer conv3 --channels 0 1 2 3 --output pictures/"
        ),
    )
    _common.add_model_options(parser)
    _common.add_image_options(parser, images=False)
    _common.add_layer_option(parser, "layer whose channels are visualised: name, 'outer/inner' path or index")
    parser.add_argument(
        "--channels", "--channel", dest="channel", nargs="+", type=_common.int_at_least(0), metavar="C",
        help="channel index(es) of --layer; several give one image each, optimised as one batch",
    )
    _common.add_target_option(parser, "class index to visualise (the logit, or with --probability the log-probability)")
    parser.add_argument(
        "--probability", action="store_true",
        help="with --target: maximise the log of the softmax probability (log_softmax of the logits) "
        "rather than the logit, so the image must win its class (images the model classifies as the "
        "class, also on small models); the log is used because the plain probability's gradient "
        "vanishes while the class is still improbable",
    )
    parser.add_argument(
        "--steps", type=_common.int_at_least(1), default=256, help="optimisation steps (default: %(default)s)"
    )
    parser.add_argument(
        "--param", choices=PARAMS, default="fourier",
        help="image parameterisation: fourier (decorrelated spectrum, default) or pixel",
    )
    parser.add_argument("--seed", type=_common.int_at_least(0), default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--scale", type=_common.int_at_least(1),
        help="enlargement of the grid's tiles (default: about 96 pixels per tile)",
    )
    _common.add_output_option(parser)
    return parser


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "image"


def run(args: argparse.Namespace) -> int:
    if args.target is not None and (args.layer is not None or args.channel):
        raise CommandError("give either --target (a class) or --layer with --channels, not both")
    if args.target is None and (args.layer is None or not args.channel):
        raise CommandError("give --layer with --channels C ... (channels), or --target CLASS (a class)")
    if args.probability and args.target is None:
        raise CommandError("--probability applies to --target")
    input_range = _common.check_input_range(args.input_range)
    model = _common.load_model(args.model, args.custom_objects)

    from keras_viz import optvis, render
    from keras_viz.optvis._graph import image_input

    # Not _common.input_geometry: that one is for commands that read image files (grey or
    # RGB); visualize reads none, so a model with any channel count is visualised.
    declared, _, _ = image_input(model, NAME)
    height, width = args.size if args.size else declared
    if height is None or width is None:
        raise CommandError(f"model {model.name!r} takes images of any size; give --size H W")

    if args.target is not None:
        # the log-probability: the plain probability's gradient vanishes on an improbable class
        objective = optvis.class_score(args.target, probability=args.probability, log=args.probability)
        parts = [f"class_{args.target}"]
    else:
        channels = args.channel[0] if len(args.channel) == 1 else list(args.channel)
        objective = optvis.channel(args.layer, channels)
        parts = [f"{_file_part(str(args.layer))}_{channel}" for channel in args.channel]
    images = optvis.activation_maximization(
        model, objective, steps=args.steps, size=(height, width), param=args.param,
        value_range=input_range, seed=args.seed,
    )
    values = optvis.score(model, objective, images)
    os.makedirs(args.output, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.model))[0]
    for k, (image, part) in enumerate(zip(images, parts)):
        path = os.path.join(args.output, f"{stem}_{part}.png")
        render.to_pil(render.optvis_tile(image, value_range=input_range)).save(path)
        print(f"{objective.names[k]}: objective {float(values[k, k]):.4g} -> {path}")
    grid_path = os.path.join(args.output, f"{stem}_{NAME}.png")
    grid = render.optvis_grid(images, objective.names, value_range=input_range, scale=args.scale)
    render.to_pil(grid).save(grid_path)
    print(f"grid of {len(images)} image(s) -> {grid_path}")
    return 0
