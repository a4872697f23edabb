"""Explaining a whole dataset: any explainer over a stream, optionally on a tf.distribute strategy.

An explainer call keeps every map of its inputs in memory; a dataset larger than memory
is explained batch by batch here instead: each batch's :class:`~keras_viz.Explanation`
is yielded (or written to ``.npy`` shards) and dropped. With a ``tf.distribute`` strategy
each global batch is split into one shard per replica and run with
``strategy.run``, so every replica explains its shard on its own device with its own
copy of the explainer (TensorFlow's own distribution: ``MirroredStrategy`` over the GPUs
of a machine, ``MultiWorkerMirroredStrategy`` over machines).
"""

from __future__ import annotations

import collections
import copy
import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from keras_viz import targets as targets_lib
from keras_viz._functions import FunctionCache
from keras_viz._inputs import Inputs, check_batch_size, pack
from keras_viz.explainers._call import ExplainerCall, Explanation
from keras_viz.explainers.base import Explainer

__all__ = ["explain_dataset"]


def _replica_copy(explainer: Explainer) -> Explainer:
    """A shallow copy with its own traced functions (each replica traces on its device)."""
    clone = copy.copy(explainer)
    if hasattr(clone, "_functions"):
        clone._functions = FunctionCache(clone._functions.max_functions)
    if hasattr(clone, "_infos"):
        clone._infos = {}
    return clone


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
            per replica is split over its replicas (``strategy.run``), and the results
            are gathered in input order.
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
    batch_size = check_batch_size(batch_size)
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
    copies = [explainer] if strategy is None else [_replica_copy(explainer) for _ in range(replicas)]
    for batch in inputs.batches(batch_size * replicas):
        batch_targets = _batch_targets(targets, resolved, batch)
        x = _restructure(inputs, batch.inputs)
        if strategy is None:
            yield _explain_at(explainer, x, batch_targets, batch.offset)
        else:
            yield _distributed(strategy, copies, inputs, batch, batch_targets)


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


def _distributed(strategy, copies, inputs, batch, batch_targets) -> Explanation:
    shards = _shards(batch.size, len(copies))
    results: dict[int, Explanation] = {}

    def on_replica(replica_id: Any) -> tf.Tensor:
        replica = int(tf.get_static_value(replica_id)) if tf.is_tensor(replica_id) else int(replica_id)
        part = shards[replica]
        if part.stop > part.start:
            x = _restructure(inputs, [a[part] for a in batch.inputs])
            sub_targets = batch_targets
            if isinstance(batch_targets, np.ndarray) or (
                isinstance(batch_targets, (list, tuple)) and not isinstance(batch_targets, str)
            ):
                sub_targets = np.asarray(batch_targets)[part]
            results[replica] = _explain_at(copies[replica], x, sub_targets, batch.offset + part.start)
        return tf.constant(replica)

    ids = strategy.experimental_distribute_values_from_function(lambda context: context.replica_id_in_sync_group)
    # Eager strategy.run logs a performance warning at every call; each replica runs
    # compiled explainer functions, so it does not apply here.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        strategy.run(on_replica, args=(ids,))
    finally:
        logger.setLevel(level)
    done = [results[r] for r in sorted(results)]
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
