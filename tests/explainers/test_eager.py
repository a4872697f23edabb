"""The first calls of an explainer run without a graph: same answers as the traced graph.

``Explainer.EAGER_CALLS`` calls of a function run eagerly before it is traced. Class
scores must still be taken before the final softmax: eagerly there is no graph to read
them from, so the probe locates them by layer (``ModelInfo.logits_source``), or the
explainer traces at once.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import keras_viz as kv
from keras_viz._model import ModelInfo
from tests.conftest import sample_inputs
from tests.explainers.test_contract import EXPLAINERS, EXPECTED_ERRORS

EAGER_CAPABLE = sorted(name for name in EXPLAINERS if not getattr(kv, name).modified_relus)
KINDS = ["functional", "subclassed", "nested", "multi_output", "mixed_float16"]


def _explain(model, name, kind, x, eager_calls):
    options = {"output": "cls"} if kind == "multi_output" else {}
    explainer = EXPLAINERS[name](model, **options)
    explainer.EAGER_CALLS = eager_calls
    result = explainer.explain(x, targets=None)
    return explainer, result


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", EAGER_CAPABLE)
def test_eager_runs_match_the_traced_graph(model_zoo, name, kind):
    if (name, kind) in EXPECTED_ERRORS:
        pytest.skip("documented error")
    model = model_zoo[kind]
    x = sample_inputs(kind, n=3, seed=5)
    eager, first = _explain(model, name, kind, x, eager_calls=2)
    traced, second = _explain(model, name, kind, x, eager_calls=0)
    assert eager.trace_count == 0 and traced.trace_count >= 1
    np.testing.assert_array_equal(first.classes, second.classes)
    np.testing.assert_allclose(first.scores, second.scores, rtol=1e-4, atol=1e-5)  # logits, both ways
    maps_a, maps_b = tf.nest.flatten(first.maps), tf.nest.flatten(second.maps)
    for a, b in zip(maps_a, maps_b):
        scale = float(np.abs(b).max()) or 1.0
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * scale)


def _head_model(head):
    inputs = keras.Input((6,))
    return keras.Model(inputs, head(layers.Dense(4, name="scores")(layers.Dense(5, activation="relu")(inputs))))


class SoftmaxInCall(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(4)

    def call(self, x):
        return tf.nn.softmax(self.dense(x))


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: _head_model(layers.Softmax(name="probs")), ("probs", "input")),
        (lambda: _head_model(layers.Activation("sigmoid", name="probs")), ("probs", "activation")),
        (lambda: _head_model(lambda t: t), (None, "output")),  # the Dense scores are the output
        (lambda: _head_model(layers.Lambda(tf.nn.softmax)), None),  # unknown: always traced
        (SoftmaxInCall, None),
    ],
)
def test_logits_are_located_by_layer_or_the_explainer_traces(build, expected):
    model = build()
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    model(x)
    source = ModelInfo(model, x[:1]).logits_source(0)
    if expected is None:
        assert source is None
    else:
        assert (None if source.layer is None else source.layer.name, source.kind) == expected
    eager = kv.Saliency(model)
    first = eager.explain(x, targets=[0, 1, 2])
    traced = kv.Saliency(model)
    traced.EAGER_CALLS = 0
    second = traced.explain(x, targets=[0, 1, 2])
    assert eager.trace_count == (0 if expected is not None else 1)
    np.testing.assert_allclose(first.scores, second.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.maps, second.maps, rtol=1e-4, atol=1e-6)
    if expected == ("probs", "activation"):  # the activation swapped for the eager pass is back
        assert model.get_layer("probs").activation.__name__ == "sigmoid"
        assert "activation" not in vars(model.get_layer("probs")) or vars(model.get_layer("probs"))[
            "activation"
        ] is keras.activations.get("sigmoid")


def test_a_layer_that_squashes_inside_is_not_trusted():
    inputs = keras.Input((5, 2))
    model = keras.Model(inputs, layers.LSTM(3, activation="sigmoid", name="lstm")(inputs))
    x = np.random.default_rng(1).normal(size=(2, 5, 2)).astype(np.float32)
    assert ModelInfo(model, x[:1]).logits_source(0) is None  # the sigmoid is inside the cell
    explainer = kv.Saliency(model)
    explainer(x, targets=[0, 2])
    assert explainer.trace_count == 1  # traced at once, where the graph shows the ops
