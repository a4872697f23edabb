"""Layer readers shared across calls: one trace per model, layer, reduction and input signature.

``kv.top_activations(model, ...)`` and friends are plain functions, called again and again on
the same model (every epoch of a callback, in a notebook). Each builds a
:class:`~keras_viz.activations.FeatureMaps` reader whose compiled functions (and counts of
eager runs) are kept here, in a ``WeakKeyDictionary`` keyed by the model object itself: a
later call reuses the traced graph, and the cache entry goes away with the model (the traced
functions hold the model's variables, not the model, so they do not keep it alive).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any

import keras

from keras_viz.activations import FeatureMaps

__all__ = ["cached", "layer_reader"]

_CACHE: "weakref.WeakKeyDictionary[keras.Model, dict[Hashable, Any]]" = weakref.WeakKeyDictionary()


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
    reader._functions = cached(model, ("reader", id(layer), layer.name, key), dict)
    # Eager runs are counted across calls too, so a view called again and again on a short
    # stream (a callback's fixed inputs) is traced at its third call, as an explainer is.
    reader._calls = cached(model, ("reader calls", id(layer), layer.name, key), dict)
    return reader


def cached(model: keras.Model, key: Hashable, make: Callable[[], Any]) -> Any:
    """The value cached for ``model`` under ``key``, made once."""
    entries = _CACHE.setdefault(model, {})
    if key not in entries:
        entries[key] = make()
    return entries[key]
