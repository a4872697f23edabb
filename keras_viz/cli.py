"""The ``keras-viz`` command line: argument parsing only; the work is done by the library.

Sub-commands::

    keras-viz demo [--log-dir DIR] [--epochs N] [--seed S] [--quiet]
    keras-viz explain MODEL.keras IMAGE [IMAGE ...] --method METHOD [--layer NAME]
                      [--target INT] [--size H W] [--input-range LO HI]
                      [--colormap NAME] [--alpha A] [--output DIR]

``explain`` loads a saved ``.keras`` model and image files (anything Pillow reads),
resizes each image to the model's input size and channel count (greyscale or RGB),
maps its 0..255 pixels linearly to ``--input-range`` (``0 1`` by default; ``0 255`` for
models that rescale inside, such as ``keras.applications`` with their preprocessing
built in; ``-1 1`` for models trained on that range), runs the explainer and writes
``<stem>_<method>_overlay.png`` and ``<stem>_<method>_heatmap.png`` per image, both at
the image's own resolution.

Errors in the arguments or the files print one line to stderr and return exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import keras
import numpy as np
from PIL import Image

import keras_viz as kv
from keras_viz import render
from keras_viz import tensorboard as kv_tensorboard
from keras_viz.demo import run_demo

__all__ = ["METHODS", "main"]

PROG = "keras-viz"


class CommandError(Exception):
    """A user error: reported on one line, exit code 2."""


# Method name -> explainer class. The names are written into the output file names.
_EXPLAINERS: dict[str, type[kv.Explainer]] = {
    "saliency": kv.Saliency,
    "deconvnet": kv.Deconvnet,
    "guided_backprop": kv.GuidedBackprop,
    "gradient_input": kv.GradientInput,
    "smoothgrad": kv.SmoothGrad,
    "integrated_gradients": kv.IntegratedGradients,
    "cam": kv.CAM,
    "grad_cam": kv.GradCAM,
    "grad_cam_plus_plus": kv.GradCAMPlusPlus,
    "guided_grad_cam": kv.GuidedGradCAM,
    "occlusion": kv.Occlusion,
}

METHODS: tuple[str, ...] = tuple(_EXPLAINERS)
"""Names accepted by ``explain --method``."""

# The class-activation methods explain a layer; the others take no ``layer`` option.
_LAYER_METHODS: tuple[str, ...] = ("cam", "grad_cam", "grad_cam_plus_plus", "guided_grad_cam")


def _canonical_method(text: str) -> str:
    """Resolves a method name, forgiving case, ``-`` and ``_`` (``GradCAM``, ``grad-cam++``)."""

    def squash(name: str) -> str:
        return name.lower().replace("++", "plusplus").replace("-", "").replace("_", "")

    by_squashed = {squash(name): name for name in METHODS}
    by_squashed["guidedbackpropagation"] = "guided_backprop"
    by_squashed["integratedgradient"] = "integrated_gradients"
    key = squash(text)
    if key not in by_squashed:
        raise argparse.ArgumentTypeError(
            f"unknown method {text!r}; choose one of: {', '.join(METHODS)}"
        )
    return by_squashed[key]


# --------------------------------------------------------------------------- #
# Parsing
# --------------------------------------------------------------------------- #


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(message)


def _int_at_least(minimum: int):
    """An argparse type: an integer that is at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _layer(text: str) -> str | int:
    """A layer name, ``/``-path, or index (an all-digit, optionally negative, string)."""
    stripped = text[1:] if text.startswith("-") else text
    return int(text) if stripped.isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    """The ``keras-viz`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="See inside Keras models: a TensorBoard demo, and explanations of saved models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {kv.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="train a small digit CNN, explain it with seven methods, log it all to TensorBoard",
        description=(
            "Train a small CNN on scikit-learn's digits with keras.callbacks.TensorBoard, explain "
            "8 test digits with seven methods into the 'keras_viz' run of the same log directory, "
            "save a comparison grid PNG there, and print the tensorboard command to browse it."
        ),
    )
    demo.add_argument(
        "--log-dir", default="logs/keras-viz-demo", help="log directory (default: %(default)s)"
    )
    demo.add_argument(
        "--epochs", type=_positive_int, default=3, help="training epochs (default: %(default)s)"
    )
    demo.add_argument(
        "--seed", type=_non_negative_int, default=0, help="random seed (default: %(default)s)"
    )
    demo.add_argument("--quiet", action="store_true", help="print nothing")

    explain = commands.add_parser(
        "explain",
        help="explain a saved .keras model on image files",
        description=(
            "Explain a saved .keras model on image files and write <stem>_<method>_overlay.png "
            "and <stem>_<method>_heatmap.png per image."
        ),
    )
    explain.add_argument("model", metavar="MODEL", help="saved model file (.keras)")
    explain.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    explain.add_argument(
        "--method",
        required=True,
        type=_canonical_method,
        metavar="METHOD",
        help=f"one of: {', '.join(METHODS)}",
    )
    explain.add_argument(
        "--layer",
        type=_layer,
        help="layer for cam, grad_cam, grad_cam_plus_plus, guided_grad_cam: name, 'outer/inner' path "
        "for nested models, or index (default: the last layer with spatial output)",
    )
    explain.add_argument(
        "--target",
        type=_non_negative_int,
        help="class index to explain (default: the predicted class of each image)",
    )
    explain.add_argument(
        "--size",
        nargs=2,
        type=_positive_int,
        metavar=("H", "W"),
        help="input height and width (default: from the model's input shape; needed only "
        "when the model accepts any size, else the image's own size is used)",
    )
    explain.add_argument(
        "--input-range",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        default=(0.0, 1.0),
        help="values the model expects for pixel values 0 and 255 (default: 0 1; e.g. 0 255 or -1 1)",
    )
    explain.add_argument(
        "--colormap",
        help="colour map of heatmaps and overlays (default: RdBu_r for signed maps, viridis otherwise)",
    )
    explain.add_argument(
        "--alpha",
        type=float,
        default=0.5,
        help="heatmap opacity in overlays, 0..1 (default: %(default)s)",
    )
    explain.add_argument(
        "--output", default=".", help="output directory (default: the current directory)"
    )
    return parser


# --------------------------------------------------------------------------- #
# Commands
# --------------------------------------------------------------------------- #


def _run_demo(args: argparse.Namespace) -> int:
    run_demo(log_dir=args.log_dir, epochs=args.epochs, seed=args.seed, quiet=args.quiet)
    return 0


def _load_model(path: str) -> Any:
    if not os.path.isfile(path):
        raise CommandError(f"model file not found: {path}")
    if not path.endswith(".keras"):
        raise CommandError(f"expected a Keras 3 model file ending in .keras, got {path}")
    try:
        # compile=False: explaining needs no optimizer, loss or custom metrics.
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for unreadable or custom-object files
        raise CommandError(f"could not load model {path}: {_one_line(error)}") from error


def _input_geometry(model: Any, size: Sequence[int] | None) -> tuple[int | None, int | None, int]:
    """``(height, width, channels)`` the model takes; ``None`` where it accepts any size."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise CommandError(
            f"model {model.name!r} declares no input shape (a subclassed model saved unbuilt?); "
            "explain needs a model built on (N, H, W, C) images"
        )
    if len(inputs) != 1:
        raise CommandError(
            f"explain takes models with one image input; model {model.name!r} has {len(inputs)}"
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[-1] is None:
        raise CommandError(
            f"explain takes image models with input shape (N, H, W, C); model {model.name!r} "
            f"has input shape {shape}"
        )
    height, width, channels = shape[1], shape[2], int(shape[3])
    if channels not in (1, 3):
        raise CommandError(
            f"explain reads greyscale or RGB images; the model takes {channels} channels"
        )
    if size is not None:
        for axis, fixed, wanted in (("height", height, size[0]), ("width", width, size[1])):
            if fixed is not None and fixed != wanted:
                raise CommandError(
                    f"--size {size[0]} {size[1]} does not match the model's input {axis} {fixed}"
                )
        height, width = size
    return height, width, channels


def _load_image(path: str) -> Image.Image:
    if not os.path.isfile(path):
        raise CommandError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        raise CommandError(f"could not read image {path}: {_one_line(error)}") from error


def _model_input(
    image: Image.Image,
    height: int | None,
    width: int | None,
    channels: int,
    input_range: Sequence[float],
) -> np.ndarray:
    """The image as a ``(1, H, W, C)`` float32 model input."""
    converted = image.convert("L" if channels == 1 else "RGB")
    size = (width or converted.width, height or converted.height)
    if converted.size != size:
        converted = converted.resize(size, resample=Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.float32).reshape(size[1], size[0], channels)
    low, high = input_range
    return (low + pixels / 255.0 * (high - low))[np.newaxis]


def _pictures(
    image: Image.Image, heat: np.ndarray, colormap: str | None, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(overlay, heatmap)`` uint8 RGB at the image's own resolution."""
    original = np.asarray(image.convert("RGB"))
    # The same colouring rule as the TensorBoard pictures (signed maps get a diverging map).
    heatmaps, overlays = kv_tensorboard.explanation_images(
        original[np.newaxis], heat[np.newaxis], colormap=colormap, alpha=alpha
    )
    heatmap = heatmaps[0]
    if heatmap.shape[:2] != original.shape[:2]:
        size = (image.width, image.height)
        heatmap = np.asarray(render.to_pil(heatmap).resize(size, Image.Resampling.BILINEAR))
    return overlays[0], heatmap


def _run_explain(args: argparse.Namespace) -> int:
    method = args.method
    if args.layer is not None and method not in _LAYER_METHODS:
        raise CommandError(
            f"--layer applies to {', '.join(_LAYER_METHODS)}; method {method} takes no layer"
        )
    if not 0.0 <= args.alpha <= 1.0:
        raise CommandError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.colormap is not None and args.colormap not in render.available_colormaps():
        names = ", ".join(render.available_colormaps())
        raise CommandError(f"unknown --colormap {args.colormap!r}; choose one of: {names}")
    low, high = args.input_range
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise CommandError(f"--input-range needs finite LO < HI, got {low:g} {high:g}")
    stems = [os.path.splitext(os.path.basename(path))[0] for path in args.images]
    duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicates:
        raise CommandError(
            f"several images share the file name stem {duplicates[0]!r}, so their outputs would "
            "overwrite each other; explain them in separate runs or rename them"
        )
    # Read every image first, so a bad file fails before the (slow) model load.
    images = [_load_image(path) for path in args.images]

    model = _load_model(args.model)
    height, width, channels = _input_geometry(model, args.size)
    options: dict[str, Any] = {"layer": args.layer} if args.layer is not None else {}
    explainer = _EXPLAINERS[method](model, **options)
    os.makedirs(args.output, exist_ok=True)

    for path, stem, image in zip(args.images, stems, images):
        inputs = _model_input(image, height, width, channels, args.input_range)
        explanation = explainer.explain(inputs, targets=args.target)
        heat = np.asarray(explanation.maps)[0]
        overlay, heatmap = _pictures(image, heat, args.colormap, args.alpha)
        written = []
        for kind, picture in (("overlay", overlay), ("heatmap", heatmap)):
            out = os.path.join(args.output, f"{stem}_{method}_{kind}.png")
            render.to_pil(picture).save(out)
            written.append(out)
        explained = "" if explanation.classes is None else f"class {int(explanation.classes[0])} "
        score = float(explanation.scores[0])
        print(f"{path}: {method} of {explained}(score {score:.4g}) -> {', '.join(written)}")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _run_demo,
    "explain": _run_explain,
}


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``keras-viz`` command line.

    Args:
        argv: Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns:
        The exit code: 0 on success, 2 on a bad argument or input file (after a one-line
        message on stderr).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments and arguments[0] in _COMMANDS else None
    prefix = f"{PROG} {command}" if command else PROG
    try:
        args = build_parser().parse_args(arguments)
        return _COMMANDS[args.command](args)
    except SystemExit as exit_request:  # --help and --version
        code = exit_request.code
        return code if isinstance(code, int) else 0
    except CommandError as error:
        print(f"{prefix}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as error:  # the library's validation of the inputs
        print(f"{prefix}: error: {_one_line(error)}", file=sys.stderr)
        return 2
