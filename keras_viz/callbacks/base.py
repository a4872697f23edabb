"""What every keras-viz callback shares: frequency, the run writer, and failure policy.

A callback checks whether it is due, calls a view or explainer, renders, and writes.
Writing goes to its own run directory beside Keras' ``train`` and ``validation``
(SPEC §3), inside ``tf.summary.record_if(True)`` so that Keras' ``update_freq``
condition cannot silently drop it.

The writer is opened lazily for each logging step and closed (after a flush) at its
end. Keras' ``fit`` has no ``finally``: when training stops with an exception or
KeyboardInterrupt, ``on_train_end`` never runs, so a writer left open would never be
closed. Opening per step costs one small event file per step; TensorBoard reads every
event file in a run directory.
"""

from __future__ import annotations

import abc
import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf

__all__ = ["VizCallback"]


def _positive_int(value: Any, name: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int{' or None' if allow_none else ''}; received {value!r}")
    return value


def check_run_name(run: Any) -> str:
    """A run name is one directory name without spaces."""
    if not isinstance(run, str) or not run or " " in run or os.sep in run or run in (".", ".."):
        raise ValueError(
            f"`run` must be a directory name without spaces or '{os.sep}', e.g. 'keras_viz'; "
            f"received {run!r}"
        )
    return run


class VizCallback(keras.callbacks.Callback, metaclass=abc.ABCMeta):
    """Base class of the keras-viz callbacks.

    Args:
        log_dir: the ``log_dir`` given to ``keras.callbacks.TensorBoard``.
        run: run directory name inside ``log_dir`` (shows as a run in TensorBoard).
        freq: log every ``freq`` epochs (after epochs ``freq, 2·freq, ...``; the step
            is the epoch index, as in Keras' own scalars).
        batch_freq: also log every ``batch_freq`` training batches (step = global
            batch index, tags get a ``batch/`` prefix); None (default) disables it.
        max_outputs: samples drawn per image tag.
        raise_errors: by default a failing visualization warns once and training goes
            on; True re-raises the error.
    """

    def __init__(
        self,
        *,
        log_dir: str | os.PathLike[str],
        run: str = "keras_viz",
        freq: int = 1,
        batch_freq: int | None = None,
        max_outputs: int = 8,
        raise_errors: bool = False,
    ):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise TypeError(f"`log_dir` must be a path; received {log_dir!r}")
        self.log_dir = os.fspath(log_dir)
        self.run = check_run_name(run)
        self.freq = _positive_int(freq, "freq")
        self.batch_freq = _positive_int(batch_freq, "batch_freq", allow_none=True)
        self.max_outputs = _positive_int(max_outputs, "max_outputs")
        self.raise_errors = bool(raise_errors)
        self._warned = False
        self._global_batch = 0
        self._writer: tf.summary.SummaryWriter | None = None

    # -- hooks for subclasses --------------------------------------------------

    @abc.abstractmethod
    def _log(self, step: int, prefix: str) -> None:
        """Writes this callback's summaries for ``step``; ``prefix`` scopes batch-level tags."""

    def _log_start(self) -> None:
        """Writes what is logged once when training starts (nothing by default)."""

    # -- Keras hooks -----------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._warned = False
        self._global_batch = 0
        self._guarded(lambda: self._log_start(), "at the start of training")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.freq == 0:
            self._guarded(lambda: self._log(epoch, ""), f"at epoch {epoch}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._global_batch += 1
        if self.batch_freq and self._global_batch % self.batch_freq == 0:
            step = self._global_batch
            self._guarded(lambda: self._log(step, "batch/"), f"at batch {step}")

    def on_train_end(self, logs: dict | None = None) -> None:
        self._close()

    # -- machinery -------------------------------------------------------------

    @property
    def run_dir(self) -> str:
        return os.path.join(self.log_dir, self.run)

    def _is_chief(self) -> bool:
        """Only the chief writes under tf.distribute (SPEC §3)."""
        model = getattr(self, "_model", None)
        strategy = getattr(model, "distribute_strategy", None) if model is not None else None
        if strategy is None:
            strategy = tf.distribute.get_strategy()
        return bool(strategy.extended.should_save_summary)

    @contextlib.contextmanager
    def writing(self) -> Iterator[tf.summary.SummaryWriter]:
        """The run's writer as default, recording unconditionally; closed at the end."""
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.run_dir)
        try:
            with self._writer.as_default(), tf.summary.record_if(True):
                yield self._writer
        finally:
            self._close()

    def _close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.flush()
            writer.close()

    def _guarded(self, action, when: str) -> None:
        if not self._is_chief():
            return
        try:
            action()
        except Exception as error:  # a visualization must not kill training
            self._close()
            if self.raise_errors:
                raise
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"{type(self).__name__} failed {when} and is skipped (training goes on; "
                    f"pass raise_errors=True to stop instead): {type(error).__name__}: {error}",
                    RuntimeWarning,
                    stacklevel=2,
                )
