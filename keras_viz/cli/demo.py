"""``keras-viz demo``: the project's main job (see :mod:`keras_viz.demo`)."""

from __future__ import annotations

import argparse
from typing import Any

from keras_viz.cli import _common

NAME = "demo"


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="train a small digit CNN with every keras-viz callback and log it all to TensorBoard",
        description=(
            "Train a small CNN on scikit-learn's digits (no download) with keras.callbacks.TensorBoard "
            "and the keras-viz callbacks, explain 8 test digits with seven methods into the "
            "'keras_viz' run of the same log directory, save a comparison grid PNG there, and print "
            "the tensorboard command to browse it."
        ),
    )
    parser.add_argument("--log-dir", default="logs/keras-viz-demo", help="log directory (default: %(default)s)")
    parser.add_argument(
        "--epochs", type=_common.int_at_least(1), default=3, help="training epochs (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=_common.int_at_least(0), default=0, help="random seed (default: %(default)s)"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    return parser


def run(args: argparse.Namespace) -> int:
    from keras_viz.demo import run_demo

    run_demo(log_dir=args.log_dir, epochs=args.epochs, seed=args.seed, quiet=args.quiet)
    return 0
