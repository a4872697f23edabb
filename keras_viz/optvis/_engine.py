"""Gradient ascent of an objective over a batch of parameterised images.

Shared by activation maximisation, inversion and style transfer: one compiled function
runs any number of steps (a ``tf.while_loop``) for the whole batch; each step makes the
images from the parameters, applies the random transforms, runs the model once with the
objective's layers read during its forward pass, subtracts the penalties, takes the
gradient and makes an Adam update (Kingma & Ba 2015, as lucid), then applies the
projection regularizers that are due.

Determinism: every random number is drawn with stateless ops keyed by the seed, the step
and the image's *replica* index (its position among the images of the same member), so
the same seed gives the same images, the global random state is never touched, and a
batch of K members gives the images K separate runs give.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_viz.optvis import params as params_lib
from keras_viz.optvis import regularizers as regularizers_lib
from keras_viz.optvis import transforms as transforms_lib
from keras_viz.optvis._checks import check_int, check_positive, check_seed, check_size, check_value_range
from keras_viz.optvis._graph import (
    ObjectiveReader,
    check_objective,
    checked_model,
    probe,
    relaxed_input_shape,
    resolve_size,
)
from keras_viz.optvis.objectives import Objective

__all__ = ["Optimization", "check_settings"]

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8


def adam_update(params, m, v, gradient, step, learning_rate):
    """One Adam ascent step (bias-corrected); ``step`` counts from 1."""
    m = BETA_1 * m + (1.0 - BETA_1) * gradient
    v = BETA_2 * v + (1.0 - BETA_2) * tf.square(gradient)
    step = tf.cast(step, tf.float32)
    rate = learning_rate * tf.sqrt(1.0 - BETA_2**step) / (1.0 - BETA_1**step)
    return params + rate * m / (tf.sqrt(v) + EPSILON), m, v


def check_settings(
    *,
    size: Any = None,
    param: Any = "fourier",
    transforms: Any = "standard",
    regularizers: Any = (),
    learning_rate: Any = 0.05,
    value_range: Any = (0, 1),
) -> dict[str, Any]:
    """Validates the settings of an optimisation that do not depend on the model.

    Callers that build the optimisation later (a callback, at its first logged epoch) call
    this up front, so that a bad setting fails at once, naming the argument.

    Returns:
        The settings, checked: ``size`` ``(height, width)`` or None, ``param`` a
        :class:`~keras_viz.optvis.params.Param`, ``transforms`` a transform or
        ``"standard"``, ``regularizers`` a tuple, ``learning_rate`` a float,
        ``value_range`` ``(low, high)``.
    """
    checked = dict(
        size=check_size(size),
        param=params_lib.resolve_param(param),
        transforms=transforms_lib.check_transforms(transforms),
        regularizers=regularizers_lib.resolve_regularizers(regularizers),
        learning_rate=check_positive(learning_rate, "learning_rate"),
        value_range=check_value_range(value_range),
    )
    projections = [r for r in checked["regularizers"] if r.project is not None]
    if projections and not checked["param"].has_raw:
        raise ValueError(
            f"The regularizer(s) {', '.join(r.name for r in projections)} change the image "
            f"directly and need param='pixel' or 'fourier', not {checked['param']!r}."
        )
    return checked


class Optimization:
    """A compiled gradient ascent of ``objective`` on ``model`` (see the module docstring).

    Args:
        model: any Keras model with one image input.
        objective: the objective; its K members get ``batch // K`` images each.
        size: ``(height, width)`` of the images; None takes the model's input size.
        param: ``"fourier"``, ``"pixel"``, a generator model or an optvis parameterisation.
        transforms: ``"standard"``, None, a transform or a list of them.
        regularizers: a regularizer or a list of them.
        learning_rate: Adam's step size.
        value_range: the model's input range.
        batch: images in all; None gives one per member.
        what: the public function's name, for error messages.
    """

    def __init__(
        self,
        model: keras.Model,
        objective: Objective,
        *,
        size: Any = None,
        param: Any = "fourier",
        transforms: Any = "standard",
        regularizers: Any = (),
        learning_rate: float = 0.05,
        value_range: Any = (0, 1),
        batch: int | None = None,
        what: str = "activation_maximization",
    ):
        self.model = checked_model(model)
        self.objective = check_objective(objective)
        settings = check_settings(
            size=size, param=param, transforms=transforms, regularizers=regularizers,
            learning_rate=learning_rate, value_range=value_range,
        )
        self.value_range = settings["value_range"]
        self.learning_rate = settings["learning_rate"]
        height, width, channels, self.relax = resolve_size(self.model, settings["size"], what)
        self.shape = (height, width, channels)
        members = self.objective.members
        if batch is None:
            batch = members
        batch = check_int(batch, "batch", 1)
        if batch % members:
            raise ValueError(
                f"`batch`={batch} must be a multiple of the objective's {members} members "
                f"({self.objective.name}): each member gets batch // {members} images."
            )
        self.batch = batch
        per_member = batch // members
        self.members = np.repeat(np.arange(members, dtype=np.int32), per_member)
        self.replicas = np.tile(np.arange(per_member, dtype=np.int32), members)
        self.param = settings["param"].bind(height, width, channels, self.value_range)
        self.transform = transforms_lib.resolve_transforms(settings["transforms"], height, width)
        self._draws = max(1, self.transform.total_draws)
        self.regularizers = settings["regularizers"]
        self.penalties = [r for r in self.regularizers if r.penalty is not None and r.weight > 0]
        self.projections = [r for r in self.regularizers if r.project is not None]
        self.info, failure = self._probe()
        self.reader = ObjectiveReader(self.model, self.objective, self.info)
        if failure is not None and self.reader.need_output:
            raise failure
        self._function = None

    def _probe(self):
        """A probe at the optimised size; else, for layers read before a head that only takes
        the declared size (Flatten -> Dense), a probe at the declared size and the error."""
        height, width, channels = self.shape
        with relaxed_input_shape(self.model, self.relax):
            try:
                return probe(self.model, height, width, channels), None
            except ValueError as error:
                if not self.relax:
                    raise
                failure = error
        declared = self.model.inputs[0].shape
        return probe(self.model, int(declared[1]), int(declared[2]), channels), failure

    # -- the compiled loop -------------------------------------------------------

    def _step(self, params, m, v, step, seed, members, replicas, transform_plan):
        low, high = self.value_range
        middle = (low + high) / 2.0
        want_contribution = any(r.needs_contribution for r in self.projections)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(params)
            if self.param.has_raw:
                raw = self.param.raw(params)
                images = self.param.images_from_raw(raw)
            else:
                raw, images = None, self.param.images(params)
            seen = transforms_lib.execute(transform_plan, images, middle)
            values = self.reader(seen, members, relax=self.relax)
            total = values
            if self.penalties:
                unit = (images - middle) / (high - low)
                for regularizer in self.penalties:
                    total = total - regularizer.weight * regularizer.penalty(unit)
            objective = tf.reduce_sum(total)
        sources = [params, raw] if want_contribution else [params]
        gradients = tape.gradient(objective, sources)
        gradient = gradients[0]
        if gradient is None:
            raise ValueError(
                f"The objective {self.objective.name} does not depend on the input images of model "
                f"{self.model.name!r}, so it cannot be optimised."
            )
        gradient = tf.cast(gradient, tf.float32)
        params, m, v = adam_update(params, m, v, gradient, step + 1, self.learning_rate)
        params = self.param.constrain(params)
        params = self._restart_dead(params, gradient, step, seed, replicas)
        if self.projections:
            contribution = None
            if want_contribution:
                raw_gradient = gradients[1] if gradients[1] is not None else tf.zeros_like(raw)
                contribution = tf.abs(tf.reduce_sum(raw * raw_gradient, axis=-1))
            for regularizer in self.projections:

                def project(p=params, r=regularizer):
                    return self.param.from_raw(r.project(self.param.raw(p), contribution))

                params = tf.cond(tf.equal((step + 1) % regularizer.every, 0), project, lambda p=params: p)
        return params, m, v, values

    def _restart_dead(self, params, gradient, step, seed, replicas):
        """Restarts the images whose gradient is exactly zero from stronger noise.

        A unit behind a ReLU that is off everywhere on the starting image (common in small
        models started from a flat grey image) passes no gradient, and the image would never
        move. Such an image is replaced by fresh noise of the parameterisation's
        ``restart_std`` (keyed by seed, step and replica, like everything else) until the
        unit turns on.
        """
        axes = list(range(1, gradient.shape.rank))
        dead = tf.equal(tf.reduce_max(tf.abs(gradient), axis=axes), 0.0)

        def kick():
            count = int(self.replicas.max()) + 1
            key = tf.stack([seed, tf.cast(step, tf.int64) + 1_000_000_007])
            noise = tf.random.stateless_normal([count, *params.shape[1:]], seed=key, stddev=self.param.restart_std)
            mask = tf.reshape(tf.cast(dead, tf.float32), [-1] + [1] * len(axes))
            return params * (1.0 - mask) + mask * tf.gather(noise, replicas)

        return tf.cond(tf.reduce_any(dead), kick, lambda: params)

    def _compiled(self):
        if self._function is not None:
            return self._function
        members = tf.constant(self.members)
        replicas = tf.constant(self.replicas)

        height, width, _ = self.shape

        def loop(params, m, v, start, count, seed, draws):
            history = tf.TensorArray(tf.float32, size=count, element_shape=[self.batch])
            # Every step's transform matrices at once: a few ops per run, not per step.
            u = tf.reshape(tf.gather(draws, replicas, axis=1), [-1, draws.shape[-1]])
            plan = [
                (kind, tf.reshape(value, [count, self.batch, -1]) if kind == "resample"
                 else (value[0], tf.reshape(value[1], [count, self.batch, -1])))
                for kind, value in transforms_lib.plan(self.transform, u, height, width)
            ]

            def body(i, params, m, v, history):
                step_plan = [
                    (kind, value[i] if kind == "resample" else (value[0], value[1][i])) for kind, value in plan
                ]
                params, m, v, values = self._step(params, m, v, start + i, seed, members, replicas, step_plan)
                return i + 1, params, m, v, history.write(i, values)

            _, params, m, v, history = tf.while_loop(
                lambda i, *_: i < count, body, (tf.constant(0), params, m, v, history)
            )
            return params, m, v, history.stack()

        spec = tf.TensorSpec(self.param.init(0, self.replicas[:1]).shape[1:], tf.float32)
        spec = tf.TensorSpec((self.batch, *spec.shape), tf.float32)
        scalar = tf.TensorSpec([], tf.int32)
        draws = tf.TensorSpec([None, int(self.replicas.max()) + 1, self._draws], tf.float32)
        try:
            self._function = tf.function(loop, autograph=False).get_concrete_function(
                spec, spec, spec, scalar, scalar, tf.TensorSpec([], tf.int64), draws
            )
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
            if "does not depend on the input" in str(error):
                raise
            raise ValueError(
                f"Model {self.model.name!r} could not be run on images of shape (N, "
                f"{', '.join(str(s) for s in self.shape)}) for {self.objective.name}: {error}"
            ) from error
        return self._function

    # -- running -------------------------------------------------------------------

    def initial(self, seed: int, init: Any = None) -> tf.Tensor:
        """The starting parameters: seeded noise, or the encoding of ``init`` images."""
        if init is None:
            return tf.cast(self.param.init(seed, self.replicas), tf.float32)
        images = np.asarray(init, dtype=np.float32)
        if images.ndim == 3:
            images = images[np.newaxis]
        if images.shape[1:] != self.shape:
            raise ValueError(f"`init` images have shape {images.shape[1:]} but the optimised images are {self.shape}.")
        if not np.all(np.isfinite(images)):
            raise ValueError("`init` contains NaN or infinite values.")
        if images.shape[0] == 1 and self.batch > 1:
            images = np.repeat(images, self.batch, axis=0)
        if images.shape[0] != self.batch:
            raise ValueError(f"`init` holds {images.shape[0]} images; give 1 or {self.batch}.")
        return tf.cast(self.param.encode(tf.constant(images)), tf.float32)

    def run(self, steps: int, seed: int = 0, *, progress: bool = False, init: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Optimises for ``steps`` steps.

        Returns:
            ``(images (B, H, W, C) float32 in the value range, history (steps, B))``, where
            ``history[t, b]`` is image ``b``'s objective value at step ``t`` (before its
            update, under that step's transforms, without penalties).
        """
        steps = check_int(steps, "steps", 1)
        seed = check_seed(seed)
        function = self._compiled()
        params = self.initial(seed, init)
        m = tf.zeros_like(params)
        v = tf.zeros_like(params)
        # The transforms' random numbers: (step, replica), whatever the batch and the chunks.
        replicas = int(self.replicas.max()) + 1
        draws = tf.random.stateless_uniform([steps, replicas, self._draws], seed=tf.constant([seed, 15485863], tf.int64))
        chunk = steps if not progress else max(1, math.ceil(steps / 32))
        bar = keras.utils.Progbar(steps, stateful_metrics=["objective"]) if progress else None
        history = []
        for start in range(0, steps, chunk):
            count = min(chunk, steps - start)
            params, m, v, values = function(
                params, m, v, tf.constant(start, tf.int32), tf.constant(count, tf.int32), tf.constant(seed, tf.int64),
                draws[start : start + count],
            )
            history.append(values.numpy())
            if bar is not None:
                bar.update(start + count, values=[("objective", float(np.mean(history[-1][-1])))])
        low, high = self.value_range
        images = np.clip(np.asarray(self.param.images(params), dtype=np.float32), low, high)
        return images, np.concatenate(history, axis=0)
