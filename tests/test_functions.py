"""One eager-then-trace policy, with bounded caches, for explainers, groups and feature maps."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_viz as kv
from keras_viz._functions import EAGER_CALLS, MAX_FUNCTIONS, FunctionCache
from tests.conftest import sample_inputs

SPEC = [tf.TensorSpec((None,), tf.float32)]


def _double(x):
    return 2.0 * x


def test_eager_for_the_first_calls_then_traced_once():
    cache = FunctionCache()
    kinds = []
    for _ in range(EAGER_CALLS + 3):
        function = cache.get("key", _double, SPEC)
        kinds.append(hasattr(function, "graph"))  # a concrete function has a graph
        np.testing.assert_array_equal(function(np.array([1.0, 2.0], np.float32)), [2.0, 4.0])
    assert kinds == [False] * EAGER_CALLS + [True] * 3
    assert cache.trace_count == 1 and len(cache) == 1
    assert cache.get("now", _double, SPEC, eager_calls=0) is cache.get("now", _double, SPEC)  # traced at once


def test_the_cache_is_bounded_least_recently_used_first():
    cache = FunctionCache(max_functions=2)
    for key in ("a", "b"):
        cache.get(key, _double, SPEC, eager_calls=0)
    cache.get("a", _double, SPEC)  # "a" used last: "b" goes first
    cache.get("c", _double, SPEC, eager_calls=0)
    assert len(cache) == 2 and not cache.is_new("a") and cache.is_new("b")
    for key in range(5):  # eager call counts are bounded too
        cache.get(("eager", key), _double, SPEC)
    assert len(cache._calls) == 2


def test_explainers_groups_and_feature_maps_share_the_policy(model_zoo):
    model = model_zoo["sequential"]
    x = sample_inputs("sequential", n=2)
    owners = [
        kv.Saliency(model),
        kv.ExplainerGroup([kv.Saliency(model), kv.GradCAM(model)]),
        kv.FeatureMaps(model, ["conv1"]),
    ]
    for owner in owners:
        assert isinstance(owner._functions, FunctionCache) and owner._functions.max_functions == MAX_FUNCTIONS
        counts = []
        for _ in range(EAGER_CALLS + 1):
            owner(x) if isinstance(owner, kv.FeatureMaps) else owner(x, targets=[0, 1])
            counts.append(owner.trace_count)
        assert counts == [0] * EAGER_CALLS + [1], type(owner).__name__


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True, "8", None])
def test_batch_size_is_validated_alike_everywhere(model_zoo, batch_size):
    model = model_zoo["sequential"]
    x = sample_inputs("sequential", n=2)
    # None means "the explainer's own" for these two, so they are given 0 instead
    or_zero = 0 if batch_size is None else batch_size
    makers = [
        (batch_size, lambda: kv.FeatureMaps(model, ["conv1"], batch_size=batch_size)),
        (batch_size, lambda: kv.top_activations(model, x, "conv1", batch_size=batch_size)),
        (or_zero, lambda: kv.explain_dataset(kv.Saliency(model), x, batch_size=or_zero)),
        (batch_size, lambda: kv.embeddings(model, x, "gap", batch_size=batch_size)),
        (or_zero, lambda: kv.ExplainerGroup([kv.Saliency(model)], batch_size=or_zero)),
        (batch_size, lambda: kv.optvis.score(model, kv.optvis.channel("conv1", 0), x, batch_size=batch_size)),
    ]
    if batch_size is not None:
        makers.append((batch_size, lambda: kv.Saliency(model, batch_size=batch_size)))
    for value, make in makers:
        # one rule: a value that is not an int is a TypeError; an int below 1 a ValueError
        error = ValueError if isinstance(value, int) and not isinstance(value, bool) else TypeError
        with pytest.raises(error, match=r"`batch_size` must be a positive int; received batch_size="):
            result = make()
            if hasattr(result, "__next__"):
                next(result)
