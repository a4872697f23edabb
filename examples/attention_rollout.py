"""Attention rollout of a two-block text classifier: where the information of [cls] comes from.

Reading attention in a model whose right answer is known (the lecture notes' attention figures): a tiny Transformer encoder
reads ``[cls]`` and nine tokens, one of which is a ``#`` marker, and names the letter right after
the marker from its ``[cls]`` position (``kv.attention_demo.train_pointer_classifier``). One
attention layer cannot do this; the rollout (Abnar & Zuidema 2020) multiplies the layers'
head-averaged attention, with the residual connections as ``0.5·A + 0.5·I``, into how much each
input token flows into each position at the top. For every held-out sequence the figure shows
block 1's and block 2's attention, the rollout (the answer position outlined in red in the
``[cls]`` row of block 2 and of the rollout) and, as strips, the rollout's ``[cls]`` row (without ``[cls]`` itself) beside
Integrated Gradients per token.

    python examples/attention_rollout.py [--fast] [--out DIR]
"""

from __future__ import annotations

import numpy as np

import keras_viz as kv
from keras_viz import render
from keras_viz.attention_demo import train_pointer_classifier

try:  # run as a script (python examples/x.py) or imported by the gallery and the tests
    from _shared import parse_args, save
except ImportError:  # pragma: no cover
    from examples._shared import parse_args, save

SHOWN = 3  # held-out sequences drawn


def main(argv=None) -> list[str]:
    args = parse_args(__doc__.splitlines()[0], argv)
    model, info = train_pointer_classifier(args.fast, verbose=0 if args.fast else 2)
    maps = kv.AttentionMaps(model)(info["source"])  # both blocks' attention in one forward pass
    rollout = kv.attention.attention_rollout(maps)  # (N, T, T), block 1 first
    hits = np.mean(rollout[:, 0].argmax(-1) == info["answer"])
    print(f"accuracy: {info['accuracy']:.1%}; [cls] rollout peaks on the answer token: {hits:.1%}")

    attributions = kv.IntegratedGradients(model, steps=32)(info["source"][:SHOWN], targets=info["labels"][:SHOWN])
    rows = []
    for i in range(SHOWN):
        tokens, answer = info["tokens"][i], int(info["answer"][i])
        marked = [answer] + [None] * (len(tokens) - 1)  # only the [cls] row has a known answer
        matrices = [  # the answer is outlined where [cls] can reach it: block 2 and the rollout
            render.attention_heatmap(kv.attention.fuse_heads(maps[name][i]), tokens, tokens, vmax=1.0, cell=22,
                                     title=name.replace("_", " "), expected=marked if name != "block_1_attention" else None)
            for name in ("block_1_attention", "block_2_attention")
        ]
        matrices.append(render.attention_heatmap(rollout[i], tokens, tokens, vmax=None, cell=22,
                                                 title="rollout", expected=marked))
        flow = rollout[i, 0].copy()
        flow[0] = 0.0  # [cls]'s own share (its residual path) is left out: the strip compares the other tokens
        strips = render.grid([
            render.token_heatmap(tokens, flow, title="[cls] rollout from the other tokens", width=420),
            render.token_heatmap(tokens, attributions[i], title=f"IG of '{tokens[answer]}'", width=420),
        ], columns=1, padding=4)
        rows.append(render.grid([*matrices, strips], columns=4, padding=8))
    return [save(render.grid(rows, columns=1, padding=12), args.out, "attention_rollout")]


if __name__ == "__main__":
    main()
