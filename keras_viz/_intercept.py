"""Scoped overrides of a model's layers, and the lock that serialises them.

keras-viz reaches inside a model during its own forward pass by replacing a layer
attribute for the duration of a ``with`` block: a layer's ``call`` routed through a hook
(:func:`intercept`, :class:`LayerRecorder`), a final softmax run linear, every ReLU
swapped for a switchable one. The user's layer objects are shared, so two rules make
this safe when several threads use one model:

* **One pass at a time.** Every override takes :data:`MODEL_LOCK`, a process-wide
  re-entrant lock, for as long as it is in place; eager explanation passes, traces
  and model probes hold it for their whole duration
  (:mod:`keras_viz._functions`, :func:`keras_viz._model.shared_model_info`). Overrides
  of one thread therefore nest and unwind in order, and an explanation pass never
  sees another thread's overrides: explanation passes of one process are serialised
  (graphs already traced run concurrently; they contain no override).
* **Invisible to other threads.** A callable override (a ``call``, an activation, an
  internal method) is installed as a dispatcher that runs the override in the thread
  that installed it, and what was there before in every other thread, so a thread
  calling ``model(x)`` while another explains gets its usual outputs and feeds no
  recorder. (A non-callable override, such as a flag, is visible to every thread while
  in place.)

Everything is restored in ``finally``: the layer's instance dict is left exactly as it
was, and ``object.__setattr__`` bypasses Keras' attribute tracking.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras

__all__ = ["MODEL_LOCK", "LayerRecorder", "OutputHook", "intercept", "patched_attribute"]

MODEL_LOCK = threading.RLock()
"""Held while any override is in place, and for whole eager passes, traces and probes."""

_MISSING = object()


@contextlib.contextmanager
def patched_attribute(obj: Any, name: str, value: Any) -> Iterator[None]:
    """Sets ``obj.<name> = value`` for the block (this thread only, for a callable).

    Holds :data:`MODEL_LOCK` for the block. A callable ``value`` is seen by the thread
    that entered the block; other threads keep calling what ``obj.<name>`` was before
    (see the module docstring). The instance dict is restored exactly on exit.
    """
    with MODEL_LOCK:
        previous = obj.__dict__.get(name, _MISSING)
        installed = value
        if callable(value) and not isinstance(value, (type, keras.layers.Layer)):
            before = getattr(obj, name, _MISSING)
            if before is not _MISSING and callable(before):
                installed = _this_thread_only(value, before)
        object.__setattr__(obj, name, installed)
        try:
            yield
        finally:
            if previous is _MISSING:
                obj.__dict__.pop(name, None)
            else:
                object.__setattr__(obj, name, previous)


def _this_thread_only(value: Callable[..., Any], others: Callable[..., Any]) -> Callable[..., Any]:
    """Calls ``value`` in the current thread and ``others`` in every other thread."""
    owner = threading.get_ident()

    def dispatch(*args, **kwargs):
        if threading.get_ident() == owner:
            return value(*args, **kwargs)
        return others(*args, **kwargs)

    return dispatch


OutputHook = Callable[[keras.layers.Layer, Any, tuple, dict], Any]


@contextlib.contextmanager
def intercept(
    layers: Sequence[keras.layers.Layer], hook: OutputHook, *, method: str = "call"
) -> Iterator[None]:
    """Routes every call of ``layers`` through ``hook(layer, outputs, args, kwargs)``.

    The hook returns the outputs to hand on (usually unchanged). Used to record a
    layer's output during the model's own forward pass, or to replace it. Only calls
    made by the thread that entered the block are routed (see the module docstring).

    Args:
        layers: the layers to route.
        hook: called after each call with the layer, what it returned, and the
            arguments it was called with.
        method: the method routed: ``"call"`` (default), or an internal method the
            layer's ``call`` invokes through ``self`` (attention capture routes
            ``MultiHeadAttention._compute_attention``).
    """
    with MODEL_LOCK, contextlib.ExitStack() as stack:
        for layer in dict.fromkeys(layers):  # unique, in order
            stack.enter_context(patched_attribute(layer, method, _hooked_call(layer, hook, method)))
        yield


def _hooked_call(layer: keras.layers.Layer, hook: OutputHook, method: str = "call") -> Callable[..., Any]:
    original = getattr(layer, method)

    def call(*args, **kwargs):
        return hook(layer, original(*args, **kwargs), args, kwargs)

    return call


class LayerRecorder:
    """Records the outputs of chosen layers during a forward pass.

    Example:
        >>> recorder = LayerRecorder([conv])
        >>> with recorder.active():
        ...     outputs = model(x)
        >>> features = recorder.output(conv)
    """

    def __init__(self, layers: Sequence[keras.layers.Layer]):
        self.layers = list(dict.fromkeys(layers))
        self._outputs: dict[int, list[Any]] = {}  # by id of a layer in self.layers (alive)
        self.tap: Any = None  # the LogitsTap of the same pass, when run eagerly

    def _hook(self, layer, outputs, args, kwargs):
        self._outputs.setdefault(id(layer), []).append(outputs)
        return outputs

    @contextlib.contextmanager
    def active(self) -> Iterator["LayerRecorder"]:
        self._outputs = {}
        with intercept(self.layers, self._hook):
            yield self

    def output(self, layer: keras.layers.Layer) -> Any:
        """The output of ``layer`` in the forward pass that just ran."""
        calls = self._outputs.get(id(layer), [])
        if not calls:
            raise ValueError(
                f"Layer {layer.name!r} was not called during the forward pass of the model, "
                f"so its output cannot be read. Choose a layer on the path from the inputs "
                f"to the outputs."
            )
        if len(calls) > 1:
            raise ValueError(
                f"Layer {layer.name!r} is called {len(calls)} times in one forward pass (a "
                f"shared layer); keras-viz cannot tell which call to explain. Choose a layer "
                f"that runs once."
            )
        return calls[0]
