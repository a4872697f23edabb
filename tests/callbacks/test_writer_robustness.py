"""Where and when the callbacks' pictures land when things go wrong (issue 10 review).

* a log directory on a TensorFlow filesystem (``ram://`` here; ``gs://``, ``s3://``,
  ``hdfs://`` alike) is written through ``tf.io.gfile``, not as a local folder;
* an exception raised by another callback in the middle of an epoch loses none of the
  pictures already drawn and leaves nothing open or staged;
* with ``EarlyStopping(restore_best_weights=True)`` the last epoch reached is drawn with
  its own weights, not with the restored best ones.
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_viz import callbacks as kvc
from keras_viz.callbacks._session import open_writers
from tests.conftest import build, sample_inputs

X = sample_inputs("functional", n=16, seed=3)
Y = np.arange(16) % 3


def _compiled(tmp_path):
    model = build("functional", str(tmp_path))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    return model


def _events(run_dir):
    """``[(tag, step, tensor)]`` of every event file of ``run_dir`` in name order, via gfile."""
    files = sorted(tf.io.gfile.glob(f"{run_dir}/*tfevents*"))
    found = []
    for record in tf.data.TFRecordDataset(files):
        event = tf.compat.v1.Event.FromString(record.numpy())
        for value in event.summary.value:
            found.append((value.tag, event.step, value.tensor))
    return files, found


def _steps(events, tag):
    return [step for name, step, _ in events if name == tag]


@pytest.fixture
def staging_root(tmp_path, monkeypatch):
    """The folder the writers stage into (instead of the shared /tmp)."""
    root = tmp_path / "staging"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_a_log_dir_on_a_tensorflow_filesystem_is_written_there(tmp_path, monkeypatch, staging_root):
    monkeypatch.chdir(tmp_path)  # a local folder named after the URL would appear here
    log_dir = f"ram://keras-viz-{uuid.uuid4().hex}/logs"
    model = _compiled(tmp_path)
    common = dict(log_dir=log_dir, freq=1, raise_errors=True)
    callbacks = [kvc.GradCAMCallback(X[:2], Y[:2], **common), kvc.SaliencyCallback(X[:2], Y[:2], **common)]
    model.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=callbacks)

    assert not os.path.exists(tmp_path / "ram:"), os.listdir(tmp_path)
    files, events = _events(f"{log_dir}/keras_viz")
    assert files, tf.io.gfile.listdir(log_dir)
    # read in name order, the steps come back in the order they were written
    assert _steps(events, "grad_cam/overlay") == [0, 1, 2]
    assert _steps(events, "saliency/overlay") == [0, 1, 2]
    (_, _, tensor), *_ = [e for e in events if e[0] == "grad_cam/overlay"]
    picture = Image.open(io.BytesIO(tf.make_ndarray(tensor)[2]))
    assert picture.format == "PNG" and picture.size[0] > 0
    assert open_writers() == [] and list(staging_root.iterdir()) == []


class _RaiseAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("a callback that is not keras-viz's failed")


def test_an_exception_in_another_callback_keeps_what_was_drawn(tmp_path, staging_root):
    model = _compiled(tmp_path)
    log_dir = str(tmp_path / "logs")
    common = dict(log_dir=log_dir, freq=1, raise_errors=True)
    before = kvc.GradCAMCallback(X[:2], Y[:2], **common)
    after = kvc.SaliencyCallback(X[:2], Y[:2], **common)
    with pytest.raises(RuntimeError, match="not keras-viz's"):
        model.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[before, _RaiseAt(1), after])

    assert open_writers() == []  # nothing left open...
    assert list(staging_root.iterdir()) == []  # ...or staged
    _, events = _events(os.path.join(log_dir, "keras_viz"))
    assert _steps(events, "grad_cam/overlay") == [0, 1]  # epoch 1 was drawn before the exception
    assert _steps(events, "saliency/overlay") == [0]  # its callback never ran at epoch 1


class _WeightSum(kvc.VizCallback):
    """Logs the sum of the model's weights: which weights a logged step saw."""

    def _log(self, step, prefix):
        total = float(sum(np.sum(w) for w in self.model.get_weights()))

        def job(writer):
            tf.summary.scalar(f"{prefix}weight_sum", total, step=step)

        return job


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.sums = {}

    def on_epoch_end(self, epoch, logs=None):
        self.sums[epoch] = float(sum(np.sum(w) for w in self.model.get_weights()))


class _WorseEveryEpoch(keras.callbacks.EarlyStopping):
    """Real EarlyStopping whose monitored value gets worse every epoch: the best is epoch 0."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, {**(logs or {}), "made_up": float(epoch)})


@pytest.mark.parametrize("early_stopping_first", [True, False])
def test_early_stopping_with_restored_weights_logs_the_last_epoch_reached(tmp_path, early_stopping_first):
    model = _compiled(tmp_path)
    log_dir = str(tmp_path / "logs")
    stop = _WorseEveryEpoch(monitor="made_up", mode="min", patience=2, restore_best_weights=True)
    viz = _WeightSum(log_dir=log_dir, budget=1e-9, raise_errors=True)  # logs the first epoch, then the last
    recorder = _Recorder()
    order = [stop, viz, recorder] if early_stopping_first else [viz, recorder, stop]
    model.fit(X, Y, epochs=10, batch_size=8, verbose=0, callbacks=order)

    assert stop.stopped_epoch == 2
    restored = float(sum(np.sum(w) for w in model.get_weights()))
    assert restored == pytest.approx(recorder.sums[0])  # EarlyStopping did restore epoch 0
    assert viz.logged_epochs == [0, 2]
    _, events = _events(os.path.join(log_dir, "keras_viz"))
    logged = {step: float(tf.make_ndarray(t)) for tag, step, t in events if tag == "weight_sum"}
    assert logged == pytest.approx({0: recorder.sums[0], 2: recorder.sums[2]})
    assert abs(recorder.sums[2] - recorder.sums[0]) > 1e-3  # the test can tell them apart


def test_embedding_projector_export_on_a_tensorflow_filesystem(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log_dir = f"ram://keras-viz-{uuid.uuid4().hex}/logs"
    model = _compiled(tmp_path)
    callback = kvc.EmbeddingCallback(
        X[:6], layer="gap", labels=Y[:6], log_dir=log_dir, freq=1, tsne=False, raise_errors=True
    )
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[callback])

    assert not os.path.exists(tmp_path / "ram:"), os.listdir(tmp_path)
    (config,) = tf.io.gfile.glob(f"{log_dir}/*/*/projector_config.pbtxt")
    run_dir = os.path.dirname(config)
    written = set(tf.io.gfile.listdir(run_dir))
    assert {"checkpoint", "metadata.tsv", "sprite.png"} <= written and any("tfevents" in n for n in written)
    with tf.io.gfile.GFile(os.path.join(run_dir, "metadata.tsv"), "rb") as handle:
        rows = handle.read().decode().splitlines()
    assert rows[0].split("\t")[0] == "label" and [r.split("\t")[0] for r in rows[1:]] == [str(y) for y in Y[:6]]
    # (tf.train.load_checkpoint takes the prefix for a folder on ram://: read it directly)
    reader = tf.compat.v1.train.NewCheckpointReader(tf.train.latest_checkpoint(run_dir))
    (shape,) = reader.get_variable_to_shape_map().values()
    assert shape == [6, 8]  # the codes of `gap` (8 channels) for the 6 inputs


def test_a_writer_left_open_is_closed_at_exit(tmp_path):
    """The safety net: a writer still open when the process ends is closed and moved, not lost."""
    import subprocess
    import sys

    staging = tmp_path / "staging"
    staging.mkdir()
    script = (
        "import tensorflow as tf\n"
        "from keras_viz.callbacks._session import RunWriter\n"
        f"writer = RunWriter({str(tmp_path / 'logs' / 'run')!r})\n"
        "with writer.acquire().as_default():\n"
        "    tf.summary.scalar('left_open', 3.0, step=7)\n"
        "# no release: the process ends with the writer open\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root, "TMPDIR": str(staging), "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    _, events = _events(str(tmp_path / "logs" / "run"))
    assert [(tag, step) for tag, step, _ in events] == [("left_open", 7)]
    assert list(staging.iterdir()) == []
