"""``keras-viz diagram``: pictures of a saved model's architecture.

Writes ``<stem>_block.png`` (layers as boxes, data flow as arrows; any model) and, for a
chain of Dense layers, ``<stem>_node_link.png`` (neurons as nodes, weights as edges).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from keras_viz.cli import _common
from keras_viz.cli._common import CommandError

NAME = "diagram"
KINDS = ("block", "node-link", "all")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="draw a saved model: block diagram, or node-link diagram of a small dense network",
        description=(
            "Draw a saved .keras model. 'block' (any model): one box per layer with its output "
            "shape and parameters, arrows for the data flow. 'node-link' (chains of Dense layers): "
            "one node per neuron, one edge per weight, red positive, blue negative, thicker = "
            "larger. Example: keras-viz diagram mlp.keras --kind all --output pictures/"
        ),
    )
    _common.add_model_options(parser)
    parser.add_argument(
        "--kind", choices=KINDS, default="block",
        help="which diagram: block, node-link, or all that apply (default: %(default)s)",
    )
    parser.add_argument(
        "--max-units", type=_common.int_at_least(2), default=16,
        help="node-link: most neurons drawn per layer (default: %(default)s)",
    )
    _common.add_output_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    model = _common.load_model(args.model, args.custom_objects)
    from keras_viz import architecture, node_link, render

    stem = os.path.splitext(os.path.basename(args.model))[0]
    pictures: dict[str, Any] = {}
    if args.kind in ("block", "all"):
        pictures["block"] = architecture.model_diagram(model, sample=_sample(model))
    if args.kind in ("node-link", "all"):
        try:
            pictures["node_link"] = node_link.node_link_diagram(model, max_units=args.max_units)
        except ValueError as error:
            if args.kind == "node-link":
                raise CommandError(_common.one_line(error)) from error
            print(f"{args.model}: no node-link diagram: {_common.one_line(error)}")
    os.makedirs(args.output, exist_ok=True)
    for kind, picture in pictures.items():
        path = os.path.join(args.output, f"{stem}_{kind}.png")
        render.to_pil(picture).save(path)
        print(f"{args.model}: {kind.replace('_', '-')} diagram -> {path}")
    return 0


def _sample(model: Any) -> Any:
    """One zero sample for models without a static graph (None when they have one)."""
    import numpy as np

    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        inputs = []
    if not inputs or any(d is None for i in inputs for d in i.shape[1:]):
        return None
    samples = [np.zeros((1, *i.shape[1:]), np.float32) for i in inputs]
    return samples[0] if len(samples) == 1 else samples
