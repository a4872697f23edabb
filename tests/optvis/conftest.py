"""A digits classifier trained once for every optvis test (16x16 digits, the demo's CNN)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

SIZE = 16


@dataclasses.dataclass
class Digits:
    model: keras.Model
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def real(self) -> np.ndarray:
        """500 real digits."""
        return np.concatenate([self.x_test, self.x_train])[:500]


@pytest.fixture(scope="session")
def digits() -> Digits:
    """The demo's CNN trained on 16x16 digits with the demo's recipe (about 98 % accuracy)."""
    from keras_viz import datasets
    from keras_viz.demo import build_demo_model

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = datasets.load_digits(SIZE, seed=0)
    model = build_demo_model((SIZE, SIZE, 1))
    epochs = 2
    schedule = keras.optimizers.schedules.CosineDecay(1e-2, epochs * -(-len(x_train) // 32))
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return Digits(model, x_train, y_train, x_test, y_test)
