"""What the callbacks of one fit share (issue 10): the schedule, the probe, the graphs, the writers.

One module-scoped fit with the seven views of the issue (Grad-CAM, saliency, SmoothGrad,
Integrated Gradients, gradient x input, occlusion, activations) serves most tests; the
rest use small fits or the schedule on its own.
"""

from __future__ import annotations

import glob
import io
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import keras_viz as kv
from keras_viz import _model
from keras_viz import callbacks as kvc
from keras_viz.callbacks import _session
from keras_viz.callbacks._session import FitSession, budget_allows, describe_epochs, open_writers
from keras_viz.explainers import group as group_module
from tests.conftest import build, sample_inputs

X = sample_inputs("functional", n=24, seed=2)
Y = np.arange(24) % 3
EPOCHS = 5


def _events(run_dir):
    accumulator = EventAccumulator(run_dir, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def _pngs(accumulator, tag, step=-1):
    blobs = accumulator.Tensors(tag)[step].tensor_proto.string_val[2:]
    return [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs]


def _seven(log_dir, **options):
    images, labels = X[:4], Y[:4]
    common = dict(log_dir=log_dir, raise_errors=True, **options)
    return [
        kvc.GradCAMCallback(images, labels, **common),
        kvc.SaliencyCallback(images, labels, **common),
        kvc.SmoothGradCallback(images, labels, samples=4, **common),
        kvc.IntegratedGradientsCallback(images, labels, steps=4, **common),
        kvc.GradientInputCallback(images, labels, **common),
        kvc.OcclusionCallback(images, labels, patch_size=4, **common),
        kvc.ActivationCallback(images, layers=["conv1"], **common),
    ]


def _compiled(tmp_path):
    model = build("functional", str(tmp_path))  # BatchNorm and Dropout: training must not notice us
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    return model


class _Counter:
    """Counts calls of a function while patched in."""

    def __init__(self, monkeypatch, owner, name):
        self.count = 0
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


@pytest.fixture(scope="module")
def seven_fit(tmp_path_factory):
    """A 5-epoch fit with the seven callbacks and their defaults, counting probes, traces, groups."""
    monkeypatch = pytest.MonkeyPatch()
    try:
        tmp = tmp_path_factory.mktemp("seven")
        log_dir = str(tmp / "logs")
        model = _compiled(tmp)
        probes = _Counter(monkeypatch, _model.ModelInfo, "__init__")
        groups = _Counter(monkeypatch, group_module.ExplainerGroup, "explain")
        writers = _Counter(monkeypatch, tf.summary, "create_file_writer")
        callbacks = _seven(log_dir)
        # 24 samples train in milliseconds: any visualization is over the 5 % budget, so
        # only the first and the last epoch are logged
        model.fit(X, Y, epochs=EPOCHS, batch_size=8, verbose=0, callbacks=callbacks)
        counts = {"probes": probes.count, "groups": groups.count, "writers": writers.count}
    finally:
        monkeypatch.undo()
    return log_dir, model, callbacks, counts


# --------------------------------------------------------------------------- schedule


def test_default_schedule_logs_the_first_and_the_last_epoch(seven_fit):
    log_dir, _, callbacks, _ = seven_fit
    assert all(cb.logged_epochs == [0, EPOCHS - 1] for cb in callbacks)  # decided together
    events = _events(os.path.join(log_dir, "keras_viz"))
    for tag in ("grad_cam/overlay", "smoothgrad/heatmap", "occlusion/overlay", "activations/conv1"):
        assert [e.step for e in events.Tensors(tag)] == [0, EPOCHS - 1], tag


def test_skipped_epochs_are_reported_with_how_to_log_every_epoch(seven_fit):
    log_dir, _, _, _ = seven_fit
    events = _events(os.path.join(log_dir, "keras_viz"))
    (event,) = events.Tensors("keras_viz/schedule")
    note = tf.make_ndarray(event.tensor_proto).item().decode()
    assert "logged epoch(s) 1, 5 and skipped epoch(s) 2–4 of 5" in note
    assert "budget=0.05" in note and "freq=1" in note
    assert "GradCAMCallback" in note and "OcclusionCallback" in note


def test_explicit_freq_logs_every_epoch_whatever_the_time(tmp_path):
    model = _compiled(tmp_path)
    log_dir = str(tmp_path / "logs")
    every = kvc.SaliencyCallback(X[:2], Y[:2], log_dir=log_dir, freq=1, raise_errors=True)
    second = kvc.GradCAMCallback(X[:2], Y[:2], log_dir=log_dir, run="second", freq=2, raise_errors=True)
    budgeted = kvc.GradCAMCallback(X[:2], Y[:2], log_dir=log_dir, run="budgeted", freq=2, budget=1e-9)
    model.fit(X, Y, epochs=5, batch_size=8, verbose=0, callbacks=[every, second, budgeted])
    assert every.logged_epochs == [0, 1, 2, 3, 4]
    assert second.logged_epochs == [1, 3, 4]
    assert budgeted.logged_epochs == [1, 4]  # freq=2 thinned by the budget: first and last of freq's epochs
    assert [e.step for e in _events(os.path.join(log_dir, "keras_viz")).Tensors("saliency/overlay")] == [0, 1, 2, 3, 4]
    assert "keras_viz/schedule" not in _events(os.path.join(log_dir, "keras_viz")).Tags()["tensors"]


def test_the_last_epoch_reached_is_logged_when_training_stops_early(tmp_path):
    class StopAt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True

    model = _compiled(tmp_path)
    log_dir = str(tmp_path / "logs")
    callback = kvc.GradCAMCallback(X[:2], Y[:2], log_dir=log_dir, budget=1e-9, raise_errors=True)
    model.fit(X, Y, epochs=10, batch_size=8, verbose=0, callbacks=[callback, StopAt()])
    assert callback.logged_epochs == [0, 2]
    events = _events(os.path.join(log_dir, "keras_viz"))
    assert [e.step for e in events.Tensors("grad_cam/overlay")] == [0, 2]
    (note,) = events.Tensors("keras_viz/schedule")
    assert note.step == 2 and "logged epoch(s) 1, 3 and skipped epoch(s) 2 of 10" in tf.make_ndarray(
        note.tensor_proto
    ).item().decode()
    assert open_writers() == []


class _Member:
    def __init__(self, freq=1, budget=0.1):
        self.freq, self.budget, self.run_dir = freq, budget, "run"


def test_budget_rule_on_a_given_clock():
    session = FitSession({"epochs": 10})
    member = _Member(budget=0.1)
    session.join(member)
    session.start -= 10.0  # 10 s of training so far
    assert session.is_due(member, 0)  # the first epoch, whatever it costs
    session.record_cost(member, 0, 0.5)
    session.add_spent(0.5)
    # 0.5 spent + 2 x 0.5 (this epoch and the reserved last one) > 0.1 x 9.5 s of training
    assert not session.is_due(member, 1)
    session.start -= 10.0  # 19.5 s of training: 1.5 <= 1.95
    assert session.is_due(member, 2)
    assert session.is_due(member, 9)  # the last epoch, always
    assert session.schedules[(1, 0.1)].skipped == [1]
    assert budget_allows(spent=1.0, training=30.0, cost=1.0, budget=0.1)
    assert not budget_allows(spent=1.01, training=30.0, cost=1.0, budget=0.1)
    assert describe_epochs([1, 2, 3, 6, 8, 9]) == "2–4, 7, 9–10"


@pytest.mark.parametrize("budget", [0, -0.1, 1.5, "5%", True])
def test_bad_budget_is_refused(budget):
    with pytest.raises(ValueError, match=r"`budget` must be a fraction of the training time in \(0, 1\]"):
        kvc.GradCAMCallback(X[:2], log_dir="logs", budget=budget)


# --------------------------------------------------------------------------- shared work


def test_one_probe_and_one_group_for_all_seven_views(seven_fit):
    _, _, _, counts = seven_fit
    assert counts["probes"] == 1  # one eager probe of the model, for every explainer and view
    assert counts["groups"] == 2  # the six explanation callbacks are explained together, per logged epoch


def test_first_calls_run_without_tracing(seven_fit):
    _, _, callbacks, _ = seven_fit
    (group,) = [g for g, _ in callbacks[0]._groups.values()]
    assert group.trace_count == 0  # the shared forward pass ran eagerly both times
    traced = {type(e).__name__: e.trace_count for e in group.explainers}
    assert traced == {
        "GradCAM": 0, "Saliency": 0, "SmoothGrad": 0, "IntegratedGradients": 0, "GradientInput": 0,
        "Occlusion": 1,  # compute-bound: traced at once (Occlusion.EAGER_CALLS = 0)
    }


def test_one_event_file_per_run_and_fit(seven_fit):
    log_dir, _, _, counts = seven_fit
    # 7 callbacks, 2 logged epochs and the schedule note: a writer opened for each of the
    # 15 write jobs and closed at its end (nothing stays open between Keras hooks), all
    # into one event file, so TensorBoard reads the steps in order
    assert counts["writers"] == 7 * 2 + 1
    assert len(glob.glob(os.path.join(log_dir, "keras_viz", "*tfevents*"))) == 1
    assert open_writers() == []


def test_epochs_stay_in_order_in_a_fast_fit(tmp_path):
    model = _compiled(tmp_path)
    log_dir = str(tmp_path / "logs")
    callback = kvc.CAMCallback(X[:1], log_dir=log_dir, freq=1, raise_errors=True)
    model.fit(X[:8], Y[:8], epochs=12, batch_size=8, verbose=0, callbacks=[callback])  # > 10 epochs a second
    assert [e.step for e in _events(os.path.join(log_dir, "keras_viz")).Tensors("cam/overlay")] == list(range(12))


def test_shared_pictures_are_those_of_each_explainer_alone(seven_fit):
    log_dir, model, _, _ = seven_fit
    events = _events(os.path.join(log_dir, "keras_viz"))
    images, labels = X[:4], Y[:4]
    for tag, explainer in (
        ("smoothgrad", kv.SmoothGrad(model, samples=4)),
        ("occlusion", kv.Occlusion(model, patch_size=4)),
        ("gradient_input", kv.GradientInput(model)),
    ):
        maps = explainer(images, targets=labels)  # the weights the last epoch's pictures saw
        heatmaps, overlays = kv.tensorboard.explanation_images(images, maps)
        for logged, expected in zip(_pngs(events, f"{tag}/heatmap"), heatmaps):
            difference = np.abs(logged.astype(int) - expected.astype(int))
            assert difference.max() <= 2 and difference.mean() < 0.05, tag  # float rounding at most


def test_training_is_bit_identical_with_the_seven_views(tmp_path):
    def train(with_callbacks):
        keras.utils.set_random_seed(7)
        model = _compiled(tmp_path)
        callbacks = _seven(str(tmp_path / "logs"), freq=1) if with_callbacks else []
        keras.utils.set_random_seed(11)
        model.fit(X, Y, epochs=3, batch_size=8, verbose=0, shuffle=True, callbacks=callbacks)
        return [w.numpy() for w in model.weights]  # epoch 3 runs the traced graphs

    for a, b in zip(train(False), train(True)):
        np.testing.assert_array_equal(a, b)


def test_no_batch_hook_unless_batch_freq(tmp_path):
    from keras.src.utils.python_utils import is_default

    quiet = kvc.GradCAMCallback(X[:2], log_dir=str(tmp_path))
    per_batch = kvc.GradCAMCallback(X[:2], log_dir=str(tmp_path), batch_freq=3)
    # no per-batch hook unless asked for (backends with asynchronous callbacks stay asynchronous)
    assert is_default(quiet.on_train_batch_end) and not is_default(per_batch.on_train_batch_end)
    per_batch.batch_freq = None
    assert is_default(per_batch.on_train_batch_end)


def test_sessions_are_per_fit(tmp_path):
    model = _compiled(tmp_path)
    callback = kvc.SaliencyCallback(X[:2], Y[:2], log_dir=str(tmp_path / "logs"), raise_errors=True)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    first = callback._session
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    assert callback._session is not first and callback.logged_epochs == [0, 1]
    assert _session.SESSIONS.for_fit(model, callback.params) is not callback._session  # finished: a new fit


def test_a_failing_peer_does_not_take_the_others_down(tmp_path):
    def broken(model):
        raise RuntimeError("cannot explain this")

    model = _compiled(tmp_path)
    log_dir = str(tmp_path / "logs")
    good = kvc.GradCAMCallback(X[:2], Y[:2], log_dir=log_dir)
    bad = kvc.ExplanationCallback(X[:2], explainers=[broken], targets=Y[:2], log_dir=log_dir, run="bad")
    with pytest.warns(RuntimeWarning, match="ExplanationCallback failed at epoch 0.*cannot explain this") as caught:
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[good, bad])
    assert not any("GradCAMCallback" in str(w.message) for w in caught)
    assert "grad_cam/overlay" in _events(os.path.join(log_dir, "keras_viz")).Tags()["tensors"]


def test_shared_caches_do_not_keep_models_alive(tmp_path):
    import gc
    import weakref

    model = _compiled(tmp_path)
    callbacks = _seven(str(tmp_path / "logs"))
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
    alive = weakref.ref(model)
    del model, callbacks
    gc.collect()
    assert alive() is None  # the probe cache and the session registry hold models weakly
