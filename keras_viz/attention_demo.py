"""Small attention models on generated tasks whose right attention is known.

Used by the demo, the examples and the tests; everything trains on 2 CPU cores in
seconds to a minute or two, offline.

* **Sequence reversal** (:func:`make_reversal_task`, :func:`build_reversal_transformer`):
  a tiny encoder-decoder Transformer reads ``T`` letters and writes them backwards. Its
  decoder asks one learned query per output position; the cross-attention of output
  position ``t`` must look at source position ``T - 1 - t``: the known alignment
  (Bahdanau et al. 2015, fig. 3, drawn as an anti-diagonal).
* **Pointer** (:func:`make_pointer_task`, :func:`build_pointer_classifier`): a two-block
  Transformer encoder reads ``[cls]`` followed by letters among which one ``#`` marker
  stands, and names the letter right after the marker from its ``[cls]`` position. No
  single layer can do it: the second block's ``[cls]`` query must find a position that
  the first block marked as "after the marker". The attention rollout of ``[cls]``
  (Abnar & Zuidema 2020) should therefore point at the marker's neighbour, a position
  that changes from sample to sample.
* **Attention over an image** (:func:`build_patch_attention_model`): a small CNN turns a
  generated shape image (:func:`keras_viz.datasets.make_shapes`) into a grid of patch
  features, and one learned query attends over them to classify the shape (attention
  pooling, in the spirit of Show, Attend and Tell; Xu et al. 2015). Its attention
  should fall on the shape, whose exact mask the data set provides.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from keras_viz import datasets

__all__ = [
    "LETTERS",
    "LearnedQueries",
    "PositionEmbedding",
    "build_patch_attention_model",
    "build_pointer_classifier",
    "build_reversal_transformer",
    "make_pointer_task",
    "make_reversal_task",
    "pointer_tokens",
    "reversal_alignment",
    "train_patch_attention_model",
    "train_pointer_classifier",
    "train_reversal_transformer",
]

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@keras.saving.register_keras_serializable(package="keras_viz")
class PositionEmbedding(layers.Layer):
    """Adds a learned vector per position to ``(N, T, D)`` inputs (Vaswani et al. 2017, §3.5)."""

    def __init__(self, length: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.length = int(length)

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=(self.length, int(input_shape[-1])), initializer=keras.initializers.RandomNormal(stddev=0.5)
        )

    def call(self, inputs):
        return inputs + ops.cast(self.positions, inputs.dtype)[None, : ops.shape(inputs)[1]]

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "length": self.length}


@keras.saving.register_keras_serializable(package="keras_viz")
class LearnedQueries(layers.Layer):
    """``count`` learned query vectors ``(N, count, D)``, one set per sample of the input batch."""

    def __init__(self, count: int, dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.count, self.dim = int(count), int(dim)

    def build(self, input_shape):
        self.queries = self.add_weight(
            name="queries", shape=(self.count, self.dim), initializer=keras.initializers.RandomNormal(stddev=0.5)
        )

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        return ops.broadcast_to(ops.cast(self.queries, self.compute_dtype)[None], (batch, self.count, self.dim))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.count, self.dim)

    def get_config(self):
        return {**super().get_config(), "count": self.count, "dim": self.dim}


def _fit(
    model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int, learning_rate: float, *,
    batch_size: int = 64, from_logits: bool = True, verbose: int = 0, callbacks: list | None = None,
) -> None:
    """Adam with a cosine-decayed step size and sparse cross-entropy: how every model here trains."""
    steps = epochs * math.ceil(len(x) / batch_size)
    model.compile(
        keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
        keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks or [])


# --------------------------------------------------------------------------- reversal


def make_reversal_task(count: int, length: int = 8, vocabulary: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random letter sequences and their reversals: ``(source, target)``, int32 ``(count, length)``."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, vocabulary, size=(count, length)).astype(np.int32)
    return source, source[:, ::-1].copy()


def reversal_alignment(length: int) -> np.ndarray:
    """The known alignment: output position ``t`` reads source position ``length - 1 - t``."""
    return np.arange(length)[::-1].copy()


def build_reversal_transformer(length: int = 8, vocabulary: int = 12, dim: int = 32, heads: int = 2) -> keras.Model:
    """A one-block encoder (self-attention) and a non-autoregressive decoder (cross-attention).

    Layers of note: ``encoder_self_attention`` (``heads`` heads over the source) and
    ``cross_attention`` (one learned query per output position over the encoded source).
    """
    source = keras.Input((length,), dtype="int32", name="source")
    x = layers.Embedding(vocabulary, dim, name="token_embedding")(source)
    x = PositionEmbedding(length, name="position_embedding")(x)
    attended = layers.MultiHeadAttention(heads, dim // heads, name="encoder_self_attention")(x, x)
    x = layers.LayerNormalization(name="encoder_norm")(x + attended)
    queries = LearnedQueries(length, dim, name="output_queries")(x)
    read = layers.MultiHeadAttention(heads, dim // heads, name="cross_attention")(queries, x)
    hidden = layers.Dense(dim, activation="relu", name="decoder_dense")(read)
    logits = layers.Dense(vocabulary, name="letters")(hidden)
    return keras.Model(source, logits, name="reversal_transformer")


def train_reversal_transformer(
    fast: bool = False,
    *,
    length: int = 8,
    vocabulary: int = 12,
    seed: int = 0,
    samples: int | None = None,
    epochs: int | None = None,
    callbacks: list | None = None,
    verbose: int = 0,
) -> tuple[keras.Model, dict[str, Any]]:
    """Trains :func:`build_reversal_transformer` on reversal; returns ``(model, info)``.

    ``info`` holds the held-out ``source``/``target`` arrays, their ``tokens`` (letters),
    the per-letter ``accuracy`` on them and the known ``alignment``. Full mode (6000
    sequences, 25 epochs) takes under a minute on 2 CPU cores; ``fast`` (1024, 3) about
    3 s; ``samples`` and ``epochs`` override either.
    """
    keras.utils.set_random_seed(seed)
    source, target = make_reversal_task(samples or (1024 if fast else 6000), length, vocabulary, seed)
    test_source, test_target = make_reversal_task(256, length, vocabulary, seed + 1)
    model = build_reversal_transformer(length, vocabulary)
    _fit(model, source, target, epochs or (3 if fast else 25), 1e-2, verbose=verbose, callbacks=callbacks)
    predictions = np.argmax(model.predict(test_source, verbose=0), axis=-1)
    info = {
        "source": test_source,
        "target": test_target,
        "tokens": [[LETTERS[i] for i in row] for row in test_source],
        "accuracy": float(np.mean(predictions == test_target)),
        "alignment": reversal_alignment(length),
    }
    return model, info


# --------------------------------------------------------------------------- pointer

POINTER_CLS, POINTER_MARK = 0, 1
"""Token ids of the pointer task: ``[cls]``, the ``#`` marker; letters are ids 2, 3, ..."""


def make_pointer_task(
    count: int, length: int = 10, letters: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sequences ``[cls] x_1 ... x_{T-1}`` with one ``#`` marker among random letters.

    Returns ``(tokens (count, length) int32, labels (count,) int32, answer (count,) int32)``:
    ``labels`` is the letter (0 .. ``letters`` - 1) right after the marker and ``answer``
    its position in the sequence (the token the model must read).
    """
    if length < 4:
        raise ValueError(f"`length` must be at least 4 ([cls], marker, answer, one more); received {length}")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, 2 + letters, size=(count, length)).astype(np.int32)
    tokens[:, 0] = POINTER_CLS
    marks = rng.integers(1, length - 1, size=count)  # the answer at marks + 1 is always inside
    tokens[np.arange(count), marks] = POINTER_MARK
    answer = (marks + 1).astype(np.int32)
    return tokens, tokens[np.arange(count), answer] - 2, answer


def pointer_tokens(row: np.ndarray) -> list[str]:
    """The readable tokens of one pointer sequence."""
    return ["[cls]" if t == POINTER_CLS else "#" if t == POINTER_MARK else LETTERS[t - 2] for t in row]


def build_pointer_classifier(
    length: int = 10, letters: int = 8, dim: int = 32, heads: int = 2, blocks: int = 2
) -> keras.Model:
    """A Transformer encoder of ``blocks`` post-norm blocks read out at ``[cls]`` (position 0).

    Layers of note: ``block_<b>_attention`` (self-attention, ``heads`` heads), each with a
    residual connection, as attention rollout assumes.
    """
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    x = layers.Embedding(letters + 2, dim, name="token_embedding")(tokens)
    x = PositionEmbedding(length, name="position_embedding")(x)
    for block in range(1, blocks + 1):
        attended = layers.MultiHeadAttention(heads, dim // heads, name=f"block_{block}_attention")(x, x)
        x = layers.LayerNormalization(name=f"block_{block}_norm_1")(x + attended)
        hidden = layers.Dense(2 * dim, activation="relu", name=f"block_{block}_dense_1")(x)
        x = layers.LayerNormalization(name=f"block_{block}_norm_2")(x + layers.Dense(dim, name=f"block_{block}_dense_2")(hidden))
    cls = layers.Flatten(name="cls")(layers.Cropping1D((0, length - 1), name="cls_position")(x))
    return keras.Model(tokens, layers.Dense(letters, name="letter")(cls), name="pointer_classifier")


def train_pointer_classifier(
    fast: bool = False,
    *,
    length: int = 10,
    letters: int = 8,
    seed: int = 0,
    samples: int | None = None,
    epochs: int | None = None,
    callbacks: list | None = None,
    verbose: int = 0,
) -> tuple[keras.Model, dict[str, Any]]:
    """Trains :func:`build_pointer_classifier`; returns ``(model, info)``.

    ``info`` holds held-out ``source`` (token ids), ``tokens`` (readable), ``labels``,
    ``answer`` (the position to read) and the ``accuracy`` on them. Full mode (8000
    sequences, 30 epochs) takes about a minute on 2 CPU cores; ``fast`` (1024, 3) a few
    seconds and learns little.
    """
    keras.utils.set_random_seed(seed)
    source, labels, _ = make_pointer_task(samples or (1024 if fast else 8000), length, letters, seed)
    test, test_labels, answer = make_pointer_task(256, length, letters, seed + 1)
    model = build_pointer_classifier(length, letters)
    _fit(model, source, labels, epochs or (3 if fast else 30), 3e-3, verbose=verbose, callbacks=callbacks)
    predictions = np.argmax(model.predict(test, verbose=0), axis=-1)
    info = {
        "source": test,
        "tokens": [pointer_tokens(row) for row in test],
        "labels": test_labels,
        "answer": answer,
        "accuracy": float(np.mean(predictions == test_labels)),
    }
    return model, info


# --------------------------------------------------------------------------- images


def build_patch_attention_model(size: int = 32, classes: int = 3, dim: int = 32, heads: int = 2) -> keras.Model:
    """A CNN stem to an ``(size/4)²`` grid of patch features, then one learned query attends over them.

    The layer ``patch_attention`` holds the attention of the query over the patches,
    ``(N, heads, 1, (size/4)²)``.
    """
    image = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(image)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(dim, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Conv2D(dim, 3, padding="same", activation="relu", name="conv3")(x)
    side = size // 4
    patches = layers.Reshape((side * side, dim), name="patches")(x)
    patches = PositionEmbedding(side * side, name="patch_positions")(patches)
    query = LearnedQueries(1, dim, name="class_query")(patches)
    pooled = layers.MultiHeadAttention(heads, dim // heads, name="patch_attention")(query, patches)
    pooled = layers.Flatten(name="pooled")(pooled)
    outputs = layers.Dense(classes, activation="softmax", name="shape")(pooled)
    return keras.Model(image, outputs, name="patch_attention_cnn")


def train_patch_attention_model(
    fast: bool = False, *, size: int = 32, seed: int = 0, verbose: int = 0
) -> tuple[keras.Model, datasets.ShapesData, float]:
    """Trains :func:`build_patch_attention_model` on generated shapes.

    Returns:
        ``(model, held-out data, held-out accuracy)``.
    """
    keras.utils.set_random_seed(seed)
    classes = ("circle", "square", "triangle")
    train = datasets.make_shapes(300 if fast else 3000, size=size, seed=seed, classes=classes, noise=0.05)
    test = datasets.make_shapes(32 if fast else 120, size=size, seed=seed + 1, classes=classes, noise=0.05)
    model = build_patch_attention_model(size, len(classes))
    _fit(model, train.images, train.labels, 2 if fast else 15, 3e-3, batch_size=32, from_logits=False, verbose=verbose)
    accuracy = float(model.evaluate(test.images, test.labels, verbose=0, return_dict=True)["accuracy"])
    return model, test, accuracy
