"""What every keras-viz callback shares: when to log, the run writer, and failure policy.

A callback checks whether it is due and reads the model on the training thread (an
explainer call, feature maps, a weight snapshot); it then runs a *write job* (rendering,
PNG encoding, writing), on the training thread by default or, with
``background=True``, on its own thread while training goes on. Everything is written
by the end of ``fit`` (``on_train_end`` waits), and :meth:`VizCallback.wait` waits on
demand.

**When.** By default a callback logs under a time budget: the first and the last epoch
always, and the epochs in between as often as keeps the time the keras-viz callbacks
take within ``budget`` (5 %) of the training time measured so far; the epochs skipped
are reported at the end of training (a ``keras_viz/schedule`` text in TensorBoard, the
``keras_viz`` logger, and one printed line when ``fit`` is verbose). ``freq=k`` logs every
``k`` epochs and the last one, whatever the time (``freq=1``: every epoch). The
callbacks of one ``fit`` share one clock and decide together, so one epoch's views
appear together (:mod:`keras_viz.callbacks._session`).

**Where.** Writing goes to a run directory beside Keras' ``train`` and ``validation``
(SPEC §3), inside ``tf.summary.record_if(True)`` so that Keras' ``update_freq``
condition cannot silently drop it. The callbacks of one ``fit`` that write the same
run share its writer and its event file; the writer is open only while a job writes,
and what the job wrote is in the run directory when it returns. Keras' ``fit`` has no
``finally``: when any callback raises (one of keras-viz's or not), every picture
drawn so far is on disk and nothing is left open. ``log_dir`` may be on any
filesystem TensorFlow reads (``gs://``, ``s3://``, ``hdfs://``...).

**The last epoch reached.** When training stops early (``EarlyStopping``, a callback
setting ``model.stop_training``), the last epoch reached is logged even if the schedule
skipped it: at that epoch's end when the stop is already requested there (a stopping
callback listed before this one), otherwise at the start of ``on_train_end``, before
the callbacks listed after this one run theirs (so an ``EarlyStopping`` listed after it
restores its best weights only afterwards). Either way the step is drawn with the
weights that epoch ended with.

**Subclasses** implement :meth:`VizCallback._log` (and optionally
:meth:`VizCallback._log_start`), use ``self.model``, ``self.max_outputs``, ``self.freq``,
and write with :func:`keras_viz.tensorboard.image_summary` or ``tf.summary.*`` inside the
job: the run's writer is the default there. Scheduling, timing and writers come with
the base class.
"""

from __future__ import annotations

import abc
import concurrent.futures
import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numbers
import tensorflow as tf

from keras_viz.callbacks._session import SESSIONS, FitSession, logger

__all__ = ["DEFAULT_BUDGET", "VizCallback", "WriteJob"]

WriteJob = Callable[[tf.summary.SummaryWriter], None]
"""Renders and writes summaries; called with the run's writer, which is the default."""

DEFAULT_BUDGET = 0.05
"""Share of the training time the keras-viz callbacks may take when ``freq`` is not given."""


def _positive_int(value: Any, name: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int{' or None' if allow_none else ''}; received {value!r}")
    return value


def _check_budget(budget: Any) -> float:
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not 0.0 < float(budget) <= 1.0:
        raise ValueError(
            f"`budget` must be a fraction of the training time in (0, 1], e.g. 0.05; received {budget!r}"
        )
    return float(budget)


def _text_summary(tag: str, text: str, step: int) -> None:
    """``tf.summary.text`` without importing ``tensorboard.summary`` (tens of ms, once)."""
    from tensorboard.plugins.text import metadata

    tf.summary.write(tag, tf.constant(text), step=step, metadata=metadata.create_summary_metadata(None, None))


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
            after the last one; the step is the epoch index, as in Keras' own scalars),
            whatever the time it takes. None (default): log under ``budget``.
        budget: share of the training time the keras-viz callbacks of this ``fit`` may
            take (all of them together). The first and the last epoch are always
            logged; an epoch in between is logged when the time spent so far plus
            twice the cost of the latest logged epoch stays within ``budget`` times the
            training time so far (:func:`~keras_viz.callbacks._session.budget_allows`).
            Skipped epochs are reported at the end of training. Default: 0.05 when
            ``freq`` is not given, none when it is (``freq=1`` logs every epoch);
            ``freq`` and ``budget`` together thin the epochs of ``freq`` by the budget.
        batch_freq: also log every ``batch_freq`` training batches (step = global
            batch index, tags get a ``batch/`` prefix); None (default) disables it, and
            the callback then has no per-batch hook at all.
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
        freq: int | None = None,
        budget: float | None = None,
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
        self.freq = 1 if freq is None else _positive_int(freq, "freq")
        if budget is not None:
            self.budget: float | None = _check_budget(budget)
        else:
            self.budget = DEFAULT_BUDGET if freq is None else None
        self.batch_freq = _positive_int(batch_freq, "batch_freq", allow_none=True)
        self.max_outputs = _positive_int(max_outputs, "max_outputs")
        self.raise_errors = bool(raise_errors)
        self.background = bool(background)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: list[concurrent.futures.Future] = []
        self._error: BaseException | None = None
        self._warned = False
        self._global_batch = 0
        self._session: FitSession | None = None
        self._last_epoch: int | None = None  # the latest epoch that ended
        self._logged_epochs: list[int] = []
        self._late_step: int | None = None

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

    # -- batch frequency ---------------------------------------------------------

    @property
    def batch_freq(self) -> int | None:
        return self._batch_freq

    @batch_freq.setter
    def batch_freq(self, value: int | None) -> None:
        # The per-batch hook exists on this instance only when batch logging is asked
        # for: Keras skips hooks left at their default, and on backends that dispatch
        # callbacks asynchronously a batch-end hook would make every batch synchronous.
        self._batch_freq = _positive_int(value, "batch_freq", allow_none=True)
        if self._batch_freq:
            self.on_train_batch_end = self._on_train_batch_end
        else:
            self.__dict__.pop("on_train_batch_end", None)

    # -- Keras hooks -----------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._session = SESSIONS.for_fit(getattr(self, "_model", None), self.params)
        self._session.join(self)
        self._warned = False
        self._error = None
        self._global_batch = 0
        self._last_epoch = None
        self._logged_epochs = []
        self._late_step = None
        with self._timed():
            self._guarded(self._log_start, "at the start of training")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        session = self._fit_session()
        start = time.perf_counter()
        try:
            self._raise_pending()
            self._last_epoch = epoch
            due = session.is_due(self, epoch)
            if not due and self._stop_requested():
                # the last epoch reached: drawn now, before anything (EarlyStopping's
                # restore_best_weights at on_train_end) changes the weights
                session.log_late(self, epoch)
                self._late_step = epoch
                due = True
            if due:
                self._logged_epochs.append(epoch)
                self._guarded(lambda: self._log(epoch, ""), f"at epoch {epoch}")
                session.record_cost(self, epoch, time.perf_counter() - start)
        finally:
            session.add_spent(time.perf_counter() - start)
            session.epoch_done(self, epoch)

    def _on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._global_batch += 1
        if self.batch_freq and self._global_batch % self.batch_freq == 0:
            step = self._global_batch
            with self._timed():
                self._guarded(lambda: self._log(step, "batch/"), f"at batch {step}")

    def on_train_end(self, logs: dict | None = None) -> None:
        session = self._fit_session()
        with self._timed():
            try:
                epoch = self._last_epoch
                if epoch is not None and epoch not in self._logged_epochs:
                    # training stopped before its planned last epoch, by a callback listed
                    # after this one: the last epoch it reached is logged all the same
                    session.log_late(self, epoch)
                    self._late_step = epoch
                    self._logged_epochs.append(epoch)
                    self._guarded(lambda: self._log(epoch, ""), f"after the last epoch ({epoch})")
                self.wait()
                if self._executor is not None:
                    self._executor.shutdown(wait=True)
                    self._executor = None
            finally:
                self._finish(session)
        self._raise_pending()

    def wait(self) -> None:
        """Blocks until everything logged so far is written."""
        while self._pending:
            self._pending.pop(0).result()

    # -- machinery -------------------------------------------------------------

    @property
    def run_dir(self) -> str:
        return os.path.join(self.log_dir, self.run)

    @property
    def logged_epochs(self) -> list[int]:
        """The epochs (0-based steps) logged in the latest ``fit``."""
        return list(self._logged_epochs)

    def _stop_requested(self) -> bool:
        """Whether a callback (or the model) asked training to stop after this epoch."""
        model = getattr(self, "_model", None)
        return bool(getattr(model, "stop_training", False)) if model is not None else False

    def _fit_session(self) -> FitSession:
        if self._session is None:  # hooks called outside fit (e.g. by hand)
            self._session = FitSession(self.params)
            self._session.join(self)
        return self._session

    def _due_at(self, step: int, prefix: str) -> bool:
        """Whether this callback logs ``step`` now (used by callbacks that share work)."""
        if prefix:
            return bool(self.batch_freq) and step % self.batch_freq == 0
        return self._late_step == step or self._fit_session().is_due(self, step)

    def _finish(self, session: FitSession) -> None:
        """The last member to end training writes the schedule notes and closes the writers."""
        if not session.finish(self):
            return
        try:
            notes = session.skipped_notes() if self._is_chief() else []
            for runs, note, step in notes:
                logger.info(note)
                if (self.params or {}).get("verbose"):
                    print(note)
                for run_dir in runs:
                    shared = session.writer(run_dir)
                    writer = shared.acquire()
                    try:
                        with writer.as_default(), tf.summary.record_if(True):
                            _text_summary("keras_viz/schedule", note, step)
                    finally:
                        shared.release()
        finally:
            session.close_writers()

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._fit_session().add_spent(time.perf_counter() - start)

    def _is_chief(self) -> bool:
        """Only the chief writes under tf.distribute (SPEC §3)."""
        model = getattr(self, "_model", None)
        strategy = getattr(model, "distribute_strategy", None) if model is not None else None
        if strategy is None:
            strategy = tf.distribute.get_strategy()
        return bool(strategy.extended.should_save_summary)

    @contextlib.contextmanager
    def writing(self, keep_open: bool = False) -> Iterator[tf.summary.SummaryWriter]:
        """The run's shared writer as default, recording unconditionally.

        At the end of the block the writer is closed (unless another job of the run is
        still writing) and what was written is in the run directory. ``keep_open`` is
        accepted for compatibility and has no effect: a writer kept open after the block
        would be lost if another callback raised before it was closed.
        """
        shared = self._fit_session().writer(self.run_dir)
        writer = shared.acquire(keep_open=keep_open)
        try:
            with writer.as_default(), tf.summary.record_if(True):
                yield writer
        finally:
            shared.release()

    def _guarded(self, read: Callable[[], WriteJob | None], when: str) -> None:
        """Reads on this thread, then writes (here or in the background); failures warn once."""
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
