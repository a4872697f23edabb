"""Model access that works on every kind of Keras model.

Everything here reaches inside a model *during its own forward pass*: a layer is
found by name, path or index (nested models included), and its output is read by
temporarily wrapping the layer's ``call`` while a function is traced. Building
``keras.Model(model.inputs, layer.output)`` is deliberately avoided: it fails on
Sequential models that were never called, on layers of nested models and on
subclassed models.

The wrapping is a scoped override (:mod:`keras_viz._intercept`): it is installed for
the duration of a ``with`` block (normally one ``tf.function`` trace or one eager
pass) and removed in ``finally``, so the user's model object is left exactly as it
was; overrides are serialised by one process-wide lock and invisible to other threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

# The scoped overrides live in their own module; imported here, where callers find them.
from keras_viz._intercept import MODEL_LOCK, LayerRecorder, OutputHook, intercept, patched_attribute  # noqa: F401

LayerRef = "str | int | keras.layers.Layer"


def check_backend() -> None:
    """Raises a clear error unless Keras runs on the TensorFlow backend.

    Raises:
        ValueError: the Keras backend is not TensorFlow.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            f"keras-viz explainers are built on tf.GradientTape and need the TensorFlow "
            f"Keras backend, but Keras is running with backend={backend!r}. Set "
            f"KERAS_BACKEND=tensorflow before importing keras."
        )


def check_model(model: Any, argument: str = "model") -> keras.Model:
    """Checks that ``model`` is a Keras model (any kind) that can be run without side effects."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`{argument}` must be a keras.Model (Sequential, functional or subclassed); "
            f"received {type(model).__name__}: {model!r:.80}"
        )
    stateful = [path for path, layer in iter_layers(model) if getattr(layer, "stateful", False)]
    if stateful:
        raise ValueError(
            f"`{argument}` has stateful recurrent layer(s) ({', '.join(stateful)}): running it "
            f"to explain would change their state. Explain a copy built with stateful=False "
            f"that has the same weights."
        )
    return model


# --------------------------------------------------------------------------- layers


def child_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Direct sub-layers of ``layer`` (the layers of a model, the cell of an RNN...)."""
    children = layer._flatten_layers(include_self=False, recursive=False)
    return [c for c in children if not isinstance(c, keras.layers.InputLayer)]


def iter_layers(model: keras.layers.Layer, prefix: str = "") -> Iterator[tuple[str, keras.layers.Layer]]:
    """Yields ``(path, layer)`` for every layer inside ``model``, depth first.

    Paths join the names of enclosing layers with ``/``: ``"backbone/conv5_out"``.
    """
    for child in child_layers(model):
        path = f"{prefix}{child.name}"
        yield path, child
        yield from iter_layers(child, prefix=path + "/")


def is_container(layer: keras.layers.Layer) -> bool:
    """True for layers that only run other layers (models, wrappers)."""
    return bool(child_layers(layer))


class LayerSnapshot:
    """The layer objects of a model at one moment, held weakly, in :func:`iter_layers` order.

    Lets a cache tell whether a model is still made of the very same layers (after
    ``Sequential.pop``/``add``, say) without keying anything on ``id()``, which a new
    object may reuse once the old one is gone.
    """

    def __init__(self, layers: Sequence[keras.layers.Layer]):
        self._refs = tuple(weakref.ref(layer) for layer in layers)

    @classmethod
    def of(cls, model: keras.layers.Layer) -> "LayerSnapshot":
        return cls([layer for _, layer in iter_layers(model)])

    def matches(self, layers: Sequence[keras.layers.Layer]) -> bool:
        """Whether ``layers`` are the snapshot's layer objects, in the same order."""
        return len(layers) == len(self._refs) and all(ref() is layer for ref, layer in zip(self._refs, layers))

    def index(self, layer: keras.layers.Layer) -> int:
        """The position of ``layer`` in the snapshot (by identity)."""
        for i, ref in enumerate(self._refs):
            if ref() is layer:
                return i
        raise ValueError(f"Layer {getattr(layer, 'name', layer)!r} is not a layer of this model.")


def layer_path(model: keras.Model, layer: keras.layers.Layer) -> str:
    """The ``/``-joined path of ``layer`` inside ``model``."""
    for path, candidate in iter_layers(model):
        if candidate is layer:
            return path
    return layer.name


def find_layer(model: keras.Model, layer: Any, *, argument: str = "layer") -> keras.layers.Layer:
    """Finds a layer by name, path, index or identity, including inside nested models.

    Args:
        model: any Keras model.
        layer: a layer name (searched at every depth), a path such as
            ``"backbone/conv5_block3_out"``, an index into ``model.layers`` (negative
            indices count from the end), or a layer object that belongs to ``model``.
        argument: the argument name used in error messages.

    Returns:
        The layer object.

    Raises:
        ValueError: no layer, or more than one layer, matches.
        TypeError: ``layer`` is of an unsupported type.
    """
    entries = list(iter_layers(model))
    if isinstance(layer, keras.layers.Layer):
        if any(candidate is layer for _, candidate in entries):
            return layer
        raise ValueError(
            f"`{argument}`: layer {layer.name!r} does not belong to model {model.name!r}."
        )
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (str, int, np.integer)):
        raise TypeError(
            f"`{argument}` must be a layer name, path, index or layer object; "
            f"received {type(layer).__name__}: {layer!r}"
        )
    if isinstance(layer, (int, np.integer)):
        top = model.layers
        if not -len(top) <= int(layer) < len(top):
            raise ValueError(
                f"`{argument}`={int(layer)} is out of range: model {model.name!r} has "
                f"{len(top)} top-level layers (valid indices {-len(top)}..{len(top) - 1})."
            )
        return top[int(layer)]
    by_path = [candidate for path, candidate in entries if path == layer]
    if by_path:
        return by_path[0]
    by_name = [(path, candidate) for path, candidate in entries if candidate.name == layer]
    if len(by_name) == 1:
        return by_name[0][1]
    if len(by_name) > 1:
        paths = ", ".join(path for path, _ in by_name)
        raise ValueError(
            f"`{argument}`={layer!r} is ambiguous: several nested layers have that name "
            f"({paths}). Pass the full path instead."
        )
    raise ValueError(unknown_layer_message(layer, [path for path, _ in entries], argument))


def unknown_layer_message(name: str, paths: Sequence[str], argument: str, kind: str = "Layers") -> str:
    """An error message for an unknown layer that lists the candidates."""
    close = difflib.get_close_matches(name, paths, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    shown = ", ".join(paths[:40]) + (f", ... ({len(paths)} in all)" if len(paths) > 40 else "")
    return f"Unknown layer {name!r} (argument `{argument}`).{hint} {kind}: {shown}."


def single_tensor(value: Any, what: str) -> tf.Tensor:
    """Returns ``value`` if it is one tensor; raises a clear error for structures."""
    if isinstance(value, (list, tuple, dict)):
        flat = tf.nest.flatten(value)
        if len(flat) != 1:
            raise ValueError(
                f"{what} returns {len(flat)} tensors; keras-viz needs a layer with a single "
                f"output tensor here."
            )
        value = flat[0]
    return value


# --------------------------------------------------------------------------- model facts


def declared_inputs(model: keras.Model) -> list[Any] | None:
    """The model's symbolic inputs in flat order, or None for an unbuilt subclassed model."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    return list(inputs) if inputs else None


def output_names(model: keras.Model, outputs: Any) -> list[str]:
    """Names of the model's outputs in flat order (dict keys, layer names or indices)."""
    if isinstance(outputs, dict):
        return [str(key) for key in sorted(outputs)]  # tf.nest flattens dicts by sorted key
    flat = tf.nest.flatten(outputs)
    names = getattr(model, "output_names", None)
    if names and len(names) == len(flat):
        return [str(name) for name in names]
    if len(flat) == 1 and isinstance(model, keras.Sequential) and model.layers:
        return [model.layers[-1].name]
    return [f"output_{i}" for i in range(len(flat))]


def logits_of(tensor: tf.Tensor) -> tf.Tensor:
    """The pre-activation tensor behind a final softmax or sigmoid, if there is one.

    Works on the graph being traced: it looks through Identity and Cast ops to the op
    that produced ``tensor``. Class scores for gradients should be taken before the
    softmax (Simonyan et al. 2014, Selvaraju et al. 2017), otherwise the gradient of
    one class also carries every other class.
    """
    node = tensor
    while hasattr(node, "op") and node.op.type in ("Identity", "Cast"):
        node = node.op.inputs[0]
    if hasattr(node, "op") and node.op.type in ("Softmax", "Sigmoid"):
        return node.op.inputs[0]
    return tensor


@dataclasses.dataclass(frozen=True)
class LogitsSource:
    """Where the pre-softmax/sigmoid scores of one model output are, found without a graph.

    :func:`logits_of` reads them off a traced graph. A forward pass run eagerly (see
    ``Explainer.EAGER_CALLS``) has no graph, so the probe locates them by layer:
    ``kind`` is ``"output"`` (the output is not squashed: it is the score), ``"activation"``
    (``layer`` applies a softmax/sigmoid activation: run it linear and apply it after)
    or ``"input"`` (``layer`` is a ``Softmax`` layer: read its input).
    """

    layer: keras.layers.Layer | None
    kind: str


def _is_keras_function(function: Any, names: tuple[str, ...]) -> bool:
    return getattr(function, "__name__", None) in names and str(getattr(function, "__module__", "")).startswith("keras")


# Keras layers whose call ends with ``self.activation(...)`` (an LSTM's ``activation``, say,
# is applied inside its cell, not to its output).
_ACTIVATION_LAST = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Activation,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)


class LogitsTap:
    """Captures the scores of a :class:`LogitsSource` during one eager forward pass."""

    def __init__(self, source: LogitsSource):
        self.source = source
        self.logits: Any = None

    @contextlib.contextmanager
    def active(self) -> Iterator["LogitsTap"]:
        with MODEL_LOCK:  # the activation read below is the layer's own, not another thread's override
            with self._active():
                yield self

    @contextlib.contextmanager
    def _active(self) -> Iterator["LogitsTap"]:
        layer = self.source.layer
        if layer is None:
            yield self
            return
        if self.source.kind == "input":

            def read_input(_, outputs, args, kwargs):
                self.logits = args[0]
                return outputs

            with intercept([layer], read_input):
                yield self
            return
        activation = layer.activation

        def squash_after(_, outputs, args, kwargs):
            self.logits = outputs  # the layer ran with a linear activation
            return activation(outputs)

        with patched_attribute(layer, "activation", keras.activations.linear), intercept([layer], squash_after):
            yield self

    def of(self, output: Any) -> Any:
        return output if self.source.layer is None else self.logits


@dataclasses.dataclass
class LayerCall:
    """One layer call seen while probing the model."""

    layer: keras.layers.Layer
    path: str
    inputs: list[Any]
    outputs: list[Any]

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return tuple(self.outputs[0].shape) if len(self.outputs) == 1 else None


class ModelInfo:
    """What one eager probe forward pass reveals about a model of any kind.

    The probe runs the model once on a single sample with every layer's ``call``
    wrapped, recording which layers run, in what order, with which input and output
    tensors. That gives output shapes for subclassed models, the default layer for
    CAM methods (the last layer with spatial output) and the data flow used to check
    that CAM has a GlobalAveragePooling → Dense head.
    """

    def __init__(self, model: keras.Model, sample: Any):
        # held weakly: shared probes are cached per model (shared_model_info), and a probe
        # that held its model would keep it, and the cache entry, alive for good
        self._model = weakref.ref(model)
        paths = {id(layer): path for path, layer in iter_layers(model)}
        layers = [layer for _, layer in iter_layers(model)]
        self.calls: list[LayerCall] = []

        def hook(layer, outputs, args, kwargs):
            self.calls.append(
                LayerCall(
                    layer=layer,
                    path=paths.get(id(layer), layer.name),
                    inputs=[t for t in tf.nest.flatten((args, kwargs)) if tf.is_tensor(t)],
                    outputs=[t for t in tf.nest.flatten(outputs) if tf.is_tensor(t)],
                )
            )
            return outputs

        with MODEL_LOCK:
            if not model.built:
                model(sample, training=False)  # Keras builds with a symbolic call first; keep it out
                paths = {id(layer): path for path, layer in iter_layers(model)}
                layers = [layer for _, layer in iter_layers(model)]
            with intercept(layers, hook):
                outputs = model(sample, training=False)
        self._probed = LayerSnapshot(layers)  # what was probed, by identity
        # The probe's own inputs: a cached probe serves later batches, so what it recorded
        # is matched against these, not against the samples of a later call.
        self.sample_inputs = [t for t in tf.nest.flatten(sample)]
        self.outputs_structure = outputs
        self.outputs = tf.nest.flatten(outputs)
        self.output_names = output_names(model, outputs)

    @property
    def model(self) -> keras.Model:
        return self._model()

    def probed(self, layers: Sequence[keras.layers.Layer]) -> bool:
        """Whether ``layers`` (a model's, in :func:`iter_layers` order) are the ones probed."""
        return self._probed.matches(layers)

    @functools.cached_property
    def activation_size(self) -> int:
        """Elements of every leaf layer output for one sample (the probe's batch of one)."""
        return int(
            sum(
                int(np.prod(t.shape))
                for call in self.calls
                if not is_container(call.layer)
                for t in call.outputs
                if t.shape.rank is not None and None not in t.shape
            )
        )

    def logits_source(self, index: int) -> LogitsSource | None:
        """Where output ``index``'s pre-softmax scores are (:class:`LogitsSource`), if certain.

        Only Keras' own layers whose call ends with their ``activation`` attribute (Dense,
        convolutions, Activation) and ``Softmax`` layers are trusted; anything else (a
        ``Lambda``, an LSTM, a subclassed ``call`` that applies ``tf.nn.softmax`` itself, a
        layer called twice) gives None, and explainers then always trace a graph, where
        :func:`logits_of` sees the ops.
        """
        output = self.outputs[index]
        producers = [c for c in self.calls if not is_container(c.layer) and any(t is output for t in c.outputs)]
        if len(producers) != 1:
            return None
        call = producers[0]
        layer = call.layer
        if (
            len(self.calls_of(layer)) != 1
            or not type(layer).__module__.startswith("keras.")
            or isinstance(layer, keras.layers.Lambda)
        ):
            return None
        if isinstance(layer, keras.layers.Softmax):
            return LogitsSource(layer, "input") if len(call.inputs) == 1 else None
        if not isinstance(layer, _ACTIVATION_LAST):
            return None
        activation = getattr(layer, "activation", None)
        if _is_keras_function(activation, ("softmax", "sigmoid")):
            return LogitsSource(layer, "activation")
        if activation is not None and str(getattr(activation, "__module__", "")).startswith("keras"):
            return LogitsSource(None, "output")
        return None

    # -- outputs ---------------------------------------------------------------

    def output_index(self, output: Any, argument: str = "output") -> int:
        """Resolves an output name or index; None is allowed for single-output models."""
        count = len(self.outputs)
        if output is None:
            if count == 1:
                return 0
            raise ValueError(
                f"The model has {count} outputs ({', '.join(self.output_names)}); pass "
                f"`{argument}=` with the name or index of the output to explain."
            )
        if isinstance(output, str):
            if output in self.output_names:
                return self.output_names.index(output)
            raise ValueError(
                f"Unknown output {output!r} (argument `{argument}`). Outputs: "
                f"{', '.join(self.output_names)}."
            )
        if isinstance(output, (int, np.integer)) and not isinstance(output, bool):
            if -count <= int(output) < count:
                return int(output) % count
            raise ValueError(
                f"`{argument}`={int(output)} is out of range: the model has {count} output(s)."
            )
        raise TypeError(
            f"`{argument}` must be an output name or index; received "
            f"{type(output).__name__}: {output!r}"
        )

    def num_classes(self, index: int) -> int | None:
        """Units of the chosen output's last axis, if it is a (batch, classes) output."""
        shape = tuple(self.outputs[index].shape)
        return int(shape[-1]) if len(shape) == 2 else None

    # -- layers ----------------------------------------------------------------

    def calls_of(self, layer: keras.layers.Layer) -> list[LayerCall]:
        return [call for call in self.calls if call.layer is layer]

    def spatial_calls(self, spatial_rank: int) -> list[LayerCall]:
        """Calls of whole layers whose single output has ``spatial_rank`` spatial axes (>1 cell).

        Models are looked into; other layers with sub-layers (LSTM, Bidirectional,
        TimeDistributed, MultiHeadAttention) count as one layer, not as their parts.
        """
        internal = _internal_layers(self.model)
        found = []
        for call in self.calls:
            shape = call.output_shape
            if (
                shape is None
                or isinstance(call.layer, keras.Model)
                or id(call.layer) in internal
                or len(shape) != spatial_rank + 2
            ):
                continue
            if int(np.prod(shape[1:-1])) > 1:
                found.append(call)
        return found

    def default_spatial_layer(self, spatial_rank: int) -> keras.layers.Layer:
        """The last layer with spatial output (the usual Grad-CAM choice)."""
        found = self.spatial_calls(spatial_rank)
        if not found:
            raise ValueError(
                f"The model has no layer with {spatial_rank}-D spatial output (shape "
                f"(batch, {', '.join(['n'] * spatial_rank)}, channels)), so a class activation "
                f"map cannot be computed. Use a gradient method such as Saliency instead."
            )
        return found[-1].layer

    # -- data flow -------------------------------------------------------------

    def consumers(self, tensor: Any) -> list[LayerCall]:
        """Leaf layer calls that received ``tensor`` (by identity, or equal values after a cast)."""
        direct = [
            call
            for call in self.calls
            if not is_container(call.layer) and any(t is tensor for t in call.inputs)
        ]
        if direct:
            return direct
        # Mixed precision casts a tensor between layers; match on equal values then.
        produced = {id(t) for call in self.calls for t in call.outputs}
        return [
            call
            for call in self.calls
            if not is_container(call.layer)
            and any(id(t) not in produced and _same_values(t, tensor) for t in call.inputs)
        ]

    def reaches_output(self, tensor: Any, index: int, through: tuple[type, ...]) -> bool:
        """True if ``tensor`` is the chosen model output, possibly after ``through`` layers."""
        target = self.outputs[index]
        frontier = [tensor]
        for _ in range(8):
            if any(t is target or _same_values(t, target) for t in frontier):
                return True
            nxt = []
            for t in frontier:
                for call in self.consumers(t):
                    if isinstance(call.layer, through):
                        nxt.extend(call.outputs)
            if not nxt:
                return False
            frontier = nxt
        return False


_PROBES: "weakref.WeakKeyDictionary[keras.Model, dict[tuple, ModelInfo]]" = weakref.WeakKeyDictionary()


def shared_model_info(model: keras.Model, signature: tuple, make_sample: Callable[[], Any]) -> ModelInfo:
    """The :class:`ModelInfo` of ``model`` for inputs of ``signature``, probed once.

    Every explainer, view and callback of a model asks here, so a model is probed once
    per input signature however many of them run (the probe is an eager forward pass
    with every layer's ``call`` wrapped). ``signature`` describes one sample (shapes and
    dtypes without the batch axis); ``make_sample`` builds that sample when a probe is
    needed. The cache holds the model weakly, and a cached probe is served only while
    the model is made of the very layer objects it probed (compared by identity through
    weak references, never by ``id()``, which a new layer may reuse), so a model that
    gains, loses or swaps layers is probed again. A ``ModelInfo`` records structure
    (calls, shapes, data flow), which training does not change. Probes are taken under
    :data:`~keras_viz._intercept.MODEL_LOCK`: one at a time, never beside another
    thread's overrides.
    """
    layers = [layer for _, layer in iter_layers(model)]
    with MODEL_LOCK:
        infos = _PROBES.setdefault(model, {})
        info = infos.get(signature)
        if info is None or not info.probed(layers):
            infos.pop(signature, None)
            info = ModelInfo(model, make_sample())
            if len(infos) >= 16:  # a bounded cache: input signatures of one model are few
                infos.pop(next(iter(infos)))
            infos[signature] = info
        return info


def _internal_layers(model: keras.Model) -> set[int]:
    """Ids of the sub-layers of non-model layers (an LSTM's cell, an attention's projections)."""
    internal: set[int] = set()
    for _, layer in iter_layers(model):
        if not isinstance(layer, keras.Model) and (id(layer) in internal or child_layers(layer)):
            internal.update(id(inner) for _, inner in iter_layers(layer))
    return internal


def _same_values(a: Any, b: Any) -> bool:
    if tuple(a.shape) != tuple(b.shape):
        return False
    a32 = np.asarray(tf.cast(a, tf.float32))
    b32 = np.asarray(tf.cast(b, tf.float32))
    return bool(np.allclose(a32, b32, rtol=1e-3, atol=1e-3))
