"""What every keras-viz callback shares: frequency, the run writer, and failure policy.

A callback checks whether it is due and reads the model on the training thread (an
explainer call, feature maps, a weight snapshot); it then runs a *write job* (rendering,
PNG encoding, writing), on the training thread by default or, with
``background=True``, on its own thread while training goes on. Everything is written
by the end of ``fit`` (``on_train_end`` waits), and :meth:`VizCallback.wait` waits on
demand.

Writing goes to its own run directory beside Keras' ``train`` and ``validation``
(SPEC §3), inside ``tf.summary.record_if(True)`` so that Keras' ``update_freq``
condition cannot silently drop it. The writer is opened for each write job and closed
(after a flush) at its end. Keras' ``fit`` has no ``finally``: when training stops
with an exception or KeyboardInterrupt, ``on_train_end`` never runs, so a writer left
open would never be closed. Opening per job costs one small event file per logging
step; TensorBoard reads every event file in a run directory.
"""

from __future__ import annotations

import abc
import concurrent.futures
import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import keras
import tensorflow as tf

__all__ = ["VizCallback", "WriteJob"]

WriteJob = Callable[[tf.summary.SummaryWriter], None]
"""Renders and writes summaries; called with the run's writer, which is the default."""


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
        freq: log every ``freq`` epochs (after epochs ``freq, 2·freq, ...``, and always
            after the last one; the step is the epoch index, as in Keras' own scalars).
        batch_freq: also log every ``batch_freq`` training batches (step = global
            batch index, tags get a ``batch/`` prefix); None (default) disables it.
        max_outputs: samples drawn per image tag.
        raise_errors: by default a failing visualization warns once and training goes
            on; True re-raises the error (a failure while writing in the background is
            raised at the next epoch or at the end of training).
        background: render and write on a background thread. Off by default: on a
            machine with few cores the thread competes with TensorFlow's own threads
            and Keras' Python loop, and made ``fit`` slower, not faster (measured on 2
            cores, see benchmarks/CALLBACKS.md).
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
        background: bool = False,
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
        self.background = bool(background)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: list[concurrent.futures.Future] = []
        self._error: BaseException | None = None
        self._warned = False
        self._global_batch = 0
        self._writer: tf.summary.SummaryWriter | None = None

    # -- hooks for subclasses --------------------------------------------------

    @abc.abstractmethod
    def _log(self, step: int, prefix: str) -> WriteJob | None:
        """Reads the model for ``step`` and returns the job that draws and writes it.

        Runs on the training thread: everything that reads the model or its weights
        belongs here; the returned job must only use what was read. ``prefix``
        scopes batch-level tags.
        """

    def _log_start(self) -> WriteJob | None:
        """What is logged once when training starts (nothing by default)."""
        return None

    # -- Keras hooks -----------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._warned = False
        self._error = None
        self._global_batch = 0
        self._guarded(self._log_start, "at the start of training")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._raise_pending()
        last = epoch + 1 == (self.params or {}).get("epochs")
        if (epoch + 1) % self.freq == 0 or last:
            self._guarded(lambda: self._log(epoch, ""), f"at epoch {epoch}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._global_batch += 1
        if self.batch_freq and self._global_batch % self.batch_freq == 0:
            step = self._global_batch
            self._guarded(lambda: self._log(step, "batch/"), f"at batch {step}")

    def on_train_end(self, logs: dict | None = None) -> None:
        self.wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._raise_pending()

    def wait(self) -> None:
        """Blocks until everything logged so far is written (and the writer closed)."""
        while self._pending:
            self._pending.pop(0).result()

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

    def _guarded(self, read: Callable[[], WriteJob | None], when: str) -> None:
        """Reads on this thread, then writes in the background; failures warn once."""
        if not self._is_chief():
            return
        try:
            job = read()
        except Exception as error:  # a visualization must not kill training
            if self.raise_errors:
                raise
            self._warn(error, when)
            return
        if job is None:
            return
        if not self.background:
            self._write(job, when)
            self._raise_pending()
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="keras-viz")
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(self._write, job, when))

    def _write(self, job: WriteJob, when: str) -> None:
        try:
            with self.writing() as writer:
                job(writer)
        except Exception as error:
            if self.raise_errors:
                self._error = error
            else:
                self._warn(error, when)

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _warn(self, error: BaseException, when: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{type(self).__name__} failed {when} and is skipped (training goes on; "
                f"pass raise_errors=True to stop instead): {type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=3,
            )
