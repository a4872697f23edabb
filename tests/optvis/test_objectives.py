"""Objectives against NumPy on a hand-weighted model; arithmetic is exact and never mutates."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from keras_viz import optvis

RNG = np.random.default_rng(3)
W_CONV = RNG.normal(size=(1, 1, 2, 3)).astype(np.float32)
B_CONV = np.array([0.1, -0.2, 0.3], np.float32)
W_HEAD = RNG.normal(size=(3, 4)).astype(np.float32)
B_HEAD = np.array([0.0, 0.5, -0.5, 1.0], np.float32)
X = RNG.uniform(size=(5, 4, 4, 2)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    inputs = keras.Input((4, 4, 2))
    conv = layers.Conv2D(3, 1, name="conv")(inputs)
    pooled = layers.GlobalAveragePooling2D(name="gap")(conv)
    outputs = layers.Dense(4, activation="softmax", name="head")(pooled)
    built = keras.Model(inputs, outputs)
    built.get_layer("conv").set_weights([W_CONV, B_CONV])
    built.get_layer("head").set_weights([W_HEAD, B_HEAD])
    return built


def conv_np(x=X):
    return np.einsum("nhwc,cd->nhwd", x, W_CONV[0, 0]) + B_CONV


def logits_np(x=X):
    return conv_np(x).mean(axis=(1, 2)) @ W_HEAD + B_HEAD


def test_channel_neuron_deepdream_direction_equal_numpy(model):
    conv = conv_np()
    np.testing.assert_allclose(optvis.score(model, optvis.channel("conv", 1), X), conv.mean((1, 2))[:, [1]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        optvis.score(model, optvis.channel("conv", [2, 0]), X), conv.mean((1, 2))[:, [2, 0]], rtol=1e-5, atol=1e-6
    )
    # The centre of a 4x4 map is (2, 2).
    np.testing.assert_allclose(optvis.score(model, optvis.neuron("conv", range(3)), X), conv[:, 2, 2, :], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        optvis.score(model, optvis.neuron("conv", 1, position=(0, 3)), X), conv[:, 0, 3, [1]], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        optvis.score(model, optvis.deepdream("conv"), X), (conv**2).mean((1, 2, 3))[:, None], rtol=1e-5
    )
    vectors = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 0.0]], np.float32)
    np.testing.assert_allclose(
        optvis.score(model, optvis.direction("conv", vectors), X), conv.mean((1, 2)) @ vectors.T, rtol=1e-5, atol=1e-6
    )


def test_class_score_is_the_logit_and_probability_the_softmax(model):
    logits = logits_np()
    np.testing.assert_allclose(optvis.score(model, optvis.class_score(range(4)), X), logits, rtol=1e-5, atol=1e-5)
    softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(
        optvis.score(model, optvis.class_score([3, 1], probability=True), X), softmax[:, [3, 1]], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        optvis.score(model, optvis.class_score(2, probability=True, log=True), X), np.log(softmax[:, [2]]), rtol=1e-5
    )
    with pytest.raises(ValueError, match="probability=True"):
        optvis.class_score(2, log=True)


def test_feature_match_gram_match_and_diversity_equal_numpy(model):
    conv = conv_np()
    targets = conv[:2] + 0.3
    expected = np.stack(
        [-((conv - t) ** 2).sum((1, 2, 3)) / (t**2).sum() for t in targets], axis=1
    )
    np.testing.assert_allclose(optvis.score(model, optvis.feature_match("conv", targets), X), expected, rtol=1e-4)

    flat = conv.reshape(len(conv), -1, 3)
    grams = np.einsum("npc,npd->ncd", flat, flat) / flat.shape[1]
    np.testing.assert_allclose(optvis.gram_matrix(conv).numpy(), grams, rtol=1e-5)
    reference = grams[4]
    expected = -((grams - reference) ** 2).sum((1, 2)) / (reference**2).sum()
    np.testing.assert_allclose(optvis.score(model, optvis.gram_match("conv", conv[4:5]), X)[:, 0], expected, rtol=1e-4, atol=1e-6)

    unit = grams.reshape(5, -1) / np.linalg.norm(grams.reshape(5, -1), axis=1, keepdims=True)
    cosine = unit @ unit.T
    expected = -(cosine.sum(1) - 1.0) / 4.0
    np.testing.assert_allclose(optvis.score(model, optvis.diversity("conv"), X)[:, 0], expected, rtol=1e-4)


def test_diversity_is_higher_for_different_images(model):
    same = optvis.score(model, optvis.diversity("conv"), np.stack([X[0], X[0], X[0]]))
    different = optvis.score(model, optvis.diversity("conv"), X[:3])
    np.testing.assert_allclose(same, -1.0, atol=1e-5)  # identical Gram matrices: cosine 1
    assert np.all(different > same + 1e-4), different
    # so *adding* diversity rewards different images
    channel_plus = optvis.channel("conv", 0) + 0.5 * optvis.diversity("conv")
    assert np.all(optvis.score(model, channel_plus, X[:3]) - optvis.score(model, optvis.channel("conv", 0), X[:3])
                  > 0.5 * same[:, :1] + 1e-4)


def test_diversity_compares_only_the_images_of_the_same_member():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(6, 3, 3, 4)).astype(np.float32)
    objective = optvis.channel("c", range(3)) + optvis.diversity("c")
    members = tf.constant([0, 0, 1, 1, 2, 2])

    def per_image(values):
        return objective.evaluate([tf.constant(values)] * 2, members).numpy()  # one tensor per term

    base = per_image(features)
    changed = features.copy()
    changed[2:4] = rng.normal(size=(2, 3, 3, 4))  # member 1's images only
    after = per_image(changed)
    np.testing.assert_allclose(after[[0, 1, 4, 5]], base[[0, 1, 4, 5]], rtol=1e-6)
    assert np.all(np.abs(after[2:4] - base[2:4]) > 1e-4)
    # member k's value is what the single objective gives on member k's images alone
    for k in range(3):
        alone = optvis.channel("c", k) + optvis.diversity("c")
        expected = alone.evaluate([tf.constant(features[2 * k : 2 * k + 2])] * 2, tf.constant([0, 0])).numpy()
        np.testing.assert_allclose(base[2 * k : 2 * k + 2], expected, rtol=1e-5)
        grams = np.einsum("npc,npd->ncd", *[features[2 * k : 2 * k + 2].reshape(2, -1, 4)] * 2)
        unit = grams.reshape(2, -1) / np.linalg.norm(grams.reshape(2, -1), axis=1, keepdims=True)
        cosine = float(unit[0] @ unit[1])
        means = features[2 * k : 2 * k + 2].mean(axis=(1, 2))[:, k]
        np.testing.assert_allclose(base[2 * k : 2 * k + 2], means - cosine, rtol=1e-4)


def test_gram_matrix_of_any_rank_equals_numpy():
    values = RNG.normal(size=(2, 3, 5, 7, 4)).astype(np.float32)
    flat = values.reshape(2, -1, 4)
    np.testing.assert_allclose(
        optvis.gram_matrix(values).numpy(), np.einsum("npc,npd->ncd", flat, flat) / flat.shape[1], rtol=1e-5
    )


def test_arithmetic_is_exact_through_score(model):
    a = optvis.channel("conv", range(3))
    b = optvis.deepdream("conv")
    c = optvis.class_score(range(3))
    sa, sb, sc = (optvis.score(model, o, X) for o in (a, b, c))
    np.testing.assert_allclose(optvis.score(model, a - b, X), sa - sb, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(optvis.score(model, 2 * a, X), 2 * sa, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optvis.score(model, a * 2.5, X), 2.5 * sa, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optvis.score(model, -a, X), -sa, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optvis.score(model, a / 4, X), sa / 4, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optvis.score(model, sum([a, b, c, a]), X), 2 * sa + sb + sc, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(optvis.score(model, a - 0.5 * c + b, X), sa - 0.5 * sc + sb, rtol=1e-5, atol=1e-5)


def test_subtraction_is_not_xpliques_trap(model):
    """Means 3 and 5: a - b must be -2 (xplique 2.0.2 gives -8 and mutates b)."""
    constant = np.ones((1, 4, 4, 2), np.float32)
    conv = conv_np(constant)[0, 0, 0]
    a = (3.0 / conv[0]) * optvis.channel("conv", 0)
    b = (5.0 / conv[1]) * optvis.channel("conv", 1)
    np.testing.assert_allclose(optvis.score(model, a, constant), [[3.0]], rtol=1e-5)
    np.testing.assert_allclose(optvis.score(model, b, constant), [[5.0]], rtol=1e-5)
    np.testing.assert_allclose(optvis.score(model, a - b, constant), [[-2.0]], rtol=1e-5)
    np.testing.assert_allclose(optvis.score(model, b, constant), [[5.0]], rtol=1e-5)  # b unchanged


def test_composing_never_changes_an_operand(model):
    a = optvis.channel("conv", range(3))
    b = optvis.deepdream("conv")
    before = [(o.terms, o.name, [c for c, _ in o.terms]) for o in (a, b)]
    scores = [optvis.score(model, o, X) for o in (a, b)]
    results = [a + b, a - b, 3 * a, a * 3, -a, +a, a / 2, sum([a, b]), 0 + a, a - 0, b - a]
    for result in results:
        assert result is not a and result is not b
    assert [(o.terms, o.name, [c for c, _ in o.terms]) for o in (a, b)] == before
    for o, s in zip((a, b), scores):
        np.testing.assert_array_equal(optvis.score(model, o, X), s)
    with pytest.raises(dataclasses_frozen_error()):
        a.terms = ()


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_objectives_name_themselves():
    assert optvis.channel("conv3", 7).name == "conv3:7"
    assert optvis.channel("conv3", range(16)).name == "conv3:[0..15]"
    assert optvis.channel("conv3", range(3)).names == ("conv3:0", "conv3:1", "conv3:2")
    objective = optvis.channel("c", range(2)) + 0.5 * optvis.diversity("c")
    assert objective.name == "c:[0,1] + 0.5·diversity(c)"
    assert objective.names == ("c:0 + 0.5·diversity(c)", "c:1 + 0.5·diversity(c)")
    assert (optvis.channel("c", 1) - 0.5 * optvis.deepdream("c")).name == "c:1 - 0.5·deepdream(c)"
    assert objective.members == 2
    assert (-optvis.class_score(3)).name == "-class:3"
    assert optvis.class_score(3, probability=True).name == "prob:3"
    assert optvis.neuron("c", 1, (2, 3)).name == "c:1@2,3"
    assert "members=2" in repr(objective)


def test_members_broadcast_and_mismatches_are_refused():
    assert (optvis.channel("c", range(4)) + optvis.deepdream("c")).members == 4
    with pytest.raises(ValueError, match="members"):
        optvis.channel("c", range(4)) + optvis.channel("c", range(3))
    with pytest.raises(TypeError):
        optvis.channel("c", 1) + 1.0
    with pytest.raises(TypeError):
        optvis.channel("c", 1) * optvis.channel("c", 2)
    with pytest.raises(ValueError, match="divided by 0"):
        optvis.channel("c", 1) / 0


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: optvis.channel("c", -1), ValueError, "negative"),
        (lambda: optvis.channel("c", []), ValueError, "empty"),
        (lambda: optvis.channel("c", 1.5), TypeError, "index"),
        (lambda: optvis.channel("c", True), TypeError, "index"),
        (lambda: optvis.channel(None, 1), TypeError, "layer"),
        (lambda: optvis.neuron("c", 1, position=(-1, 0)), ValueError, "position"),
        (lambda: optvis.neuron("c", 1, position="a"), TypeError, "position"),
        (lambda: optvis.direction("c", [np.nan, 1.0]), ValueError, "vector"),
        (lambda: optvis.feature_match("c", np.zeros((3,))), ValueError, "activations"),
        (lambda: optvis.class_score(1, output=1.5), TypeError, "output"),
    ],
)
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_errors_when_bound_to_a_model(model):
    with pytest.raises(ValueError, match="Unknown layer 'conv9'"):
        optvis.score(model, optvis.channel("conv9", 0), X)
    with pytest.raises(ValueError, match=r"`index`=3 is out of range .* 3 channels"):
        optvis.score(model, optvis.channel("conv", 3), X)
    with pytest.raises(ValueError, match="classes"):
        optvis.score(model, optvis.class_score(4), X)
    with pytest.raises(ValueError, match="position"):
        optvis.score(model, optvis.neuron("conv", 0, position=(4, 0)), X)
    with pytest.raises(ValueError, match="vector"):
        optvis.score(model, optvis.direction("conv", [1.0, 2.0]), X)
    with pytest.raises(ValueError, match="activations"):
        optvis.score(model, optvis.feature_match("conv", np.zeros((1, 3, 3, 3))), X)
    with pytest.raises(ValueError, match="shape"):
        optvis.score(model, optvis.channel("conv", 0), X[:, :3])
    with pytest.raises(TypeError, match="objective"):
        optvis.score(model, "conv:0", X)


def test_score_traces_once_per_model_signature_and_objective_content(model, monkeypatch):
    import gc
    import importlib
    import weakref

    score_module = importlib.import_module("keras_viz.optvis.score")  # optvis.score is the function

    traced = []
    real_reader = score_module.ObjectiveReader

    def counting_reader(*args, **kwargs):
        traced.append(args[1].name)
        return real_reader(*args, **kwargs)

    monkeypatch.setattr(score_module, "ObjectiveReader", counting_reader)
    first = optvis.score(model, optvis.channel("conv", 1) - 0.5 * optvis.deepdream("conv"), X)
    again = optvis.score(model, optvis.channel("conv", 1) - 0.5 * optvis.deepdream("conv"), X[:3])  # a new, equal objective
    np.testing.assert_allclose(again, first[:3], rtol=1e-6)
    assert traced == ["conv:1 - 0.5·deepdream(conv)"]
    optvis.score(model, optvis.channel("conv", 2) - 0.5 * optvis.deepdream("conv"), X)  # other content: traced
    optvis.score(model, optvis.channel(model.get_layer("conv"), 2) - 0.5 * optvis.deepdream("conv"), X)
    optvis.score(model, optvis.direction("conv", [1.0, 0.0, 0.0]), X)
    optvis.score(model, optvis.direction("conv", [0.0, 1.0, 0.0]), X)  # arrays are compared by value
    assert len(traced) == 5
    # the cached function reads the current weights
    changed = keras.models.clone_model(model)
    changed.set_weights(model.get_weights())
    before = optvis.score(changed, optvis.channel("conv", 1), X)
    changed.get_layer("conv").set_weights([W_CONV, B_CONV + 1.0])
    np.testing.assert_allclose(optvis.score(changed, optvis.channel("conv", 1), X), before + 1.0, rtol=1e-5)
    # bounded, and gone with the model
    for k in range(score_module.MAX_FUNCTIONS_PER_MODEL + 3):
        optvis.score(changed, optvis.channel("conv", 0) * (k + 1.0), X[:1])
    assert len(score_module._FUNCTIONS[changed]) == score_module.MAX_FUNCTIONS_PER_MODEL
    alive = weakref.ref(changed)
    del changed
    gc.collect()
    assert alive() is None
