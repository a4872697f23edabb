"""``keras-viz explain``: attribution maps of a saved model for image files.

Writes ``<stem>_<method>_overlay.png`` and ``<stem>_<method>_heatmap.png`` per image, both at
the image's own resolution.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from keras_viz.cli import _common
from keras_viz.cli._common import CommandError

NAME = "explain"

# Method name -> explainer class name in keras_viz. The names are written into the output files.
_EXPLAINERS: dict[str, str] = {
    "saliency": "Saliency",
    "deconvnet": "Deconvnet",
    "guided_backprop": "GuidedBackprop",
    "gradient_input": "GradientInput",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "IntegratedGradients",
    "cam": "CAM",
    "grad_cam": "GradCAM",
    "grad_cam_plus_plus": "GradCAMPlusPlus",
    "guided_grad_cam": "GuidedGradCAM",
    "occlusion": "Occlusion",
}

METHODS: tuple[str, ...] = tuple(_EXPLAINERS)
"""Names accepted by ``explain --method``."""

# The class-activation methods explain a layer; the others take no ``layer`` option.
LAYER_METHODS: tuple[str, ...] = ("cam", "grad_cam", "grad_cam_plus_plus", "guided_grad_cam")


def canonical_method(text: str) -> str:
    """Resolves a method name, forgiving case, ``-`` and ``_`` (``GradCAM``, ``grad-cam++``)."""

    def squash(name: str) -> str:
        return name.lower().replace("++", "plusplus").replace("-", "").replace("_", "")

    by_squashed = {squash(name): name for name in METHODS}
    by_squashed["guidedbackpropagation"] = "guided_backprop"
    by_squashed["integratedgradient"] = "integrated_gradients"
    key = squash(text)
    if key not in by_squashed:
        raise argparse.ArgumentTypeError(f"unknown method {text!r}; choose one of: {', '.join(METHODS)}")
    return by_squashed[key]


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="explain a saved .keras model on image files (saliency, Grad-CAM, occlusion, ...)",
        description=(
            "Explain what a saved .keras image model looks at: for each image write "
            "<stem>_<method>_overlay.png (the heatmap over the image) and <stem>_<method>_heatmap.png. "
            "Example: keras-viz explain model.keras cat.jpg --method grad_cam --input-range 0 255"
        ),
    )
    _common.add_model_options(parser)
    _common.add_image_options(parser)
    parser.add_argument(
        "--method", required=True, type=canonical_method, metavar="METHOD",
        help=f"one of: {', '.join(METHODS)}",
    )
    _common.add_layer_option(
        parser,
        "layer for cam, grad_cam, grad_cam_plus_plus, guided_grad_cam: name, 'outer/inner' path "
        "for nested models, or index (default: the last layer with spatial output)",
    )
    _common.add_target_option(parser, "class index to explain (default: the predicted class of each image)")
    parser.add_argument(
        "--colormap",
        help="colour map of heatmaps and overlays (default: RdBu_r for signed maps, viridis otherwise)",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.5, help="heatmap opacity in overlays, 0..1 (default: %(default)s)"
    )
    _common.add_output_option(parser)
    return parser


def _pictures(image: Any, heat: Any, colormap: str | None, alpha: float) -> tuple[Any, Any]:
    """``(overlay, heatmap)`` uint8 RGB at the image's own resolution."""
    import numpy as np
    from PIL import Image

    from keras_viz import render
    from keras_viz import tensorboard as kv_tensorboard

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


def run(args: argparse.Namespace) -> int:
    method = args.method
    if args.layer is not None and method not in LAYER_METHODS:
        raise CommandError(f"--layer applies to {', '.join(LAYER_METHODS)}; method {method} takes no layer")
    if not 0.0 <= args.alpha <= 1.0:
        raise CommandError(f"--alpha must be in [0, 1], got {args.alpha}")
    input_range = _common.check_input_range(args.input_range)
    stems = _common.stems_of(args.images)
    # Every image is read before the (slow) import of TensorFlow and the model load.
    images = [_common.read_image(path) for path in args.images]

    from keras_viz import render

    if args.colormap is not None and args.colormap not in render.available_colormaps():
        names = ", ".join(render.available_colormaps())
        raise CommandError(f"unknown --colormap {args.colormap!r}; choose one of: {names}")
    model = _common.load_model(args.model, args.custom_objects)
    height, width, channels = _common.input_geometry(model, args.size, NAME)

    import numpy as np

    import keras_viz as kv

    options: dict[str, Any] = {"layer": args.layer} if args.layer is not None else {}
    explainer = getattr(kv, _EXPLAINERS[method])(model, **options)
    os.makedirs(args.output, exist_ok=True)

    for path, stem, image in zip(args.images, stems, images):
        inputs = _common.model_input(image, height, width, channels, input_range)
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
