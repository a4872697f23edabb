"""Model access for optimisation: argument checks, the image input, and reading an objective.

Layers are read during the model's own forward pass, as the explainers read them (see
:mod:`keras_viz._model`): each layer an objective needs has its ``call`` routed through a
hook while the step function is traced. When no term needs the model's output, the hook
ends the forward pass as soon as the last needed layer has run, so the layers above it
cost nothing, and a model whose head only takes its training size (``Flatten -> Dense``)
can still be read at its convolutions on larger images (DeepDream).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._inputs import model_input_specs
from keras_viz._model import (
    ModelInfo,
    check_backend,
    check_model,
    find_layer,
    intercept,
    iter_layers,
    layer_path,
    single_tensor,
)
from keras_viz.optvis._checks import check_int, check_positive, check_seed, check_size, check_value_range
from keras_viz.optvis.objectives import ClassScore, Objective

__all__ = [
    "ObjectiveReader",
    "check_images",
    "check_int",
    "check_objective",
    "check_positive",
    "check_seed",
    "check_value_range",
    "image_input",
    "probe",
    "relaxed_input_shape",
    "run_model",
]


# --------------------------------------------------------------------------- argument checks (see _checks for the rule)


def check_objective(objective: Any, argument: str = "objective") -> Objective:
    if not isinstance(objective, Objective):
        raise TypeError(
            f"`{argument}` must be an optvis objective such as optvis.channel('conv3', 7) or "
            f"optvis.class_score(3); received {type(objective).__name__}: {objective!r:.80}"
        )
    return objective


# --------------------------------------------------------------------------- the image input


def check_images(
    images: Any,
    channels: int,
    value_range: tuple[float, float],
    argument: str,
    size: tuple[int | None, int | None] | None = None,
) -> tuple[np.ndarray, bool]:
    """Validates ``(H, W, C)`` or ``(N, H, W, C)`` images in ``value_range``.

    Returns:
        ``(batch (N, H, W, C) float32, single)`` where ``single`` says a 3-D image was given.
    """
    if isinstance(images, tf.Tensor):
        images = images.numpy()
    try:
        array = np.asarray(images, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`{argument}` must be an image array; received {type(images).__name__}") from error
    single = array.ndim == 3
    if single:
        array = array[np.newaxis]
    if array.ndim != 4 or array.shape[0] == 0 or 0 in array.shape:
        raise ValueError(f"`{argument}` must have shape (H, W, C) or (N, H, W, C); received shape {np.shape(images)}.")
    if array.shape[-1] != channels:
        raise ValueError(f"`{argument}` has {array.shape[-1]} channels but the model takes {channels} (shape {np.shape(images)}).")
    if size is not None and any(s is not None and s != a for s, a in zip(size, array.shape[1:3])):
        raise ValueError(
            f"`{argument}` has shape {np.shape(images)} but the model takes images of "
            f"{size[0]}x{size[1]} pixels."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{argument}` contains NaN or infinite values.")
    low, high = value_range
    slack = 1e-3 * (high - low)
    if array.min() < low - slack or array.max() > high + slack:
        raise ValueError(
            f"`{argument}` values span [{array.min():g}, {array.max():g}], outside value_range={value_range}; "
            f"pass the range the model takes (e.g. value_range=(0, 255))."
        )
    return np.clip(array, low, high), single




def image_input(model: keras.Model, what: str) -> tuple[tuple[int | None, ...], int, bool]:
    """The model's one image input: ``(declared (H, W), channels, fixed)``.

    ``fixed`` is True when the model itself declares its spatial size (functional and
    Sequential models built from ``keras.Input``), False for a size learnt from a first call
    (subclassed models), which the model may not insist on.

    Raises:
        ValueError: the model has several inputs, or its input is not ``(N, H, W, C)``.
    """
    specs = model_input_specs(model)
    fixed = True
    if specs is None:
        shape = (model.get_build_config() or {}).get("input_shape") if model.built else None
        if shape is None or (isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple))):
            raise ValueError(
                f"{what} needs to know the input shape of model {model.name!r}; call the model once "
                f"on a batch of images (or build it) first."
            )
        specs, fixed = [("input", tuple(shape), "float32")], False
    if len(specs) != 1:
        raise ValueError(
            f"{what} takes models with one image input; model {model.name!r} has {len(specs)} inputs "
            f"({', '.join(name for name, _, _ in specs)})."
        )
    _, shape, dtype = specs[0]
    if len(shape) != 4 or shape[-1] is None:
        raise ValueError(
            f"{what} takes image models with input shape (N, H, W, C); model {model.name!r} has input "
            f"shape {tuple(shape)}."
        )
    if not ("float" in dtype):
        raise TypeError(f"{what} optimises a floating-point input; model {model.name!r} takes {dtype}.")
    return (shape[1], shape[2]), int(shape[3]), fixed and any(s is not None for s in shape[1:3])


def resolve_size(
    model: keras.Model, size: Any, what: str, argument: str = "size"
) -> tuple[int, int, int, bool]:
    """``(height, width, channels, relax)`` for optimised images of ``size``.

    ``relax`` is True when the model declares another spatial size and its input check
    must be lifted (:func:`relaxed_input_shape`) for the model to run at this size.
    """
    declared, channels, fixed = image_input(model, what)
    if size is None:
        if any(s is None for s in declared):
            raise ValueError(
                f"Model {model.name!r} takes images of any size (input (N, {declared[0]}, {declared[1]}, "
                f"{channels})); pass `{argument}=(height, width)`."
            )
        return int(declared[0]), int(declared[1]), channels, False
    height, width = check_size(size, argument)
    relax = fixed and any(d is not None and d != s for d, s in zip(declared, (height, width)))
    return height, width, channels, relax


def _functional_models(model: keras.Model) -> list[keras.Model]:
    found = [model] + [layer for _, layer in iter_layers(model) if isinstance(layer, keras.Model)]
    return [m for m in found if hasattr(m, "_inputs_struct") and not isinstance(m, keras.Sequential)]


@contextlib.contextmanager
def relaxed_input_shape(model: keras.Model, enabled: bool = True) -> Iterator[None]:
    """Lifts the input-shape check of functional models (the model and nested ones).

    Keras' functional models refuse inputs of another spatial size than their ``Input``
    even when every layer would take them (a fully convolutional network). Their
    ``input_spec`` is read from ``_manual_input_spec`` when that is set; setting it to None
    for the block (restored in ``finally``) turns the check off, as ``Sequential`` already
    does for its inner functional graph.
    """
    if not enabled:
        yield
        return
    from keras_viz._model import patched_attribute

    with contextlib.ExitStack() as stack:
        for functional in _functional_models(model):
            stack.enter_context(patched_attribute(functional, "_manual_input_spec", None))
            # Keras' private attribute: if a Keras release renames it, say so here rather than
            # let the model refuse the images with a misleading "not fully convolutional".
            if functional.input_spec is not None:
                raise RuntimeError(
                    f"keras_viz could not lift the input-shape check of model {functional.name!r}: "
                    f"Keras {keras.__version__} no longer reads `_manual_input_spec` in "
                    f"`Functional.input_spec`, so images of another size than the model's input "
                    f"cannot be used; keras_viz.optvis._graph.relaxed_input_shape needs an update."
                )
        yield


# --------------------------------------------------------------------------- reading layers


class _EndOfForwardPass(Exception):
    """Raised by the read hook once every needed layer has run (caught by :func:`run_model`)."""


def run_model(
    model: keras.Model,
    images: tf.Tensor,
    layers: Sequence[keras.layers.Layer],
    *,
    need_output: bool,
    relax: bool = False,
) -> tuple[Any, dict[int, Any]]:
    """Runs ``model`` (inference mode) on ``images`` and reads the outputs of ``layers``.

    Returns:
        ``(outputs, read)``: the model's outputs (None when the pass ended early) and
        ``{id(layer): output}``.
    """
    read: dict[int, Any] = {}
    wanted = {id(layer) for layer in layers}

    def hook(layer, outputs, args, kwargs):
        read.setdefault(id(layer), outputs)
        if not need_output and wanted.issubset(read):
            raise _EndOfForwardPass("every layer needed has been read")
        return outputs

    outputs = None
    with relaxed_input_shape(model, relax), intercept(list(layers), hook):
        try:
            outputs = model(images, training=False)
        except _EndOfForwardPass:
            pass
    missing = [layer.name for layer in layers if id(layer) not in read]
    if missing:
        raise ValueError(
            f"Layer(s) {', '.join(missing)} did not run in the forward pass of model {model.name!r}, "
            f"so their output cannot be read."
        )
    return outputs, read


def probe(model: keras.Model, height: int, width: int, channels: int) -> ModelInfo:
    """One eager forward pass on a blank image: shapes, calls, outputs."""
    sample = tf.zeros((1, height, width, channels), tf.float32)
    try:
        return ModelInfo(model, sample)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Model {model.name!r} could not be run on images of shape (1, {height}, {width}, "
            f"{channels}): {error}"
        ) from error


class ObjectiveReader:
    """An objective bound to a model: its layers found, its indices checked.

    Args:
        model: the model.
        objective: the objective.
        info: a probe of the model at the size the objective is checked for.
        argument: the argument name used in error messages.
    """

    def __init__(self, model: keras.Model, objective: Objective, info: ModelInfo, argument: str = "objective"):
        check_backend()
        self.model = model
        self.objective = objective
        self.term_layers: list[keras.layers.Layer | None] = []
        self.output_indices: list[int | None] = []
        for _, term in objective.terms:
            if isinstance(term, ClassScore):
                index = info.output_index(term.output, argument="output")
                term.check_classes(info.num_classes(index), f"output {info.output_names[index]!r}")
                self.term_layers.append(None)
                self.output_indices.append(index)
                continue
            layer = find_layer(model, term.layer, argument=f"{argument} ({term.describe()})")
            calls = info.calls_of(layer)
            where = f"layer {layer_path(model, layer)!r}"
            if not calls:
                raise ValueError(
                    f"{term.describe()}: {where} does not run in the forward pass of model "
                    f"{model.name!r}; choose a layer on the path from the input to the outputs."
                )
            if len(calls) > 1:
                raise ValueError(
                    f"{term.describe()}: {where} runs {len(calls)} times in one forward pass (a shared "
                    f"layer), so which call to read is ambiguous; choose a layer that runs once."
                )
            if len(calls[0].outputs) != 1:
                raise ValueError(f"{term.describe()}: {where} has {len(calls[0].outputs)} outputs; choose a layer with one.")
            term.check(calls[0].output_shape, where)
            self.term_layers.append(layer)
            self.output_indices.append(None)
        self.layers = list(dict.fromkeys(layer for layer in self.term_layers if layer is not None))
        self.need_output = any(index is not None for index in self.output_indices)

    def __call__(self, images: tf.Tensor, members: tf.Tensor | None, *, relax: bool = False) -> tf.Tensor:
        """The objective's values for ``images`` (inside a traced function); see
        :meth:`Objective.evaluate`."""
        outputs, read = run_model(self.model, images, self.layers, need_output=self.need_output, relax=relax)
        flat_outputs = tf.nest.flatten(outputs) if outputs is not None else []
        tensors = []
        for layer, index in zip(self.term_layers, self.output_indices):
            if layer is None:
                tensors.append(flat_outputs[index])
            else:
                tensors.append(single_tensor(read[id(layer)], f"Layer {layer.name!r}"))
        return self.objective.evaluate(tensors, members)


def checked_model(model: Any) -> keras.Model:
    check_backend()
    return check_model(model)


def layer_outputs(model: keras.Model, images: np.ndarray, layers: Sequence[Any], *, argument: str = "layer") -> list[np.ndarray]:
    """The outputs of ``layers`` for ``images`` ``(N, H, W, C)``, read in one pass that ends at
    the deepest of them (so images of another size than the model's input work when the
    model is fully convolutional up to the layers)."""
    declared, _, fixed = image_input(model, "reading layer outputs")
    objects = [find_layer(model, layer, argument=argument) for layer in layers]

    def body(x):
        _, read = run_model(model, x, objects, need_output=False, relax=fixed)
        return [tf.cast(single_tensor(read[id(layer)], f"Layer {layer.name!r}"), tf.float32) for layer in objects]

    function = tf.function(body, autograph=False).get_concrete_function(tf.TensorSpec((None, *images.shape[1:]), tf.float32))
    results = [function(images[start : start + 64]) for start in range(0, len(images), 64)]
    return [np.concatenate([np.asarray(r[i]) for r in results], axis=0) for i in range(len(objects))]
