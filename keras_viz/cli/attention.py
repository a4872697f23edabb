"""``keras-viz attention``: the attention of a saved model for token sequences given on the command line.

Each ``SEQUENCE`` argument is one model input, its tokens separated by spaces (quote it):
``keras-viz attention model.keras "the cat sat on the mat" --vocab vocab.txt``. With
``--vocab FILE`` (one token per line; line ``i``, counted from 0, is token id ``i``, the
format of ``TextVectorization.get_vocabulary()`` and of BERT's ``vocab.txt``) tokens are
looked up there; without it the tokens must be integer ids. Sequences shorter than a
model input's fixed length are padded with ``--pad-id``.

Writes ``<layer>_heads.png`` per attention layer (every head and their average; each axis
labelled with the tokens of the SEQUENCE its positions come from, indices where they come
from none, e.g. a decoder's learned queries) and ``rollout.png`` when the model has a stack
of at least two self-attention layers (cross-attention is never rolled out), and prints
each layer's kind (self- or cross-attention) and each head's attention entropy.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from keras_viz.cli import _common
from keras_viz.cli._common import CommandError

NAME = "attention"

HEAD_FUSIONS = ("mean", "max", "min")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="draw the attention of a saved .keras model for token sequences",
        description=(
            "Draw every attention layer (MultiHeadAttention, Attention, AdditiveAttention, ...) of a "
            "saved .keras model for token sequences: one quoted SEQUENCE per model input, tokens "
            "separated by spaces, looked up in --vocab (one token per line, line i = id i) or given "
            "as integer ids. Writes <layer>_heads.png per layer and rollout.png. Example: "
            'keras-viz attention model.keras "the cat sat" --vocab vocab.txt'
        ),
    )
    _common.add_model_options(parser)
    parser.add_argument(
        "sequences",
        metavar="SEQUENCE",
        nargs="+",
        help="one per model input, in the model's input order: tokens separated by spaces",
    )
    parser.add_argument(
        "--vocab",
        metavar="FILE",
        help="vocabulary file, one token per line (line i, from 0, is id i); without it tokens are integer ids",
    )
    parser.add_argument(
        "--unknown",
        metavar="TOKEN",
        help="vocabulary token used for words not in --vocab (default: [UNK] or <unk> if the "
        "vocabulary has one; otherwise unknown words are an error)",
    )
    parser.add_argument(
        "--pad-id",
        type=_common.int_at_least(0),
        default=0,
        metavar="ID",
        help="id appended to sequences shorter than the model's fixed input length (default: %(default)s)",
    )
    parser.add_argument(
        "--layer",
        type=_common.layer_reference,
        action="append",
        metavar="LAYER",
        help="attention layer to draw (name, outer/inner path or index); repeat for several "
        "(default: every attention layer)",
    )
    parser.add_argument(
        "--head-fusion",
        choices=HEAD_FUSIONS,
        default="mean",
        help="how heads are combined for the rollout (default: %(default)s)",
    )
    parser.add_argument("--colormap", default="viridis", help="colour map (default: %(default)s)")
    _common.add_output_option(parser)
    return parser


def read_vocabulary(path: str) -> list[str]:
    """The tokens of a vocabulary file, one per line (id = line number from 0)."""
    if not os.path.isfile(path):
        raise CommandError(f"--vocab file not found: {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            tokens = [line.rstrip("\r\n") for line in handle]
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"could not read --vocab {path}: {_common.one_line(error)}") from error
    if not tokens:
        raise CommandError(f"--vocab {path} is empty")
    return tokens


def token_ids(
    sequence: str, vocabulary: list[str] | None, unknown: str | None, position: int
) -> tuple[list[int], list[str]]:
    """``(ids, labels)`` of one SEQUENCE argument."""
    tokens = sequence.split()
    if not tokens:
        raise CommandError(f"SEQUENCE {position + 1} is empty")
    if vocabulary is None:
        try:
            ids = [int(token) for token in tokens]
        except ValueError:
            raise CommandError(
                f"SEQUENCE {position + 1} holds words ({sequence!r}) but no --vocab was given to "
                f"map them to ids; pass --vocab FILE or integer ids"
            ) from None
        if min(ids) < 0:
            raise CommandError(f"SEQUENCE {position + 1}: token ids must be >= 0, got {min(ids)}")
        return ids, tokens
    index = {}
    for i, token in enumerate(vocabulary):
        index.setdefault(token, i)
    fallback = unknown if unknown is not None else next((t for t in ("[UNK]", "<unk>", "<UNK>") if t in index), None)
    if fallback is not None and fallback not in index:
        raise CommandError(f"--unknown {fallback!r} is not in the vocabulary")
    missing = [token for token in tokens if token not in index]
    if missing and fallback is None:
        shown = ", ".join(repr(t) for t in missing[:5])
        raise CommandError(
            f"SEQUENCE {position + 1}: {len(missing)} token(s) not in the vocabulary ({shown}); "
            f"pass --unknown TOKEN to map them to an unknown-word token"
        )
    return [index.get(token, index.get(fallback, 0)) for token in tokens], tokens


def _file_name(path: str) -> str:
    return path.replace("/", "__").replace("#", "_call")


def run(args: argparse.Namespace) -> int:
    vocabulary = read_vocabulary(args.vocab) if args.vocab else None
    parsed = [token_ids(s, vocabulary, args.unknown, i) for i, s in enumerate(args.sequences)]
    if vocabulary is not None and args.pad_id >= len(vocabulary):
        raise CommandError(f"--pad-id {args.pad_id} is outside the vocabulary ({len(vocabulary)} tokens)")

    from keras_viz import render

    if args.colormap not in render.available_colormaps():
        raise CommandError(f"unknown --colormap {args.colormap!r}; choose one of: {', '.join(render.available_colormaps())}")
    model = _common.load_model(args.model, args.custom_objects)

    from keras_viz.attention import AttentionMaps, attention_entropy, attention_rollout, self_attention_stack

    inputs, labels = _model_inputs(model, parsed, args.pad_id, vocabulary)
    maps = AttentionMaps(model, args.layer)(inputs[0] if len(inputs) == 1 else inputs)
    os.makedirs(args.output, exist_ok=True)
    for name, weights in maps.items():
        _, heads, queries, keys = weights.shape
        query_labels = _axis_labels(labels, maps.query_inputs.get(name, ()), queries)
        key_labels = _axis_labels(labels, maps.key_inputs.get(name, ()), keys)
        picture = render.attention_heads(weights[0], query_labels, key_labels, colormap=args.colormap)
        out = os.path.join(args.output, f"{_file_name(name)}_heads.png")
        render.to_pil(picture).save(out)
        entropy = ", ".join(f"{value:.3f}" for value in attention_entropy(weights))
        kind = {"self": "self-attention", "cross": "cross-attention"}.get(maps.kinds.get(name), "attention")
        print(f"{name}: {kind}, {heads} head(s), {queries}x{keys}; entropy per head (nats): {entropy} -> {out}")
    stack = self_attention_stack(maps)
    if len(stack) >= 2:
        rollout = attention_rollout(maps, head_fusion=args.head_fusion, layers=stack)
        tokens = _axis_labels(labels, maps.query_inputs.get(stack[0], ()), rollout.shape[-1])
        out = os.path.join(args.output, "rollout.png")
        render.to_pil(
            render.attention_heatmap(rollout[0], tokens, tokens, title="rollout", colormap=args.colormap)
        ).save(out)
        print(f"rollout through {len(stack)} self-attention layers ({', '.join(stack)}) -> {out}")
    elif len(maps) > 1 or stack:
        cross = [name for name in maps if maps.kinds.get(name) != "self"]
        print(
            f"no rollout: it chains a stack of at least 2 self-attention layers; found "
            f"{len(stack)} ({', '.join(stack) or 'none'})"
            + (f", and cross-attention ({', '.join(cross)}), which is never chained" if cross else "")
        )
    return 0


def _axis_labels(labels: list[list[str]], sources: tuple[int, ...], length: int) -> list[str] | None:
    """The tokens of the SEQUENCE an axis comes from (the first one that fits), else None."""
    return next((labels[i] for i in sources if i < len(labels) and len(labels[i]) == length), None)


def _model_inputs(model: Any, parsed: list, pad_id: int, vocabulary: list[str] | None):
    """One ``(1, T)`` int32 array per model input, padded to the model's fixed lengths."""
    import numpy as np

    try:
        specs = list(model.inputs or [])
    except (AttributeError, ValueError):
        specs = []
    if specs and len(specs) != len(parsed):
        raise CommandError(
            f"model {model.name!r} takes {len(specs)} input(s) but {len(parsed)} SEQUENCE argument(s) "
            f"were given; give one quoted sequence per input"
        )
    pad_label = vocabulary[pad_id] if vocabulary is not None else str(pad_id)
    inputs, labels = [], []
    for i, (ids, tokens) in enumerate(parsed):
        length = None
        if specs:
            shape = tuple(specs[i].shape)
            if len(shape) != 2:
                raise CommandError(
                    f"model input {i} has shape {shape}; the attention command takes token-id inputs (N, T)"
                )
            length = shape[1]
        if length is not None and len(ids) > length:
            raise CommandError(f"SEQUENCE {i + 1} has {len(ids)} tokens but the model input takes {length}")
        padding = 0 if length is None else length - len(ids)
        inputs.append(np.asarray([ids + [pad_id] * padding], np.int32))
        labels.append(tokens + [pad_label] * padding)
    return inputs, labels
