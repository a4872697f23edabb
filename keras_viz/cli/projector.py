"""``keras-viz projector``: a saved model's layer codes for a folder of images, in the Embedding Projector.

Images directly in FOLDER are exported without labels; images in its sub-folders are labelled
with the sub-folder's name (``FOLDER/cat/1.png`` -> label ``cat``), the layout of Keras'
``image_dataset_from_directory``. One run directory is written per export.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from keras_viz.cli import _common
from keras_viz.cli._common import CommandError

NAME = "projector"

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def image_files(folder: str) -> list[tuple[str, str | None]]:
    """``(path, label)`` of the images in ``folder``: label = sub-folder name, None at the top.

    Raises:
        CommandError: no such folder, no image in it, or images both at the top and in
            sub-folders (labels would be missing for some).
    """
    if not os.path.isdir(folder):
        raise CommandError(f"image folder not found: {folder}")
    found: list[tuple[str, str | None]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        relative = os.path.relpath(root, folder)
        label = None if relative == "." else relative.replace(os.sep, "/")
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append((os.path.join(root, name), label))
    if not found:
        raise CommandError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    labelled = {label is not None for _, label in found}
    if len(labelled) > 1:
        raise CommandError(
            f"{folder} has images both at its top level and in sub-folders; put every image in a "
            "sub-folder named after its label, or none"
        )
    return found


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="export a layer's codes for a folder of images to TensorBoard's Embedding Projector",
        description=(
            "Compute the codes ('CNN codes') of a layer of a saved .keras model for every image in "
            "FOLDER (labels from sub-folder names) and write them, with the labels and sprite "
            "thumbnails, as a new run of LOG_DIR that TensorBoard's projector loads. Example: "
            "keras-viz projector model.keras photos/ --layer gap --output logs"
        ),
    )
    _common.add_model_options(parser)
    parser.add_argument("folder", metavar="FOLDER", help="folder of images, or of one sub-folder per label")
    _common.add_layer_option(parser, "layer whose codes are exported: name, 'outer/inner' path or index", required=True)
    _common.add_image_options(parser, images=False)
    parser.add_argument(
        "--output", "--log-dir", dest="log_dir", default="logs", metavar="LOG_DIR",
        help="TensorBoard log directory the export is added to, as a new run (default: %(default)s)",
    )
    parser.add_argument("--run", dest="run_name", help="run directory name (default: projector_<name>_<time>, a new run)")
    parser.add_argument("--name", default=None, help="tensor name in the projector (default: the layer)")
    parser.add_argument(
        "--pool", choices=("avg", "max", "none"), default="avg",
        help="how a spatial layer output becomes a vector (default: %(default)s; none flattens)",
    )
    parser.add_argument(
        "--thumbnail-size", type=_common.int_at_least(1), default=None, metavar="PX",
        help="largest sprite thumbnail side (default: the model input size, shrunk to fit 8192 px)",
    )
    parser.add_argument("--batch-size", type=_common.int_at_least(1), default=64, help="default: %(default)s")
    return parser


def read_inputs(paths: list[str], model: Any, size: Any, input_range: tuple[float, float], command: str) -> Any:
    """The images as one ``(N, H, W, C)`` model input batch (every file read before TF work)."""
    import numpy as np

    images = [_common.read_image(path) for path in paths]
    height, width, channels = _common.input_geometry(model, size, command)
    if height is None or width is None:
        sizes = {(image.height, image.width) for image in images}
        if len(sizes) > 1:
            raise CommandError(f"the model accepts any size but the images differ in size; pass --size H W")
    return np.concatenate([_common.model_input(image, height, width, channels, input_range) for image in images])


def run(args: argparse.Namespace) -> int:
    input_range = _common.check_input_range(args.input_range)
    files = image_files(args.folder)
    for path, _ in files:
        _common.read_image(path)  # unreadable files fail before TensorFlow is imported
    model = _common.load_model(args.model, args.custom_objects)
    inputs = read_inputs([path for path, _ in files], model, args.size, input_range, NAME)

    import numpy as np

    import keras_viz as kv

    codes = kv.embeddings(model, inputs, args.layer, pool=None if args.pool == "none" else args.pool, batch_size=args.batch_size)
    labels = [label for _, label in files]
    names = [os.path.relpath(path, args.folder) for path, _ in files]
    metadata: Any = {"label": labels, "file": names} if labels[0] is not None else names
    low, high = input_range
    thumbnails = np.clip((inputs - low) / (high - low), 0.0, 1.0)
    name = args.name or str(args.layer).replace("/", "_")
    run_dir = kv.tensorboard.export_projector(
        args.log_dir, codes, metadata=metadata, images=thumbnails, run=args.run_name, name=name,
        thumbnail_size=args.thumbnail_size,
        description=f"Codes of layer `{args.layer}` of `{os.path.basename(args.model)}` for {len(files)} images of `{args.folder}`.",
    )
    print(f"{len(files)} codes of {codes.shape[1]} dimensions -> {run_dir}")
    print(f"Browse: tensorboard --logdir {args.log_dir}  (Projector tab)")
    return 0
