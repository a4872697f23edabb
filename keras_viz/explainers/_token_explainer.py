"""The gradient explainers on token-id inputs: maps per token, taken at the embedding output.

:class:`TokenSupport` is mixed into ``Saliency`` (and its guided variants),
``GradientInput``, ``SmoothGrad`` and ``IntegratedGradients``. For a batch whose model
inputs are token ids it

1. computes the embeddings ``E`` of the ids (the model's own embedding layer, in the
   same traced function, see :func:`keras_viz.explainers._tokens.embed`);
2. runs the method on ``E`` as it would on an image: the watched ``E`` (Saliency,
   gradient × input), noisy copies of ``E`` (SmoothGrad), points on the straight path
   from a baseline embedding to ``E`` (Integrated Gradients), each handed to the model
   by replacing the embedding layer's output while the model reads the real ids;
3. reduces the embedding axis to one value per token: ``(N, T)``.

Models without token inputs take the methods' usual path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz._inputs import Batch, input_names, pack, signature_key
from keras_viz._model import LayerRecorder, find_layer
from keras_viz.backprop import relu_override
from keras_viz.explainers._tokens import (
    TokenPlan,
    check_token_ids,
    embed,
    plan_vocabularies,
    replaced_embeddings,
    token_plan,
)
from keras_viz.explainers.base import ForwardPass, Plan, SinglePassExplainer, _maybe_relu_override

__all__ = ["EmbeddedBatch", "TokenSupport"]


@dataclasses.dataclass
class EmbeddedBatch(Batch):
    """A batch whose token inputs were replaced by their embeddings (``ids`` keeps them)."""

    ids: list[np.ndarray] = dataclasses.field(default_factory=list)
    token_inputs: frozenset[int] = frozenset()


class TokenSupport:
    """Mixin: explains token-id inputs at the output of their embedding layer.

    Adds the option ``embedding_layer`` (name, path, index or layer object): the layer
    whose output is explained for the token input it reads. By default it is the
    ``keras.layers.Embedding`` layer that reads each integer input.
    """

    accepts_tokens = True

    def __init__(self, model: Any, *, embedding_layer: Any = None, **options: Any):
        super().__init__(model, **options)
        if embedding_layer is not None:
            find_layer(self.model, embedding_layer, argument="embedding_layer")  # fail early
        self.embedding_layer = embedding_layer
        self._token_plans: dict[tuple, TokenPlan | None] = {}

    # -- plans -----------------------------------------------------------------

    def _plan(self, batch: Batch, structure: Any, target: Any) -> Plan:
        # The token plan comes first: it checks the ids against the embeddings' vocabularies
        # before the model (and its shared probe) ever runs on them.
        key = signature_key(structure, batch.inputs)
        first = key not in self._token_plans
        if first:
            self._token_plans[key] = token_plan(self.model, structure, batch.inputs, self.embedding_layer)
        tokens = self._token_plans[key]
        if tokens is not None:
            _check_ids(tokens, batch.inputs, structure)
        plan = super()._plan(batch, structure, target)
        if first and tokens is not None and self.modified_relus:
            _check_relus(self)
        plan.tokens = tokens
        return plan

    def _explain_batch(self, batch: Batch, plan: Plan, *predicted: Any):
        if plan.tokens is None:
            return super()._explain_batch(batch, plan, *predicted)
        if isinstance(self, SinglePassExplainer):
            return self._token_single_pass(batch, plan)
        return self._token_sampled(batch, plan)

    # -- embeddings ------------------------------------------------------------

    def _embedded(self, plan: Plan, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The flat inputs with token inputs replaced by their embeddings (NumPy)."""

        def body(*inputs):
            return embed(self.model, plan.tokens, self._model_call(plan), list(inputs))

        function = self._compiled(self._function_key(plan, "embed"), body, self._input_specs(plan))
        return [t.numpy() for t in function(*arrays)]

    def _model_call(self, plan: Plan) -> Callable[[list[tf.Tensor]], Any]:
        return lambda inputs: self.model(pack(plan.structure, inputs), training=False)

    # -- single-pass methods ---------------------------------------------------

    def _token_single_pass(self, batch: Batch, plan: Plan):
        function = self._compiled(
            self._function_key(plan, "tokens"),
            self._token_single_pass_body(plan),
            [*self._input_specs(plan), tf.TensorSpec((None,), tf.int32)],
        )
        maps, used, scores = function(*batch.inputs, self._class_array(plan, batch))
        return [m.numpy() for m in maps], used.numpy(), scores.numpy()

    def _token_single_pass_body(self, plan: Plan) -> Callable[..., Any]:
        count = len(plan.shapes)

        def body(*args):
            inputs, classes = list(args[:count]), args[count]
            sources = embed(self.model, plan.tokens, self._model_call(plan), inputs)
            model_inputs = [x if plan.tokens.is_token(i) else s for i, (x, s) in enumerate(zip(inputs, sources))]
            recorder = LayerRecorder(plan.layers)
            with _maybe_relu_override(self.model, self.modified_relus):
                with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
                    for tensor in sources:
                        tape.watch(tensor)
                    with replaced_embeddings(plan.tokens, sources):
                        outputs, scores, used = self._forward(plan, model_inputs, classes, recorder)
                forward = ForwardPass(plan, sources, outputs, scores, used, tape, recorder)
                maps = self._attribute(forward)
            return [tf.cast(m, tf.float32) for m in maps], used, scores

        return body

    # -- sampled methods (SmoothGrad, Integrated Gradients) ---------------------

    def _token_sampled(self, batch: Batch, plan: Plan):
        classes, scores = self._predict(plan, batch)
        embedded = EmbeddedBatch(
            inputs=self._embedded(plan, batch.inputs),
            labels=batch.labels,
            offset=batch.offset,
            ids=batch.inputs,
            token_inputs=frozenset(plan.tokens.sources),
        )
        extra = self._extra_inputs(plan, embedded)
        count = len(plan.shapes)
        function = self._compiled(
            self._function_key(plan, "token_rows"),
            self._token_rows_body(plan),
            [
                *self._input_specs(plan),
                *[tf.TensorSpec((None, *e.shape[1:]), tf.float32) for e in embedded.inputs],
                *[tf.TensorSpec((None, *e.shape[1:]), tf.float32) for e in extra],
                tf.TensorSpec((None,), tf.int32),  # classes
                tf.TensorSpec((None,), tf.int32),  # row sample
                tf.TensorSpec((None,), tf.float32),  # row parameter
                tf.TensorSpec((None,), tf.float32),  # row weight
                tf.TensorSpec((None,), tf.int32),  # row key (global sample index)
            ],
        )
        samples, params, weights = self._rows(embedded)
        keys = (samples + batch.offset).astype(np.int32)
        sums = [np.zeros(e.shape, np.float32) for e in embedded.inputs]
        for start in range(0, len(samples), self.batch_size):
            part = slice(start, start + self.batch_size)
            partial = function(
                *batch.inputs, *embedded.inputs, *extra, classes,
                samples[part], params[part], weights[part], keys[part],
            )
            for total, value in zip(sums, partial[:count]):
                total += value.numpy()
        return self._combine(embedded, extra, sums), classes, scores

    def _token_rows_body(self, plan: Plan) -> Callable[..., Any]:
        count = len(plan.shapes)

        def body(*args):
            ids = list(args[:count])
            embedded = list(args[count : 2 * count])
            n_extra = len(args) - 2 * count - 5
            extra = list(args[2 * count : 2 * count + n_extra])
            classes, rows, params, weights, keys = args[2 * count + n_extra :]
            gathered = [tf.gather(t, rows) for t in embedded]
            points = self._points(plan, gathered, [tf.gather(t, rows) for t in extra], params, keys)
            model_inputs = [
                tf.gather(x, rows) if plan.tokens.is_token(i) else p for i, (x, p) in enumerate(zip(ids, points))
            ]
            recorder = LayerRecorder(plan.layers)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                for tensor in points:
                    tape.watch(tensor)
                with replaced_embeddings(plan.tokens, points):
                    _, scores, _ = self._forward(plan, model_inputs, tf.gather(classes, rows), recorder)
            grads = tape.gradient(scores, points)
            n = tf.shape(embedded[0])[0]
            sums = []
            for g, p in zip(grads, points):
                g = tf.zeros_like(p) if g is None else tf.cast(g, tf.float32)
                weighted = self._transform_gradient(g) * tf.reshape(weights, [-1] + [1] * (g.shape.rank - 1))
                sums.append(tf.math.unsorted_segment_sum(weighted, rows, n))
            return sums

        return body


def _check_relus(explainer: Any) -> None:
    with relu_override(explainer.model) as count:
        pass
    if count == 0:
        raise ValueError(
            f"{explainer.method} changes how gradients pass through ReLUs, but model "
            f"{explainer.model.name!r} has no ReLU layer or activation, so it would equal plain "
            f"Saliency. Use Saliency (or GradientInput, IntegratedGradients) on this model."
        )


def _check_ids(plan: TokenPlan, arrays: list[np.ndarray], structure: Any = None) -> None:
    """Token ids must index the embedding table (the kernel would fail with a cryptic error,
    or on a GPU silently gather zeros)."""
    check_token_ids(plan_vocabularies(plan), arrays, input_names(structure, len(arrays)))
