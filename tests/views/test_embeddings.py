"""CNN codes, 2-D maps and nearest neighbours against brute force."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import keras_viz as kv
from tests.conftest import SubclassedModel

SHAPE = (10, 10, 3)


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [keras.Input(SHAPE), layers.Conv2D(6, 3, activation="relu", name="conv"), layers.GlobalAveragePooling2D(name="gap"),
         layers.Dense(4, name="dense")], name="codes"
    )
    x = np.random.default_rng(1).normal(size=(40, *SHAPE)).astype(np.float32)
    conv = kv.FeatureMaps(model, ["conv"])(x)["conv"]
    return model, x, conv


@pytest.mark.parametrize("pool", ["avg", "max", None])
def test_codes_equal_pooled_feature_maps(setup, pool):
    model, x, conv = setup
    expected = {"avg": conv.mean(axis=(1, 2)), "max": conv.max(axis=(1, 2)), None: conv.reshape(len(x), -1)}[pool]
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(7)
    for data in (x, dataset):
        codes = kv.embeddings(model, data, "conv", pool=pool, batch_size=5)
        assert codes.dtype == np.float32
        np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)


def test_codes_of_a_flat_layer_and_a_subclassed_model(setup):
    model, x, _ = setup
    np.testing.assert_allclose(kv.embeddings(model, x, "dense"), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    sub = SubclassedModel()
    sub(np.zeros((1, 16, 16, 3), np.float32))
    images = np.random.default_rng(0).uniform(size=(5, 16, 16, 3)).astype(np.float32)
    assert kv.embeddings(sub, images, "conv2").shape == (5, 8)


def test_tsne_keeps_well_separated_classes_apart():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10.0, size=(4, 60))  # D > 50: the PCA step runs too
    labels = np.repeat(np.arange(4), 40)
    codes = centres[labels] + rng.normal(size=(160, 60))
    points = kv.tsne_map(codes, perplexity=20, seed=0)
    assert points.shape == (160, 2) and points.dtype == np.float32
    train = np.arange(160) % 2 == 0
    accuracy = KNeighborsClassifier(5).fit(points[train], labels[train]).score(points[~train], labels[~train])
    assert accuracy > 0.9
    np.testing.assert_array_equal(points, kv.tsne_map(codes, perplexity=20, seed=0))  # seeded


def test_pca_map_is_the_first_two_components():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(50, 5)) * np.array([10.0, 3.0, 1.0, 0.1, 0.1])
    points = kv.pca_map(codes)
    centred = codes - codes.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reference = centred @ vt[:2].T
    np.testing.assert_allclose(np.abs(points), np.abs(reference), rtol=1e-4, atol=1e-4)
    assert kv.pca_map(codes[:, :1]).shape == (50, 2)


def test_nearest_neighbors_equal_brute_force(setup):
    model, x, conv = setup
    queries, data = x[:4] + 0.1, x[4:]
    result = kv.nearest_neighbors(model, queries, tf.data.Dataset.from_tensor_slices(data).batch(9), "conv", k=3, batch_size=4)
    features, pixels = result
    codes = conv.mean(axis=(1, 2))
    query_codes = kv.embeddings(model, queries, "conv")
    feature_distance = np.linalg.norm(query_codes[:, None] - codes[None, 4:], axis=-1)
    pixel_distance = np.linalg.norm(queries.reshape(4, -1)[:, None] - data.reshape(len(data), -1)[None], axis=-1)
    np.testing.assert_array_equal(features, np.argsort(feature_distance, axis=1, kind="stable")[:, :3])
    np.testing.assert_array_equal(pixels, np.argsort(pixel_distance, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(result.feature_distances, np.sort(feature_distance, axis=1)[:, :3], rtol=1e-4)
    np.testing.assert_allclose(result.pixel_distances, np.sort(pixel_distance, axis=1)[:, :3], rtol=1e-4)


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda m, x: kv.embeddings(m, x, "conv", pool="mean"), ValueError, r"`pool` must be 'avg', 'max' or None"),
        (lambda m, x: kv.embeddings(m, x, "conv", batch_size=0), ValueError, r"`batch_size` must be a positive int"),
        (lambda m, x: kv.tsne_map(np.zeros((5, 3)), perplexity=5), ValueError, r"`perplexity` must be a number in \(0, N\)"),
        (lambda m, x: kv.tsne_map(np.zeros((5,))), ValueError, r"`codes` must be an \(N, D\) array"),
        (lambda m, x: kv.pca_map([[np.nan, 1.0], [1.0, 2.0]]), ValueError, r"`codes` holds NaN"),
        (lambda m, x: kv.nearest_neighbors(m, x[:2], x, "conv", k=0), ValueError, r"`k` must be a positive int"),
        (lambda m, x: kv.nearest_neighbors(m, x[:2, :5], x, "conv"), ValueError, r"`queries` has shape"),
    ],
)
def test_bad_arguments(setup, call, error, message):
    model, x, _ = setup
    with pytest.raises(error, match=message):
        call(model, x)
