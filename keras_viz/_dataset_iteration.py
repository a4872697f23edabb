"""Iterating a ``tf.data.Dataset`` from Python without waiting for its iterator's teardown.

Deleting a tf.data iterator (TensorFlow 2.21, autotuning on, the default) blocks until the
autotuner's background thread next wakes up. Its wake-ups come at growing intervals
(about 0.63, 1.27, 2.55, 5.1 s ... after the iterator was made), so a pass over a dataset
that took 0.7 s returns after 1.27 s and one of 2.8 s after 5.1 s: up to twice the
pass, for nothing. :func:`elements` hands the finished iterator to a helper thread that
drops it there; the wait then costs no one (the thread releases the GIL while it waits).
The thread is not a daemon, so the interpreter still ends only after the teardown, as
it would have done without it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import tensorflow as tf

__all__ = ["elements"]


def elements(dataset: tf.data.Dataset) -> Iterator[Any]:
    """Yields the elements of ``dataset``; once done (or closed early) its iterator is
    deleted on a helper thread."""
    holder = [iter(dataset)]
    try:
        yield from holder[0]
    finally:
        threading.Thread(target=holder.clear, name="keras-viz-dataset-teardown").start()
