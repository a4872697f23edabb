"""Modified backpropagation through ReLUs: deconvnet and guided backprop.

With ``f`` the ReLU's input and ``R`` the gradient arriving from above, the three
backward rules are (Springenberg et al. 2015, "Striving for Simplicity", Fig. 1):

* backprop:        ``(f > 0) · R``
* deconvnet:       ``(R > 0) · R``               (Zeiler & Fergus 2014)
* guided backprop: ``(f > 0) · (R > 0) · R``

:func:`relu_override` swaps every ReLU of a model (``activation="relu"`` on any layer,
``keras.layers.ReLU``, ``keras.layers.Activation("relu")``, nested models included)
for :func:`switchable_relu` while a function is traced. Its forward pass is the
ordinary ReLU; its backward rule is read when the gradient graph is *built*, from
:func:`backward_rule`. One forward pass can therefore feed gradients with different
rules (Grad-CAM's plain gradient and guided backprop's, for Guided Grad-CAM).
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf

from keras_viz._model import MODEL_LOCK, iter_layers, patched_attribute

RULES = ("backprop", "deconvnet", "guided")

_rule: contextvars.ContextVar[str] = contextvars.ContextVar("keras_viz_relu_rule", default="backprop")


@contextlib.contextmanager
def backward_rule(rule: str) -> Iterator[None]:
    """Selects the ReLU backward rule for gradients built inside the block."""
    if rule not in RULES:
        raise ValueError(f"Unknown backward rule {rule!r}; expected one of {', '.join(RULES)}.")
    token = _rule.set(rule)
    try:
        yield
    finally:
        _rule.reset(token)


def relu_gradient(rule: str, f: tf.Tensor, upstream: tf.Tensor, active: tf.Tensor) -> tf.Tensor:
    """The gradient a ReLU passes down under ``rule``.

    Args:
        rule: "backprop", "deconvnet" or "guided".
        f: the ReLU's input (unused by deconvnet, kept for a uniform signature).
        upstream: the incoming gradient ``R``.
        active: boolean mask of units where the forward ReLU passed its input.

    Returns:
        The gradient with respect to the ReLU input.
    """
    zeros = tf.zeros_like(upstream)
    if rule == "deconvnet":
        return tf.where(upstream > 0, upstream, zeros)
    if rule == "guided":
        return tf.where(tf.logical_and(active, upstream > 0), upstream, zeros)
    return tf.where(active, upstream, zeros)


def switchable_relu(x: tf.Tensor, max_value: float | None = None, threshold: float = 0.0) -> tf.Tensor:
    """A ReLU (optionally capped, as ReLU6) whose backward rule is :func:`backward_rule`'s.

    Args:
        x: the pre-activation.
        max_value: saturation value, as in ``keras.layers.ReLU(max_value=...)``.
        threshold: values at or below it are zeroed, as in ``keras.layers.ReLU``.

    Returns:
        ``relu(x)`` with a rule-dependent gradient.
    """

    if max_value is None and threshold == 0.0:
        return _plain_switchable_relu(x)

    @tf.custom_gradient
    def relu(f):
        cut = tf.cast(threshold, f.dtype)
        active = f > cut
        y = tf.where(active, f, tf.zeros_like(f))
        if max_value is not None:
            cap = tf.cast(max_value, f.dtype)
            y = tf.minimum(y, cap)
            active = tf.logical_and(active, f < cap)

        def grad(upstream):
            return relu_gradient(_rule.get(), f, upstream, active)

        return y, grad

    return relu(x)


SCOPE = "keras_viz_switchable_relu"
"""Name scope of the switchable ReLU's own ops, which :func:`unreached_relus` skips."""


@tf.custom_gradient
def _plain_switchable_relu(f):
    """The common case, on the native ``Relu``/``ReluGrad`` kernels: as fast as a plain ReLU.

    ``ReluGrad(R, y) = (y > 0) · R`` with ``y = relu(f)`` (so ``y > 0`` exactly where
    ``f > 0``); guided backprop is ``ReluGrad(relu(R), y)`` and deconvnet ``relu(R)``.
    Taking the gradient from the output, as TensorFlow's own ReLU does, keeps
    Conv2D + BiasAdd + ReLU fusable.
    """
    with tf.name_scope(SCOPE):
        y = tf.nn.relu(f)

    def grad(upstream):
        with tf.name_scope(SCOPE):
            rule = _rule.get()
            if rule == "deconvnet":
                return tf.nn.relu(upstream)
            if rule == "guided":
                upstream = tf.nn.relu(upstream)
            return tf.raw_ops.ReluGrad(gradients=upstream, features=y)

    return y, grad


def _relu_activation(x, *args, **kwargs):
    return switchable_relu(x)


def _relu6_activation(x, *args, **kwargs):
    return switchable_relu(x, max_value=6.0)


_RELUS = (keras.activations.relu, keras.ops.relu, tf.nn.relu)
_RELU6S = (keras.activations.relu6, keras.ops.relu6, tf.nn.relu6)


def _swap_for(activation: Any):
    """The switchable replacement for a ReLU-family activation function, else None.

    Matched by identity, so a user's own function that happens to be called ``relu``
    (a leaky variant, say) is left alone.
    """
    if any(activation is relu for relu in _RELUS):
        return _relu_activation
    if any(activation is relu6 for relu6 in _RELU6S):
        return _relu6_activation
    return None


def _relu_layer_call(layer: keras.layers.ReLU):
    max_value = None if layer.max_value is None else float(layer.max_value)
    threshold = float(layer.threshold)

    def call(inputs, *args, **kwargs):
        return switchable_relu(inputs, max_value=max_value, threshold=threshold)

    return call


@contextlib.contextmanager
def relu_override(model: keras.Model) -> Iterator[int]:
    """Replaces every ReLU of ``model`` by :func:`switchable_relu` for the block.

    Catches ``activation="relu"`` (or ``"relu6"``) on any layer, ``keras.layers.ReLU``
    with no negative slope and ``keras.layers.Activation("relu")``, at every depth of
    nested models. Everything is restored on exit. The model lock is held for the
    block, so the layers are read and swapped while no other thread's override is in
    place (see :mod:`keras_viz._intercept`); other threads keep the plain ReLUs.

    Yields:
        The number of ReLUs replaced.
    """
    with MODEL_LOCK, contextlib.ExitStack() as stack:
        count = 0
        for _, layer in iter_layers(model):
            if isinstance(layer, keras.layers.ReLU):
                if float(layer.negative_slope) == 0.0:
                    stack.enter_context(patched_attribute(layer, "call", _relu_layer_call(layer)))
                    count += 1
                continue
            swap = _swap_for(layer.__dict__.get("activation"))
            if swap is not None:
                stack.enter_context(patched_attribute(layer, "activation", swap))
                count += 1
        yield count


def unreached_relus(graph: tf.Graph) -> int:
    """Counts ReLU ops in a traced graph that :func:`relu_override` did not replace.

    The switchable ReLU creates its ops under the name scope :data:`SCOPE` (or builds
    them from ``Select``/``Minimum`` ops when capped or thresholded), so any other
    ``Relu`` or ``Relu6`` op came from a direct ``tf.nn.relu`` / ``keras.ops.relu`` call
    (typically inside a subclassed model's ``call``).
    """
    return sum(
        op.type in ("Relu", "Relu6") and SCOPE not in op.name for op in graph.get_operations()
    )


def warn_unreached(graph: tf.Graph, method: str) -> None:
    """Warns when some ReLUs keep the plain gradient in a modified-backprop method."""
    count = unreached_relus(graph)
    if count:
        warnings.warn(
            f"{method}: {count} ReLU operation(s) are called directly (e.g. tf.nn.relu or "
            f"keras.ops.relu inside a subclassed model's call()) and keep the plain backprop "
            f"rule. Use keras.layers.ReLU() or activation='relu' on the layer so keras-viz "
            f"can apply the {method} rule there.",
            stacklevel=3,
        )
