"""Explainer inputs: NumPy arrays, tensors or a ``tf.data.Dataset``, validated and batched.

Inputs are handled as a *flat* list of arrays (one per model input, in
``tf.nest.flatten`` order) plus the structure to pack them back into (a single
array, a list or a dict), so single- and multi-input models share one code path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz._checks import check_int
from keras_viz._dataset_iteration import elements
from keras_viz._model import declared_inputs

_SINGLE = object()  # structure marker: the model takes one tensor


@dataclasses.dataclass
class Batch:
    """A slice of the inputs, ready for a compiled explainer function."""

    inputs: list[np.ndarray]
    labels: np.ndarray | None
    offset: int  # index of the first sample within the whole call
    # The same inputs as the tensors a dataset gave (not split, same dtypes), if so: a
    # compiled function fed these skips copying the arrays back into tensors.
    tensors: list[tf.Tensor] | None = None

    @property
    def size(self) -> int:
        return int(self.inputs[0].shape[0])

    @property
    def feed(self) -> list[Any]:
        """The inputs to feed a compiled function: the dataset's own tensors where possible."""
        return self.inputs if self.tensors is None else self.tensors


def check_batch_size(batch_size: Any, argument: str = "batch_size") -> int:
    """``batch_size`` as an int >= 1: samples (or copies) per forward pass.

    The library's one argument rule (:func:`keras_viz._checks.check_int`): TypeError for a
    value that is not an int (a float, a bool, a string), ValueError for one below 1.
    """
    return check_int(batch_size, argument)


def structure_key(structure: Any) -> Any:
    """A hashable description of an input structure (single, list or dict keys).

    Part of every key of a traced function: the function packs its flat inputs with the
    structure it was traced for, and a dict is flattened in sorted-key order while a list
    keeps its own, so equal flat shapes do not make two structures interchangeable.
    """
    if structure is _SINGLE:
        return "single"
    if isinstance(structure, dict):
        return ("dict", tuple(sorted(map(str, structure))))
    if isinstance(structure, (list, tuple)):
        return ("list", len(structure))
    return "single"


def signature_key(structure: Any, arrays: Sequence[Any]) -> tuple:
    """What a traced function of these inputs depends on: the structure
    (:func:`structure_key`) and each flat input's shape without the batch axis and dtype."""
    return structure_key(structure), tuple((a.shape[1:], a.dtype.str) for a in arrays)


def pack(structure: Any, flat: list[Any]) -> Any:
    """Rebuilds the user's input structure from a flat list."""
    if structure is _SINGLE:
        return flat[0]
    return tf.nest.pack_sequence_as(structure, flat)


def input_names(structure: Any, count: int, argument: str = "inputs") -> list[str]:
    """How each flat input is named in messages: ``inputs``, ``inputs[1]``, ``inputs['ids']``."""
    if structure is _SINGLE or structure is None and count == 1:
        return [argument]
    if isinstance(structure, dict):
        return [f"{argument}[{key!r}]" for key in sorted(structure, key=str)]
    return [f"{argument}[{i}]" for i in range(count)]


def model_input_specs(model: keras.Model) -> list[tuple[str, tuple, str]] | None:
    """``(name, shape, dtype)`` of each declared model input in flat order, if declared."""
    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict):  # the model's own keys name its inputs
        return [(str(key), tuple(struct[key].shape), str(struct[key].dtype)) for key in sorted(struct)]
    flat = tf.nest.flatten(struct) if struct is not None else declared_inputs(model)
    if not flat:
        return None
    return [(getattr(t, "name", str(i)), tuple(t.shape), str(t.dtype)) for i, t in enumerate(flat)]


def _align_to_keys(specs: list[tuple[str, tuple, str]] | None, keys: list[str]):
    """Orders input specs like the flattened (sorted) keys of a dict of inputs."""
    if specs is None:
        return None
    by_name = {name: spec for spec in specs for name in (spec[0],)}
    if sorted(by_name) == sorted(keys):
        return [by_name[key] for key in sorted(keys)]
    raise ValueError(
        f"`inputs` is a dict with keys {sorted(keys)} but the model's inputs are named "
        f"{[spec[0] for spec in specs]}."
    )


class Inputs:
    """Validated explainer inputs that can be iterated in batches.

    Args:
        inputs: array/tensor, list/tuple/dict of them (multi-input models), or a
            ``tf.data.Dataset`` yielding ``x`` or ``(x, y)`` / ``(x, y, sample_weight)``.
        model: the model the inputs are for (used to check shapes and dtypes).
        argument: the argument name used in error messages.
        forward: inputs for a forward pass only (:class:`~keras_viz.FeatureMaps`,
            :class:`~keras_viz.AttentionMaps`), not for an explainer: boolean arrays
            (e.g. an attention mask) are accepted, and boolean and integer arrays for
            model inputs of those dtypes are passed on unchanged. Explainers keep the
            default (False), which takes floating-point arrays and integer token ids.
    """

    def __init__(self, inputs: Any, model: keras.Model, argument: str = "inputs", *, forward: bool = False):
        self.argument = argument
        self.forward = bool(forward)
        self.specs = model_input_specs(model)
        self.dataset = inputs if isinstance(inputs, tf.data.Dataset) else None
        if self.dataset is None:
            self.structure, flat = self._split_structure(inputs)
            self.arrays = [self._check_array(a, i) for i, a in enumerate(flat)]
            self._check_counts(self.arrays)
            self.count: int | None = int(self.arrays[0].shape[0])
        else:
            self.structure = None
            self.arrays = []
            self.count = None

    # -- structure -------------------------------------------------------------

    def _split_structure(self, inputs: Any) -> tuple[Any, list[Any]]:
        if isinstance(inputs, dict):
            self.specs = _align_to_keys(self.specs, [str(key) for key in inputs])
            return {key: None for key in inputs}, tf.nest.flatten(dict(inputs))
        if (
            isinstance(inputs, (list, tuple))
            and inputs
            and all(isinstance(v, (np.ndarray, tf.Tensor)) for v in inputs)
        ):
            n_inputs = None if self.specs is None else len(self.specs)
            if n_inputs == 1 and len(inputs) == 1:
                return _SINGLE, [inputs[0]]
            if n_inputs is None or n_inputs > 1:
                return [None] * len(inputs), list(inputs)
        return _SINGLE, [inputs]

    # -- validation ------------------------------------------------------------

    def _name(self, index: int) -> str:
        return self.argument if self.structure is _SINGLE else f"{self.argument}[{index}]"

    def _check_array(self, value: Any, index: int) -> np.ndarray:
        name = self._name(index)
        if isinstance(value, tf.Tensor):
            value = value.numpy()
        if isinstance(value, (tf.RaggedTensor, tf.SparseTensor)):
            raise TypeError(f"`{name}` must be a dense array; received {type(value).__name__}.")
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as error:
            raise TypeError(f"`{name}` could not be read as an array: {error}") from error
        if array.dtype == object or array.dtype.kind not in ("fiub" if self.forward else "fiu"):
            accepted = "numeric or boolean" if self.forward else "floating-point (or integer pixel)"
            raise TypeError(
                f"`{name}` has dtype {array.dtype}; {'the forward pass takes' if self.forward else 'explainers take'} "
                f"{accepted} arrays."
            )
        if array.ndim < 2:
            raise ValueError(
                f"`{name}` has shape {array.shape}: expected a batch (N, ...) with at least 2 "
                f"axes; add a batch axis, e.g. `{self.argument}[None]`."
            )
        if array.shape[0] == 0:
            raise ValueError(f"`{name}` is an empty batch (shape {array.shape}).")
        spec = self._spec(index)
        if spec is not None:
            self._check_shape(array.shape, spec, name)
        if spec is not None and is_integer_dtype(spec[2]):
            return _token_ids(array, name, spec[2])
        if self.forward and (spec is not None and spec[2] == "bool" or spec is None and array.dtype.kind == "b"):
            return _booleans(array, name)
        array = array.astype(np.float32, copy=False)
        finite = np.isfinite(array)
        if not finite.all():
            bad = np.argwhere(~finite)
            raise ValueError(
                f"`{name}` contains {len(bad)} NaN or infinite value(s) (first at index "
                f"{tuple(int(i) for i in bad[0])}); explanations of non-finite inputs are "
                f"meaningless."
            )
        return array

    def _spec(self, index: int):
        if self.specs is None:
            return None
        if index >= len(self.specs):
            return None
        return self.specs[index]

    def _check_shape(self, shape: tuple, spec: tuple[str, tuple, str], name: str) -> None:
        _, expected, dtype = spec
        if self.forward and dtype == "bool":
            pass  # e.g. an attention mask: passed on as it is
        elif not ("float" in dtype or dtype.startswith("bfloat") or is_integer_dtype(dtype)):
            raise TypeError(
                f"The model input for `{name}` has dtype {dtype}: keras-viz reads floating-point "
                f"inputs and integer token ids."
            )
        if len(shape) != len(expected) or any(
            e is not None and e != s for s, e in zip(shape[1:], expected[1:])
        ):
            raise ValueError(
                f"`{name}` has shape {tuple(shape)} but the model expects "
                f"{tuple(expected)} (None = any size)."
            )

    def _check_counts(self, arrays: list[np.ndarray]) -> None:
        if self.specs is not None and len(arrays) != len(self.specs):
            raise ValueError(
                f"`{self.argument}` has {len(arrays)} array(s) but the model takes "
                f"{len(self.specs)} input(s)."
            )
        counts = {int(a.shape[0]) for a in arrays}
        if len(counts) > 1:
            raise ValueError(
                f"The arrays in `{self.argument}` have different numbers of samples: "
                f"{[int(a.shape[0]) for a in arrays]}."
            )

    # -- batching --------------------------------------------------------------

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Yields validated batches of at most ``batch_size`` samples."""
        if self.dataset is None:
            for start in range(0, self.count, batch_size):
                yield Batch([a[start : start + batch_size] for a in self.arrays], None, start)
            return
        offset = 0
        for element in elements(self.dataset):  # no wait for the iterator's teardown
            x, labels = self._split_element(element)
            if self.structure is None:
                self.structure, _ = self._split_structure(x)
            flat = _flat(x)
            arrays = [self._check_array(a, i) for i, a in enumerate(flat)]
            self._check_counts(arrays)
            if labels is not None:
                labels = np.asarray(labels)
            tensors = flat if arrays[0].shape[0] <= batch_size and _same_tensors(flat, arrays) else None
            for start in range(0, arrays[0].shape[0], batch_size):
                part = [a[start : start + batch_size] for a in arrays]
                part_labels = None if labels is None else labels[start : start + batch_size]
                yield Batch(part, part_labels, offset, tensors)
                offset += part[0].shape[0]
        if offset == 0:
            raise ValueError(f"`{self.argument}` is an empty dataset.")
        self.count = offset

    def _split_element(self, element: Any) -> tuple[Any, Any]:
        """Keras' convention: a dataset yields ``x`` or ``(x, y)`` / ``(x, y, sample_weight)``."""
        n_inputs = None if self.specs is None else len(self.specs)
        if isinstance(element, tuple) and len(element) in (2, 3):
            first = element[0]
            if n_inputs in (None, 1) and tf.is_tensor(first):
                return first, element[1]
            if not tf.is_tensor(first):  # (x_structure, y)
                return first, element[1]
        return element, None


def is_integer_dtype(dtype: Any) -> bool:
    """True for integer dtypes (token-id inputs), given as a name or a dtype object."""
    name = str(getattr(dtype, "name", dtype))
    return name.startswith(("int", "uint"))


def _token_ids(array: np.ndarray, name: str, dtype: str) -> np.ndarray:
    """Token ids for an integer model input: whole numbers, kept as integers."""
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(
                f"`{name}` feeds a model input of dtype {dtype} (token ids) but holds values "
                f"that are not whole numbers."
            )
    return array.astype(np.int64 if dtype.endswith("64") else np.int32, copy=False)


def _booleans(array: np.ndarray, name: str) -> np.ndarray:
    """A boolean model input (e.g. an attention mask): booleans, or 0/1 numbers made booleans."""
    if array.dtype.kind != "b" and not np.all((array == 0) | (array == 1)):
        raise ValueError(
            f"`{name}` feeds a boolean model input (e.g. a mask) but holds values other than 0 and 1."
        )
    return array.astype(bool, copy=False)


def _flat(x: Any) -> list[Any]:
    return tf.nest.flatten(x)


def _same_tensors(values: list[Any], arrays: list[np.ndarray]) -> bool:
    """Whether ``values`` are dense tensors holding exactly ``arrays`` (validation cast nothing)."""
    return all(isinstance(v, tf.Tensor) and v.dtype.as_numpy_dtype == a.dtype for v, a in zip(values, arrays))
