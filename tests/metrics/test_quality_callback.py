"""QualityCallback: argument checks, and the tags it writes without masks (tiny model, 2 epochs).

The scalars of a real training run (pointing accuracy growing as a shapes model learns)
are read back in test_trained_shapes.py.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import keras_viz as kv
from keras_viz import callbacks as kvc
from tests.conftest import build, sample_inputs

X = sample_inputs("functional", n=12, seed=3)
Y = np.arange(12) % 3
MASKS = np.zeros((12, 16, 16), bool)
MASKS[:, 4:12, 4:12] = True


def test_without_masks_logs_deletion_insertion_and_flat_maps_per_method(tmp_path):
    model = build("functional", str(tmp_path))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    callback = kvc.QualityCallback(
        X[:6], explainers=[kv.Saliency, functools.partial(kv.SmoothGrad, samples=4), kv.GradCAM],
        targets=Y[:6], steps=4, log_dir=str(tmp_path), run="quality", raise_errors=True,
    )
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[callback, keras.callbacks.TensorBoard(str(tmp_path), update_freq=2)])
    accumulator = EventAccumulator(str(tmp_path / "quality"), size_guidance={"tensors": 0})
    accumulator.Reload()
    expected = {f"quality/{m}/{k}" for m in ("saliency", "smoothgrad", "grad_cam") for k in ("deletion", "insertion", "flat_maps")}
    assert set(accumulator.Tags()["tensors"]) == expected
    for tag in expected:
        events = accumulator.Tensors(tag)
        assert [e.step for e in events] == [0, 1]
        assert all(0.0 <= float(tf.make_ndarray(e.tensor_proto)) <= 1.0 for e in events)
    # The logged value is the mean of the metric over the inputs, recomputed here.
    saliency = kv.Saliency(model)(X[:6], targets=Y[:6])
    expected_value = kv.metrics.deletion(model, X[:6], saliency, Y[:6], steps=4).mean()
    logged = float(tf.make_ndarray(accumulator.Tensors("quality/saliency/deletion")[-1].tensor_proto))
    assert logged == pytest.approx(expected_value, abs=1e-5)
    assert callback.scores()["saliency/deletion"] == pytest.approx(expected_value, abs=1e-5)


def test_default_metrics_depend_on_masks(tmp_path):
    with_masks = kvc.QualityCallback(X, masks=MASKS, log_dir=str(tmp_path))
    assert with_masks.metrics == ("pointing_game", "energy_in_mask", "deletion", "insertion", "flat_maps")
    assert kvc.QualityCallback(X, log_dir=str(tmp_path)).metrics == ("deletion", "insertion", "flat_maps")
    assert not list(tmp_path.iterdir())  # nothing written before training


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"metrics": ["pointing_game"]}, ValueError, "pass `masks=`"),
        ({"metrics": ["accuracy"]}, ValueError, "Unknown metric 'accuracy'"),
        ({"metrics": "deletion"}, ValueError, "list of metric names"),
        ({"masks": MASKS[:3]}, ValueError, "maps' shape"),
        ({"masks": np.zeros_like(MASKS)}, ValueError, r"masks`\[0\] is empty"),
        ({"targets": Y[:3]}, ValueError, "3 entries"),
        ({"targets": kv.Unit("conv1", channel=0)}, TypeError, "class labels"),
        ({"tolerance": -2}, ValueError, "tolerance"),
        ({"steps": 0}, ValueError, "steps"),
        ({"insertion_baseline": "noise"}, ValueError, "'mean' and 'blur'"),
        ({"explainers": []}, ValueError, "non-empty"),
        ({"freq": 0}, ValueError, "freq"),
    ],
)
def test_bad_arguments(kwargs, error, match, tmp_path):
    with pytest.raises(error, match=match):
        kvc.QualityCallback(X, log_dir=str(tmp_path), **kwargs)


@pytest.mark.parametrize("inputs", [tf.data.Dataset.from_tensor_slices(X), {"image": X}, np.zeros((0, 16, 16, 3))])
def test_bad_inputs(inputs, tmp_path):
    with pytest.raises((TypeError, ValueError), match="inputs"):
        kvc.QualityCallback(inputs, log_dir=str(tmp_path))
