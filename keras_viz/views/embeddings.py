"""CNN codes, their 2-D maps (t-SNE, PCA) and nearest neighbours in feature vs pixel space.

"Which inputs does the network think alike?" Krizhevsky et al. (NIPS 2012) showed the
training images nearest to a test image in the 4096-d code of the last hidden layer, and
how different they are from the nearest images in pixel space; Karpathy laid the codes of
a dataset out in 2-D with t-SNE (van der Maaten & Hinton, JMLR 2008) as a map of
thumbnails. The codes are read from any layer during the model's own forward pass and
streamed: memory holds the codes, never the layer's full activations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._checks import check_int, check_number
from keras_viz._functions import EAGER_CALLS, FunctionCache, short_stream
from keras_viz._inputs import Inputs, pack, signature_key
from keras_viz._model import LayerRecorder, check_backend, check_model, find_layer, layer_path, single_tensor
from keras_viz.activations import FeatureMaps
from keras_viz.views._readers import layer_reader
from keras_viz.views._topk import RunningTopK

__all__ = ["CodesAndOutputs", "NearestNeighbors", "embeddings", "nearest_neighbors", "pca_map", "tsne_map"]

POOLS = ("avg", "max", None)


def _pooling(pool: str | None):
    """The in-graph reduction of a layer output ``(N, *spatial, C)`` to a code ``(N, D)``."""

    def reduce(activation: tf.Tensor) -> tf.Tensor:
        if activation.shape.rank <= 2:
            return activation
        axes = list(range(1, activation.shape.rank - 1))
        if pool == "avg":
            return tf.reduce_mean(activation, axis=axes)
        if pool == "max":
            return tf.reduce_max(activation, axis=axes)
        return tf.reshape(activation, [tf.shape(activation)[0], -1])

    return reduce


def _check_pool(pool: Any) -> str | None:
    if pool not in POOLS:
        raise ValueError(f"`pool` must be 'avg', 'max' or None (flatten); received pool={pool!r}")
    return pool


def _code_reader(model: keras.Model, layer: Any, pool: str | None, batch_size: int) -> tuple[FeatureMaps, str]:
    check_backend()
    model = check_model(model)
    target = find_layer(model, layer)
    reader = layer_reader(
        model, target, batch_size=check_int(batch_size, "batch_size"), transform=_pooling(_check_pool(pool)),
        key=("codes", pool),
    )
    return reader, layer_path(model, target)


def embeddings(model: keras.Model, data: Any, layer: Any, *, pool: str | None = "avg", batch_size: int = 64) -> np.ndarray:
    """The "CNN codes" of ``layer`` for every input of ``data``, streamed.

    Args:
        model: any Keras model.
        data: arrays (list/dict for multi-input models) or a ``tf.data.Dataset`` yielding
            ``x`` or ``(x, y)`` batches, of any length.
        layer: name, ``/``-path, index or object of the layer.
        pool: how a spatial output ``(N, *spatial, C)`` becomes a vector: ``"avg"``
            (global average, default), ``"max"`` or None (flatten). Layers without
            spatial axes are returned as they are.
        batch_size: samples per forward pass.

    Returns:
        ``(N, D)`` float32.

    Example:
        >>> codes = kv.embeddings(model, x_test, "gap")
        >>> points = kv.tsne_map(codes)
    """
    reader, path = _code_reader(model, layer, pool, batch_size)
    chunks = [values[path] for _, values in reader.stream(data, argument="data")]
    return np.concatenate(chunks, axis=0).astype(np.float32, copy=False)


class CodesAndOutputs:
    """A layer's codes and the model's outputs from one compiled forward pass.

    What :class:`~keras_viz.callbacks.EmbeddingCallback` needs at every export: the codes of
    ``layer`` (pooled as in :func:`embeddings`) and the predictions, read during the same
    pass of the model instead of running it twice. Inputs of at most
    :data:`keras_viz._functions.EAGER_CALLS` batches run eagerly for the first calls, then
    as one traced graph per input structure and signature, kept by this object; longer
    inputs are traced at once (as :class:`~keras_viz.FeatureMaps` does).

    Args:
        model: any Keras model.
        layer: name, ``/``-path, index or object of the layer.
        pool: ``"avg"``, ``"max"`` or None (flatten), as in :func:`embeddings`.
        batch_size: samples per forward pass.

    Example:
        >>> codes, outputs = kv.views.CodesAndOutputs(model, "gap")(x_val)
        >>> predictions = outputs[0].argmax(-1)
    """

    def __init__(self, model: keras.Model, layer: Any, *, pool: str | None = "avg", batch_size: int = 64):
        check_backend()
        self.model = check_model(model)
        self.layer = find_layer(self.model, layer)
        self.path = layer_path(self.model, self.layer)
        self.pool = _check_pool(pool)
        self.batch_size = check_int(batch_size, "batch_size")
        self._functions = FunctionCache()

    @property
    def trace_count(self) -> int:
        """Graphs traced so far."""
        return self._functions.trace_count

    def __call__(self, data: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(codes (N, D) float32, [output (N, ...) per model output])`` for ``data``."""
        inputs = Inputs(data, self.model, argument="data", forward=True)
        eager = short_stream(inputs, self.batch_size)
        codes: list[np.ndarray] = []
        outputs: list[list[np.ndarray]] = []
        for batch in inputs.batches(self.batch_size):
            code, *outs = self._function(batch, inputs.structure, eager)(*batch.feed)
            codes.append(code.numpy())
            outputs.append([o.numpy() for o in outs])
        if not codes:
            raise ValueError("`data` is empty.")
        return (np.concatenate(codes).astype(np.float32, copy=False),
                [np.concatenate(parts) for parts in zip(*outputs)])

    def _function(self, batch, structure, eager: bool):
        key = signature_key(structure, batch.inputs)
        count, reduce = len(batch.inputs), _pooling(self.pool)

        def body(*inputs):
            recorder = LayerRecorder([self.layer])
            with recorder.active():
                outputs = self.model(pack(structure, list(inputs[:count])), training=False)
            code = reduce(tf.cast(single_tensor(recorder.output(self.layer), f"Layer {self.layer.name!r}"), tf.float32))
            return [code, *tf.nest.flatten(outputs)]

        specs = [tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in batch.inputs]
        return self._functions.get(key, body, specs, eager_calls=EAGER_CALLS if eager else 0)


# --------------------------------------------------------------------------- 2-D maps


def _check_codes(codes: Any) -> np.ndarray:
    array = np.asarray(codes)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"`codes` must be a numeric (N, D) array; received dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise ValueError(f"`codes` must be an (N, D) array with N >= 2; received shape {array.shape}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError("`codes` holds NaN or infinite values.")
    return array


def pca_map(codes: Any) -> np.ndarray:
    """The first two principal components of ``codes``: ``(N, 2)`` float32.

    With one-dimensional codes the second coordinate is 0.
    """
    from sklearn.decomposition import PCA

    array = _check_codes(codes)
    components = min(2, array.shape[1], array.shape[0])
    points = PCA(components).fit_transform(array)
    if points.shape[1] < 2:
        points = np.concatenate([points, np.zeros((len(points), 2 - points.shape[1]))], axis=1)
    return points.astype(np.float32)


def tsne_map(codes: Any, *, perplexity: float = 30.0, seed: int = 0, threads: int | None = None) -> np.ndarray:
    """A 2-D t-SNE map of ``codes`` (van der Maaten & Hinton 2008): ``(N, 2)`` float32.

    Codes with more than 50 dimensions are first reduced to 50 with PCA, as van der
    Maaten & Hinton recommend (faster, and less noise). scikit-learn's Barnes-Hut t-SNE
    (approximate gradients, O(N log N)), PCA initialisation, and scikit-learn's
    ``learning_rate="auto"``: ``max(N / (early_exaggeration · 4), 50)`` = ``max(N / 48, 50)``
    with the default early exaggeration of 12 (Belkina et al. 2019).

    Args:
        codes: ``(N, D)`` codes, e.g. from :func:`embeddings`.
        perplexity: the effective number of neighbours, in ``(0, N)``; 5-50 is usual.
        seed: random seed of t-SNE (and the PCA step); the global random state is not used.
        threads: OpenMP threads of scikit-learn's Barnes-Hut gradient. None: one thread up
            to 2000 codes (measured: on a busy 2-core machine its default thread pool made a
            360-point map 10x slower, 22 s instead of 2 s), the library default above.
    """
    from threadpoolctl import threadpool_limits

    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    array = _check_codes(codes)
    if not 0 < check_number(perplexity, "perplexity") < len(array):
        raise ValueError(
            f"`perplexity` must be a number in (0, N) = (0, {len(array)}) for {len(array)} codes; "
            f"received perplexity={perplexity!r}"
        )
    if array.shape[1] > 50:
        array = PCA(min(50, len(array)), random_state=seed).fit_transform(array)
    tsne = TSNE(2, perplexity=float(perplexity), init="pca", learning_rate="auto", random_state=int(seed))
    limit = threads if threads is not None else (1 if len(array) <= 2000 else None)
    with threadpool_limits(limits=limit, user_api="openmp"):
        return tsne.fit_transform(array).astype(np.float32)


# --------------------------------------------------------------------------- neighbours


@dataclasses.dataclass
class NearestNeighbors:
    """Nearest neighbours of queries in a layer's feature space and in pixel space.

    Unpacks as ``feature_indices, pixel_indices = kv.nearest_neighbors(...)``.

    Attributes:
        feature_indices: ``(Q, k)`` stream positions in ``data`` of the nearest codes
            (Euclidean distance), nearest first.
        pixel_indices: ``(Q, k)`` the same for the raw inputs.
        feature_distances, pixel_distances: ``(Q, k)`` the Euclidean distances.
        layer: path of the layer.
    """

    feature_indices: np.ndarray
    pixel_indices: np.ndarray
    feature_distances: np.ndarray
    pixel_distances: np.ndarray
    layer: str = ""

    def __iter__(self):
        yield self.feature_indices
        yield self.pixel_indices


def _squared_distances(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(Q, B)`` squared Euclidean distances, in float64, never negative."""
    q = queries.astype(np.float64)
    p = points.astype(np.float64)
    return np.maximum((q * q).sum(1)[:, None] - 2.0 * q @ p.T + (p * p).sum(1)[None, :], 0.0)


def nearest_neighbors(
    model: keras.Model,
    queries: Any,
    data: Any,
    layer: Any,
    *,
    k: int = 5,
    pool: str | None = "avg",
    batch_size: int = 64,
) -> NearestNeighbors:
    """The ``k`` inputs of ``data`` nearest to each query in feature space and in pixel space.

    Feature space is the code of ``layer`` (see :func:`embeddings`); pixel space is the
    flattened input. ``data`` is streamed once with a running top-k, so it may be a
    dataset of any size. Equal distances are ordered by stream position.

    Args:
        model: any Keras model with one input.
        queries: ``(Q, ...)`` query inputs.
        data: arrays or a ``tf.data.Dataset`` to search.
        layer: the layer whose codes are compared.
        k: neighbours per query.
        pool: as in :func:`embeddings`.
        batch_size: samples per forward pass.

    Returns:
        A :class:`NearestNeighbors`; unpacks as ``(feature_indices, pixel_indices)``.

    Example:
        >>> features, pixels = kv.nearest_neighbors(model, x_test[:5], x_train, "gap")
        >>> kv.render.neighbor_rows(x_test[:5], x_train[features], x_train[pixels])
    """
    k = check_int(k, "k")
    reader, path = _code_reader(model, layer, pool, batch_size)
    query_codes = np.concatenate([v[path] for _, v in reader.stream(queries, argument="queries")])
    query_pixels: list[np.ndarray] = []
    by_feature = by_pixel = None
    for batch, values in reader.stream(data, argument="data"):
        if len(batch.inputs) != 1:
            raise ValueError("nearest_neighbors compares pixels of models with one input.")
        if by_feature is None:
            query_pixels = [a.reshape(len(a), -1) for a in Inputs(queries, reader.model, argument="queries").arrays]
            by_feature = RunningTopK(len(query_codes), k)
            by_pixel = RunningTopK(len(query_codes), k)
        indices = batch.offset + np.arange(batch.size)
        by_feature.update(-_squared_distances(query_codes, values[path]), indices)
        pixels = batch.inputs[0].reshape(batch.size, -1)
        if pixels.shape[1] != query_pixels[0].shape[1]:
            raise ValueError(
                f"`queries` and `data` inputs differ in size ({query_pixels[0].shape[1]} vs "
                f"{pixels.shape[1]} values), so pixel distances are undefined."
            )
        by_pixel.update(-_squared_distances(query_pixels[0], pixels), indices)
    grid = np.arange(len(query_codes))[:, None]
    features, pixels_order = by_feature.order(), by_pixel.order()
    return NearestNeighbors(
        feature_indices=by_feature.indices[grid, features],
        pixel_indices=by_pixel.indices[grid, pixels_order],
        feature_distances=np.sqrt(-by_feature.values[grid, features]).astype(np.float32),
        pixel_distances=np.sqrt(-by_pixel.values[grid, pixels_order]).astype(np.float32),
        layer=path,
    )
