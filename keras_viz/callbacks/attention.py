"""AttentionCallback: attention weights of fixed inputs, and how specialised each head is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz import render
from keras_viz.attention import AttentionMaps, attention_entropy, attention_rollout
from keras_viz.callbacks.base import VizCallback
from keras_viz.callbacks.explanations import _fixed_inputs
from keras_viz.tensorboard import image_summary

__all__ = ["AttentionCallback"]

PerSample = list[list[str]]


def _sample_count(inputs: Any) -> int:
    if isinstance(inputs, dict):
        return len(next(iter(inputs.values())))
    return len(inputs[0] if isinstance(inputs, list) else inputs)


def _sequence_lengths(inputs: Any) -> list[int]:
    """The length of axis 1 of each fixed input array (the sequence length of token inputs)."""
    arrays = list(inputs.values()) if isinstance(inputs, dict) else inputs if isinstance(inputs, list) else [inputs]
    return [int(np.shape(a)[1]) for a in arrays if np.ndim(a) >= 2]


def _check_tokens(tokens: Any, count: int, lengths: list[int], name: str) -> PerSample | None:
    """One list of token strings per sample; each as long as an input sequence if ``lengths``."""
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


def _check_axis_tokens(tokens: Any, count: int, name: str) -> PerSample | dict[str, PerSample] | None:
    """Per-sample lists for every layer, or ``{layer path: per-sample lists}``."""
    if isinstance(tokens, Mapping):
        return {str(layer): _check_tokens(value, count, [], f"{name}[{layer!r}]") for layer, value in tokens.items()}
    return _check_tokens(tokens, count, [], name)


def _fitting(length: int, *candidates: list[str] | None) -> list[str] | None:
    """The first candidate label list with one label per position."""
    return next((c for c in candidates if c is not None and len(c) == length), None)


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
      layers named by ``rollout``;
    * ``attention/<layer>/overlay``: for image inputs ``(N, H, W, C)`` whose attention
      runs over patches, the head-averaged attention each patch receives, over the image.

    Args:
        inputs: the fixed inputs (e.g. ``x_val[:4]``, token ids as they are).
        tokens: one list of strings per input sample, labelling the positions of the
            input sequence: the query and key axes of every layer with that length.
            None draws indices only.
        query_tokens: labels of query axes that differ from ``tokens`` (e.g. a
            decoder's output positions): one list per sample, or ``{layer path: one list
            per sample}`` for chosen layers.
        key_tokens: the same for key axes (e.g. the source sentence of cross-attention).
        layers: attention layers to draw (names/paths); None finds them all.
        rollout: True (default) rolls out every captured layer when all are square and
            of one length (a stack of self-attention layers); a list of layer paths
            rolls out those (e.g. only the encoder of an encoder-decoder); False none.
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        freq: log every ``freq`` epochs (and after the last); None (default): under the
            callbacks' shared time ``budget`` (first and last epoch always; see
            :class:`~keras_viz.callbacks.base.VizCallback`).
        colormap, font_size: how the heatmaps are drawn.
        **options: ``run``, ``batch_freq``, ``max_outputs`` (samples drawn, default 4),
            ``raise_errors``, ``background``.

    Raises:
        ValueError: ``tokens`` has a wrong number of lists, or of tokens for the input
            sequence length; (when training starts) the model has no attention layer or
            runs flash attention.
    """

    def __init__(
        self,
        inputs: Any,
        *,
        tokens: Sequence[Sequence[str]] | None = None,
        query_tokens: Sequence[Sequence[str]] | Mapping[str, Sequence[Sequence[str]]] | None = None,
        key_tokens: Sequence[Sequence[str]] | Mapping[str, Sequence[Sequence[str]]] | None = None,
        layers: Sequence[Any] | None = None,
        rollout: bool | Sequence[str] = True,
        log_dir: str,
        freq: int | None = None,
        colormap: str = "viridis",
        font_size: int = 11,
        **options: Any,
    ):
        options.setdefault("max_outputs", 4)
        super().__init__(log_dir=log_dir, freq=freq, **options)
        self.inputs = _fixed_inputs(inputs, self.max_outputs)
        count = _sample_count(self.inputs)
        self.tokens = _check_tokens(tokens, count, _sequence_lengths(self.inputs), "tokens")
        self.query_tokens = _check_axis_tokens(query_tokens, count, "query_tokens")
        self.key_tokens = _check_axis_tokens(key_tokens, count, "key_tokens")
        if layers is not None and (isinstance(layers, (str, int)) or not isinstance(layers, Sequence)):
            raise TypeError(f"`layers` must be a list of layer names or None; received {layers!r}")
        self.layers = None if layers is None else list(layers)
        if not isinstance(rollout, bool) and (isinstance(rollout, str) or not isinstance(rollout, Sequence)):
            raise TypeError(f"`rollout` must be True, False or a list of layer paths; received {rollout!r}")
        self.rollout = rollout if isinstance(rollout, bool) else [str(name) for name in rollout]
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

    # -- reading (training thread) ---------------------------------------------

    def _log(self, step: int, prefix: str):
        maps = self._attention()(self.inputs)
        self._check_layer_names(maps)
        entropies = {name: attention_entropy(weights) for name, weights in maps.items()}
        rollout = self._rollout(maps)
        images = self.inputs if isinstance(self.inputs, np.ndarray) and self.inputs.ndim == 4 else None

        def write(writer):
            for name, weights in maps.items():
                for head, value in enumerate(entropies[name]):
                    if np.isfinite(value):
                        tf.summary.scalar(f"{prefix}attention_entropy/{name}/head_{head}", float(value), step=step)
                image_summary(
                    f"{prefix}attention/{name}",
                    _pad([self.heads_picture(name, i, weights[i]) for i in range(len(weights))]),
                    step=step,
                    max_outputs=self.max_outputs,
                    description=(
                        f"Attention of `{name}`: every head and their average (rows: query "
                        f"positions, columns: key positions), one picture per input."
                    ),
                )
                tf.summary.text(
                    f"{prefix}attention_alignment/{name}",
                    self._alignment_table(name, weights),
                    step=step,
                    description=f"For each query of `{name}`, the key it attends to most (mean over heads).",
                )
                if images is not None:
                    self._overlay(prefix, name, images, weights, step)
            if rollout is not None:
                names, values = rollout
                image_summary(
                    f"{prefix}attention/rollout",
                    _pad([self.rollout_picture(i, values[i]) for i in range(len(values))]),
                    step=step,
                    max_outputs=self.max_outputs,
                    description=f"Attention rollout (Abnar & Zuidema 2020) through {', '.join(names)}.",
                )

        return write

    def _check_layer_names(self, maps: dict[str, np.ndarray]) -> None:
        for option in (self.query_tokens, self.key_tokens):
            if isinstance(option, dict):
                unknown = sorted(set(option) - set(maps))
                if unknown:
                    raise ValueError(
                        f"Token labels name layer(s) {', '.join(unknown)}, which are not captured "
                        f"attention layers; captured: {', '.join(maps)}."
                    )

    def _rollout(self, maps: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray] | None:
        if self.rollout is False:
            return None
        if self.rollout is True:
            names = list(maps)
            shapes = {weights.shape[2:] for weights in maps.values()}
            if len(names) < 2 or len(shapes) != 1 or next(iter(shapes))[0] != next(iter(shapes))[1]:
                return None  # not a stack of equal self-attention layers
        else:
            missing = [name for name in self.rollout if name not in maps]
            if missing:
                raise ValueError(f"`rollout` names {', '.join(missing)}, not captured; captured: {', '.join(maps)}.")
            names = self.rollout
        return names, attention_rollout({name: maps[name] for name in names})

    # -- drawing (write job) ---------------------------------------------------

    def _axis(self, option: Any, name: str, sample: int) -> list[str] | None:
        per_sample = option.get(name) if isinstance(option, dict) else option
        return None if per_sample is None else per_sample[sample]

    def labels(self, name: str, sample: int, shape: tuple[int, int]) -> tuple[list[str] | None, list[str] | None]:
        """Query and key labels of layer ``name`` for ``sample`` (weights ``(T_query, T_key)``)."""
        tokens = None if self.tokens is None else self.tokens[sample]
        queries = _fitting(shape[0], self._axis(self.query_tokens, name, sample), tokens)
        keys = _fitting(shape[1], self._axis(self.key_tokens, name, sample), tokens)
        return queries, keys

    def heads_picture(self, name: str, sample: int, weights: np.ndarray) -> np.ndarray:
        """The picture logged for one sample of layer ``name``: every head and the average."""
        queries, keys = self.labels(name, sample, weights.shape[1:])
        return render.attention_heads(weights, queries, keys, colormap=self.colormap, font_size=self.font_size)

    def rollout_picture(self, sample: int, rollout: np.ndarray) -> np.ndarray:
        tokens = _fitting(rollout.shape[0], None if self.tokens is None else self.tokens[sample])
        return render.attention_heatmap(
            rollout, tokens, tokens, title="rollout", colormap=self.colormap, font_size=self.font_size
        )

    def _alignment_table(self, name: str, weights: np.ndarray) -> str:
        """Markdown: per sample, ``| query | attends most to | weight |`` rows (``index: token``)."""
        blocks = []
        for sample, layer in enumerate(weights[: self.max_outputs]):
            mean = layer.mean(axis=0)  # (T_query, T_key)
            queries, keys = self.labels(name, sample, mean.shape)
            rows = [f"**sample {sample}**", "", "| query | attends most to | weight |", "|---|---|---|"]
            for q, row in enumerate(mean):
                if not row.any():  # a fully masked query
                    rows.append(f"| {_cell(q, queries)} | (masked) | 0 |")
                    continue
                k = int(np.argmax(row))
                rows.append(f"| {_cell(q, queries)} | {_cell(k, keys)} | {row[k]:.3f} |")
            blocks.append("\n".join(rows))
        return "\n\n".join(blocks)

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
