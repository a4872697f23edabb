"""Explanation callbacks: attribution maps of fixed inputs, logged every few epochs.

For each method and each input, three image tags show the input, the heatmap and
their overlay (``<method>/input``, ``<method>/heatmap``, ``<method>/overlay``); the
inputs are fixed, so ``<method>/input`` is written at the first logging step only.
Several single-pass methods in one callback share one forward pass
(:class:`~keras_viz.explainers.group.ExplainerGroup`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz import targets as targets_lib
from keras_viz import tensorboard as kv_tensorboard
from keras_viz.callbacks.base import VizCallback
from keras_viz.explainers import (
    CAM,
    Deconvnet,
    Explainer,
    ExplainerGroup,
    Explanation,
    GradCAM,
    GradCAMPlusPlus,
    GradientInput,
    GuidedBackprop,
    GuidedGradCAM,
    IntegratedGradients,
    Occlusion,
    Saliency,
    SmoothGrad,
)

__all__ = [
    "CAMCallback",
    "DeconvnetCallback",
    "ExplanationCallback",
    "GradCAMCallback",
    "GradCAMPlusPlusCallback",
    "GradientInputCallback",
    "GuidedBackpropCallback",
    "GuidedGradCAMCallback",
    "IntegratedGradientsCallback",
    "OcclusionCallback",
    "SaliencyCallback",
    "SmoothGradCallback",
]

ExplainerFactory = Callable[[keras.Model], Explainer]


def _fixed_inputs(inputs: Any, count: int) -> Any:
    """The first ``count`` samples of the fixed inputs, as NumPy arrays."""
    if isinstance(inputs, tf.data.Dataset):
        raise TypeError(
            "`inputs` of a callback must be a fixed set of arrays (e.g. x_val[:8]), not a "
            "tf.data.Dataset: the same samples are drawn at every step."
        )
    if isinstance(inputs, dict):
        return {key: np.asarray(value)[:count] for key, value in inputs.items()}
    if isinstance(inputs, (list, tuple)) and inputs and all(
        isinstance(v, (np.ndarray, tf.Tensor)) for v in inputs
    ):
        return [np.asarray(value)[:count] for value in inputs]
    array = np.asarray(inputs)
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(f"`inputs` must be a non-empty batch (N, ...); received shape {array.shape}")
    return array[:count]


def _factories(explainers: Any) -> list[ExplainerFactory]:
    if isinstance(explainers, (Explainer, type)) or callable(explainers):
        explainers = [explainers]
    if not isinstance(explainers, Sequence) or not explainers:
        raise ValueError(f"`explainers` must be a non-empty list; received {explainers!r}")
    factories = []
    for item in explainers:
        if isinstance(item, Explainer):
            factories.append(functools.partial(_rebind, item))
        elif callable(item):
            factories.append(item)
        else:
            raise TypeError(
                f"`explainers` holds {item!r}: expected explainer classes (kv.GradCAM), "
                f"callables model -> explainer, or explainers"
            )
    return factories


def _rebind(explainer: Explainer, model: keras.Model) -> Explainer:
    if explainer.model is not model:
        raise ValueError(
            f"{explainer!r} was built for model {explainer.model.name!r}, not for the model "
            f"being trained ({model.name!r}); pass the explainer class instead."
        )
    return explainer


def _spatial_index(flat_inputs: list[np.ndarray]) -> int:
    for index, array in enumerate(flat_inputs):
        if array.ndim >= 3:
            return index
    raise ValueError(
        "Explanation callbacks draw image (N, H, W, C) or sequence (N, T, C) inputs; the "
        f"inputs have shapes {[a.shape for a in flat_inputs]}."
    )


def _pictures(images: np.ndarray, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images and maps as pictures; a sequence (N, T, C) becomes one row per channel."""
    if images.ndim == 3:  # (N, T, C) -> (N, C, T) grey picture, map repeated per row
        return np.transpose(images, (0, 2, 1)), np.repeat(maps[:, None, :], images.shape[2], axis=1)
    return images, maps


class ExplanationCallback(VizCallback):
    """Logs explanations of fixed inputs into TensorBoard, under a time budget or every ``freq`` epochs.

    Explanation callbacks of one ``fit`` with the same inputs and targets are explained
    together when they log the same epoch (one :class:`ExplainerGroup`: one forward
    pass for the single-pass methods, whose classes and scores the multi-pass methods
    reuse); each still writes its own tags.

    Args:
        inputs: the fixed inputs (e.g. ``x_val[:8]``; a list/dict for multi-input models).
        explainers: explainer classes (``kv.GradCAM``), callables ``model -> explainer``
            (``functools.partial(kv.SmoothGrad, samples=16)``) or explainers built for
            the trained model.
        targets: the true labels (default when given) or None for the predicted class;
            also a ``kv.Unit`` or a callable. The tag description says which.
        log_dir: the ``log_dir`` of ``keras.callbacks.TensorBoard``.
        value_range: the inputs' value range for display (default: min–max per image).
        colormap: heatmap colour map (default: viridis, or a diverging map for signed maps).
        alpha: overlay opacity.
        scale: integer up-scaling of the pictures; default 1: TensorBoard's image card
            already stretches small pictures to its width, pixelated (crisp).
        **options: ``run``, ``freq``, ``budget``, ``batch_freq``, ``max_outputs``,
            ``raise_errors``, ``background`` (see :class:`~keras_viz.callbacks.base.VizCallback`).
    """

    def __init__(
        self,
        inputs: Any,
        *,
        explainers: Any,
        targets: targets_lib.TargetSpec = None,
        log_dir: str,
        value_range: tuple[float, float] | None = None,
        colormap: str | None = None,
        alpha: float = 0.5,
        scale: int | None = None,
        **options: Any,
    ):
        super().__init__(log_dir=log_dir, **options)
        self.inputs = _fixed_inputs(inputs, self.max_outputs)
        resolved = targets_lib.resolve(targets)
        if isinstance(resolved, targets_lib.ClassTargets) and resolved.indices is not None:
            targets = resolved.indices[: self.max_outputs]
        self.targets = targets
        self.factories = _factories(explainers)
        self.value_range = value_range
        self.colormap = colormap
        self.alpha = float(alpha)
        self.scale = scale
        self._data_key = _data_key(self.inputs, self.targets)
        self._explainers: list[Explainer] = []
        self._groups: dict[tuple[int, ...], tuple[ExplainerGroup, list[ExplanationCallback]]] = {}
        self._inputs_written = False
        self._drawn_inputs: tuple[Any, np.ndarray] | None = None  # (source array, its pictures), drawn once

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._inputs_written = False
        super().on_train_begin(logs)

    def _own_explainers(self) -> list[Explainer]:
        model = self.model
        if not self._explainers or self._explainers[0].model is not model:
            self._explainers = [factory(model) for factory in self.factories]
            self._groups.clear()
        return self._explainers

    def _explainer_group(self, peers: Sequence[ExplanationCallback] = ()) -> ExplainerGroup:
        """One group for this callback's explainers and those of ``peers`` (one forward pass)."""
        members = [self, *peers]
        key = tuple(id(member) for member in members)
        cached = self._groups.get(key)
        explainers = [e for member in members for e in member._own_explainers()]
        if cached is None or [id(e) for e in cached[0].explainers] != [id(e) for e in explainers]:
            cached = (ExplainerGroup(explainers), members)  # the members are kept alive with it
            self._groups[key] = cached
        return cached[0]

    def _explanations(self, step: int, prefix: str) -> list[Explanation]:
        """This callback's explanations for ``step``, computed together with its peers'.

        Explanation callbacks of the same ``fit`` with the same inputs and targets that log
        the same step are explained by one :class:`ExplainerGroup`: the first of them to run
        computes everything (one forward pass for the single-pass methods, whose classes
        and scores the multi-pass methods reuse) and leaves the others their share.
        """
        session = self._fit_session()
        results = session.shared.setdefault(("explanations", prefix, step, self._data_key), {})
        if id(self) in results:
            return results.pop(id(self))
        started = session.shared.setdefault(("explaining", prefix, step), set())
        started.add(id(self))
        peers = [
            member
            for member in session.members
            if isinstance(member, ExplanationCallback)
            and member is not self
            and id(member) not in started
            and member._data_key == self._data_key
            and getattr(member, "_model", None) is self.model
            and member._due_at(step, prefix)
        ]
        if peers:
            try:
                explanations = self._explainer_group(peers).explain(self.inputs, self.targets)
            except Exception:  # a peer's failure is the peer's to report: explain alone
                pass
            else:
                start = own = len(self._own_explainers())
                for peer in peers:
                    count = len(peer._own_explainers())
                    results[id(peer)] = explanations[start : start + count]
                    start += count
                return explanations[:own]
        return self._explainer_group().explain(self.inputs, self.targets)

    def _describe(self, method: str) -> str:
        if self.targets is None:
            return f"{method} of the **predicted class** of each input (no labels given)."
        if isinstance(self.targets, targets_lib.Unit):
            return f"{method} of unit {self.targets}."
        if callable(self.targets):
            return f"{method} of the score {getattr(self.targets, '__name__', 'function')}."
        return f"{method} of the **true label** of each input."

    def _log(self, step: int, prefix: str):
        explanations = self._explanations(step, prefix)
        explainers = self._own_explainers()
        flat = tf.nest.flatten(self.inputs)
        index = _spatial_index(flat)
        tags = _tag_prefixes(explainers)
        with_inputs = not self._inputs_written  # the fixed inputs are drawn once
        self._inputs_written = True
        drawn = []
        for explainer, explanation, tag in zip(explainers, explanations, tags):
            maps = explanation.maps
            if explainer.per_input:
                maps = tf.nest.flatten(maps)[index]
            images, pictures = _pictures(flat[index], maps)
            labels = None if explanation.classes is None else [int(c) for c in explanation.classes]
            drawn.append((prefix + tag, images, pictures, labels, self._describe(explainer.method)))
        scale = self.scale or 1
        source = flat[index]
        if self._drawn_inputs is None or self._drawn_inputs[0] is not source:
            shown = drawn[0][1] if drawn else source
            self._drawn_inputs = (source, kv_tensorboard.input_pictures(shown, value_range=self.value_range, scale=scale))
        input_pictures = self._drawn_inputs[1]

        def write(writer):
            for tag, images, pictures, labels, description in drawn:
                kv_tensorboard.log_explanations(
                    writer,
                    tag,
                    images,
                    pictures,
                    step,
                    labels=labels,
                    description=description,
                    max_outputs=self.max_outputs,
                    colormap=self.colormap,
                    alpha=self.alpha,
                    value_range=self.value_range,
                    scale=scale,
                    with_inputs=with_inputs,
                    input_pictures=input_pictures,
                )

        return write


def _data_key(inputs: Any, targets: Any) -> tuple:
    """Equal for callbacks that explain the same inputs for the same targets."""
    flat = tf.nest.flatten(inputs)
    structure = tuple(sorted(inputs)) if isinstance(inputs, dict) else type(inputs).__name__
    digest = hashlib.blake2b(digest_size=16)
    for array in flat:
        digest.update(repr((array.shape, array.dtype.str)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    if targets is None or isinstance(targets, str):
        target_key: Any = targets
    elif isinstance(targets, targets_lib.Unit):
        target_key = ("unit", repr(targets))
    elif callable(targets):
        target_key = ("callable", targets)  # the same function object
    else:
        target_key = ("classes", np.asarray(targets).tobytes(), np.asarray(targets).shape)
    return (structure, digest.hexdigest(), target_key)


def _tag_prefixes(explainers: Sequence[Explainer]) -> list[str]:
    """``method`` tags, disambiguated by layer when a method appears twice."""
    methods = [e.method for e in explainers]
    tags = []
    for explainer, method in zip(explainers, methods):
        tag = method
        if methods.count(method) > 1:
            layer = getattr(explainer, "layer", None)
            suffix = str(layer).replace(" ", "_") if layer is not None else str(len(tags))
            tag = f"{method}/{suffix}"
        tags.append(tag)
    return tags


_CALLBACK_OPTIONS = frozenset(
    name
    for function in (VizCallback.__init__, ExplanationCallback.__init__)
    for name, parameter in inspect.signature(function).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
) - {"log_dir", "explainers", "targets"}


def _method_callback(explainer_class: type[Explainer]) -> type[ExplanationCallback]:
    """An :class:`ExplanationCallback` for one explainer class, taking its options."""
    accepted = {
        name
        for klass in explainer_class.__mro__
        if "__init__" in vars(klass) and issubclass(klass, Explainer)
        for name in inspect.signature(vars(klass)["__init__"]).parameters
    } - {"self", "model", "options"}

    def __init__(self, inputs: Any, targets: targets_lib.TargetSpec = None, *, log_dir: str, **options: Any):
        unknown = sorted(set(options) - accepted - _CALLBACK_OPTIONS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown option(s) {unknown}; explainer options: "
                f"{sorted(accepted)}, callback options: {sorted(_CALLBACK_OPTIONS)}."
            )
        callback_options = {k: v for k, v in options.items() if k in _CALLBACK_OPTIONS}
        explainer_options = {k: v for k, v in options.items() if k not in _CALLBACK_OPTIONS}
        ExplanationCallback.__init__(
            self,
            inputs,
            explainers=[functools.partial(explainer_class, **explainer_options)],
            targets=targets,
            log_dir=log_dir,
            **callback_options,
        )

    name = f"{explainer_class.__name__}Callback"
    doc = (
        f"Logs :class:`~keras_viz.{explainer_class.__name__}` explanations of fixed inputs.\n\n"
        f"``{name}(inputs, targets=None, *, log_dir, **options)``: options of\n"
        f":class:`~keras_viz.{explainer_class.__name__}` (e.g. ``layer``) go to the explainer, the\n"
        f"others ({', '.join(sorted(_CALLBACK_OPTIONS))}) to :class:`ExplanationCallback`.\n"
    )
    return type(name, (ExplanationCallback,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


SaliencyCallback = _method_callback(Saliency)
DeconvnetCallback = _method_callback(Deconvnet)
GuidedBackpropCallback = _method_callback(GuidedBackprop)
GradientInputCallback = _method_callback(GradientInput)
SmoothGradCallback = _method_callback(SmoothGrad)
IntegratedGradientsCallback = _method_callback(IntegratedGradients)
CAMCallback = _method_callback(CAM)
GradCAMCallback = _method_callback(GradCAM)
GradCAMPlusPlusCallback = _method_callback(GradCAMPlusPlus)
GuidedGradCAMCallback = _method_callback(GuidedGradCAM)
OcclusionCallback = _method_callback(Occlusion)
