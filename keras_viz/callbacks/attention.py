"""AttentionCallback: attention weights of fixed inputs, and how specialised each head is."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz import render
from keras_viz.attention import AttentionMaps, attention_entropy, attention_rollout, self_attention_stack
from keras_viz.callbacks.base import VizCallback
from keras_viz.callbacks.explanations import _fixed_inputs
from keras_viz.tensorboard import image_summary

__all__ = ["AttentionCallback"]

PerSample = list[list[str]]


def _sample_count(inputs: Any) -> int:
    if isinstance(inputs, dict):
        return len(next(iter(inputs.values())))
    return len(inputs[0] if isinstance(inputs, list) else inputs)


def _flat_keys(inputs: Any) -> list[Any]:
    """What names each fixed input in flat (model) order: dict keys (sorted), else indices."""
    if isinstance(inputs, dict):
        return sorted(inputs, key=str)
    return list(range(len(inputs) if isinstance(inputs, list) else 1))


def _sequence_lengths(inputs: Any) -> list[int | None]:
    """The length of axis 1 of each fixed input array in flat order (None below rank 2)."""
    arrays = (
        [inputs[key] for key in _flat_keys(inputs)]
        if isinstance(inputs, dict)
        else inputs if isinstance(inputs, list) else [inputs]
    )
    return [int(np.shape(a)[1]) if np.ndim(a) >= 2 else None for a in arrays]


def _input_tokens(tokens: Any, inputs: Any, count: int) -> dict[int, PerSample]:
    """``tokens`` as ``{flat input index: per-sample labels}``.

    One list per sample labels the first input of that sequence length; a mapping names
    its inputs by flat index (or by key when ``inputs`` is a dict).
    """
    if tokens is None:
        return {}
    lengths = _sequence_lengths(inputs)
    keys = _flat_keys(inputs)
    if isinstance(tokens, Mapping):
        resolved = {}
        for key, labels in tokens.items():
            if key in keys and isinstance(inputs, dict):
                index = keys.index(key)
            elif isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < len(lengths):
                index = int(key)
            else:
                raise ValueError(
                    f"`tokens` names input {key!r}; the fixed inputs are "
                    f"{', '.join(map(repr, keys))} (flat indices 0..{len(lengths) - 1})."
                )
            expected = [] if lengths[index] is None else [lengths[index]]
            if labels is not None:
                resolved[index] = _check_tokens(labels, count, expected, f"tokens[{key!r}]")
        return resolved
    checked = _check_tokens(tokens, count, [n for n in lengths if n is not None], "tokens")
    if len(checked[0]) not in lengths:
        raise ValueError(
            f"`tokens`[0] has {len(checked[0])} tokens but no fixed input has a sequence of that "
            f"length (axis 1 of the inputs: {lengths})."
        )
    index = lengths.index(len(checked[0]))
    for sample, labels in enumerate(checked):
        if len(labels) != lengths[index]:
            raise ValueError(
                f"`tokens`[{sample}] has {len(labels)} tokens but `tokens`[0] labels input {index} "
                f"of length {lengths[index]}; give one token per position of one input."
            )
    return {index: checked}


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
      model's stack of self-attention layers (or the layers named by ``rollout``);
    * ``attention/<layer>/overlay``: for image inputs ``(N, H, W, C)`` whose attention
      runs over patches, the head-averaged attention each patch receives, over the image
      (a layer whose keys are not a square grid of patches gets no overlay, and a
      warning says so once).

    Each axis of a layer is labelled from the model input its positions come from,
    read while the forward pass is traced (:class:`~keras_viz.attention.CapturedAttention`):
    the encoder's self-attention and the keys of a cross-attention from the source
    tokens, the queries of a decoder from the target tokens; an axis that comes from no
    labelled input (learned queries) from ``query_tokens``/``key_tokens``, else indices.

    Args:
        inputs: the fixed inputs (e.g. ``x_val[:4]``, token ids as they are).
        tokens: the labels of a token input: one list of strings per input sample,
            labelling the first input of that sequence length; or, for several token
            inputs (a source and a target), ``{input: one list per sample}`` with flat
            input indices (or the keys of a dict of ``inputs``). None draws indices.
        query_tokens: labels of query axes that come from no labelled input (e.g. a
            decoder's learned output positions): one list per sample, or ``{layer path:
            one list per sample}`` for chosen layers (these take precedence).
        key_tokens: the same for key axes.
        layers: attention layers to draw (names/paths); None finds them all.
        rollout: True (default) rolls out the model's stack of self-attention layers
            (:func:`~keras_viz.attention.self_attention_stack`; cross-attention is never
            chained) when it has at least two layers; a list of layer paths rolls out
            those; False none.
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
        self.input_tokens = _input_tokens(tokens, self.inputs, count)
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
        self._wiring: tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]] = ({}, {})
        self._overlay_skipped: set[str] = set()

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
        self._wiring = (dict(maps.query_inputs), dict(maps.key_inputs))
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
                    _pad([self.rollout_picture(i, values[i], names[0]) for i in range(len(values))]),
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
            names = self_attention_stack(maps)
            if len(names) < 2:
                return None  # no stack of self-attention layers to chain
        else:
            missing = [name for name in self.rollout if name not in maps]
            if missing:
                raise ValueError(f"`rollout` names {', '.join(missing)}, not captured; captured: {', '.join(maps)}.")
            names = self.rollout
        return names, attention_rollout(maps, layers=names)

    # -- drawing (write job) ---------------------------------------------------

    def _axis_labels(self, option: Any, name: str, sample: int, length: int, sources: tuple[int, ...]) -> list[str] | None:
        """Labels of one axis: the layer's own option, the tokens of its input, the global option."""
        if isinstance(option, dict) and option.get(name) is not None:
            return _fitting(length, option[name][sample])
        for index in sources:
            if index in self.input_tokens:
                labels = _fitting(length, self.input_tokens[index][sample])
                if labels is not None:
                    return labels
        if option is not None and not isinstance(option, dict):
            return _fitting(length, option[sample])
        return None

    def labels(self, name: str, sample: int, shape: tuple[int, int]) -> tuple[list[str] | None, list[str] | None]:
        """Query and key labels of layer ``name`` for ``sample`` (weights ``(T_query, T_key)``)."""
        query_inputs, key_inputs = self._wiring
        queries = self._axis_labels(self.query_tokens, name, sample, shape[0], query_inputs.get(name, ()))
        keys = self._axis_labels(self.key_tokens, name, sample, shape[1], key_inputs.get(name, ()))
        return queries, keys

    def heads_picture(self, name: str, sample: int, weights: np.ndarray) -> np.ndarray:
        """The picture logged for one sample of layer ``name``: every head and the average."""
        queries, keys = self.labels(name, sample, weights.shape[1:])
        return render.attention_heads(weights, queries, keys, colormap=self.colormap, font_size=self.font_size)

    def rollout_picture(self, sample: int, rollout: np.ndarray, layer: str | None = None) -> np.ndarray:
        """The rollout of one sample, labelled like the query axis of ``layer`` (its first layer)."""
        tokens = None if layer is None else self.labels(layer, sample, rollout.shape)[0]
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
        except ValueError as error:
            if name not in self._overlay_skipped:  # said once per layer, not at every log
                self._overlay_skipped.add(name)
                warnings.warn(
                    f"AttentionCallback: no image overlay for attention layer {name!r}: {error}",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return
        image_summary(
            f"{prefix}attention/{name}/overlay",
            np.stack(pictures),
            step=step,
            max_outputs=self.max_outputs,
            description=f"Attention received by each image patch in `{name}` (mean over heads and queries).",
        )
