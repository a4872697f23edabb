"""Several explainers on the same inputs and targets, sharing one forward pass.

Single-pass methods (Saliency, Deconvnet, GuidedBackprop, GradientInput, CAM,
GradCAM, GradCAMPlusPlus, GuidedGradCAM) that explain the same output are traced into
one graph: one forward pass under one persistent tape, then each method's gradients.
ReLU backward rules are chosen per gradient (see :mod:`keras_viz.backprop`), so
guided and plain methods still share the forward pass. Multi-pass methods
(SmoothGrad, IntegratedGradients, Occlusion) run on their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from keras_viz import targets as targets_lib
from keras_viz._functions import FunctionCache
from keras_viz._inputs import Batch, check_batch_size
from keras_viz._model import LayerRecorder
from keras_viz.backprop import relu_override, warn_unreached
from keras_viz.explainers._call import ExplainerCall, Explanation
from keras_viz.explainers.base import (
    Explainer,
    ForwardPass,
    Plan,
    SinglePassExplainer,
)


class ExplainerGroup:
    """Runs several explainers of one model on the same inputs and targets.

    Args:
        explainers: explainers built for the same model.
        batch_size: samples per forward pass of the shared graph (default: the
            smallest ``batch_size`` of the explainers).

    Example:
        >>> group = ExplainerGroup([kv.Saliency(model), kv.GradCAM(model), kv.GuidedGradCAM(model)])
        >>> saliency, grad_cam, guided = group.explain(images, targets=labels)
    """

    def __init__(self, explainers: Sequence[Explainer], *, batch_size: int | None = None):
        explainers = list(explainers)
        if not explainers:
            raise ValueError("`explainers` is empty: pass at least one explainer.")
        for explainer in explainers:
            if not isinstance(explainer, Explainer):
                raise TypeError(f"`explainers` must hold keras-viz explainers; received {explainer!r}")
        model = explainers[0].model
        if any(e.model is not model for e in explainers):
            raise ValueError("`explainers` must all explain the same model.")
        self.model = model
        self.explainers = explainers
        self.batch_size = min(e.batch_size for e in explainers) if batch_size is None else check_batch_size(batch_size)
        first = next((e for e in explainers if isinstance(e, SinglePassExplainer)), None)
        self._shared = [
            i
            for i, e in enumerate(explainers)
            if isinstance(e, SinglePassExplainer)
            and (e.output, e.use_logits) == (first.output, first.use_logits)
        ]
        if len(self._shared) < 2:
            self._shared = []
        self._functions = FunctionCache()  # eager first, then traced (see Explainer.EAGER_CALLS)

    @property
    def trace_count(self) -> int:
        """How many shared graphs were traced."""
        return self._functions.trace_count

    def __call__(self, inputs: Any, targets: targets_lib.TargetSpec = None) -> list[Any]:
        return [e.maps for e in self.explain(inputs, targets)]

    def explain(self, inputs: Any, targets: targets_lib.TargetSpec = None) -> list[Explanation]:
        """One :class:`Explanation` per explainer, in order."""
        call = ExplainerCall(self.model, inputs, targets)
        parts: list[list[tuple]] = [[] for _ in self.explainers]
        for batch, target in call.batches(self.batch_size):
            plans = [e._plan(batch, call.structure, target) for e in self.explainers]
            # Token inputs: each method embeds the ids on its own (no shared graph).
            tokens = any(p.tokens is not None for p in plans)
            # (classes, scores) of the unperturbed batch, by prediction key: computed once
            # (by the shared forward pass, else by the first multi-pass member) and handed
            # to the multi-pass members, which then skip their own forward pass.
            predicted: dict[tuple, tuple] = {}
            if self._shared and not tokens:
                shared, predicted = self._run_shared(batch, plans)
                for i, result in zip(self._shared, shared):
                    parts[i].append(result)
            for i, (explainer, plan) in enumerate(zip(self.explainers, plans)):
                if i in self._shared and not tokens:
                    continue
                if tokens or isinstance(explainer, SinglePassExplainer):
                    parts[i].append(explainer._explain_batch(batch, plan))
                    continue
                key = explainer._prediction_key(plan)
                if key not in predicted:
                    predicted[key] = explainer._predict(plan, batch)
                parts[i].append(explainer._explain_batch(batch, plan, predicted[key]))
        return [call.explanation(p, per_input=e.per_input) for e, p in zip(self.explainers, parts)]

    def _flipped_key(self, plans: list[Plan]) -> tuple | None:
        """The prediction key of a multi-pass member that differs from the shared pass only by
        ``use_logits`` (Occlusion scores probabilities): the shared pass scores it too."""
        first = self.explainers[self._shared[0]]
        shared_key = first._prediction_key(plans[self._shared[0]])
        if shared_key[1] is None:
            return None
        flipped = (shared_key[0], not shared_key[1])
        for i, (explainer, plan) in enumerate(zip(self.explainers, plans)):
            if i not in self._shared and not isinstance(explainer, SinglePassExplainer):
                if explainer._prediction_key(plan) == flipped:
                    return flipped
        return None

    def _run_shared(self, batch: Batch, plans: list[Plan]) -> tuple[list[tuple], dict[tuple, tuple]]:
        members = [self.explainers[i] for i in self._shared]
        member_plans = [plans[i] for i in self._shared]
        flipped = self._flipped_key(plans)
        key = (tuple(m._function_key(p) for m, p in zip(members, member_plans)), flipped is not None)
        body = self._body(members, member_plans, flipped is not None)
        eager = all(m._runs_eagerly(p) for m, p in zip(members, member_plans)) and (
            flipped is None or member_plans[0].logits is not None
        )
        modified = [m.method for m in members if m.modified_relus]
        function = self._functions.get(
            key,
            body,
            [*Explainer._input_specs(member_plans[0]), tf.TensorSpec((None,), tf.int32)],
            eager_calls=min(m.EAGER_CALLS for m in members) if eager else 0,
            on_trace=(lambda f: warn_unreached(f.graph, "+".join(modified))) if modified else None,
        )
        classes = Explainer._class_array(member_plans[0], batch)
        maps, used, scores, other_scores = function(*batch.inputs, classes)
        used, scores = used.numpy(), scores.numpy()
        predicted = {members[0]._prediction_key(member_plans[0]): (used, scores)}
        if flipped is not None:
            predicted[flipped] = (used, other_scores.numpy())
        return [([m.numpy() for m in member_maps], used, scores) for member_maps in maps], predicted

    def _body(self, members: list[SinglePassExplainer], plans: list[Plan], flipped: bool):
        count = len(plans[0].shapes)
        layers = [layer for plan in plans for layer in plan.layers]
        modified = any(m.modified_relus for m in members)

        def body(*args):
            inputs, classes = list(args[:count]), args[count]
            recorder = LayerRecorder(layers)
            with relu_override(self.model) if modified else contextlib.nullcontext():
                with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
                    for tensor in inputs:
                        tape.watch(tensor)
                    outputs, scores, used = members[0]._forward(plans[0], inputs, classes, recorder)
                results = []
                for member, plan in zip(members, plans):
                    forward = ForwardPass(plan, inputs, outputs, scores, used, tape, recorder)
                    results.append([tf.cast(m, tf.float32) for m in member._attribute(forward)])
            other = scores
            if flipped:  # the same classes, scored on the other side of the final softmax
                selected = tf.nest.flatten(outputs)[plans[0].output_index]
                other_output = selected if members[0].use_logits else members[0]._logits(selected, recorder)
                other, _ = targets_lib.class_scores(other_output, used)
            return results, used, scores, other

        return body
