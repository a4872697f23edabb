"""Dataset passes hand their finished iterator to a helper thread (TensorFlow's teardown waits)."""

from __future__ import annotations

import threading

import pytest
import tensorflow as tf

from keras_viz._dataset_iteration import elements


@pytest.fixture
def teardowns(monkeypatch):
    """The helper threads started during the test, each joined (its iterator deleted) at the end."""
    started: list[threading.Thread] = []

    class Recorded(threading.Thread):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(threading, "Thread", Recorded)
    yield started
    for thread in started:
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_elements_yields_the_dataset_and_deletes_its_iterator_on_a_helper_thread(teardowns):
    dataset = tf.data.Dataset.range(7).batch(3).prefetch(tf.data.AUTOTUNE)
    assert [v.numpy().tolist() for v in elements(dataset)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(teardowns) == 1 and teardowns[0].name == "keras-viz-dataset-teardown"
    assert not teardowns[0].daemon  # the interpreter still waits for the teardown at exit


def test_closing_early_releases_the_iterator_too(teardowns):
    stream = elements(tf.data.Dataset.range(100))
    assert int(next(stream)) == 0
    stream.close()
    assert len(teardowns) == 1
    assert [int(v) for v in elements(tf.data.Dataset.range(3))] == [0, 1, 2]  # a fresh pass works
    assert len(teardowns) == 2
