"""Sanity check by model randomization (Adebayo et al., NeurIPS 2018).

Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity Checks for Saliency Maps",
NeurIPS 2018: if an explanation explains the *model*, it must change when the model's
learned weights are destroyed. Re-initialise the layers one after another from the top
(a *cascade*), or one at a time, explain the same images again and measure how similar
the maps stay (Spearman rank correlation). Methods whose maps barely change (guided
backprop, in their study) show the input more than the model.

Everything happens on a copy of the model: the user's model, its weights and the global
random state are left as they were.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._checks import check_int
from keras_viz._model import ModelInfo, check_backend, check_model, find_layer, is_container, iter_layers
from keras_viz.explainers.base import Explainer

__all__ = ["RandomizationResult", "model_randomization", "rank_correlation", "randomizable_layers"]


# --------------------------------------------------------------------------- rank correlation


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..P-1 of a 1-D array; tied values share the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (starts + (counts - 1) / 2.0)[inverse.reshape(-1)]


def rank_correlation(a: Any, b: Any) -> np.ndarray:
    """Spearman rank correlation between ``a[i]`` and ``b[i]`` for every sample ``i``.

    Each sample's values (all axes after the first, flattened) are ranked, ties taking the
    mean of their ranks, and the Pearson correlation of the two rank vectors is returned.
    A constant sample has no ranking: its correlation with a non-constant one is reported
    as 0 (nothing in common), and two constant samples correlate 1 (the same, empty,
    ranking), so a map compared with itself always gives 1.

    Args:
        a: ``(N, ...)`` array.
        b: array of the same shape.

    Returns:
        ``(N,)`` float64 array in ``[-1, 1]``.

    Raises:
        ValueError: shapes differ, an array is empty or holds NaN.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"`a` and `b` must have the same shape; received {a.shape} and {b.shape}.")
    if a.ndim < 2 or a.shape[0] == 0 or a[0].size == 0:
        raise ValueError(f"`a` and `b` must be non-empty batches (N, ...); received shape {a.shape}.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("`a` and `b` must not hold NaN or infinite values.")
    result = np.empty(len(a))
    for index, (x, y) in enumerate(zip(a.reshape(len(a), -1), b.reshape(len(b), -1))):
        rx, ry = _average_ranks(x), _average_ranks(y)
        rx, ry = rx - rx.mean(), ry - ry.mean()
        norm = np.sqrt((rx * rx).sum() * (ry * ry).sum())
        if norm == 0:
            result[index] = 1.0 if not rx.any() and not ry.any() else 0.0
        else:
            result[index] = float(np.clip((rx * ry).sum() / norm, -1.0, 1.0))
    return result


# --------------------------------------------------------------------------- the copy


@contextlib.contextmanager
def _random_state_kept() -> Iterator[None]:
    """Restores Python's and NumPy's global random state (building layers draws seeds from it)."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _weighted_leaves(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """``path -> layer`` for the layers that own weights directly (leaves of the layer tree)."""
    return {
        path: layer
        for path, layer in iter_layers(model)
        if layer.weights and not is_container(layer)
    }


def _copy_model(
    model: keras.Model, sample: Any, clone: Callable[[keras.Model], keras.Model] | None
) -> tuple[keras.Model, dict[str, keras.layers.Layer]]:
    """A copy of ``model`` with the same weights, checked to compute the same outputs.

    Returns the copy and ``path in model -> the copy's layer`` for the layers with weights.
    """
    with _random_state_kept():
        try:
            copy = clone(model) if clone is not None else keras.models.clone_model(model)
        except Exception as error:  # clone_model raises many kinds for subclassed models
            raise ValueError(
                f"model_randomization works on a copy of the model, and keras.models.clone_model "
                f"could not copy {type(model).__name__} {model.name!r} ({type(error).__name__}: "
                f"{error}). Give the model class get_config()/from_config(), or pass "
                f"clone=<function model -> new model of the same architecture>."
            ) from error
        if not isinstance(copy, keras.Model) or copy is model:
            raise ValueError("`clone` must return a new keras.Model of the same architecture, not the model itself.")
        if not copy.built or not copy.weights:
            copy(sample, training=False)
    pairs = _pair_layers(model, copy)
    for path, layer in _weighted_leaves(model).items():
        for source, variable in zip(layer.weights, pairs[path].weights):
            variable.assign(source)
    before = tf.nest.flatten(model(sample, training=False))
    after = tf.nest.flatten(copy(sample, training=False))
    if len(before) != len(after) or not all(
        np.allclose(np.asarray(x, np.float32), np.asarray(y, np.float32), rtol=1e-4, atol=1e-5)
        for x, y in zip(before, after)
    ):
        raise ValueError(
            f"The copy of {model.name!r} computes other outputs than the model with the same weights "
            f"(its configuration does not describe it fully?); pass clone=<function model -> new model>."
        )
    return copy, pairs


def _signature(layer: keras.layers.Layer) -> tuple:
    return type(layer), tuple(tuple(w.shape) for w in layer.weights)


def _pair_layers(model: keras.Model, copy: keras.Model) -> dict[str, keras.layers.Layer]:
    """``path in model -> the copy's layer``, by path, or by position when names differ.

    Subclassed models name their layers automatically (``conv2d``, ``conv2d_1``...), so a
    copy may carry other names; the layers then pair up in order, if types and weight
    shapes agree.
    """
    originals, copies = _weighted_leaves(model), _weighted_leaves(copy)
    if set(originals) == set(copies):
        pairs = {path: copies[path] for path in originals}
    elif len(originals) == len(copies):
        pairs = dict(zip(originals, copies.values()))
    else:
        raise ValueError(
            f"The copy of {model.name!r} has {len(copies)} layers with weights, the model "
            f"{len(originals)}; pass clone=<function model -> new model of the same architecture>."
        )
    for path, layer in originals.items():
        if _signature(layer) != _signature(pairs[path]):
            raise ValueError(
                f"The copy's layer for {path!r} differs from the model's (type or weight shapes); "
                f"pass clone=<function model -> new model of the same architecture>."
            )
    return pairs


def _first_sample(images: Any) -> Any:
    """The first sample of ``images`` (an array, or a list/dict for multi-input models)."""
    if isinstance(images, tf.data.Dataset):
        raise TypeError("`images` must be arrays (the same samples are explained at every step), not a dataset.")
    if isinstance(images, (list, tuple)) and images and all(hasattr(a, "shape") for a in images):
        return [tf.constant(np.asarray(a)[:1]) for a in images]
    if isinstance(images, dict):
        return {key: tf.constant(np.asarray(a)[:1]) for key, a in images.items()}
    array = np.asarray(images)
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(f"`images` must be a non-empty batch (N, ...); received shape {array.shape}.")
    return tf.constant(array[:1])


def randomizable_layers(model: keras.Model, images: Any) -> list[str]:
    """Paths of the layers that own weights, from the output down (the cascade order).

    The order is that of the model's forward pass on ``images[:1]``, reversed; layers that
    own weights but never run are left out.
    """
    return _order(_weighted_leaves(model), ModelInfo(model, _first_sample(images)))


def _order(leaves_by_path: dict[str, keras.layers.Layer], info: ModelInfo) -> list[str]:
    """Paths of ``leaves_by_path`` in reverse order of their first call in the probe."""
    leaves = {id(layer): path for path, layer in leaves_by_path.items()}
    seen: list[str] = []
    for call in info.calls:
        path = leaves.get(id(call.layer))
        if path is not None and path not in seen:
            seen.append(path)
    return seen[::-1]


# --------------------------------------------------------------------------- re-initialisation

# Variable name -> the layer attributes that may hold its initializer, in order.
_INITIALIZER_ATTRIBUTES = {
    "kernel": ("kernel_initializer", "depthwise_initializer"),
    "recurrent_kernel": ("recurrent_initializer",),
    "depthwise_kernel": ("depthwise_initializer",),
    "pointwise_kernel": ("pointwise_initializer",),
}


def _initializer(layer: keras.layers.Layer, variable: Any, seed: int) -> Callable[..., Any] | None:
    """The layer's own initializer for ``variable``, re-seeded with ``seed``; None if unknown."""
    name = variable.name.split("/")[-1].split(":")[0]
    for attribute in (*_INITIALIZER_ATTRIBUTES.get(name, ()), f"{name}_initializer"):
        initializer = getattr(layer, attribute, None)
        if initializer is None:
            continue
        try:
            config = keras.initializers.serialize(keras.initializers.get(initializer))
        except (ValueError, TypeError):
            continue
        if isinstance(config, dict) and isinstance(config.get("config"), dict) and "seed" in config["config"]:
            config["config"]["seed"] = seed  # a fixed seed: drawn statelessly, no global state used
        return keras.initializers.deserialize(config)
    return None


def _random_values(layer: keras.layers.Layer, variable: Any, seed: int) -> np.ndarray:
    """Fresh values for ``variable``: its initializer, or a Gaussian of the trained mean and std."""
    shape, dtype = tuple(variable.shape), variable.dtype
    initializer = _initializer(layer, variable, seed)
    if initializer is not None:
        return np.asarray(initializer(shape, dtype=dtype))
    trained = np.asarray(variable, np.float64)
    generator = np.random.default_rng(seed)
    return generator.normal(trained.mean(), trained.std() or 1.0, size=shape).astype(np.asarray(variable).dtype)


# --------------------------------------------------------------------------- the check


@dataclasses.dataclass
class RandomizationResult:
    """The result of :func:`model_randomization`.

    Attributes:
        method: the explainer's method name (``"grad_cam"``, ...).
        layers: paths of the randomized layers, from the output down. With
            ``cascade=True`` row ``i`` of ``correlations`` has layers ``0..i`` randomized;
            with ``cascade=False`` only layer ``i``.
        correlations: ``(L, N)`` Spearman rank correlation between each sample's map on
            the trained model and on the randomized copy.
        cascade: whether the randomization cascaded.
        absolute: whether maps were compared by their absolute values.
        maps: with ``return_maps=True``, ``(L + 1, N, ...)``: the trained maps, then the
            maps after each randomization; otherwise None.
    """

    method: str
    layers: list[str]
    correlations: np.ndarray
    cascade: bool = True
    absolute: bool = True
    maps: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        """``(L,)`` mean correlation over the samples at each step."""
        return np.nanmean(self.correlations, axis=1)

    @property
    def final(self) -> float:
        """Mean correlation after the last step (every layer randomized, for a cascade)."""
        return float(self.mean[-1])


def _factory(explainer_class: Any) -> Callable[..., Explainer]:
    if isinstance(explainer_class, Explainer):
        raise TypeError(
            f"`explainer_class` must be an explainer class (kv.GradCAM) or a callable "
            f"model -> explainer, not an explainer built for a model ({explainer_class!r}): the "
            f"check builds its own for the randomized copy."
        )
    if isinstance(explainer_class, type) and not issubclass(explainer_class, Explainer):
        raise TypeError(f"`explainer_class` must be a keras_viz explainer class; received {explainer_class!r}.")
    if not callable(explainer_class):
        raise TypeError(f"`explainer_class` must be an explainer class; received {explainer_class!r}.")
    return explainer_class


def _select(model: keras.Model, order: list[str], layers: Sequence[Any] | None) -> list[str]:
    """The paths of ``layers`` (looked up in the user's ``model``), in cascade order."""
    if layers is None:
        return order
    if isinstance(layers, (str, int)) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"`layers` must be a non-empty list of layer names, paths or indices; received {layers!r}.")
    paths = {id(layer): path for path, layer in _weighted_leaves(model).items()}
    chosen = []
    for reference in layers:
        layer = find_layer(model, reference, argument="layers")
        if id(layer) not in paths:
            raise ValueError(
                f"`layers` names {reference!r}, which owns no weights of its own (or never runs); "
                f"layers that can be randomized: {', '.join(order)}."
            )
        chosen.append(paths[id(layer)])
    return [path for path in order if path in chosen]  # top-down, whatever the order given


def model_randomization(
    explainer_class: Any,
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    cascade: bool = True,
    absolute: bool = True,
    seed: int = 0,
    layers: Sequence[Any] | None = None,
    clone: Callable[[keras.Model], keras.Model] | None = None,
    return_maps: bool = False,
    **explainer_options: Any,
) -> RandomizationResult:
    """Model-parameter randomization test (Adebayo et al., "Sanity Checks for Saliency Maps").

    The model is copied (``keras.models.clone_model``, weights copied and the copy checked
    to compute the same outputs); the explainer explains ``images`` on the trained copy,
    then the copy's layers that own weights are re-initialised, from the output down, and
    the images are explained again after each one. With ``cascade=True`` layers stay
    randomized as the cascade goes down (after the last step the whole network is random);
    with ``cascade=False`` each layer is randomized alone and restored afterwards. Each
    variable is re-drawn from its layer's own initializer (seeded with ``seed``; a layer
    without a known initializer gets a Gaussian with its trained mean and standard
    deviation). Classes stay those explained on the trained model (its predicted class
    when ``targets`` is None). The user's model and the global random state are not touched.

    Args:
        explainer_class: an explainer class (``kv.Saliency``) or a callable
            ``model -> explainer`` (``functools.partial(kv.SmoothGrad, samples=8)``).
        model: a Keras model of any kind. A subclassed model is copied through its
            ``get_config``/``from_config``; pass ``clone=`` when that cannot rebuild it.
        images: the inputs to explain (as for the explainer).
        targets: the classes to explain (as for the explainer); None: the predicted class.
        cascade: cascading (default) or independent (one layer at a time) randomization.
        absolute: compare ``|map|`` (default, as Adebayo et al.'s main figures): a method
            whose sign flips but whose magnitude stays counts as unchanged.
        seed: seed of the re-initialisation.
        layers: the layers to randomize (names, paths or indices; default every layer that
            owns weights), always processed from the output down.
        clone: ``model -> new model of the same architecture`` (its weights are then copied
            over), for models ``keras.models.clone_model`` cannot copy.
        return_maps: keep every map in the result (for pictures of the cascade).
        **explainer_options: passed to the explainer (``layer=``, ``reduce=``, ...).

    Returns:
        A :class:`RandomizationResult` with ``layers`` and ``correlations`` ``(L, N)``.

    Raises:
        ValueError: the model cannot be copied faithfully, or a bad argument.
        TypeError: ``explainer_class`` is not an explainer class or factory.

    Example:
        >>> result = kv.metrics.model_randomization(kv.GradCAM, model, x[:16], y[:16])
        >>> result.layers, result.mean      # a faithful method falls towards 0
    """
    check_backend()
    check_model(model)
    factory = _factory(explainer_class)
    check_int(seed, "seed", minimum=0)
    sample = _first_sample(images)

    copy, pairs = _copy_model(model, sample, clone)
    order = _select(model, _order(pairs, ModelInfo(copy, sample)), layers)
    if not order:
        raise ValueError(f"Model {model.name!r} has no layer with weights to randomize.")
    explainer = factory(copy, **explainer_options)
    trained = explainer.explain(images, targets)
    fixed = trained.classes if trained.classes is not None else targets

    def prepared(maps: Any) -> np.ndarray:
        array = np.asarray(tf.nest.flatten(maps)[0], np.float64)
        return np.abs(array) if absolute else array

    reference = prepared(trained.maps)
    leaves = pairs  # path in the user's model -> the copy's layer
    saved = {path: [np.asarray(v) for v in leaves[path].weights] for path in order}
    rows, kept = [], [reference] if return_maps else []
    for step, path in enumerate(order):
        layer = leaves[path]
        if not cascade and step > 0:  # restore the layer randomized in the previous step
            for variable, values in zip(leaves[order[step - 1]].weights, saved[order[step - 1]]):
                variable.assign(values)
        for offset, variable in enumerate(layer.weights):
            variable.assign(_random_values(layer, variable, int(seed) * 7919 + 97 * step + offset))
        maps = prepared(explainer(images, fixed))
        rows.append(rank_correlation(reference, maps))
        if return_maps:
            kept.append(maps)
    return RandomizationResult(
        method=getattr(explainer, "method", type(explainer).__name__),
        layers=list(order),
        correlations=np.stack(rows),
        cascade=bool(cascade),
        absolute=bool(absolute),
        maps=np.stack(kept) if return_maps else None,
    )
