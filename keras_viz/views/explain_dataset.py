"""Explaining a whole dataset: any explainer over a stream, optionally on a tf.distribute strategy.

An explainer call keeps every map of its inputs in memory; a dataset larger than memory
is explained batch by batch here instead: each batch's :class:`~keras_viz.Explanation`
is yielded (or written to ``.npy`` shards) and dropped.

With a ``tf.distribute`` strategy each global batch is split into one contiguous shard per
replica (TensorFlow's own distribution: ``MirroredStrategy`` over the GPUs of a machine,
``MultiWorkerMirroredStrategy`` over machines):

* Methods that explain a batch in one graph (the single-pass methods: Saliency, guided
  backprop, deconvnet, gradient x input, CAM, Grad-CAM, Grad-CAM++, guided Grad-CAM) run
  ``strategy.run`` inside one ``tf.function``: the explainer's graph is built once per
  replica on its device, and TensorFlow runs the replicas' parts of that one graph
  concurrently.
* Methods that run several graphs per batch with NumPy in between (Integrated Gradients,
  SmoothGrad, occlusion, and every method on token-id inputs) cannot be traced under a
  replica context. Their shards run one after another, each placed on its replica's
  device with ``tf.device``: device placement (memory and compute of each shard on its
  own device), without parallelism between the replicas.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz import targets as targets_lib
from keras_viz._checks import check_int
from keras_viz._inputs import Inputs, pack
from keras_viz.backprop import warn_unreached
from keras_viz.explainers.base import Explainer, ExplainerCall, Explanation, SinglePassExplainer

__all__ = ["explain_dataset"]


def _check_targets(targets: Any, count: int | None) -> Any:
    resolved = targets_lib.resolve(targets)
    if isinstance(resolved, targets_lib.ClassTargets) and resolved.indices is not None:
        if count is not None and len(resolved.indices) != count:
            raise ValueError(f"`targets` has {len(resolved.indices)} entries but `data` has {count} samples.")
    return resolved


def _batch_targets(targets: Any, resolved: Any, batch) -> Any:
    """The targets of one batch, in a form ``Explainer.explain`` takes."""
    if resolved == "labels":
        if batch.labels is None:
            raise ValueError("`targets`='labels' but the dataset yields no labels; it must yield (x, y).")
        return np.asarray(batch.labels)
    if isinstance(resolved, targets_lib.ClassTargets) and resolved.indices is not None:
        return resolved.take(batch.offset, batch.size)
    return targets


def explain_dataset(
    explainer: Explainer,
    data: Any,
    *,
    targets: targets_lib.TargetSpec = None,
    strategy: tf.distribute.Strategy | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
) -> Iterator[Explanation] | list[str]:
    """Runs ``explainer`` over ``data`` of any size, one batch at a time.

    Args:
        explainer: any keras-viz explainer (``kv.GradCAM(model)``, ...).
        data: arrays (list/dict for multi-input models) or a ``tf.data.Dataset``
            yielding ``x`` or ``(x, y)`` batches, of any length.
        targets: as for the explainer: None (predicted class), an int, one int per
            sample of the whole stream, ``"labels"`` (a dataset's ``y``), a
            :class:`~keras_viz.Unit` or a callable.
        strategy: a ``tf.distribute.Strategy``; each batch of ``batch_size`` samples
            per replica is split over its replicas and the results are gathered in input
            order. Single-pass methods run the replicas concurrently in one graph
            (``strategy.run`` in a ``tf.function``); multi-pass methods run the shards one
            after another, each on its replica's device (see the module docstring).
        output_dir: if given, each batch is written as ``.npy`` shards
            (``shard_00000_maps.npy``, ``..._classes.npy``, ``..._scores.npy``; maps of
            multi-input models as ``..._maps_<i>.npy``) and the paths are returned.
        batch_size: samples per batch (per replica); default the explainer's.

    Returns:
        Without ``output_dir``: an iterator of :class:`~keras_viz.Explanation`, one per
        batch, in input order (its ``maps``, ``classes``, ``scores`` hold that batch).
        With ``output_dir``: the list of files written.

    Example:
        >>> for part in kv.explain_dataset(kv.GradCAM(model), dataset, targets="labels"):
        ...     save(part.maps)
        >>> kv.explain_dataset(kv.Saliency(model), x, strategy=tf.distribute.MirroredStrategy(),
        ...                    output_dir="maps/")
    """
    if not isinstance(explainer, Explainer):
        raise TypeError(f"`explainer` must be a keras-viz Explainer (e.g. kv.GradCAM(model)); received {explainer!r}")
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(f"`strategy` must be a tf.distribute.Strategy or None; received {strategy!r}")
    if batch_size is None:
        batch_size = explainer.batch_size
    batch_size = check_int(batch_size, "batch_size")
    inputs = Inputs(data, explainer.model, argument="data")
    resolved = _check_targets(targets, inputs.count)
    if resolved == "labels" and inputs.dataset is None:
        raise ValueError("`targets`='labels' takes labels from a tf.data.Dataset yielding (x, y).")
    parts = _explanations(explainer, inputs, targets, resolved, strategy, int(batch_size))
    if output_dir is None:
        return parts
    return _write_shards(parts, os.fspath(output_dir))


def _explanations(explainer, inputs, targets, resolved, strategy, batch_size) -> Iterator[Explanation]:
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    spread = None if strategy is None else _Replicas(strategy, explainer)
    for batch in inputs.batches(batch_size * replicas):
        batch_targets = _batch_targets(targets, resolved, batch)
        x = _restructure(inputs, batch.inputs)
        if spread is None:
            yield _explain_at(explainer, x, batch_targets, batch.offset)
        else:
            yield spread.explain(inputs, batch, batch_targets)


def _explain_at(explainer: Explainer, x: Any, targets: Any, offset: int) -> Explanation:
    """``explainer.explain(x, targets)`` for samples that start at ``offset`` in the stream.

    Methods that draw noise per sample (SmoothGrad) key it by the sample's index, so the
    index must be the one in the whole stream for the result not to depend on batching.
    """
    call = ExplainerCall(explainer.model, x, targets)
    parts = []
    for batch, target in call.batches(explainer.batch_size):
        plan = explainer._plan(batch, call.structure, target)
        batch.offset += offset
        parts.append(explainer._explain_batch(batch, plan))
    return call.explanation(parts, per_input=explainer.per_input)


def _restructure(inputs: Inputs, arrays: list[np.ndarray]) -> Any:
    return pack(inputs.structure, arrays)


def _shards(count: int, replicas: int) -> list[slice]:
    """Contiguous, nearly equal shards (the first ones one larger), empty ones allowed."""
    sizes = [count // replicas + (1 if r < count % replicas else 0) for r in range(replicas)]
    starts = np.cumsum([0, *sizes])
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


def _shard_targets(batch_targets: Any, part: slice) -> Any:
    if isinstance(batch_targets, np.ndarray) or (
        isinstance(batch_targets, (list, tuple)) and not isinstance(batch_targets, str)
    ):
        return np.asarray(batch_targets)[part]
    return batch_targets


class _Replicas:
    """Explains global batches over the replicas of ``strategy`` (see the module docstring)."""

    def __init__(self, strategy: tf.distribute.Strategy, explainer: Explainer):
        self.strategy = strategy
        self.explainer = explainer
        self.replicas = strategy.num_replicas_in_sync
        self.devices = list(strategy.extended.worker_devices)
        self._functions: dict[tuple, Any] = {}  # one graph per input signature and target kind

    def explain(self, inputs, batch, batch_targets) -> Explanation:
        shards = _shards(batch.size, self.replicas)
        x = _restructure(inputs, batch.inputs)
        if isinstance(self.explainer, SinglePassExplainer):
            call = ExplainerCall(self.explainer.model, x, batch_targets)
            (whole, target), = call.batches(batch.size)
            plan = self.explainer._plan(whole, call.structure, target)
            if getattr(plan, "tokens", None) is None:  # token inputs take a multi-graph path
                return self._in_one_graph(call, whole, plan, shards)
        return self._one_after_another(inputs, batch, batch_targets, shards)

    def _in_one_graph(self, call, whole, plan, shards) -> Explanation:
        """Every replica's part of the batch in one tf.function: ``strategy.run`` of the
        explainer's single-pass body, each replica slicing its shard on its own device."""
        explainer, strategy = self.explainer, self.strategy
        key = explainer._function_key(plan)
        function = self._functions.get(key)
        if function is None:
            body = explainer._single_pass_body(plan)
            count = len(plan.shapes)

            def step(*args):
                arrays, classes, starts, stops = list(args[:count]), args[count], args[count + 1], args[count + 2]

                def on_replica():
                    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
                    start, stop = starts[replica], stops[replica]
                    return body(*[a[start:stop] for a in arrays], classes[start:stop])

                results = strategy.run(on_replica)
                return tf.nest.map_structure(lambda value: list(strategy.experimental_local_results(value)), results)

            specs = [*explainer._input_specs(plan), tf.TensorSpec((None,), tf.int32),
                     tf.TensorSpec((self.replicas,), tf.int32), tf.TensorSpec((self.replicas,), tf.int32)]
            function = tf.function(step, autograph=False).get_concrete_function(*specs)
            if explainer.modified_relus:
                warn_unreached(function.graph, explainer.method)
            self._functions[key] = function
        # Every replica must run; one without samples (a last batch smaller than the replica
        # count) explains a copy of the last sample instead, and its result is dropped: some
        # kernels (oneDNN's convolution) mishandle empty batches.
        filled = [part if part.stop > part.start else slice(whole.size - 1, whole.size) for part in shards]
        starts = np.array([part.start for part in filled], np.int32)
        stops = np.array([part.stop for part in filled], np.int32)
        maps, used, scores = function(*whole.inputs, explainer._class_array(plan, whole), starts, stops)
        kept = [r for r, part in enumerate(shards) if part.stop > part.start]
        join = lambda per_replica: np.concatenate([per_replica[r].numpy() for r in kept], axis=0)  # noqa: E731
        parts = [([join(m) for m in maps], join(used), join(scores))]
        return call.explanation(parts, per_input=explainer.per_input)

    def _one_after_another(self, inputs, batch, batch_targets, shards) -> Explanation:
        """Each shard on its replica's device, in turn: placement without parallelism."""
        done = []
        for device, part in zip(self.devices, shards):
            if part.stop > part.start:
                x = _restructure(inputs, [a[part] for a in batch.inputs])
                with tf.device(device):
                    done.append(_explain_at(self.explainer, x, _shard_targets(batch_targets, part),
                                            batch.offset + part.start))
        return _join(done)


def _join(parts: list[Explanation]) -> Explanation:
    first = parts[0]
    maps = tf.nest.map_structure(lambda *chunks: np.concatenate(chunks, axis=0), *[p.maps for p in parts])
    classes = None if first.classes is None else np.concatenate([p.classes for p in parts])
    return Explanation(maps=maps, classes=classes, scores=np.concatenate([p.scores for p in parts]))


def _write_shards(parts: Iterator[Explanation], output_dir: str) -> list[str]:
    os.makedirs(output_dir, exist_ok=True)
    written: list[str] = []
    for index, part in enumerate(parts):
        stem = os.path.join(output_dir, f"shard_{index:05d}")
        flat = tf.nest.flatten(part.maps)
        if len(flat) == 1:
            items = [("maps", flat[0])]
        else:
            items = [(f"maps_{i}", m) for i, m in enumerate(flat)]
        if part.classes is not None:
            items.append(("classes", part.classes))
        items.append(("scores", part.scores))
        for name, array in items:
            path = f"{stem}_{name}.npy"
            np.save(path, np.asarray(array))
            written.append(path)
    return written
