"""Shared fixtures: one tiny model of every kind keras-viz must support (SPEC §2)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

IMAGE = (16, 16, 3)
SEQUENCE = (20, 2)
CLASSES = 3


def _head(x, name="head"):
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    return layers.Dense(CLASSES, activation="softmax", name=name)(x)


def sequential_model():
    return keras.Sequential(
        [
            keras.Input(IMAGE),
            layers.Conv2D(6, 3, activation="relu", name="conv1"),
            layers.Conv2D(8, 3, name="conv2"),
            layers.ReLU(name="relu2"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(CLASSES, activation="softmax", name="head"),
        ],
        name="sequential",
    )


def functional_model():
    inputs = keras.Input(IMAGE, name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.Activation("relu", name="act1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(8, 3, activation="relu", padding="same", name="conv2")(x)
    return keras.Model(inputs, _head(x), name="functional")


def nested_model():
    backbone = keras.Sequential(
        [
            keras.Input(IMAGE),
            layers.Conv2D(6, 3, activation="relu", name="conv1"),
            layers.Conv2D(8, 3, name="conv2"),
            layers.Activation("relu", name="conv2_relu"),
        ],
        name="backbone",
    )
    inputs = keras.Input(IMAGE)
    return keras.Model(inputs, _head(backbone(inputs)), name="nested")


class SubclassedModel(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(6, 3, activation="relu", name="conv1")
        self.conv2 = layers.Conv2D(8, 3, activation="relu", name="conv2")
        self.gap = layers.GlobalAveragePooling2D(name="gap")
        self.head = layers.Dense(CLASSES, activation="softmax", name="head")

    def call(self, x, training=False):
        return self.head(self.gap(self.conv2(self.conv1(x))))


def subclassed_model():
    model = SubclassedModel(name="subclassed")
    model(np.zeros((1, *IMAGE), np.float32))
    return model


def multi_input_model():
    image = keras.Input(IMAGE, name="image")
    extra = keras.Input((4,), name="extra")
    x = layers.Conv2D(6, 3, activation="relu", name="conv1")(image)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    y = layers.Dense(4, activation="relu", name="extra_dense")(extra)
    x = layers.Concatenate(name="concat")([x, y])
    outputs = layers.Dense(CLASSES, activation="softmax", name="head")(x)
    return keras.Model([image, extra], outputs, name="multi_input")


def multi_output_model():
    inputs = keras.Input(IMAGE)
    x = layers.Conv2D(6, 3, activation="relu", name="conv1")(inputs)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    aux = layers.Dense(2, name="aux")(x)
    cls = layers.Dense(CLASSES, activation="softmax", name="cls")(x)
    return keras.Model(inputs, [aux, cls], name="multi_output")


def sequence_model():
    return keras.Sequential(
        [
            keras.Input(SEQUENCE),
            layers.Conv1D(6, 3, activation="relu", name="conv1"),
            layers.Conv1D(8, 3, activation="relu", name="conv2"),
            layers.GlobalAveragePooling1D(name="gap"),
            layers.Dense(CLASSES, activation="softmax", name="head"),
        ],
        name="conv1d",
    )


def mixed_precision_model():
    policy = "mixed_float16"
    return keras.Sequential(
        [
            keras.Input(IMAGE),
            layers.Conv2D(6, 3, activation="relu", name="conv1", dtype=policy),
            layers.Conv2D(8, 3, activation="relu", name="conv2", dtype=policy),
            layers.GlobalAveragePooling2D(name="gap", dtype=policy),
            layers.Dense(CLASSES, name="logits", dtype=policy),
            layers.Activation("softmax", name="probs", dtype="float32"),
        ],
        name="mixed_float16",
    )


def saved_model(tmp_dir):
    path = os.path.join(tmp_dir, "functional.keras")
    functional_model().save(path)
    return keras.models.load_model(path)


MODEL_KINDS = (
    "sequential",
    "functional",
    "nested",
    "subclassed",
    "multi_input",
    "multi_output",
    "conv1d",
    "mixed_float16",
    "saved_keras",
)


def build(kind: str, tmp_dir: str) -> keras.Model:
    keras.utils.set_random_seed(1)
    builders = {
        "sequential": sequential_model,
        "functional": functional_model,
        "nested": nested_model,
        "subclassed": subclassed_model,
        "multi_input": multi_input_model,
        "multi_output": multi_output_model,
        "conv1d": sequence_model,
        "mixed_float16": mixed_precision_model,
        "saved_keras": lambda: saved_model(tmp_dir),
    }
    return builders[kind]()


def sample_inputs(kind: str, n: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    if kind == "conv1d":
        return rng.normal(size=(n, *SEQUENCE)).astype(np.float32)
    images = rng.uniform(size=(n, *IMAGE)).astype(np.float32)
    if kind == "multi_input":
        return [images, rng.normal(size=(n, 4)).astype(np.float32)]
    return images


@pytest.fixture(scope="session")
def model_zoo(tmp_path_factory):
    """Every model kind, built once per test session."""
    tmp_dir = str(tmp_path_factory.mktemp("models"))
    return {kind: build(kind, tmp_dir) for kind in MODEL_KINDS}
