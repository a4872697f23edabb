"""What the keras-viz callbacks of one ``fit`` share: the clock, the schedule, the writers.

Keras hands the same ``params`` dict to every callback of one ``fit`` call, so the
callbacks that see the same model and the same ``params`` in ``on_train_begin`` belong to
one :class:`FitSession`. The session

* measures the time the callbacks spend (``spent``) against the training time (wall
  time since ``on_train_begin`` minus ``spent``), for the time budget;
* decides, once per epoch for all callbacks with the same ``(freq, budget)``, whether
  that epoch is logged (:func:`budget_allows`), so that the views of one epoch appear
  together in TensorBoard and the epochs skipped are reported once;
* holds one writer per run directory (:class:`RunWriter`): every callback of the run
  writes into one event file per ``fit`` (on a local filesystem; one file per write
  elsewhere). The writer is open only while a write job runs, and what the job wrote
  is in the run directory when it returns: Keras' ``fit`` has no ``finally``, so when
  any callback raises, no later hook would close a writer left open, and the pictures
  it held would be lost.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import shutil
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

__all__ = ["FitSession", "RunWriter", "budget_allows", "describe_epochs", "open_writers"]

logger = logging.getLogger("keras_viz")

_OPEN: "weakref.WeakSet[RunWriter]" = weakref.WeakSet()


def open_writers() -> list[str]:
    """Run directories whose keras-viz writer is open right now (for tests and debugging)."""
    return sorted(w.path for w in list(_OPEN) if w.is_open)


def budget_allows(spent: float, training: float, cost: float, budget: float) -> bool:
    """The time-budget rule for an epoch that is neither the first logged nor the last.

    Logging now must leave room for the last epoch, which is always logged: the epoch is
    logged when ``spent + 2 * cost <= budget * training``, where ``spent`` is the time
    the callbacks took so far, ``training`` the training time so far and ``cost`` the
    time of the latest logged epoch.
    """
    return spent + 2.0 * cost <= budget * training


def describe_epochs(epochs: Sequence[int]) -> str:
    """1-based epoch numbers as ranges: ``[1, 2, 3, 6]`` -> ``"2–4, 7"``."""
    numbers = sorted(e + 1 for e in epochs)
    parts: list[str] = []
    start = previous = None
    for n in numbers + [None]:
        if start is not None and n == previous + 1:
            previous = n
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}–{previous}")
        start = previous = n
    return ", ".join(parts)


class RunWriter:
    """The writer of one run directory for one ``fit``: open only while a job writes.

    Callbacks write through a ``tf.summary`` writer (``tf.summary.scalar``,
    :func:`keras_viz.tensorboard.image_summary` work as usual). A job acquires it, writes,
    and releases it; the last release closes it, so nothing is open between two Keras
    hooks. That matters because Keras' ``fit`` has no ``finally``: when any callback (one
    of keras-viz's or not) raises, no hook follows, and a writer left open for the other
    callbacks of the epoch would stay open, with what it wrote, for good.

    A ``tf.summary`` writer always starts a new event file, and TensorBoard reads the
    files of a run in name order, where ``...1795.host.12.10.v2`` sorts before
    ``...1795.host.12.9.v2``: jobs written to one file each, within one second, would
    come back out of order. So the writer writes into a private local staging
    directory, and each close moves what it wrote into the run directory:

    * on a local filesystem, appended to the run's one event file for this fit (the
      first close creates it);
    * on any other filesystem (``gs://``, ``s3://``, ``hdfs://``, ``ram://``; written
      through ``tf.io.gfile``, as Keras' own TensorBoard callback does), object stores
      cannot append, so each close writes its own event file, named after the first
      with a zero-padded sequence number, which sorts in the order written.
    """

    def __init__(self, path: str):
        self.path = path
        self.event_file: str | None = None  # the run's (first) event file for this fit
        self.appends = _can_append(path)
        self._parts = 0  # event files written after the first (filesystems without append)
        self._made = False  # the run directory exists
        self._writer: tf.summary.SummaryWriter | None = None
        self._staging: str | None = None
        self._cleanup: weakref.finalize | None = None
        self._holders = 0
        self._lock = threading.Lock()
        self.opened = 0  # how many times a writer was opened (once per write job)

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    def acquire(self, keep_open: bool = False) -> tf.summary.SummaryWriter:
        """The open writer; every ``acquire`` needs its :meth:`release`.

        ``keep_open`` is accepted for compatibility and ignored: a writer kept open
        across hooks would be lost when another callback raises (see the class docstring).
        """
        del keep_open
        with self._lock:
            if self._writer is None:
                self._staging = tempfile.mkdtemp(prefix="keras-viz-")
                # the safety net: a writer never closed leaves no staging folder behind,
                # and one still open at exit is closed first (atexit runs last-in first)
                self._cleanup = weakref.finalize(self, shutil.rmtree, self._staging, ignore_errors=True)
                _close_all_at_exit()
                self._writer = tf.summary.create_file_writer(self._staging)
                self.opened += 1
                _OPEN.add(self)
            self._holders += 1
            return self._writer

    def release(self) -> None:
        """Closes the writer when no job holds it any more: what it wrote reaches the run."""
        with self._lock:
            self._holders = max(self._holders - 1, 0)
            if self._holders == 0:
                self._close_locked()

    def close(self, force: bool = False) -> None:
        """Closes now, or when the last job still writing releases it (``force``: now regardless)."""
        with self._lock:
            if force:
                self._holders = 0
            if self._holders == 0:
                self._close_locked()

    def _close_locked(self) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        _OPEN.discard(self)
        try:
            writer.flush()
            writer.close()
            self._move_staged()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._cleanup.detach()
            self._staging = self._cleanup = None

    def _move_staged(self) -> None:
        # the staging folder is local (tempfile): read with os (tf.io.gfile.glob costs ms);
        # the run directory may be anywhere: written with tf.io.gfile
        staged = sorted(name for name in os.listdir(self._staging) if "tfevents" in name)
        if not staged:
            return
        if not self._made:
            tf.io.gfile.makedirs(self.path)
            self._made = True
        for name in staged:
            with open(os.path.join(self._staging, name), "rb") as handle:
                data = handle.read()
            if self.event_file is None:
                self.event_file = os.path.join(self.path, name)
                _write(self.event_file, data, "wb")
            elif self.appends:  # without the file_version event every event file starts with
                _write(self.event_file, data[_record_size(data) :], "ab")
            else:
                self._parts += 1
                _write(f"{self.event_file}.{self._parts:06d}", data, "wb")


def _can_append(path: str) -> bool:
    """Whether ``path`` is on the local filesystem, where event files can be appended to."""
    scheme, separator, _ = path.partition("://")
    return not separator or scheme == "file"


def _write(path: str, data: bytes, mode: str) -> None:
    with tf.io.gfile.GFile(path, mode) as handle:
        handle.write(data)


def _record_size(data: bytes) -> int:
    """Bytes of the first TFRecord of ``data``: length (8), its CRC (4), payload, CRC (4)."""
    if len(data) < 12:
        return len(data)
    (length,) = struct.unpack("<Q", data[:8])
    return min(12 + length + 4, len(data))


_AT_EXIT = False


def _close_all_at_exit() -> None:
    """Registers (once, at the first writer) the closing of every writer still open at exit."""
    global _AT_EXIT
    if not _AT_EXIT:
        _AT_EXIT = True
        atexit.register(_close_open_writers)


def _close_open_writers() -> None:
    for writer in list(_OPEN):
        try:
            writer.close(force=True)  # no job runs any more: background threads are joined by now
        except Exception as error:  # at exit: report, never raise
            logger.warning("keras-viz could not close the writer of %s: %s", writer.path, error)


@dataclasses.dataclass
class _Schedule:
    """The epochs of one ``(freq, budget)`` group of callbacks."""

    freq: int
    budget: float | None
    decided: dict[int, bool] = dataclasses.field(default_factory=dict)
    logged: list[int] = dataclasses.field(default_factory=list)
    skipped: list[int] = dataclasses.field(default_factory=list)
    round_cost: dict[int, float] = dataclasses.field(default_factory=dict)
    members: list[Any] = dataclasses.field(default_factory=list)

    def last_cost(self) -> float:
        return self.round_cost[self.logged[-1]] if self.logged else 0.0


class FitSession:
    """The keras-viz callbacks of one ``fit`` of one model (see the module docstring)."""

    def __init__(self, params: Any):
        self.params = params
        self.members: list[Any] = []
        self.start = time.perf_counter()
        self.spent = 0.0
        self.writers: dict[str, RunWriter] = {}
        self.schedules: dict[tuple[int, float | None], _Schedule] = {}
        self._epochs_done: dict[int, set[int]] = {}
        self.shared: dict[Any, Any] = {}  # per-step results callbacks share (see ExplanationCallback)
        self._lock = threading.Lock()
        self._finished_members: set[int] = set()
        self.finished = False

    # -- membership --------------------------------------------------------------

    @property
    def epochs(self) -> int | None:
        return (self.params or {}).get("epochs")

    def join(self, member: Any) -> None:
        if member not in self.members:
            self.members.append(member)
            schedule = self._schedule(member)
            if member not in schedule.members:
                schedule.members.append(member)

    def _schedule(self, member: Any) -> _Schedule:
        key = (member.freq, member.budget)
        if key not in self.schedules:
            self.schedules[key] = _Schedule(member.freq, member.budget)
        return self.schedules[key]

    # -- time --------------------------------------------------------------------

    def add_spent(self, seconds: float) -> None:
        with self._lock:
            self.spent += seconds

    def training_time(self) -> float:
        return max(time.perf_counter() - self.start - self.spent, 0.0)

    # -- schedule ----------------------------------------------------------------

    def is_candidate(self, member: Any, epoch: int) -> bool:
        return (epoch + 1) % member.freq == 0 or epoch + 1 == self.epochs

    def is_due(self, member: Any, epoch: int) -> bool:
        """Whether ``member`` logs ``epoch``; decided once per epoch for its whole group."""
        schedule = self._schedule(member)
        if epoch not in schedule.decided:
            due = self._decide(schedule, member, epoch)
            schedule.decided[epoch] = due
            if self.is_candidate(member, epoch):
                (schedule.logged if due else schedule.skipped).append(epoch)
        return schedule.decided[epoch]

    def _decide(self, schedule: _Schedule, member: Any, epoch: int) -> bool:
        if not self.is_candidate(member, epoch):
            return False
        if schedule.budget is None or epoch + 1 == self.epochs or not schedule.logged:
            return True  # no budget, the last epoch, or the first one logged
        return budget_allows(self.spent, self.training_time(), schedule.last_cost(), schedule.budget)

    def record_cost(self, member: Any, epoch: int, seconds: float) -> None:
        """Adds what ``member`` spent logging ``epoch`` to that epoch's round cost."""
        schedule = self._schedule(member)
        schedule.round_cost[epoch] = schedule.round_cost.get(epoch, 0.0) + seconds

    def log_late(self, member: Any, epoch: int) -> None:
        """Training stopped before its planned last epoch: ``epoch`` is logged at the end after all."""
        schedule = self._schedule(member)
        schedule.decided[epoch] = True
        if epoch in schedule.skipped:
            schedule.skipped.remove(epoch)
        if epoch not in schedule.logged:
            schedule.logged.append(epoch)

    def skipped_notes(self) -> list[tuple[list[str], str, int]]:
        """``(run directories, note, step)`` for every budgeted group that skipped epochs.

        The step is the group's last logged epoch.
        """
        notes = []
        for schedule in self.schedules.values():
            if schedule.budget is None or not schedule.skipped:
                continue
            names = sorted({type(m).__name__ for m in schedule.members})
            runs = sorted({m.run_dir for m in schedule.members})
            training = self.training_time()
            share = self.spent / training if training > 0 else float("nan")
            note = (
                f"keras-viz logged epoch(s) {describe_epochs(schedule.logged)} and skipped epoch(s) "
                f"{describe_epochs(schedule.skipped)} of {self.epochs} for {', '.join(names)}, to keep "
                f"visualization within budget={schedule.budget:g} of the training time (the callbacks "
                f"took {self.spent:.2f} s, {share:.0%} of {training:.2f} s of training; the first and "
                f"the last epoch are always logged). Pass freq=1 to log every epoch, or a larger budget."
            )
            notes.append((runs, note, max(schedule.logged, default=0)))
        return notes

    def finish(self, member: Any) -> bool:
        """Marks ``member`` as done with training; True for the last one (once)."""
        self._finished_members.add(id(member))
        if self.finished or len(self._finished_members) < len(self.members):
            return False
        self.finished = True
        return True

    # -- writers -----------------------------------------------------------------

    def writer(self, path: str) -> RunWriter:
        with self._lock:
            if path not in self.writers:
                self.writers[path] = RunWriter(path)
            return self.writers[path]

    def epoch_done(self, member: Any, epoch: int) -> None:
        """Called by every member after its ``on_epoch_end``; the last one drops the epoch's shared results."""
        done = self._epochs_done.setdefault(epoch, set())
        done.add(id(member))
        if len(done) >= len(self.members):
            self._epochs_done.pop(epoch, None)
            self.shared.clear()
            self.close_writers()

    def close_writers(self) -> None:
        for writer in list(self.writers.values()):
            writer.close()


class Sessions:
    """The current :class:`FitSession` of each model.

    Both held weakly: a session lives as long as its callbacks (which reference it and
    the model), so neither the registry nor a session keeps a model alive.
    """

    def __init__(self):
        self._by_model: "weakref.WeakKeyDictionary[Any, weakref.ref[FitSession]]" = weakref.WeakKeyDictionary()

    def for_fit(self, model: Any, params: Any, factory: Callable[[Any], FitSession] = FitSession) -> FitSession:
        """The session of this ``fit``: same model and the very same ``params`` dict."""
        found = self._by_model.get(model) if model is not None else None
        session = found() if found is not None else None
        if session is not None and session.params is params and params and not session.finished:
            return session
        if session is not None:
            session.close_writers()  # left open by a fit that stopped with an exception
        session = factory(params)
        if model is not None:
            self._by_model[model] = weakref.ref(session)
        return session


SESSIONS = Sessions()
