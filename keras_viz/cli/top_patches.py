"""``keras-viz top-patches``: the image patches that activate a layer's channels most.

For each chosen channel of ``--layer``, the ``--k`` images (from the given files and folders)
where the channel is strongest, cropped to the receptive field of the strongest unit
(Springenberg et al. 2015's "top-9 patches"). Writes one sheet ``<layer>_top_patches.png``
and, with ``--per-channel``, one picture per channel.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from keras_viz.cli import _common
from keras_viz.cli._common import CommandError
from keras_viz.cli.projector import IMAGE_EXTENSIONS, read_inputs

NAME = "top-patches"


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="the image patches that activate each channel of a layer the most (top-k grids)",
        description=(
            "Run a saved .keras model over image files (or folders of them), keep for each channel "
            "of LAYER the K images where it is strongest and write the receptive-field patches as "
            "top-k grids. Example: keras-viz top-patches model.keras photos/ --layer block3_conv "
            "--channels 0 1 2 3 --input-range 0 255"
        ),
    )
    _common.add_model_options(parser)
    parser.add_argument("images", metavar="IMAGE_OR_FOLDER", nargs="+", help="image files and/or folders of images")
    _common.add_layer_option(parser, "layer: name, 'outer/inner' path or index", required=True)
    parser.add_argument(
        "--channels", type=_common.int_at_least(0), nargs="+", metavar="C",
        help="channel indices (default: the first 16)",
    )
    parser.add_argument("--k", type=_common.int_at_least(1), default=9, help="patches per channel (default: %(default)s)")
    parser.add_argument("--scale", type=_common.int_at_least(1), default=None, help="patch upscaling (default: automatic)")
    parser.add_argument("--guided", action="store_true", help="draw each patch's guided-backprop map beside it")
    parser.add_argument("--per-channel", action="store_true", help="also write one picture per channel")
    _common.add_image_options(parser, images=False)
    _common.add_output_option(parser)
    return parser


def _paths(items: list[str]) -> list[str]:
    paths: list[str] = []
    for item in items:
        if os.path.isdir(item):
            paths.extend(path for path, _ in image_files_any(item))
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise CommandError(f"image file or folder not found: {item}")
    return paths


def image_files_any(folder: str) -> list[tuple[str, str | None]]:
    """Every image under ``folder`` (labels do not matter here)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend((os.path.join(root, name), None) for name in sorted(files) if name.lower().endswith(IMAGE_EXTENSIONS))
    if not found:
        raise CommandError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return found


def run(args: argparse.Namespace) -> int:
    input_range = _common.check_input_range(args.input_range)
    paths = _paths(args.images)
    for path in paths:
        _common.read_image(path)  # unreadable files fail before TensorFlow is imported
    model = _common.load_model(args.model, args.custom_objects)
    inputs = read_inputs(paths, model, args.size, input_range, NAME)

    import keras_viz as kv
    from keras_viz import render

    channels = args.channels
    if channels is None:
        probe = kv.top_activations(model, inputs[:1], args.layer, k=1, patches=False)
        channels = list(range(min(16, len(probe.channels))))
    top = kv.top_activations(model, inputs, args.layer, channels=channels, k=min(args.k, len(inputs)))
    guided = kv.views.guided_patches(model, inputs, top) if args.guided else None
    size = max(top.patches.shape[2:4])
    scale = args.scale or max(1, 48 // max(size, 1))
    sheet = render.top_patches_sheet(
        top.patches, top.values, channels=top.channels, value_range=input_range, scale=scale, guided=guided
    )
    os.makedirs(args.output, exist_ok=True)
    stem = str(args.layer).replace("/", "_")
    out = os.path.join(args.output, f"{stem}_top_patches.png")
    render.to_pil(sheet).save(out)
    written = [out]
    if args.per_channel:
        for row, channel in enumerate(top.channels):
            picture = render.top_patches(
                top.patches[row], top.values[row], guided=None if guided is None else guided[row],
                value_range=input_range, scale=scale,
            )
            path = os.path.join(args.output, f"{stem}_channel{int(channel)}.png")
            render.to_pil(picture).save(path)
            written.append(path)
    field = top.receptive_field
    where = f"receptive field {field.size} px, stride {field.stride}" if field is not None else "whole images"
    print(f"{len(paths)} images, {len(top.channels)} channels of {args.layer} ({where}) -> {', '.join(written)}")
    return 0
