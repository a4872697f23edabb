"""Eager first, then one traced graph: the function cache of explainers, groups and feature maps.

A function of a model pass (an explainer's body, a group's shared pass, a feature-map
reader) is keyed by what fixes its graph (input signature, target kind, ...). Its first
``eager_calls`` calls run the body eagerly: tracing costs tens of milliseconds per model
call it contains, and the first run of a graph as much again, which a function used once
or twice never earns back. The next call traces it once into a concrete function, kept
for every later call. At most ``max_functions`` functions (and as many eager counts) are
kept per cache, the least recently used going first.

Eager runs and traces patch the model's layers while they run (see
:mod:`keras_viz._intercept`), so both hold :data:`~keras_viz._intercept.MODEL_LOCK`;
running a traced function does not.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import tensorflow as tf

from keras_viz._intercept import MODEL_LOCK

__all__ = ["EAGER_CALLS", "MAX_FUNCTIONS", "FunctionCache", "run_eagerly", "short_stream"]

EAGER_CALLS = 2
"""Calls of a function run eagerly before it is traced, unless its owner says otherwise."""

MAX_FUNCTIONS = 32
"""Functions (and eager call counts) kept per cache."""


def run_eagerly(body: Callable[..., Any]) -> Callable[..., Any]:
    """``body`` called on tensors without a graph, like the concrete function it would become."""

    def call(*args):
        with MODEL_LOCK:
            return body(*[tf.convert_to_tensor(a) for a in args])

    return call


def short_stream(data: Any, batch_size: int) -> bool:
    """Whether a stream (:class:`keras_viz._inputs.Inputs`) has at most :data:`EAGER_CALLS`
    batches, so that running them eagerly may save the trace. A longer stream (or a dataset
    of unknown length) is traced at once: it would be traced at its third batch anyway, and
    each eager batch costs several graph batches."""
    if data.count is not None:
        batches = -(-data.count // batch_size)
    else:
        batches = int(data.dataset.cardinality())  # elements may yet be split: at least this many
        if batches < 0:  # infinite or unknown
            return False
    return batches <= EAGER_CALLS


class FunctionCache:
    """Functions by key: eager for their first calls, then traced once (module docstring).

    Attributes:
        trace_count: graphs traced so far.
    """

    def __init__(self, max_functions: int = MAX_FUNCTIONS):
        self.max_functions = int(max_functions)
        self._functions: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._calls: collections.OrderedDict[Hashable, int] = collections.OrderedDict()
        self.trace_count = 0

    def __len__(self) -> int:
        return len(self._functions)

    def values(self) -> list[Any]:
        """The traced functions kept, least recently used first."""
        return list(self._functions.values())

    def is_new(self, key: Hashable) -> bool:
        """Whether ``key`` was neither traced nor run (as far as the cache remembers)."""
        return key not in self._functions and key not in self._calls

    def get(
        self,
        key: Hashable,
        body: Callable[..., Any],
        specs: Sequence[tf.TensorSpec],
        *,
        eager_calls: int = EAGER_CALLS,
        on_trace: Callable[[Any], None] | None = None,
    ) -> Callable[..., Any]:
        """The function for ``key``: ``body`` run eagerly for its first ``eager_calls`` calls,
        then traced once with ``specs`` (``on_trace`` sees each new concrete function)."""
        with MODEL_LOCK:
            if key in self._functions:
                self._functions.move_to_end(key)
                return self._functions[key]
            calls = self._calls.pop(key, 0)
            if calls < eager_calls:
                self._calls[key] = calls + 1
                _bound(self._calls, self.max_functions)
                return run_eagerly(body)
            function = tf.function(body, autograph=False).get_concrete_function(*specs)
            self.trace_count += 1
            if on_trace is not None:
                on_trace(function)
            self._functions[key] = function
            _bound(self._functions, self.max_functions)
            return function


def _bound(entries: collections.OrderedDict, size: int) -> None:
    while len(entries) > size:
        entries.popitem(last=False)
