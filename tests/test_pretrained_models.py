"""The README's "your own pretrained model" calls, on keras.applications architectures.

No weights can be downloaded here, so the architectures are built with ``weights=None``:
what is checked is that every call the README shows reaches the layers of real pretrained
architectures (a top-level model, a backbone nested in the user's model, a saved file with
its preprocessing inside) and returns finite, non-trivial results.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

import keras_viz as kv
from keras_viz import optvis
from tests.test_cli import run_cli


@pytest.fixture(scope="module")
def photos():
    return kv.datasets.load_sample_photos(64)  # (2, 64, 64, 3) in [0, 1]


@pytest.fixture(scope="module")
def nested():
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV2(alpha=0.35, include_top=False, weights=None, input_shape=(64, 64, 3))
    model = keras.Sequential([keras.Input((64, 64, 3)), layers.Rescaling(1 / 127.5, offset=-1), backbone,
                              layers.GlobalAveragePooling2D(), layers.Dense(5, activation="softmax")])
    return model, backbone.name


def test_keras_applications_model_with_its_own_preprocessing(photos):
    base = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    x = keras.applications.resnet50.preprocess_input(photos * 255.0)
    explanation = kv.GradCAM(base, layer="conv5_block3_out").explain(x, targets=3)
    assert explanation.maps.shape == (2, 64, 64) and np.isfinite(explanation.maps).all()
    assert list(explanation.classes) == [3, 3]


def test_a_backbone_nested_in_the_users_model_is_reached_by_path(photos, nested, tmp_path):
    model, name = nested
    x = photos * 255.0
    assert kv.GradCAM(model, layer=f"{name}/out_relu")(x).shape == (2, 64, 64)
    images = optvis.activation_maximization(model, optvis.channel(f"{name}/block_6_expand_relu", range(2)),
                                            steps=4, value_range=(0, 255))
    assert images.shape == (2, 64, 64, 3) and 0 <= images.min() and images.max() <= 255
    top = kv.top_activations(model, x, f"{name}/block_6_expand_relu", channels=[0, 1], k=1)
    assert top.values.shape == (2, 1) and top.patches.shape[0] == 2
    codes = kv.embeddings(model, x, f"{name}/out_relu")
    assert codes.shape[0] == 2 and np.isfinite(codes).all()


def test_a_saved_pretrained_model_from_the_command_line(photos, nested, tmp_path, capsys):
    model, name = nested
    model.save(tmp_path / "classifier.keras")
    Image.fromarray((photos[0] * 255).astype(np.uint8)).save(tmp_path / "photo.jpg")
    code, out, err = run_cli(capsys, "explain", tmp_path / "classifier.keras", tmp_path / "photo.jpg",
                             "--method", "grad_cam", "--layer", f"{name}/out_relu", "--input-range", "0", "255",
                             "--output", tmp_path / "out")
    assert code == 0, err
    assert (tmp_path / "out" / "photo_grad_cam_overlay.png").is_file()
