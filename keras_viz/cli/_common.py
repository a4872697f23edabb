"""What every ``keras-viz`` sub-command shares: options, model loading, image reading.

Nothing here imports TensorFlow or Keras at module level: parsing the arguments,
``--help`` and every check of the files happen before the (slow) import of the
library, which each sub-command does inside its ``run``.

Shared options, added by the ``add_*`` functions so that every sub-command spells them
the same way:

* ``MODEL`` (positional): a saved ``.keras`` file, loaded with ``safe_mode=True``;
  ``--custom-objects FILE.py|MODULE`` names the Python code that defines the model's
  custom layers (see :func:`load_custom_objects`).
* ``IMAGE ...`` (positional): image files in any format Pillow reads, greyscale or
  colour, turned upright by their EXIF orientation.
* ``--input-range LO HI``: the values the model expects for pixel values 0 and 255.
* ``--size H W``: the input size for models that accept any size.
* ``--layer NAME``: a layer name, ``outer/inner`` path or index.
* ``--target N``: a class index.
* ``--output DIR``: where files are written.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from PIL import Image, ImageOps

__all__ = [
    "CommandError",
    "Parser",
    "add_image_options",
    "add_layer_option",
    "add_model_options",
    "add_output_option",
    "add_target_option",
    "check_input_range",
    "input_geometry",
    "int_at_least",
    "layer_reference",
    "load_custom_objects",
    "load_model",
    "model_input",
    "one_line",
    "read_image",
    "stems_of",
]


class CommandError(Exception):
    """A user error: reported on one line on stderr, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`CommandError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(message)


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


# --------------------------------------------------------------------------- #
# Argument types and shared options
# --------------------------------------------------------------------------- #


def int_at_least(minimum: int):
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


def layer_reference(text: str) -> str | int:
    """A layer name, ``/``-path, or index (an all-digit, optionally negative, string)."""
    stripped = text[1:] if text.startswith("-") else text
    return int(text) if stripped.isdigit() else text


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``MODEL`` and ``--custom-objects``."""
    parser.add_argument("model", metavar="MODEL", help="saved Keras model file (.keras)")
    parser.add_argument(
        "--custom-objects",
        metavar="FILE_OR_MODULE",
        action="append",
        default=[],
        help="Python file (path/to/layers.py) or importable module that defines the model's "
        "custom layers, losses or functions; its `custom_objects` dict, or else every class and "
        "function it defines, is passed to keras.models.load_model. The code is run, so only "
        "name code you trust. May be repeated.",
    )


def add_image_options(
    parser: argparse.ArgumentParser, *, images: bool = True, many: bool = True, size: bool = True
) -> None:
    """``IMAGE ...``, ``--input-range`` and (optionally) ``--size``."""
    if images:
        parser.add_argument(
            "images",
            metavar="IMAGE",
            nargs="+" if many else None,
            help="image file(s) in any format Pillow reads (PNG, JPEG, ...); greyscale or colour",
        )
    parser.add_argument(
        "--input-range",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        default=(0.0, 1.0),
        help="values the model expects for pixel values 0 and 255 (default: 0 1; 0 255 for models "
        "that rescale inside, such as keras.applications; -1 1 for models trained on that range)",
    )
    if size:
        parser.add_argument(
            "--size",
            nargs=2,
            type=int_at_least(1),
            metavar=("H", "W"),
            help="input height and width (default: the model's input shape; needed only when "
            "the model accepts any size, else the image's own size is used)",
        )


def add_layer_option(parser: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``--layer``: a layer name, ``outer/inner`` path for nested models, or index."""
    parser.add_argument("--layer", type=layer_reference, required=required, metavar="LAYER", help=help)


def add_target_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--target``: a class index (>= 0)."""
    parser.add_argument("--target", type=int_at_least(0), metavar="CLASS", help=help)


def add_output_option(parser: argparse.ArgumentParser, default: str = ".") -> None:
    """``--output``: the output directory."""
    parser.add_argument(
        "--output",
        default=default,
        metavar="DIR",
        help="output directory, created if missing (default: "
        + ("the current directory" if default == "." else "%(default)s")
        + ")",
    )


def check_input_range(input_range: Sequence[float]) -> tuple[float, float]:
    """``--input-range`` as ``(low, high)``; a CommandError unless finite and increasing."""
    low, high = (float(v) for v in input_range)
    if not (low == low and high == high and abs(low) != float("inf") and abs(high) != float("inf")
            and low < high):
        raise CommandError(f"--input-range needs finite LO < HI, got {low:g} {high:g}")
    return low, high


def stems_of(paths: Sequence[str]) -> list[str]:
    """File name stems, refusing duplicates (their outputs would overwrite each other)."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicates:
        raise CommandError(
            f"several images share the file name stem {duplicates[0]!r}, so their outputs would "
            "overwrite each other; use them in separate runs or rename them"
        )
    return stems


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #


def read_image(path: str) -> Image.Image:
    """Reads an image file with Pillow: upright by its EXIF orientation, 8 bits per channel.

    Greyscale images of more than 8 bits (16-bit PNG or TIFF, 32-bit integer or float
    TIFF) are scaled to 0..255 by their type's range (a float image by 1 when its values
    lie in [0, 1], else by 255 or its maximum) instead of being clipped at 255 as Pillow's
    conversion does. A file with several frames (an animated GIF, a multi-page TIFF) gives
    its first frame, with a note on stderr.
    """
    if not os.path.isfile(path):
        raise CommandError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            frames = getattr(image, "n_frames", 1)
            upright = ImageOps.exif_transpose(image)
            picture = upright if upright is not image else image.copy()
    except (OSError, ValueError, SyntaxError) as error:  # UnidentifiedImageError is an OSError
        raise CommandError(f"could not read image {path}: {one_line(error)}") from error
    if frames > 1:
        print(f"keras-viz: note: {path} has {frames} frames; using the first", file=sys.stderr)
    return _eight_bit(picture)


def _eight_bit(image: Image.Image) -> Image.Image:
    """High-bit-depth greyscale images as 8-bit "L", scaled by their range, not clipped."""
    if not (image.mode.startswith("I") or image.mode == "F"):
        return image
    import numpy as np

    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        scale = 65535.0
    elif image.mode == "I":
        scale = 65535.0 if values.max(initial=0) <= 65535 else float(2**31 - 1)
    else:  # "F"
        top = float(values.max(initial=0))
        scale = 1.0 if top <= 1.0 else (255.0 if top <= 255.0 else top)
    grey = np.clip(values / scale, 0.0, 1.0)
    return Image.fromarray(np.rint(grey * 255).astype(np.uint8), mode="L")


def load_custom_objects(specs: Sequence[str]) -> dict[str, Any]:
    """The custom objects defined by Python files or modules.

    Each spec is a path to a ``.py`` file or an importable module name. A module with a
    ``custom_objects`` dict contributes that dict; otherwise every public class and
    function defined in it (not imported into it) is contributed under its own name.
    """
    found: dict[str, Any] = {}
    for spec in specs:
        module = _import_spec(spec)
        table = getattr(module, "custom_objects", None)
        if isinstance(table, dict):
            found.update(table)
            continue
        for name, value in vars(module).items():
            if (
                not name.startswith("_")
                and (inspect.isclass(value) or inspect.isfunction(value))
                and getattr(value, "__module__", None) == module.__name__
            ):
                found[name] = value
    return found


def _import_spec(spec: str) -> Any:
    try:
        if spec.endswith(".py") or os.sep in spec:
            if not os.path.isfile(spec):
                raise CommandError(f"--custom-objects file not found: {spec}")
            name = "keras_viz_custom_objects_" + os.path.splitext(os.path.basename(spec))[0]
            loader_spec = importlib.util.spec_from_file_location(name, spec)
            if loader_spec is None or loader_spec.loader is None:
                raise CommandError(f"--custom-objects cannot load {spec}: not a Python file")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            loader_spec.loader.exec_module(module)
            return module
        return importlib.import_module(spec)
    except CommandError:
        raise
    except Exception as error:  # the user's code may raise anything while it is imported
        raise CommandError(f"--custom-objects {spec}: {type(error).__name__}: {one_line(error)}") from error


def load_model(path: str, custom_objects: Sequence[str] = ()) -> Any:
    """Loads a ``.keras`` model with ``safe_mode=True`` (no arbitrary code from the file)."""
    if not os.path.isfile(path):
        raise CommandError(f"model file not found: {path}")
    if not path.endswith(".keras"):
        raise CommandError(f"expected a Keras 3 model file ending in .keras, got {path}")
    objects = load_custom_objects(custom_objects)
    import keras  # imported here: --help and argument errors never wait for TensorFlow

    try:
        # compile=False: visualizing needs no optimizer, loss or custom metrics.
        return keras.models.load_model(path, custom_objects=objects or None, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for unreadable or custom-object files
        hint = ""
        if "custom" in str(error).lower() or "Could not locate" in str(error):
            hint = " (does it need --custom-objects?)"
        raise CommandError(f"could not load model {path}: {one_line(error)}{hint}") from error


def input_geometry(
    model: Any, size: Sequence[int] | None, command: str
) -> tuple[int | None, int | None, int]:
    """``(height, width, channels)`` of the model's one image input; None where any size goes."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise CommandError(
            f"model {model.name!r} declares no input shape (a subclassed model saved unbuilt?); "
            f"{command} needs a model built on (N, H, W, C) images"
        )
    if len(inputs) != 1:
        raise CommandError(f"{command} takes models with one image input; model {model.name!r} has {len(inputs)}")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[-1] is None:
        raise CommandError(
            f"{command} takes image models with input shape (N, H, W, C); model {model.name!r} "
            f"has input shape {shape}"
        )
    height, width, channels = shape[1], shape[2], int(shape[3])
    if channels not in (1, 3):
        raise CommandError(f"{command} reads greyscale or RGB images; the model takes {channels} channels")
    if size is not None:
        for axis, fixed, wanted in (("height", height, size[0]), ("width", width, size[1])):
            if fixed is not None and fixed != wanted:
                raise CommandError(f"--size {size[0]} {size[1]} does not match the model's input {axis} {fixed}")
        height, width = size
    return height, width, channels


def model_input(
    image: Image.Image,
    height: int | None,
    width: int | None,
    channels: int,
    input_range: Sequence[float],
) -> Any:
    """The image as a ``(1, H, W, C)`` float32 model input in ``input_range``."""
    import numpy as np

    converted = image.convert("L" if channels == 1 else "RGB")
    size = (width or converted.width, height or converted.height)
    if converted.size != size:
        converted = converted.resize(size, resample=Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.float32).reshape(size[1], size[0], channels)
    low, high = input_range
    return (low + pixels / 255.0 * (high - low))[np.newaxis]
