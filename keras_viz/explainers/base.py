"""The explainer contract, shared by every attribution method.

``Explainer(model, **options)(inputs, targets) -> np.ndarray``

The base class validates inputs and targets, batches them, probes the model once
per input signature (see :class:`keras_viz._model.ModelInfo`; the probe is shared by
every user of the model) and keeps one traced ``tf.function`` per input signature and
target kind, so repeated calls (every epoch of a callback, say) run a compiled graph
without retracing. The first :attr:`Explainer.EAGER_CALLS` calls of a function run
the same body eagerly instead: tracing costs more than a call or two saves (the
policy and its bounded cache: :class:`keras_viz._functions.FunctionCache`).

Layers are reached by wrapping their ``call`` while the function is traced (or runs
eagerly); the wrappers are gone when it returns, so the user's model is never left
modified. Eager passes and traces hold the process-wide model lock
(:mod:`keras_viz._intercept`): explanation passes of one process are serialised.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from keras_viz import _functions
from keras_viz import targets as targets_lib
from keras_viz._functions import FunctionCache
from keras_viz._inputs import Batch, check_batch_size, pack, signature_key, structure_key
from keras_viz._model import (
    LayerRecorder,
    LogitsSource,
    LogitsTap,
    ModelInfo,
    check_backend,
    check_model,
    find_layer,
    layer_path,
    logits_of,
    shared_model_info,
    single_tensor,
)
from keras_viz.backprop import backward_rule, relu_override, warn_unreached
from keras_viz.explainers._call import ExplainerCall, Explanation  # noqa: F401 (re-exported)
from keras_viz.explainers._ops import upsample
from keras_viz.explainers._tokens import token_refusal


@dataclasses.dataclass
class Plan:
    """Everything fixed while one function is traced."""

    info: ModelInfo
    structure: Any
    shapes: list[tuple[int, ...]]  # per flat input, without the batch axis
    output_index: int
    target: Any  # ClassTargets, Unit or callable
    unit_layer: keras.layers.Layer | None = None
    feature_layer: keras.layers.Layer | None = None
    spatial_input: int | None = None
    head: keras.layers.Layer | None = None  # CAM's dense layer
    dtypes: list[Any] | None = None  # per flat input; None: all float32
    tokens: Any = None  # a TokenPlan when inputs are token ids (see explainers/_tokens.py)
    logits: LogitsSource | None = None  # where class scores are when run without a graph

    @property
    def layers(self) -> list[keras.layers.Layer]:
        return [layer for layer in (self.unit_layer, self.feature_layer) if layer is not None]


@dataclasses.dataclass
class ForwardPass:
    """One forward pass under a persistent tape, shared by the single-pass methods."""

    plan: Plan
    inputs: list[tf.Tensor]
    outputs: Any
    scores: tf.Tensor
    classes: tf.Tensor
    tape: tf.GradientTape
    recorder: LayerRecorder

    def gradients(
        self, sources: Sequence[tf.Tensor], rule: str = "backprop", *, what: str | None = None
    ) -> list[tf.Tensor]:
        """Gradients of the summed target scores w.r.t. ``sources`` under a ReLU ``rule``.

        A source the score does not depend on gets zeros, unless ``what`` names it: then
        that is an error (a layer explained for a target computed before it).
        """
        with backward_rule(rule):
            grads = self.tape.gradient(self.scores, list(sources))
        if what is not None and any(g is None for g in grads):
            raise ValueError(
                f"The target does not depend on {what}, so its gradient there is undefined. "
                f"A kv.Unit target must come after the explained layer."
            )
        return [
            tf.zeros_like(s, tf.float32) if g is None else tf.cast(g, tf.float32)
            for g, s in zip(grads, sources)
        ]

    def layer_output(self, layer: keras.layers.Layer) -> tf.Tensor:
        return single_tensor(self.recorder.output(layer), f"Layer {layer.name!r}")

    def to_input_resolution(self, maps: tf.Tensor) -> tf.Tensor:
        """Resizes layer-resolution maps to the spatial size of the explained input."""
        return upsample(maps, self.plan.shapes[self.plan.spatial_input][:-1])


class Explainer(abc.ABC):
    """Base class of every explainer.

    Args:
        model: any Keras model on the TensorFlow backend (Sequential, functional,
            subclassed, with nested models, several inputs or outputs).
        output: name or index of the output to explain, for multi-output models.
        batch_size: samples per forward pass (default 32). For multi-pass methods,
            perturbed copies per forward pass; by default as many as keep one pass's
            layer outputs near :attr:`ACTIVATIONS_PER_PASS` floats (at least 32, at
            most 1024): a small model runs its copies in a few large passes.
        use_logits: take class scores before a final softmax/sigmoid (default), as
            the gradient-method papers define them; False uses the output as is.

    Calling an explainer returns maps at input resolution as float32 arrays: one
    array for a single-input model, or a list/dict shaped like the inputs for a
    multi-input model (class-activation methods return one array).
    """

    method: ClassVar[str] = "explainer"
    per_input: ClassVar[bool] = True  # one map per model input (False: one spatial map)
    modified_relus: ClassVar[bool] = False
    accepts_tokens: ClassVar[bool] = False  # integer token-id inputs (see explainers/_tokens.py)

    def __init__(
        self,
        model: keras.Model,
        *,
        output: str | int | None = None,
        batch_size: int | None = None,
        use_logits: bool = True,
    ):
        check_backend()
        self.model = check_model(model)
        self._batch_size_given = batch_size is not None
        batch_size = check_batch_size(32 if batch_size is None else batch_size)
        if output is not None and not isinstance(output, (str, int, np.integer)):
            raise TypeError(f"`output` must be an output name or index; received {output!r}")
        self.output = output
        self.batch_size = int(batch_size)
        self.use_logits = bool(use_logits)
        self._functions = FunctionCache(self.MAX_FUNCTIONS)
        self._callable_keys = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model.name!r})"

    @property
    def trace_count(self) -> int:
        """How many graphs were traced (one per input signature and target kind)."""
        return self._functions.trace_count

    # -- public ----------------------------------------------------------------

    def __call__(self, inputs: Any, targets: targets_lib.TargetSpec = None) -> Any:
        """Explains ``inputs``; see the class docstring for ``targets`` and the result."""
        return self.explain(inputs, targets).maps

    def explain(self, inputs: Any, targets: targets_lib.TargetSpec = None) -> Explanation:
        """Like calling the explainer, but also returns the explained classes and scores."""
        call = ExplainerCall(self.model, inputs, targets)
        parts = []
        for batch, target in call.batches(self.batch_size):
            parts.append(self._explain_batch(batch, self._plan(batch, call.structure, target)))
        return call.explanation(parts, per_input=self.per_input)

    # -- targets and plans -----------------------------------------------------

    def _info(self, batch: Batch, structure: Any) -> ModelInfo:
        """The model's probe for these inputs, shared with every other user of the model."""
        signature = signature_key(structure, batch.inputs)
        try:
            return shared_model_info(
                self.model, signature, lambda: pack(structure, [tf.constant(a[:1]) for a in batch.inputs])
            )
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:  # e.g. a token id out of range
            shapes = ", ".join(str(a.shape) for a in batch.inputs)
            raise ValueError(
                f"The model could not be called on `inputs` of shape {shapes}: {error}"
            ) from error

    def _plan(self, batch: Batch, structure: Any, target: Any) -> Plan:
        info = self._info(batch, structure)
        plan = Plan(
            info=info,
            structure=structure,
            shapes=[tuple(a.shape[1:]) for a in batch.inputs],
            output_index=0,
            target=target,
            dtypes=[tf.as_dtype(a.dtype) for a in batch.inputs],
        )
        if not self.accepts_tokens and any(d.is_integer for d in plan.dtypes):
            raise TypeError(token_refusal(self.method, plan.shapes, plan.dtypes))
        if isinstance(target, targets_lib.Unit):
            plan.unit_layer = find_layer(self.model, target.layer, argument="targets (kv.Unit layer)")
            plan.output_index = 0
        elif isinstance(target, targets_lib.ClassTargets):
            plan.output_index = info.output_index(self.output)
            targets_lib.check_class_range(
                target, info.num_classes(plan.output_index), info.output_names[plan.output_index]
            )
            plan.logits = info.logits_source(plan.output_index)
        return plan

    def _runs_eagerly(self, plan: Plan) -> bool:
        """Whether a function for ``plan`` may run without a graph (see :attr:`EAGER_CALLS`).

        Not for the modified-ReLU methods (the graph is checked for ReLUs the override did
        not reach), not for a callable target (a score function that only works eagerly
        would then fail at its third call, not its first), and not for class scores taken
        before a softmax that the probe could not locate by layer
        (:meth:`keras_viz._model.ModelInfo.logits_source`).
        """
        if self.modified_relus or not isinstance(plan.target, (targets_lib.ClassTargets, targets_lib.Unit)):
            return False
        if isinstance(plan.target, targets_lib.ClassTargets) and self.use_logits:
            return plan.logits is not None
        return True

    def _function_key(self, plan: Plan, *extra: Any) -> tuple:
        target = plan.target
        if isinstance(target, targets_lib.ClassTargets):
            kind = "class"
        elif isinstance(target, targets_lib.Unit):
            kind = target.trace_key
        else:
            kind = target  # a callable: its own graph
        # The structure too: the function packs its flat inputs as traced, and a dict is
        # flattened in sorted-key order while a list keeps its own.
        dtypes = tuple(d.name for d in plan.dtypes) if plan.dtypes is not None else None
        return (tuple(plan.shapes), kind, structure_key(plan.structure), dtypes, *extra)  # kind second: see _compiled

    # -- compiled functions ----------------------------------------------------

    MAX_FUNCTIONS: ClassVar[int] = _functions.MAX_FUNCTIONS
    ACTIVATIONS_PER_PASS: ClassVar[int] = 2**23  # 32 MiB of float32 layer outputs

    def _copies_per_pass(self, plan: Plan) -> int:
        """Perturbed copies run per forward pass by multi-pass methods (see ``batch_size``)."""
        if self._batch_size_given:
            return self.batch_size
        per_copy = max(plan.info.activation_size, 1)
        return int(np.clip(self.ACTIVATIONS_PER_PASS // per_copy, 32, 1024))

    EAGER_CALLS: ClassVar[int] = _functions.EAGER_CALLS
    """Calls of a function (per input signature and target kind) run eagerly before it is traced.

    Tracing a graph costs tens of milliseconds per model call it contains, and the first
    run of a graph as much again; running eagerly costs a few milliseconds more per call.
    A function used once or twice (a callback during a short ``fit``, a one-off
    explanation) is cheaper without a graph; one used more often (every epoch of a long
    fit, many batches) is traced at its third call. 0 traces at once.
    """

    def _compiled(self, key: tuple, body: Callable[..., Any], specs: Sequence[tf.TensorSpec], eager: bool = False):
        """The function for ``key``: ``body`` run eagerly for its first :attr:`EAGER_CALLS`
        calls (when ``eager``), then traced once into a concrete function.

        At most :attr:`MAX_FUNCTIONS` are kept (the least recently used goes first).
        """
        if self._functions.is_new(key) and callable(key[1]) and not isinstance(key[1], tuple):
            self._callable_keys += 1
            if self._callable_keys == 4:
                warnings.warn(
                    f"{type(self).__name__}: a new `targets` function at every call traces a new "
                    f"graph each time (slow). Define the function once and pass the same object.",
                    stacklevel=4,
                )
        return self._functions.get(
            key, body, specs, eager_calls=self.EAGER_CALLS if eager else 0, on_trace=self._check_graph
        )

    def _check_graph(self, function: Any) -> None:
        """Called on each new traced function (the modified-ReLU methods check their graph)."""
        if self.modified_relus:
            warn_unreached(function.graph, self.method)

    @staticmethod
    def _input_specs(plan: Plan) -> list[tf.TensorSpec]:
        dtypes = plan.dtypes or [tf.float32] * len(plan.shapes)
        return [tf.TensorSpec((None, *shape), dtype) for shape, dtype in zip(plan.shapes, dtypes)]

    def _forward(self, plan: Plan, inputs: list[tf.Tensor], classes: tf.Tensor, recorder: LayerRecorder):
        """Runs the model on ``inputs`` and returns ``(outputs, scores, classes)``."""
        tap = LogitsTap(plan.logits) if plan.logits is not None and tf.executing_eagerly() else None
        recorder.tap = tap
        with tap.active() if tap is not None else contextlib.nullcontext(), recorder.active():
            outputs = self.model(pack(plan.structure, inputs), training=False)
        scores, used = self._scores(plan, outputs, classes, recorder)
        return outputs, scores, used

    @staticmethod
    def _logits(selected: tf.Tensor, recorder: LayerRecorder) -> tf.Tensor:
        """The scores behind a final softmax/sigmoid: read off the graph, or from the eager tap."""
        tap = getattr(recorder, "tap", None)
        return tap.of(selected) if tap is not None else logits_of(selected)

    def _scores(self, plan: Plan, outputs: Any, classes: tf.Tensor, recorder: LayerRecorder):
        target = plan.target
        batch = tf.shape(tf.nest.flatten(outputs)[0])[0]
        unused = tf.fill([batch], targets_lib.PREDICTED)
        if isinstance(target, targets_lib.Unit):
            layer_out = single_tensor(recorder.output(plan.unit_layer), f"Layer {target.layer!r}")
            channels = classes if target.channel is not None else None
            return target.score(layer_out, channels), classes  # multi-pass methods feed it back
        if not isinstance(target, targets_lib.ClassTargets):  # a callable
            return targets_lib.callable_scores(target, outputs), unused
        selected = tf.nest.flatten(outputs)[plan.output_index]
        logits = self._logits(selected, recorder) if self.use_logits else selected
        return targets_lib.class_scores(logits, classes)

    def _predict(self, plan: Plan, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass: the explained class (predicted where not fixed) and its score."""
        count = len(plan.shapes)

        def body(*args):
            recorder = LayerRecorder(plan.layers)
            _, scores, used = self._forward(plan, list(args[:count]), args[count], recorder)
            return used, scores

        function = self._compiled(
            self._function_key(plan, "predict"),
            body,
            [*self._input_specs(plan), tf.TensorSpec((None,), tf.int32)],
            eager=self._runs_eagerly(plan),
        )
        used, scores = function(*batch.inputs, self._class_array(plan, batch))
        return used.numpy(), scores.numpy()

    @staticmethod
    def _class_array(plan: Plan, batch: Batch) -> np.ndarray:
        """The per-sample class indices fed to the graph (``PREDICTED`` where none is fixed)."""
        if isinstance(plan.target, targets_lib.ClassTargets):
            return plan.target.take(0, batch.size)
        if isinstance(plan.target, targets_lib.Unit) and plan.target.channel is not None:
            return np.full((batch.size,), plan.target.channel, np.int32)  # the channel, as data
        return np.full((batch.size,), targets_lib.PREDICTED, np.int32)

    def _prediction_key(self, plan: Plan) -> tuple:
        """Explainers with equal keys (and the same targets) score a forward pass the same way."""
        uses_logits = self.use_logits if isinstance(plan.target, targets_lib.ClassTargets) else None
        return (plan.output_index, uses_logits)

    @abc.abstractmethod
    def _explain_batch(
        self, batch: Batch, plan: Plan, predicted: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Explains one batch: ``(flat maps, explained classes, target scores)``.

        ``predicted``: the ``(classes, scores)`` of the unperturbed batch when another
        explainer with the same :meth:`_prediction_key` already computed them (see
        :class:`~keras_viz.explainers.group.ExplainerGroup`); multi-pass methods then
        skip their own forward pass.
        """


class SinglePassExplainer(Explainer):
    """Base of the methods that need one forward pass and its gradients per batch.

    Subclasses implement :meth:`_attribute`, which receives the :class:`ForwardPass`
    (inputs, outputs, target scores, the persistent tape and the recorded layer
    outputs) inside the traced function.
    """

    @abc.abstractmethod
    def _attribute(self, forward: ForwardPass) -> list[tf.Tensor]:
        """The maps of one forward pass (one per input, or one spatial map)."""

    def _explain_batch(self, batch: Batch, plan: Plan, predicted=None):
        function = self._compiled(
            self._function_key(plan),
            self._single_pass_body(plan),
            [*self._input_specs(plan), tf.TensorSpec((None,), tf.int32)],
            eager=self._runs_eagerly(plan),
        )
        maps, used, scores = function(*batch.inputs, self._class_array(plan, batch))
        return [m.numpy() for m in maps], used.numpy(), scores.numpy()

    def _single_pass_body(self, plan: Plan) -> Callable[..., Any]:
        count = len(plan.shapes)

        def body(*args):
            inputs, classes = list(args[:count]), args[count]
            recorder = LayerRecorder(plan.layers)
            with _maybe_relu_override(self.model, self.modified_relus):
                with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
                    for tensor in inputs:
                        tape.watch(tensor)
                    outputs, scores, used = self._forward(plan, inputs, classes, recorder)
                forward = ForwardPass(plan, inputs, outputs, scores, used, tape, recorder)
                maps = self._attribute(forward)
            return [tf.cast(m, tf.float32) for m in maps], used, scores

        return body


def _maybe_relu_override(model: keras.Model, enabled: bool):
    return relu_override(model) if enabled else contextlib.nullcontext()


class LayerExplainer(SinglePassExplainer):
    """Base of the class-activation methods, which read a spatial layer's output.

    Args:
        layer: name, ``/``-path, index or object of the layer (nested layers
            included). ``None`` picks the last layer with spatial output.
        upsample: resize maps to the input resolution (default) or return them at
            the layer's resolution.
    """

    per_input = False

    def __init__(self, model: keras.Model, *, layer: Any = None, upsample: bool = True, **options: Any):
        super().__init__(model, **options)
        if layer is not None:
            find_layer(self.model, layer)  # fail early on an unknown layer
        self.layer = layer
        self.upsample = bool(upsample)

    def _plan(self, batch: Batch, structure: Any, target: Any) -> Plan:
        plan = super()._plan(batch, structure, target)
        spatial = [i for i, shape in enumerate(plan.shapes) if len(shape) >= 2]
        if not spatial:
            raise ValueError(
                f"{self.method} needs an input with spatial axes (N, H, W, C) or (N, T, C); "
                f"the inputs have shapes {[(None, *s) for s in plan.shapes]}."
            )
        plan.spatial_input = spatial[0]
        rank = len(plan.shapes[plan.spatial_input]) - 1
        if rank > 2 and self.upsample:
            raise ValueError(
                f"{self.method}: maps of {rank}-D inputs (shape {(None, *plan.shapes[plan.spatial_input])}) "
                f"cannot be resized to the input; pass upsample=False for maps at the layer's resolution."
            )
        if self.layer is None:
            plan.feature_layer = plan.info.default_spatial_layer(rank)
        else:
            plan.feature_layer = self._check_spatial(plan.info, find_layer(self.model, self.layer), rank)
        return plan

    def _check_spatial(self, info: ModelInfo, layer: keras.layers.Layer, rank: int) -> keras.layers.Layer:
        calls = info.calls_of(layer)
        shape = calls[0].output_shape if calls else None
        if shape is None or len(shape) != rank + 2:
            candidates = ", ".join(layer_path(self.model, c.layer) for c in info.spatial_calls(rank))
            raise ValueError(
                f"`layer`={self.layer!r} has output shape {shape}, without {rank}-D spatial "
                f"axes, so {self.method} cannot be computed on it. Layers with spatial output: "
                f"{candidates or 'none'}."
            )
        return layer

    def _function_key(self, plan: Plan, *extra: Any) -> tuple:
        return super()._function_key(plan, id(plan.feature_layer), *extra)

    def _finish(self, forward: ForwardPass, maps: tf.Tensor) -> list[tf.Tensor]:
        return [forward.to_input_resolution(maps) if self.upsample else maps]


class SampledGradientExplainer(Explainer):
    """Base of methods that average gradients over perturbed copies of each sample.

    Each batch is expanded into *rows* ``(sample, parameter, weight)`` (an
    interpolation coefficient for Integrated Gradients, a noise draw for SmoothGrad);
    rows are run ``batch_size`` at a time, the copies are built inside the graph from
    the original samples, and the weighted gradients are summed per sample. The class
    explained is fixed from the unperturbed input first (one forward pass), so a noisy
    or dark copy never changes which class is explained.
    """

    @abc.abstractmethod
    def _rows(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sample_index, parameter, weight)`` arrays, one entry per perturbed copy."""

    @abc.abstractmethod
    def _points(self, plan: Plan, inputs: list[tf.Tensor], extra: list[tf.Tensor],
                params: tf.Tensor, keys: tf.Tensor) -> list[tf.Tensor]:
        """Builds the perturbed copies (inside the graph) from the gathered rows."""

    @abc.abstractmethod
    def _extra_inputs(self, plan: Plan, batch: Batch) -> list[np.ndarray]:
        """Per-sample arrays the copies need besides the inputs (baselines, noise scales)."""

    @abc.abstractmethod
    def _combine(self, batch: Batch, extra: list[np.ndarray], gradient_sums: list[np.ndarray]) -> list[np.ndarray]:
        """Turns the per-sample weighted gradient sums into maps."""

    def _explain_batch(self, batch: Batch, plan: Plan, predicted=None):
        classes, scores = predicted if predicted is not None else self._predict(plan, batch)
        extra = self._extra_inputs(plan, batch)
        count = len(plan.shapes)
        function = self._compiled(
            self._function_key(plan, "rows"),
            self._rows_body(plan),
            [
                *self._input_specs(plan),
                *[tf.TensorSpec((None, *e.shape[1:]), tf.float32) for e in extra],
                tf.TensorSpec((None,), tf.int32),  # classes
                tf.TensorSpec((None,), tf.int32),  # row sample
                tf.TensorSpec((None,), tf.float32),  # row parameter
                tf.TensorSpec((None,), tf.float32),  # row weight
                tf.TensorSpec((None,), tf.int32),  # row key (global sample index)
            ],
            eager=self._runs_eagerly(plan),
        )
        samples, params, weights = self._rows(batch)
        keys = (samples + batch.offset).astype(np.int32)
        sums = [np.zeros((batch.size, *shape), np.float32) for shape in plan.shapes]
        step = self._copies_per_pass(plan)
        for start in range(0, len(samples), step):
            part = slice(start, start + step)
            partial = function(
                *batch.inputs, *extra, classes, samples[part], params[part], weights[part], keys[part]
            )
            for total, value in zip(sums, partial[:count]):
                total += value.numpy()
        return self._combine(batch, extra, sums), classes, scores

    def _transform_gradient(self, gradient: tf.Tensor) -> tf.Tensor:
        """Applied to each copy's gradient before averaging (identity by default)."""
        return gradient

    def _rows_body(self, plan: Plan) -> Callable[..., Any]:
        count = len(plan.shapes)

        def body(*args):
            inputs = list(args[:count])
            n_extra = len(args) - count - 5
            extra = list(args[count : count + n_extra])
            classes, rows, params, weights, keys = args[count + n_extra :]
            gathered = [tf.gather(t, rows) for t in inputs]
            gathered_extra = [tf.gather(t, rows) for t in extra]
            points = self._points(plan, gathered, gathered_extra, params, keys)
            recorder = LayerRecorder(plan.layers)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                for tensor in points:
                    tape.watch(tensor)
                _, scores, _ = self._forward(plan, points, tf.gather(classes, rows), recorder)
            grads = tape.gradient(scores, points)
            n = tf.shape(inputs[0])[0]
            sums = []
            for g, p in zip(grads, points):
                g = tf.zeros_like(p) if g is None else tf.cast(g, tf.float32)
                weighted = self._transform_gradient(g) * tf.reshape(weights, [-1] + [1] * (g.shape.rank - 1))
                sums.append(tf.math.unsorted_segment_sum(weighted, rows, n))
            return sums

        return body
