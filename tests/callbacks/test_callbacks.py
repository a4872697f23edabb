"""Callbacks inside model.fit: what they write, read back from the event files."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import keras_viz as kv
from keras_viz import callbacks as kvc
from keras_viz.callbacks._session import open_writers
from tests.conftest import build, sample_inputs

X = sample_inputs("functional", n=24, seed=1)
Y = np.arange(24) % 3


def _events(run_dir):
    accumulator = EventAccumulator(run_dir, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def _pngs(accumulator, tag, step=-1):
    """The decoded pictures of one image tag at one step (last by default)."""
    event = accumulator.Tensors(tag)[step]
    blobs = event.tensor_proto.string_val[2:]  # [width, height, png...]
    return [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs]


def _all_callbacks(log_dir, **common):
    return [
        kvc.GradCAMCallback(X[:4], targets=Y[:4], log_dir=log_dir, **common),
        kvc.ExplanationCallback(
            X[:3], explainers=[kv.Saliency, kv.GuidedGradCAM, kv.CAM], log_dir=log_dir, run="explain", **common
        ),
        kvc.FilterCallback(log_dir=log_dir, **common),
        kvc.ActivationCallback(X[:2], log_dir=log_dir, **common),
        kvc.TrainingHealthCallback(X[:16], Y[:16], log_dir=log_dir, **common),
    ]


def _compiled(tmp_path, seed=0):
    model = build("functional", str(tmp_path))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One fit of 2 epochs with every callback, next to Keras' TensorBoard(update_freq=2)."""
    tmp = tmp_path_factory.mktemp("fit")
    log_dir = str(tmp / "logs")
    model = _compiled(tmp)
    callbacks = [keras.callbacks.TensorBoard(log_dir, update_freq=2), *_all_callbacks(log_dir, raise_errors=True)]
    model.fit(X, Y, validation_data=(X[:6], Y[:6]), epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
    return log_dir, model, callbacks


def test_runs_sit_beside_keras_runs(logged):
    log_dir, _, _ = logged
    assert {"train", "validation", "keras_viz", "explain"} <= set(os.listdir(log_dir))


def test_explanations_are_logged_every_epoch_despite_update_freq(logged):
    log_dir, _, _ = logged
    events = _events(os.path.join(log_dir, "keras_viz"))
    assert [e.step for e in events.Tensors("grad_cam/input")] == [0]  # fixed inputs: drawn once
    for tag in ("grad_cam/input", "grad_cam/heatmap", "grad_cam/overlay"):
        if tag != "grad_cam/input":
            assert [e.step for e in events.Tensors(tag)] == [0, 1]
        pictures = _pngs(events, tag)
        assert len(pictures) == 4 and all(p.shape == (16, 16, 3) for p in pictures)  # native size
    description = events.SummaryMetadata("grad_cam/overlay").summary_description
    assert "true label" in description and "sample 0: 0" in description
    shared = _events(os.path.join(log_dir, "explain"))
    assert {"saliency/overlay", "guided_grad_cam/overlay", "cam/overlay"} <= set(shared.Tags()["tensors"])
    assert "predicted class" in shared.SummaryMetadata("cam/overlay").summary_description


def test_overlay_differs_from_input_where_heatmap_is_hot(logged):
    log_dir, model, _ = logged
    events = _events(os.path.join(log_dir, "keras_viz"))
    image, overlay = _pngs(events, "grad_cam/input")[0], _pngs(events, "grad_cam/overlay")[0]
    heat = kv.GradCAM(model)(X[:1], targets=Y[:1])[0]
    hot, cold = heat >= np.percentile(heat, 90), heat <= np.percentile(heat, 10)
    change = np.abs(overlay.astype(int) - image.astype(int)).sum(-1)
    assert change[hot].mean() > 10 and change[hot].mean() > 3 * change[cold].mean()


def test_filter_grid_of_known_weights(tmp_path):
    model = _compiled(tmp_path)
    kernel = np.zeros((3, 3, 3, 6), np.float32)
    kernel[:, :, 0, 0] = 1.0  # filter 0: pure positive red
    kernel[1, 1, 2, 1] = -1.0  # filter 1: one negative blue centre
    model.get_layer("conv1").kernel.assign(kernel)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")  # weights stay
    log_dir = str(tmp_path / "logs")
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[kvc.FilterCallback(["conv1"], log_dir=log_dir, raise_errors=True)])
    (picture,) = _pngs(_events(os.path.join(log_dir, "keras_viz")), "filters/conv1")
    np.testing.assert_array_equal(picture, kv.filters.filter_grid(model, "conv1"))
    # the red filter's tile is red; the logged picture is the grid of the weights set above
    reds = (picture[..., 0] > 200) & (picture[..., 1] < 160) & (picture[..., 2] < 160)
    assert reds.sum() >= 9


def test_health_reports_dead_relus_and_gradients(tmp_path):
    model = _compiled(tmp_path)
    bias = model.get_layer("conv2").bias
    bias.assign(np.full(bias.shape, -100.0, np.float32))  # every conv2 ReLU is dead
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    log_dir = str(tmp_path / "logs")
    health = kvc.TrainingHealthCallback(X[:16], Y[:16], log_dir=log_dir, raise_errors=True)
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[health])
    events = _events(os.path.join(log_dir, "keras_viz"))
    dead = {tag: float(tf.make_ndarray(events.Tensors(tag)[-1].tensor_proto))
            for tag in events.Tags()["tensors"] if tag.startswith("health/dead_relu/")}
    assert dead["health/dead_relu/conv2"] == 1.0 and dead["health/dead_relu/act1"] < 1.0
    warning = tf.make_ndarray(events.Tensors("health/warnings")[-1].tensor_proto).item().decode()
    assert "conv2" in warning and "100%" in warning
    assert "health/gradient_norm/conv1/kernel" in events.Tags()["tensors"]
    (diagram,) = _pngs(events, "architecture/model")
    assert diagram.shape[0] > 100 and (diagram < 100).any()


def test_same_weights_with_and_without_callbacks(tmp_path):
    def train(with_callbacks):
        keras.utils.set_random_seed(7)
        model = _compiled(tmp_path)
        callbacks = _all_callbacks(str(tmp_path / f"logs{with_callbacks}"), raise_errors=True) if with_callbacks else []
        keras.utils.set_random_seed(11)
        model.fit(X, Y, epochs=2, batch_size=8, verbose=0, shuffle=True, callbacks=callbacks)
        return [w.numpy() for w in model.weights]

    for a, b in zip(train(False), train(True)):
        np.testing.assert_array_equal(a, b)


class _Boom(keras.callbacks.Callback):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise self.error


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_writers_closed_when_fit_stops_with_an_exception(tmp_path, error):
    model = _compiled(tmp_path)
    log_dir = str(tmp_path / "logs")
    callbacks = _all_callbacks(log_dir, raise_errors=True)
    # the failure happens in the second epoch, after a first epoch was logged
    boom = _Boom(error)
    boom.on_train_batch_end = lambda batch, logs=None, b=boom: (
        _Boom.on_train_batch_end(b, batch, logs) if b.model.optimizer.iterations.numpy() > 4 else None
    )
    with pytest.raises(type(error)):
        model.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[*callbacks, boom])
    for callback in callbacks:
        callback.wait()  # pictures still being drawn in the background are finished
    assert open_writers() == []  # every run's writer is flushed and closed
    events = _events(os.path.join(log_dir, "keras_viz"))
    assert [e.step for e in events.Tensors("grad_cam/overlay")] == [0]


def test_failing_visualization_warns_once_and_training_goes_on(tmp_path):
    model = _compiled(tmp_path)

    def broken(model):
        raise RuntimeError("cannot explain this")

    callback = kvc.ExplanationCallback(X[:2], explainers=[broken], log_dir=str(tmp_path / "logs"))
    with pytest.warns(RuntimeWarning, match=r"ExplanationCallback failed at epoch 0.*RuntimeError: cannot explain this") as caught:
        history = model.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 3
    assert sum("ExplanationCallback failed" in str(w.message) for w in caught) == 1
    strict = kvc.ExplanationCallback(X[:2], explainers=[broken], log_dir=str(tmp_path / "logs"), raise_errors=True)
    with pytest.raises(RuntimeError, match="cannot explain this"):
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[strict])


def test_batch_frequency_logs_with_batch_steps(tmp_path):
    model = _compiled(tmp_path)
    log_dir = str(tmp_path / "logs")
    callback = kvc.SaliencyCallback(X[:2], log_dir=log_dir, freq=5, batch_freq=2, raise_errors=True)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])  # 3 batches per epoch
    events = _events(os.path.join(log_dir, "keras_viz"))
    assert [e.step for e in events.Tensors("batch/saliency/overlay")] == [2, 4, 6]
    # freq=5 epochs: not due in a 2-epoch fit, except at the last epoch
    assert [e.step for e in events.Tensors("saliency/overlay")] == [1]


def test_non_chief_writes_nothing(tmp_path):
    class NotChief:
        class extended:
            should_save_summary = False

    callback = kvc.GradCAMCallback(X[:2], log_dir=str(tmp_path / "logs"), raise_errors=True)
    callback._is_chief = lambda: NotChief.extended.should_save_summary
    _compiled(tmp_path).fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[callback])
    assert not os.path.exists(tmp_path / "logs")


def test_sequence_models_are_drawn(tmp_path):
    model = build("conv1d", str(tmp_path))
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = sample_inputs("conv1d", n=8)
    log_dir = str(tmp_path / "logs")
    callbacks = [kvc.GradCAMCallback(x[:2], log_dir=log_dir, raise_errors=True),
                 kvc.ActivationCallback(x[:2], log_dir=log_dir, raise_errors=True)]
    model.fit(x, np.arange(8) % 3, epochs=1, verbose=0, callbacks=callbacks)
    events = _events(os.path.join(log_dir, "keras_viz"))
    assert {"grad_cam/overlay", "activations/conv1"} <= set(events.Tags()["tensors"])


@pytest.mark.parametrize("make, error, message", [
    (lambda: kvc.GradCAMCallback(X, log_dir="logs", freq=0), ValueError, r"`freq` must be a positive int; received 0"),
    (lambda: kvc.GradCAMCallback(X, log_dir="logs", run="my run"), ValueError, r"`run` must be a directory name"),
    (lambda: kvc.GradCAMCallback(X, log_dir="logs", colour="red"), TypeError, r"unknown option\(s\) \['colour'\]"),
    (lambda: kvc.GradCAMCallback(X, log_dir=None), TypeError, r"`log_dir` must be a path"),
    (lambda: kvc.ExplanationCallback(X, explainers=[], log_dir="logs"), ValueError, r"`explainers` must be a non-empty list"),
    (lambda: kvc.ExplanationCallback(X, explainers=["grad_cam"], log_dir="logs"), TypeError, r"`explainers` holds 'grad_cam'"),
    (lambda: kvc.TrainingHealthCallback(X, log_dir="logs", dead_threshold=2), ValueError, r"`dead_threshold` must be in \[0, 1\]"),
    (lambda: kvc.FilterCallback("conv1", log_dir="logs"), TypeError, r"`layers` must be a list"),
])
def test_bad_configuration_is_refused_without_touching_the_filesystem(tmp_path, monkeypatch, make, error, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message):
        make()
    assert not os.path.exists(tmp_path / "logs")


def test_mirrored_strategy_two_cpus(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, keras_viz as kv
        from keras_viz import callbacks as kvc
        from tests.conftest import build, sample_inputs
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            model = build("functional", {str(tmp_path)!r})
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        x = sample_inputs("functional", n=16); y = np.arange(16) % 3
        log_dir = {str(tmp_path / "logs")!r}
        callbacks = [kvc.GradCAMCallback(x[:2], targets=y[:2], log_dir=log_dir, raise_errors=True),
                     kvc.FilterCallback(log_dir=log_dir, raise_errors=True),
                     kvc.TrainingHealthCallback(x[:8], y[:8], log_dir=log_dir, raise_errors=True)]
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
        print("OK")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=root)
    assert result.stdout.strip().endswith("OK"), result.stderr[-3000:]
    events = _events(str(tmp_path / "logs" / "keras_viz"))
    assert [e.step for e in events.Tensors("grad_cam/overlay")] == [0, 1]
    assert "health/dead_relu/conv2" in events.Tags()["tensors"]
    # only one writer wrote: exactly one event per tag and step
    for tag in events.Tags()["tensors"]:
        steps = [e.step for e in events.Tensors(tag)]
        assert len(steps) == len(set(steps)), tag


def test_background_writing_gives_the_same_pictures(tmp_path):
    model = build("sequential", str(tmp_path))  # no BatchNorm: SGD(0) keeps every weight fixed
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    logs = {}
    for background in (False, True):
        log_dir = str(tmp_path / f"logs{background}")
        callbacks = [kvc.GradCAMCallback(X[:3], targets=Y[:3], log_dir=log_dir, background=background, raise_errors=True),
                     kvc.FilterCallback(["conv1"], log_dir=log_dir, background=background, raise_errors=True)]
        model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)  # fit waits for the writes
        logs[background] = _events(os.path.join(log_dir, "keras_viz"))
    for tag in ("grad_cam/overlay", "filters/conv1"):
        assert [e.step for e in logs[True].Tensors(tag)] == [0, 1]
        for a, b in zip(_pngs(logs[False], tag), _pngs(logs[True], tag)):
            np.testing.assert_array_equal(a, b)


def test_background_failure_is_raised_at_the_end_when_asked(tmp_path, monkeypatch):
    model = _compiled(tmp_path)
    callback = kvc.SaliencyCallback(X[:2], log_dir=str(tmp_path / "logs"), background=True, raise_errors=True)
    monkeypatch.setattr(kv.tensorboard, "log_explanations", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[callback])



def test_health_skips_relus_that_run_several_times(tmp_path):
    from keras import layers

    inputs = keras.Input((6, 3))
    x = layers.SimpleRNN(4, activation="relu", return_sequences=True, name="rnn")(inputs)
    x = layers.Conv1D(5, 2, activation="relu", name="conv")(x)
    model = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling1D()(x)))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x_data = np.random.default_rng(0).normal(size=(8, 6, 3)).astype(np.float32)
    report_probe = kv.health.HealthProbe(model, x_data, np.arange(8) % 2)
    report = report_probe()
    assert "conv" in report.dead and not any("rnn" in name for name in report.dead)
    assert any("rnn" in note for note in report_probe.notes)


def test_stateful_rnn_is_refused_and_left_alone():
    from keras import layers

    model = keras.Sequential([keras.Input((5, 2), batch_size=1), layers.LSTM(3, stateful=True, name="lstm"), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"`model` has stateful recurrent layer\(s\) \(lstm\)"):
        kv.Saliency(model)
