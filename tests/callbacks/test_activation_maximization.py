"""ActivationMaximizationCallback inside model.fit, read back from the event files."""

from __future__ import annotations

import io
import os

import keras
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from keras_viz import callbacks, optvis
from tests.conftest import build, sample_inputs

X = sample_inputs("functional", n=16, seed=2)
Y = np.arange(16) % 3


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("am")
    log_dir = str(tmp / "logs")
    model = build("functional", str(tmp))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    callback = callbacks.ActivationMaximizationCallback(
        optvis.channel("conv2", range(4)), log_dir=log_dir, steps=8, freq=1, raise_errors=True
    )
    model.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[keras.callbacks.TensorBoard(log_dir), callback])
    return log_dir, model, callback


def test_one_labelled_grid_per_epoch(logged):
    log_dir, model, callback = logged
    assert callback.tag == "activation_maximization/conv2_0..3"
    events = EventAccumulator(os.path.join(log_dir, "keras_viz"), size_guidance={"tensors": 0})
    events.Reload()
    written = events.Tensors(callback.tag)
    assert [event.step for event in written] == [0, 1, 2]
    blob = written[-1].tensor_proto.string_val[2]
    picture = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
    assert picture.shape[0] > 2 * 16 and picture.shape[1] > 2 * 16 and picture.std() > 5
    description = events.SummaryMetadata(callback.tag).summary_description
    assert "conv2:[0..3]" in description and "conv2:3:" in description


def test_the_pictures_are_the_library_images_of_the_final_model(logged):
    _, model, callback = logged
    expected = optvis.activation_maximization(model, optvis.channel("conv2", range(4)), steps=8)
    np.testing.assert_allclose(callback._maximizer(8, 0), expected, atol=1e-5)


def test_settings_are_checked_without_touching_the_filesystem(tmp_path):
    log_dir = str(tmp_path / "never")
    with pytest.raises(TypeError, match="objective"):
        callbacks.ActivationMaximizationCallback("conv2:1", log_dir=log_dir)
    with pytest.raises(ValueError, match="steps"):
        callbacks.ActivationMaximizationCallback(optvis.class_score(1), log_dir=log_dir, steps=0)
    with pytest.raises(ValueError, match="freq"):
        callbacks.ActivationMaximizationCallback(optvis.class_score(1), log_dir=log_dir, freq=0)
    with pytest.raises(ValueError, match="value_range"):
        callbacks.ActivationMaximizationCallback(optvis.class_score(1), log_dir=log_dir, value_range=(2, 1))
    with pytest.raises(ValueError, match="name"):
        callbacks.ActivationMaximizationCallback(optvis.class_score(1), log_dir=log_dir, name="a b")
    callbacks.ActivationMaximizationCallback(optvis.class_score(1), log_dir=log_dir, name="classes")
    assert not os.path.exists(log_dir)


@pytest.mark.parametrize(
    "setting, error, message",
    [
        (dict(size="big"), TypeError, "`size`.*'big'"),
        (dict(size=(0, 16)), ValueError, r"`size`.*\(0, 16\)"),
        (dict(size=(16, 16, 3)), ValueError, "`size`"),
        (dict(param="nope"), ValueError, "`param`.*'nope'"),
        (dict(param=3), TypeError, "`param`.*3"),
        (dict(transforms="all"), ValueError, "`transforms`.*'all'"),
        (dict(transforms=[optvis.jitter(2), "rotate"]), TypeError, "`transforms`"),
        (dict(transforms=5), TypeError, "`transforms`.*5"),
        (dict(regularizers="tv"), TypeError, "`regularizers`.*'tv'"),
        (dict(regularizers=[optvis.l2(0.1), 3]), TypeError, "`regularizers`"),
        (dict(learning_rate=-1.0), ValueError, "`learning_rate`"),
        (dict(learning_rate="fast"), TypeError, "`learning_rate`"),
        (dict(value_range=(0, 1, 2)), ValueError, "`value_range`"),
        (dict(param="pixel", transforms=None, regularizers=[optvis.blur_every(2)], size=8), None, None),
    ],
)
def test_every_model_free_setting_is_checked_at_construction(tmp_path, setting, error, message):
    log_dir = str(tmp_path / "never")
    make = lambda: callbacks.ActivationMaximizationCallback(optvis.class_score(1), log_dir=log_dir, **setting)  # noqa: E731
    if error is None:
        make()
    else:
        with pytest.raises(error, match=message):
            make()
    assert not os.path.exists(log_dir)


def test_projections_with_a_generator_are_refused_at_construction(tmp_path):
    decoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64), keras.layers.Reshape((8, 8, 1))])
    with pytest.raises(ValueError, match="param='pixel' or 'fourier'"):
        callbacks.ActivationMaximizationCallback(
            optvis.class_score(1), log_dir=str(tmp_path), param=decoder, regularizers=[optvis.blur_every(2)]
        )


def test_a_two_channel_model_is_logged_as_one_panel_per_channel(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8, 8, 2)), keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
         keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    log_dir = str(tmp_path / "logs")
    callback = callbacks.ActivationMaximizationCallback(
        optvis.channel("conv", 1), log_dir=log_dir, steps=2, freq=1, scale=1, raise_errors=True
    )
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 2)).astype(np.float32)
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, verbose=0, callbacks=[callback])
    events = EventAccumulator(os.path.join(log_dir, "keras_viz"), size_guidance={"tensors": 0})
    events.Reload()
    blob = events.Tensors(callback.tag)[0].tensor_proto.string_val[2]
    picture = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
    assert picture.shape[1] == 2 * 8 + 1 + 2 * 2  # two 8-pixel panels, a separator, the padding
