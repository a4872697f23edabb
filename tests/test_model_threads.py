"""The scoped model overrides under threads (issue 10 review).

Explaining patches layers for the duration of a pass (a recorder's ``call`` wrapper, a
linear activation in place of the final softmax, switchable ReLUs). Two threads doing so
on one model, or one explaining while another calls ``model(x)``, must neither leave a
wrapper behind, nor change what ``model(x)`` returns, nor record each other's calls.
A layer that sleeps during eager calls keeps every override in place long enough for the
threads to overlap.
"""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_viz as kv
from keras_viz import _model
from keras_viz._model import ModelInfo, iter_layers

THREADS = 4


class Slow(keras.layers.Layer):
    """Identity that takes a few milliseconds when run eagerly."""

    def call(self, x):
        if tf.executing_eagerly():
            time.sleep(0.002)
        return x


def _model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = Slow(name="slow")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


X = np.random.default_rng(0).uniform(size=(2, 12, 12, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    return _model()


def _instance_state(model):
    """What the overrides touch: ``call`` and ``activation`` in each layer's instance dict."""
    return {
        path: (layer.__dict__.get("call"), layer.__dict__.get("activation"))
        for path, layer in [("", model), *iter_layers(model)]
    }


def _run_threads(target, count=THREADS):
    errors = []

    def guarded(index):
        try:
            target(index)
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _eager(explainer):
    explainer.EAGER_CALLS = 10**6  # every call runs eagerly, patching layers as it goes
    return explainer


def test_concurrent_explanations_leave_no_override_behind(model):
    before = _instance_state(model)
    expected = {
        "saliency": _eager(kv.Saliency(model))(X, targets=[0, 1]),
        "grad_cam": _eager(kv.GradCAM(model, layer="conv"))(X, targets=[0, 1]),
        "guided": kv.GuidedBackprop(model)(X, targets=[0, 1]),
    }

    def explain(index):
        for round in range(3):
            name = ("saliency", "grad_cam", "guided")[(index + round) % 3]
            explainer = {
                "saliency": lambda: _eager(kv.Saliency(model)),
                "grad_cam": lambda: _eager(kv.GradCAM(model, layer="conv")),
                "guided": lambda: kv.GuidedBackprop(model),  # traced under the ReLU override
            }[name]()
            np.testing.assert_allclose(explainer(X, targets=[0, 1]), expected[name], rtol=1e-5, atol=1e-6)

    _run_threads(explain)
    after = _instance_state(model)
    assert after == before
    assert all(call is None for call, _ in after.values())  # no `call` wrapper left on any layer


def test_overrides_are_invisible_to_other_threads(model):
    """While one thread holds every kind of override open, another calls the model as usual."""
    from keras_viz._model import LogitsSource, LogitsTap, intercept, patched_attribute
    from keras_viz.backprop import relu_override

    head = model.get_layer("head")
    reference = np.asarray(model(X, training=False))
    recorded, inside, finished = [], threading.Event(), threading.Event()
    tap = LogitsTap(LogitsSource(head, "activation"))

    def hold(_):
        record = lambda layer, outputs, args, kwargs: recorded.append(layer.name) or outputs  # noqa: E731
        with relu_override(model), tap.active(), intercept([l for _, l in iter_layers(model)], record):
            with patched_attribute(head, "activation", keras.activations.linear):  # the bare form
                inside.set()
                finished.wait(timeout=10)
                assert recorded == []  # nothing from the other thread
                model(X, training=False)  # this thread does see its overrides
                assert recorded.count("head") == 1 and tap.logits is not None

    worker = threading.Thread(target=hold, args=(0,))
    worker.start()
    try:
        assert inside.wait(timeout=10)
        for _ in range(3):
            np.testing.assert_allclose(np.asarray(model(X, training=False)), reference, rtol=1e-6)
        assert tap.logits is None  # the other thread's head call did not feed the tap
    finally:
        finished.set()
        worker.join(timeout=10)
    assert recorded.count("head") == 1
    assert all(call is None for call, _ in _instance_state(model).values())


def test_explaining_while_another_thread_calls_the_model(model):
    reference = np.asarray(model(X, training=False))
    expected = _eager(kv.Saliency(model))(X, targets=[0, 1])
    done = threading.Event()
    maps = []

    def explain(_):
        try:
            explainer = _eager(kv.Saliency(model))  # scores taken before the softmax, eagerly: a tapped head
            for _ in range(6):
                maps.append(explainer(X, targets=[0, 1]))
        finally:
            done.set()

    seen = []
    worker = threading.Thread(target=explain, args=(0,))
    worker.start()
    while not done.is_set():
        seen.append(np.asarray(model(X, training=False)))
    worker.join()
    assert len(maps) == 6 and seen
    for result in maps:
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    for outputs in seen:
        np.testing.assert_allclose(outputs, reference, rtol=1e-5, atol=1e-6)


def test_a_probe_records_only_its_own_calls(model):
    expected = len(ModelInfo(model, X[:1]).calls)
    stop = threading.Event()

    def call_model(_):
        while not stop.is_set():
            model(X, training=False)

    worker = threading.Thread(target=call_model, args=(0,))
    worker.start()
    try:
        counts = [len(ModelInfo(model, X[:1]).calls) for _ in range(6)]
    finally:
        stop.set()
        worker.join()
    assert counts == [expected] * 6
    assert all(call is None for call, _ in _instance_state(model).values())


def test_overrides_from_two_threads_nest_and_unwind(model):
    """Thread B patches a layer while thread A's patch of it is in place: both unwind cleanly."""
    layer = model.get_layer("head")
    a_inside, b_done = threading.Event(), threading.Event()

    def thread_a(_):
        with _model.intercept([layer], lambda l, out, args, kwargs: out):
            a_inside.set()
            b_done.wait(timeout=5)  # A's patch stays in place while B runs (or waits)
            time.sleep(0.01)

    def thread_b(_):
        a_inside.wait(timeout=5)
        try:
            with _model.intercept([layer], lambda l, out, args, kwargs: out):
                pass
        finally:
            b_done.set()

    threads = [threading.Thread(target=f, args=(0,)) for f in (thread_a, thread_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert "call" not in layer.__dict__


def test_relu_overrides_from_two_threads_each_swap_every_relu(model):
    from keras_viz.backprop import relu_override

    with relu_override(model) as expected:
        pass
    assert expected == 2  # conv's activation="relu" and the ReLU layer
    counts, a_inside, a_may_leave = [], threading.Event(), threading.Event()

    def thread_a(_):
        with relu_override(model) as count:
            counts.append(count)
            a_inside.set()
            a_may_leave.wait(timeout=5)

    def thread_b(_):
        a_inside.wait(timeout=5)
        timer = threading.Timer(0.05, a_may_leave.set)  # B asks while A's swaps are in place
        timer.start()
        with relu_override(model) as count:
            counts.append(count)

    _run_threads(lambda i: (thread_a, thread_b)[i](i), count=2)
    assert counts == [expected, expected]
    assert all(call is None for call, _ in _instance_state(model).values())
    assert _instance_state(model)[("conv")][1] is keras.activations.relu
