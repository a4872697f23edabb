"""Layer readers shared across calls: one trace per model, layer, reduction and input signature.

``kv.top_activations(model, ...)`` and friends are plain functions, called again and again on
the same model (every epoch of a callback, in a notebook). Each builds a
:class:`~keras_viz.activations.FeatureMaps` reader whose compiled functions are kept here,
in a ``WeakKeyDictionary`` keyed by the model object itself: a later call reuses the traced
graph, and the cache entry goes away with the model (the traced functions hold the model's
variables, not the model, so they do not keep it alive) or when the model's layers change.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import keras

from keras_viz._functions import FunctionCache
from keras_viz._model import LayerSnapshot, iter_layers
from keras_viz.activations import FeatureMaps

__all__ = ["cached", "layer_reader"]


class _ModelEntries:
    """The values cached for one model while it is made of the same layer objects."""

    def __init__(self, model: keras.Model):
        self.layers = LayerSnapshot.of(model)
        self.values: dict[Hashable, Any] = {}


_CACHE: "weakref.WeakKeyDictionary[keras.Model, _ModelEntries]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def layer_reader(
    model: keras.Model,
    layer: keras.layers.Layer,
    *,
    batch_size: int,
    transform: Callable[[Any], Any] | None,
    key: Hashable,
    fold: Callable[..., Any] | None = None,
) -> FeatureMaps:
    """A reader of ``layer`` whose traced functions are shared by every call with the same ``key``.

    ``key`` must describe ``transform`` and ``fold`` completely (their kind and parameters).
    """
    reader = FeatureMaps(model, [layer], batch_size=batch_size, transform=transform, fold=fold)
    reader._functions = cached(model, ("reader", layer, key), FunctionCache)
    return reader


def cached(model: keras.Model, key: Hashable, make: Callable[[], Any]) -> Any:
    """The value cached for ``model`` under ``key``, made once.

    A layer object in ``key`` stands for its position in the model (the cache holds
    nothing but the model weakly); every entry of a model is dropped when the model
    stops being made of the same layer objects (a layer popped, added or replaced), as
    the traced functions kept here ran its old structure.
    """
    with _LOCK:
        layers = [layer for _, layer in iter_layers(model)]
        entries = _CACHE.get(model)
        if entries is None or not entries.layers.matches(layers):
            entries = _CACHE[model] = _ModelEntries(model)
        key = tuple(
            ("layer", entries.layers.index(part)) if isinstance(part, keras.layers.Layer) else part
            for part in (key if isinstance(key, tuple) else (key,))
        )
        if key not in entries.values:
            entries.values[key] = make()
        return entries.values[key]
