"""The user's model, its training state and the global random streams are never changed."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_viz as kv
from tests.conftest import build, sample_inputs
from tests.explainers.test_contract import EXPLAINERS


def _snapshot(model, x):
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        out = model(xt, training=False)
        loss = tf.reduce_sum(out * tf.range(1.0, out.shape[-1] + 1.0))
    grads = tape.gradient(loss, [xt, *model.trainable_variables])
    layer_dicts = {}
    for path, layer in kv.iter_layers(model):
        layer_dicts[path] = {k: v for k, v in layer.__dict__.items() if k in ("call", "activation")}
    return {
        "weights": [w.numpy().copy() for w in model.weights],  # includes BatchNorm statistics
        "outputs": out.numpy(),
        "grads": [g.numpy() for g in grads],
        "layer_attrs": layer_dicts,
    }


@pytest.mark.parametrize("kind", ["functional", "nested", "subclassed"])
def test_model_unchanged_by_every_explainer(tmp_path, kind):
    model = build(kind, str(tmp_path))
    x = sample_inputs(kind, n=4)
    if kind == "functional":  # give BatchNorm non-trivial statistics first
        bn = model.get_layer("bn1")
        bn.moving_mean.assign(np.linspace(-0.5, 0.5, 6).astype(np.float32))
        bn.moving_variance.assign(np.linspace(0.5, 2.0, 6).astype(np.float32))
    before = _snapshot(model, x)
    for name, make in EXPLAINERS.items():
        make(model, batch_size=2)(x, targets=[0, 1, 2, 1])
    after = _snapshot(model, x)
    for a, b in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(before["outputs"], after["outputs"])
    for a, b in zip(before["grads"], after["grads"]):
        np.testing.assert_array_equal(a, b)
    assert before["layer_attrs"] == after["layer_attrs"]
    for _, layer in kv.iter_layers(model):
        assert "call" not in layer.__dict__  # no leftover wrapper


def test_no_global_random_state_consumed(tmp_path):
    model = build("functional", str(tmp_path))
    x = sample_inputs("functional", n=3)

    def draws():
        return (
            random.random(),
            np.random.rand(),
            float(keras.random.uniform(())),
            float(tf.random.uniform(())),
        )

    keras.utils.set_random_seed(123)
    expected = draws()
    keras.utils.set_random_seed(123)
    for make in EXPLAINERS.values():
        make(model, batch_size=2)(x, targets=None)
    assert draws() == expected


def test_training_continues_identically_after_explaining(tmp_path):
    """fit() after an explainer ran gives the same weights as fit() without it."""
    x = sample_inputs("functional", n=8)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])

    def train(explain_first: bool):
        model = build("functional", str(tmp_path))
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        if explain_first:
            kv.GuidedGradCAM(model)(x, targets=y)
            kv.SmoothGrad(model, samples=2)(x, targets=y)
        keras.utils.set_random_seed(5)
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=True)
        return [w.numpy() for w in model.weights]

    for a, b in zip(train(False), train(True)):
        np.testing.assert_array_equal(a, b)
