"""AttentionCallback: attention weights of fixed inputs, and how specialised each head is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz import render
from keras_viz.attention import AttentionMaps, attention_entropy, attention_rollout
from keras_viz.callbacks.base import VizCallback
from keras_viz.callbacks.explanations import _fixed_inputs
from keras_viz.tensorboard import image_summary

__all__ = ["AttentionCallback"]


def _sequence_lengths(inputs: Any) -> list[int]:
    """The length of axis 1 of each fixed input array (the sequence length of token inputs)."""
    arrays = list(inputs.values()) if isinstance(inputs, dict) else inputs if isinstance(inputs, list) else [inputs]
    return [int(np.shape(a)[1]) for a in arrays if np.ndim(a) >= 2]


def _check_tokens(tokens: Any, count: int, lengths: list[int], name: str) -> list[list[str]] | None:
    """One list of token strings per sample, each as long as an input sequence."""
    if tokens is None:
        return None
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"`{name}` must be one list of token strings per input sample; received {tokens!r:.80}")
    tokens = list(tokens)
    if tokens and isinstance(tokens[0], str):
        raise TypeError(
            f"`{name}` must be one list of token strings per input sample (a list of lists); "
            f"received a flat list of strings {tokens[:4]!r}..."
        )
    if len(tokens) < count:
        raise ValueError(f"`{name}` has {len(tokens)} token list(s) but {count} input sample(s) are logged.")
    checked = []
    for index, sample in enumerate(tokens[:count]):
        if isinstance(sample, str) or not isinstance(sample, Sequence):
            raise TypeError(f"`{name}`[{index}] must be a list of token strings; received {sample!r:.80}")
        if lengths and len(sample) not in lengths:
            raise ValueError(
                f"`{name}`[{index}] has {len(sample)} tokens but the input sequence length is "
                f"{' or '.join(map(str, sorted(set(lengths))))}; give one token per position "
                f"(padding included)."
            )
        checked.append([str(token) for token in sample])
    return checked


def _labels(tokens: list[str] | None, other: list[str] | None, length: int) -> list[str] | None:
    for candidate in (tokens, other):
        if candidate is not None and len(candidate) == length:
            return candidate
    return None


def _cell(index: int, labels: list[str] | None) -> str:
    """``index: token`` for a Markdown table cell (pipes escaped)."""
    if labels is None:
        return str(index)
    return f"{index}: {labels[index]}".replace("|", "\\|")


def _pad(pictures: list[np.ndarray]) -> np.ndarray:
    height = max(p.shape[0] for p in pictures)
    width = max(p.shape[1] for p in pictures)
    batch = np.full((len(pictures), height, width, 3), 255, np.uint8)
    for i, picture in enumerate(pictures):
        batch[i, : picture.shape[0], : picture.shape[1]] = picture
    return batch


class AttentionCallback(VizCallback):
    """Logs the attention of fixed inputs every ``freq`` epochs, and each head's entropy.

    Tags, for each attention layer (path ``<layer>``):

    * ``attention/<layer>``: one picture per input sample: every head and their
      average, with the tokens on both axes;
    * ``attention_alignment/<layer>`` (text): for each drawn sample, a table of the key
      each query attends to most (heads averaged), with its weight: the alignment of a
      sequence-to-sequence model, readable in TensorBoard's Text tab;
    * ``attention_entropy/<layer>/head_<h>`` (scalars): the mean entropy of head
      ``h``'s attention distributions over the fixed inputs, in nats. Heads that
      specialise (attend to one position) fall towards 0; a head that spreads evenly
      over ``T`` keys stays at ``log T``;
    * ``attention/rollout``: the attention rollout (Abnar & Zuidema 2020) through the
      self-attention layers, when there are several with the same length;
    * ``attention/<layer>/overlay``: for image inputs ``(N, H, W, C)`` whose attention
      runs over patches, the head-averaged attention each patch receives, over the image.

    Args:
        inputs: the fixed inputs (e.g. ``x_val[:4]``, token ids as they are).
        tokens: one list of strings per input sample, labelling positions (queries, and
            keys of self-attention); None draws no labels.
        key_tokens: for cross-attention, one list per sample labelling the key axis
            (e.g. the source sentence) when it differs from ``tokens``.
        layers: attention layers to draw (names/paths); None finds them all.
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        freq: log every ``freq`` epochs (and after the last).
        **options: ``run``, ``batch_freq``, ``max_outputs`` (samples drawn, default 4),
            ``raise_errors``, ``background``; drawing: ``colormap``, ``font_size``.

    Raises:
        ValueError: ``tokens`` has a wrong number of lists or tokens, or (when training
            starts) the model has no attention layer or runs flash attention.
    """

    def __init__(
        self,
        inputs: Any,
        *,
        tokens: Sequence[Sequence[str]] | None = None,
        key_tokens: Sequence[Sequence[str]] | None = None,
        layers: Sequence[Any] | None = None,
        log_dir: str,
        freq: int = 1,
        colormap: str = "viridis",
        font_size: int = 11,
        **options: Any,
    ):
        options.setdefault("max_outputs", 4)
        super().__init__(log_dir=log_dir, freq=freq, **options)
        self.inputs = _fixed_inputs(inputs, self.max_outputs)
        count = len(next(iter(self.inputs.values()))) if isinstance(self.inputs, dict) else len(
            self.inputs[0] if isinstance(self.inputs, list) else self.inputs
        )
        lengths = _sequence_lengths(self.inputs)
        self.tokens = _check_tokens(tokens, count, lengths, "tokens")
        self.key_tokens = _check_tokens(key_tokens, count, [], "key_tokens")
        if layers is not None and (isinstance(layers, (str, int)) or not isinstance(layers, Sequence)):
            raise TypeError(f"`layers` must be a list of layer names or None; received {layers!r}")
        self.layers = None if layers is None else list(layers)
        render.colormap(np.zeros(1), colormap)  # validates the name
        self.colormap = colormap
        self.font_size = int(font_size)
        self._maps: AttentionMaps | None = None

    def _attention(self) -> AttentionMaps:
        if self._maps is None or self._maps.model is not self.model:
            self._maps = AttentionMaps(self.model, self.layers)
        return self._maps

    def _log_start(self):
        self._attention()  # a model without attention layers fails here, before training
        return None

    def _log(self, step: int, prefix: str):
        maps = self._attention()(self.inputs)
        entropies = {name: attention_entropy(weights) for name, weights in maps.items()}
        try:
            rollout = attention_rollout(maps) if len(maps) > 1 else None
        except ValueError:  # cross-attention or layers of different lengths: no rollout
            rollout = None
        images = self.inputs if isinstance(self.inputs, np.ndarray) and self.inputs.ndim == 4 else None

        def write(writer):
            for name, weights in maps.items():
                for head, value in enumerate(entropies[name]):
                    if np.isfinite(value):
                        tf.summary.scalar(f"{prefix}attention_entropy/{name}/head_{head}", float(value), step=step)
                pictures = [self._heads(sample, weights[sample]) for sample in range(len(weights))]
                image_summary(
                    f"{prefix}attention/{name}",
                    _pad(pictures),
                    step=step,
                    max_outputs=self.max_outputs,
                    description=(
                        f"Attention of `{name}`: every head and their average (rows: query "
                        f"positions, columns: key positions), one picture per input."
                    ),
                )
                tf.summary.text(
                    f"{prefix}attention_alignment/{name}",
                    self._alignment_table(weights[: self.max_outputs]),
                    step=step,
                    description=f"For each query of `{name}`, the key it attends to most (mean over heads).",
                )
                if images is not None:
                    self._overlay(prefix, name, images, weights, step)
            if rollout is not None:
                pictures = [
                    render.attention_heatmap(
                        rollout[i], self._tokens(i), self._tokens(i), title="rollout",
                        colormap=self.colormap, font_size=self.font_size,
                    )
                    for i in range(len(rollout))
                ]
                image_summary(
                    f"{prefix}attention/rollout",
                    _pad(pictures),
                    step=step,
                    max_outputs=self.max_outputs,
                    description=f"Attention rollout (Abnar & Zuidema 2020) through {', '.join(maps)}.",
                )

        return write

    def _tokens(self, sample: int) -> list[str] | None:
        return None if self.tokens is None else self.tokens[sample]

    def _alignment_table(self, weights: np.ndarray) -> str:
        """Markdown: per sample, ``| query | attends most to | weight |`` rows (``index: token``)."""
        blocks = []
        for sample, layer in enumerate(weights):
            mean = layer.mean(axis=0)  # (T_query, T_key)
            tokens = self._tokens(sample)
            keys = None if self.key_tokens is None else self.key_tokens[sample]
            query_labels = _labels(tokens, None, mean.shape[0])
            key_labels = _labels(keys, tokens, mean.shape[1])
            rows = [f"**sample {sample}**", "", "| query | attends most to | weight |", "|---|---|---|"]
            for q, row in enumerate(mean):
                if not row.any():  # a fully masked query
                    rows.append(f"| {_cell(q, query_labels)} | (masked) | 0 |")
                    continue
                k = int(np.argmax(row))
                rows.append(f"| {_cell(q, query_labels)} | {_cell(k, key_labels)} | {row[k]:.3f} |")
            blocks.append("\n".join(rows))
        return "\n\n".join(blocks)

    def _heads(self, sample: int, weights: np.ndarray) -> np.ndarray:
        tokens = self._tokens(sample)
        keys = None if self.key_tokens is None else self.key_tokens[sample]
        queries = _labels(tokens, None, weights.shape[1])
        keys = _labels(keys, tokens, weights.shape[2])
        return render.attention_heads(weights, queries, keys, colormap=self.colormap, font_size=self.font_size)

    def _overlay(self, prefix: str, name: str, images: np.ndarray, weights: np.ndarray, step: int) -> None:
        received = weights.mean(axis=(1, 2))  # (N, T_key): attention each position receives
        try:
            pictures = [render.patch_attention_overlay(image, row) for image, row in zip(images, received)]
        except ValueError:
            return  # the keys are not a square grid of patches: no overlay for this layer
        image_summary(
            f"{prefix}attention/{name}/overlay",
            np.stack(pictures),
            step=step,
            max_outputs=self.max_outputs,
            description=f"Attention received by each image patch in `{name}` (mean over heads and queries).",
        )
