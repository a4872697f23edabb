"""The ``keras-viz`` command line: argument parsing only; the work is done by the library.

Each sub-command is one module of this package with ``NAME``, ``add_parser(commands)`` and
``run(args) -> int``; :data:`COMMANDS` lists them in the order ``--help`` shows. The options
they share (model, images, ``--input-range``, layer, target, output, custom objects) come from
:mod:`keras_viz.cli._common`, so every sub-command spells them the same way.

Parsing, ``--help`` and the checks of argument values and files never import TensorFlow;
a sub-command imports the library only once its arguments are known to be good. Errors in the
arguments or the files print one line to stderr and return exit code 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from keras_viz.cli._common import CommandError, Parser, one_line
from keras_viz.cli.explain import METHODS
from keras_viz.cli.explain import canonical_method as _canonical_method

__all__ = ["COMMANDS", "METHODS", "CommandError", "build_parser", "main"]

PROG = "keras-viz"

COMMANDS: tuple[str, ...] = (
    "demo",
    "explain",
    "diagram",
    "quality",
    "attention",
    "projector",
    "top-patches",
    "visualize",
    "dream",
)
"""Sub-command modules of this package, in ``--help`` order."""


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("keras-viz")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> Parser:
    """The ``keras-viz`` argument parser (imports no TensorFlow)."""
    parser = Parser(
        prog=PROG,
        description=(
            "See inside Keras models: explanations, feature visualizations and dataset views of "
            "saved .keras models, and a TensorBoard demo. Run `keras-viz COMMAND --help` for each."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"keras_viz.cli.{name.replace('-', '_')}")
        module.add_parser(commands).set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``keras-viz`` command line.

    Args:
        argv: Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns:
        The exit code: 0 on success, 2 on a bad argument or input file (after a one-line
        message on stderr).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments and arguments[0] in COMMANDS else None
    prefix = f"{PROG} {command}" if command else PROG
    try:
        args = build_parser().parse_args(arguments)
        return args.run(args)
    except SystemExit as exit_request:  # --help and --version
        code = exit_request.code
        return code if isinstance(code, int) else 0
    except CommandError as error:
        print(f"{prefix}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as error:  # the library's validation of the inputs
        print(f"{prefix}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # writing the outputs: a file where a folder should be, no space, ...
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        print(f"{prefix}: error: {error.strerror or one_line(error)}{where}", file=sys.stderr)
        return 2
