"""Attention of a tiny Transformer that reverses sequences: the alignment it learns, head by head.

Seed 004's attention part: Bahdanau et al. (2015) read alignments off a translation model's
attention. Here the right alignment is known: a Transformer that writes its input letters
backwards must, for output position t, look at source position T-1-t (an anti-diagonal).
The figures show the cross-attention of held-out sequences (known alignment outlined in red),
every head of both attention layers with their average, and Integrated Gradients of the first
output letter per source token (it should point at the last source letter).

    python examples/attention_alignment.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import keras_viz as kv
from keras_viz import render
from keras_viz.attention_demo import train_reversal_transformer

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, info = train_reversal_transformer(args.fast, verbose=0 if args.fast else 2)
    source, tokens, expected = info["source"][:4], info["tokens"][:4], info["alignment"]
    attention = kv.AttentionMaps(model)  # every attention layer, read in one forward pass
    held_out = attention(info["source"])["cross_attention"]  # (N, heads, T_out, T_source)
    matched = np.mean(kv.attention.fuse_heads(held_out).argmax(-1) == expected)
    print(f"letters right: {info['accuracy']:.1%}; cross-attention argmax on the known alignment: {matched:.1%}")

    maps = attention(source)
    outputs = [f"out {t}" for t in range(len(expected))]
    alignments = [
        render.alignment_matrix(maps["cross_attention"][i].mean(axis=0), tokens[i], outputs,
                                expected=list(expected), title="reversal", cell=24)
        for i in range(len(source))
    ]
    written = [save(render.grid(alignments, columns=len(alignments), padding=8), args.out, "attention_alignment")]

    # Self-attention: source letters on both axes; cross-attention: output positions down.
    heads = [
        render.attention_heads(maps["encoder_self_attention"][0], tokens[0], tokens[0], cell=20),
        render.attention_heads(maps["cross_attention"][0], outputs, tokens[0], cell=20),
    ]
    written.append(save(render.grid(heads, labels=["encoder_self_attention", "cross_attention"], columns=1,
                                    padding=8), args.out, "attention_heads"))

    # Which source letters decide the first output letter? (the last one, by construction)
    first_letter = lambda outputs: tf.reduce_max(outputs[:, 0, :], axis=-1)  # noqa: E731
    attributions = kv.IntegratedGradients(model, steps=32)(source, targets=first_letter)
    strips = [render.token_heatmap(tokens[i], attributions[i], title=f"IG of output letter 0 ('{tokens[i][-1]}')", width=360)
              for i in range(len(source))]
    written.append(save(render.grid(strips, columns=1, padding=4), args.out, "attention_token_attributions"))
    return written


if __name__ == "__main__":
    main()
