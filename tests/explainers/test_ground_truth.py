"""Explainers against numbers derived independently: hand-weighted models with analytic
gradients, brute force and closed forms (SPEC §5)."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from keras import layers

import keras_viz as kv

RNG = np.random.default_rng(42)


def _set(layer, kernel, bias=None):
    weights = [np.asarray(kernel, np.float32)]
    if layer.use_bias:
        weights.append(np.zeros(weights[0].shape[-1], np.float32) if bias is None else np.asarray(bias, np.float32))
    layer.set_weights(weights)


# --------------------------------------------------------------------------- linear models


@pytest.fixture(scope="module")
def linear_model():
    """logits = flatten(x) @ W + b on (4, 4, 2) images, 3 classes, softmax on top."""
    inputs = keras.Input((4, 4, 2))
    x = layers.Flatten()(inputs)
    logits = layers.Dense(3, name="logits")(x)
    probs = layers.Softmax(name="probs")(logits)
    model = keras.Model(inputs, probs)
    kernel = RNG.normal(size=(32, 3)).astype(np.float32)
    _set(model.get_layer("logits"), kernel, [0.1, -0.2, 0.3])
    return model, kernel


def test_saliency_of_linear_model_is_abs_weights(linear_model):
    model, kernel = linear_model
    x = RNG.uniform(size=(4, 4, 4, 2)).astype(np.float32)
    targets = [0, 1, 2, 1]
    maps = kv.Saliency(model)(x, targets=targets)
    for i, c in enumerate(targets):
        expected = np.abs(kernel[:, c].reshape(4, 4, 2)).max(axis=-1)
        np.testing.assert_allclose(maps[i], expected, rtol=1e-6)
    raw = kv.Saliency(model, reduce=None)(x, targets=targets)
    np.testing.assert_allclose(raw[0], kernel[:, 0].reshape(4, 4, 2), rtol=1e-6)


def test_class_score_is_taken_before_softmax_unless_asked(linear_model):
    model, kernel = linear_model
    x = RNG.uniform(size=(1, 4, 4, 2)).astype(np.float32)
    logits = x.reshape(1, -1) @ kernel + np.array([0.1, -0.2, 0.3])
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    # d p_c / d x = p_c (w_c - sum_k p_k w_k)
    expected = p[0, 1] * (kernel[:, 1] - kernel @ p[0])
    raw = kv.Saliency(model, reduce=None, use_logits=False)(x, targets=1)
    np.testing.assert_allclose(raw[0].ravel(), expected, rtol=1e-4, atol=1e-7)


def test_gradient_input_of_linear_model_is_contributions(linear_model):
    model, kernel = linear_model
    x = RNG.uniform(size=(2, 4, 4, 2)).astype(np.float32)
    maps = kv.GradientInput(model, reduce=None)(x, targets=2)
    np.testing.assert_allclose(maps, x * kernel[:, 2].reshape(4, 4, 2), rtol=1e-6)


def test_callable_target_gets_the_model_outputs(linear_model):
    model, kernel = linear_model
    x = RNG.uniform(size=(2, 4, 4, 2)).astype(np.float32)
    import tensorflow as tf

    def log_odds(probs):
        return tf.math.log(probs[:, 0]) - tf.math.log(probs[:, 1])  # = logit0 - logit1

    maps = kv.Saliency(model, reduce=None)(x, targets=log_odds)
    np.testing.assert_allclose(maps[1], (kernel[:, 0] - kernel[:, 1]).reshape(4, 4, 2), rtol=1e-4)


def test_occlusion_of_linear_model_is_patch_sums(linear_model):
    model, kernel = linear_model
    x = RNG.uniform(size=(2, 4, 4, 2)).astype(np.float32)
    contributions = (x * kernel[:, 0].reshape(4, 4, 2)).sum(axis=-1)  # (N, 4, 4)
    maps = kv.Occlusion(model, patch_size=2, stride=2, use_logits=True)(x, targets=0)
    for i in range(2):
        for r, c in itertools.product((0, 2), (0, 2)):
            patch_sum = contributions[i, r : r + 2, c : c + 2].sum()
            np.testing.assert_allclose(maps[i, r : r + 2, c : c + 2], patch_sum, rtol=1e-4, atol=1e-5)


def test_overlapping_occlusion_equals_brute_force(linear_model):
    model, _ = linear_model
    x = RNG.uniform(size=(1, 4, 4, 2)).astype(np.float32)
    fill = 0.5
    maps = kv.Occlusion(model, patch_size=(3, 2), stride=(1, 2), fill=fill)(x, targets=1)
    base = model.predict(x, verbose=0)[0, 1]
    total, count = np.zeros((4, 4)), np.zeros((4, 4))
    for r, c in itertools.product(range(0, 2), (0, 2)):  # 3-row windows at rows 0..1, cols 0,2
        occluded = x.copy()
        occluded[0, r : r + 3, c : c + 2] = fill
        drop = base - model.predict(occluded, verbose=0)[0, 1]
        total[r : r + 3, c : c + 2] += drop
        count[r : r + 3, c : c + 2] += 1
    np.testing.assert_allclose(maps[0], total / count, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- modified backprop

W1 = np.array([[1.0, -2.0, 0.5], [-1.0, 1.0, 1.5], [0.5, 0.5, -1.0], [2.0, -1.0, 0.0]], np.float32)
B1 = np.array([0.1, -0.3, 0.2], np.float32)
W2 = np.array([[1.0, -1.0], [-2.0, 1.0], [0.5, 1.0]], np.float32)
HAND_INPUTS = np.array([[1.0, 0.2, -0.5, 0.3], [-0.4, 1.0, 0.7, -0.2], [0.3, -0.8, 0.1, 0.9]], np.float32)
W3 = np.array([[1.0, -1.0, 0.5], [-0.5, 2.0, -1.0]], np.float32)  # second hidden layer → 3 outputs


def _two_relu_net(relu_form: str, nested: bool):
    """x(4) → Dense(3) → ReLU → Dense(2) → ReLU → Dense(3); ReLUs in the chosen form."""

    def relu(name):
        return {
            "activation_arg": None,
            "relu_layer": layers.ReLU(name=name),
            "activation_layer": layers.Activation("relu", name=name),
        }[relu_form]

    inputs = keras.Input((4,))
    act = "relu" if relu_form == "activation_arg" else None
    body = [layers.Dense(3, activation=act, name="d1"), relu("r1"), layers.Dense(2, activation=act, name="d2"), relu("r2")]
    body = [b for b in body if b is not None]
    if nested:
        inner_in = keras.Input((4,))
        h = inner_in
        for layer in body:
            h = layer(h)
        block = keras.Model(inner_in, h, name="block")
        h = block(inputs)
    else:
        h = inputs
        for layer in body:
            h = layer(h)
    outputs = layers.Dense(3, name="d3")(h)
    model = keras.Model(inputs, outputs)
    _set(model.get_layer("block").get_layer("d1") if nested else model.get_layer("d1"), W1, B1)
    _set(model.get_layer("block").get_layer("d2") if nested else model.get_layer("d2"), W2)
    _set(model.get_layer("d3"), W3)
    return model


def _hand_rule(x: np.ndarray, c: int, rule: str) -> np.ndarray:
    """The ReLU backward rules of SPEC §1 applied by hand, layer by layer."""

    def back(f, r):
        if rule == "backprop":
            return (f > 0) * r
        if rule == "deconvnet":
            return (r > 0) * r
        return (f > 0) * (r > 0) * r

    f1 = x @ W1 + B1
    f2 = np.maximum(f1, 0) @ W2
    r = W3[:, c]  # d logit_c / d relu2 output
    r = back(f2, r) @ W2.T
    r = back(f1, r) @ W1.T
    return r


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("relu_form", ["activation_arg", "relu_layer", "activation_layer"])
@pytest.mark.parametrize(
    "explainer, rule",
    [(kv.Saliency, "backprop"), (kv.Deconvnet, "deconvnet"), (kv.GuidedBackprop, "guided")],
)
def test_backward_rules_match_hand_computation(explainer, rule, relu_form, nested):
    model = _two_relu_net(relu_form, nested)
    x = HAND_INPUTS
    for c in range(3):
        maps = explainer(model)(x, targets=c)
        expected = np.stack([_hand_rule(row, c, rule) for row in x])
        np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)


def test_rules_differ_on_the_hand_net():
    """Guard: on the inputs used above, the three rules give three different answers."""
    results = {
        rule: np.stack([_hand_rule(row, c, rule) for row in HAND_INPUTS for c in range(3)])
        for rule in ("backprop", "deconvnet", "guided")
    }
    assert not np.allclose(results["backprop"], results["guided"])
    assert not np.allclose(results["deconvnet"], results["guided"])
    assert not np.allclose(results["backprop"], results["deconvnet"])


# --------------------------------------------------------------------------- class activation maps


@pytest.fixture(scope="module")
def cam_model():
    """1x1 conv features (no activation) → Flatten → Dense: gradients vary by position."""
    inputs = keras.Input((3, 3, 2))
    features = layers.Conv2D(4, 1, name="features")(inputs)
    x = layers.Flatten()(features)
    outputs = layers.Dense(2, name="logits")(x)
    model = keras.Model(inputs, outputs)
    conv_kernel = RNG.normal(size=(1, 1, 2, 4)).astype(np.float32)
    dense_kernel = RNG.normal(size=(36, 2)).astype(np.float32)
    _set(model.get_layer("features"), conv_kernel)
    _set(model.get_layer("logits"), dense_kernel)
    return model, conv_kernel[0, 0], dense_kernel


def _features_and_grads(x, conv, dense, c):
    features = x @ conv  # (N, 3, 3, 4)
    grads = np.broadcast_to(dense[:, c].reshape(3, 3, 4), features.shape)
    return features, grads


def test_grad_cam_matches_formula(cam_model):
    model, conv, dense = cam_model
    x = RNG.normal(size=(3, 3, 3, 2)).astype(np.float32)
    maps = kv.GradCAM(model, layer="features", upsample=False)(x, targets=1)
    features, grads = _features_and_grads(x, conv, dense, 1)
    alpha = grads.mean(axis=(1, 2), keepdims=True)
    expected = np.maximum((alpha * features).sum(-1), 0)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)
    upsampled = kv.GradCAM(model, layer="features")(x, targets=1)
    assert upsampled.shape == (3, 3, 3)  # input resolution equals layer resolution here


def test_grad_cam_plus_plus_matches_paper_formula(cam_model):
    model, conv, dense = cam_model
    x = RNG.normal(size=(2, 3, 3, 2)).astype(np.float32)
    maps = kv.GradCAMPlusPlus(model, layer="features", upsample=False)(x, targets=0)
    a, g = _features_and_grads(x, conv, dense, 0)
    denominator = 2 * g**2 + a.sum(axis=(1, 2), keepdims=True) * g**3
    alpha = np.where(denominator != 0, g**2 / np.where(denominator != 0, denominator, 1), 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2), keepdims=True)
    expected = np.maximum((weights * a).sum(-1), 0)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def gap_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(5, 3, activation="relu", name="c1")(inputs)
    x = layers.Conv2D(6, 3, activation="relu", name="c2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(4, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def test_cam_equals_class_weighted_features(gap_model):
    x = RNG.uniform(size=(3, 8, 8, 3)).astype(np.float32)
    maps = kv.CAM(gap_model, upsample=False)(x, targets=[0, 3, 1])
    probe = keras.Model(gap_model.inputs, gap_model.get_layer("c2").output)
    features = probe.predict(x, verbose=0)
    kernel = gap_model.get_layer("head").get_weights()[0]
    expected = np.stack([features[i] @ kernel[:, c] for i, c in enumerate([0, 3, 1])])
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)


def test_cam_equals_grad_cam_up_to_scale_on_gap_dense(gap_model):
    x = RNG.uniform(size=(3, 8, 8, 3)).astype(np.float32)
    cam = kv.CAM(gap_model, relu=True, upsample=False)(x, targets=2)
    grad_cam = kv.GradCAM(gap_model, upsample=False)(x, targets=2)
    positions = 4 * 4  # Grad-CAM's mean gradient is w / (number of positions)
    np.testing.assert_allclose(cam, grad_cam * positions, rtol=1e-4, atol=1e-6)
    assert np.any(cam > 0)


# --------------------------------------------------------------------------- integrated gradients, smoothgrad


@pytest.mark.parametrize("method", ["trapezoid", "gausslegendre", "midpoint"])
def test_integrated_gradients_completeness(gap_model, method):
    x = RNG.uniform(size=(4, 8, 8, 3)).astype(np.float32)
    baseline = 0.2
    maps = kv.IntegratedGradients(gap_model, steps=64, method=method, baseline=baseline)(x, targets=1)
    # The explained score is the pre-softmax logit of class 1.
    features = keras.Model(gap_model.inputs, gap_model.layers[-2].output)
    kernel, bias = gap_model.get_layer("head").get_weights()

    def logit(images):
        return features.predict(images, verbose=0) @ kernel[:, 1] + bias[1]

    difference = logit(x) - logit(np.full_like(x, baseline))
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), difference, rtol=0.01, atol=1e-4)


def test_integrated_gradients_of_linear_model_is_gradient_times_delta(linear_model):
    model, kernel = linear_model
    x = RNG.uniform(size=(2, 4, 4, 2)).astype(np.float32)
    maps = kv.IntegratedGradients(model, steps=2, reduce=None)(x, targets=0)
    np.testing.assert_allclose(maps, x * kernel[:, 0].reshape(4, 4, 2), rtol=1e-5, atol=1e-7)


def test_smoothgrad_without_noise_is_saliency(gap_model):
    x = RNG.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    smooth = kv.SmoothGrad(gap_model, samples=3, noise_level=0.0, reduce=None)(x, targets=0)
    plain = kv.Saliency(gap_model, reduce=None)(x, targets=0)
    np.testing.assert_allclose(smooth, plain, rtol=1e-5, atol=1e-7)


def test_smoothgrad_averages_noisy_gradients(linear_model):
    """For a linear logit the gradient is the same everywhere: noise changes nothing."""
    model, kernel = linear_model
    x = RNG.uniform(size=(2, 4, 4, 2)).astype(np.float32)
    smooth = kv.SmoothGrad(model, samples=5, noise_level=0.5, reduce=None)(x, targets=2)
    np.testing.assert_allclose(smooth[0], kernel[:, 2].reshape(4, 4, 2), rtol=1e-5)
    squared = kv.SmoothGrad(model, samples=5, noise_level=0.5, reduce=None, squared=True)(x, targets=2)
    np.testing.assert_allclose(squared[0], kernel[:, 2].reshape(4, 4, 2) ** 2, rtol=1e-5)


# --------------------------------------------------------------------------- units inside the network


def test_channel_unit_gradient_is_its_weights(cam_model):
    model, conv, _ = cam_model
    x = RNG.normal(size=(2, 3, 3, 2)).astype(np.float32)
    # mean over the 9 positions of channel 2 of a 1x1 conv: d/dx_ij = conv[:, 2] / 9
    maps = kv.Saliency(model, reduce=None)(x, targets=kv.Unit("features", channel=2))
    np.testing.assert_allclose(maps, np.broadcast_to(conv[:, 2] / 9, x.shape), rtol=1e-5)


def test_neuron_unit_gradient_is_local(cam_model):
    model, conv, _ = cam_model
    x = RNG.normal(size=(1, 3, 3, 2)).astype(np.float32)
    maps = kv.Saliency(model, reduce=None)(x, targets=kv.Unit("features", channel=1, position=(2, 0)))
    expected = np.zeros((1, 3, 3, 2), np.float32)
    expected[0, 2, 0] = conv[:, 1]
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make", [
    lambda m: kv.SmoothGrad(m, samples=2, noise_level=0.0, reduce=None),
    lambda m: kv.IntegratedGradients(m, steps=3, reduce=None),
])
def test_multi_pass_methods_on_a_channel_unit(cam_model, make):
    model, conv, _ = cam_model
    x = RNG.normal(size=(2, 3, 3, 2)).astype(np.float32)
    maps = make(model)(x, targets=kv.Unit("features", channel=2))
    gradient = np.broadcast_to(conv[:, 2] / 9, x.shape)  # the channel mean is linear in x
    expected = gradient if isinstance(make(model), kv.SmoothGrad) else x * gradient
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)


def test_occlusion_of_a_channel_unit(cam_model):
    model, conv, _ = cam_model
    x = RNG.normal(size=(1, 3, 3, 2)).astype(np.float32)
    maps = kv.Occlusion(model, patch_size=1, stride=1)(x, targets=kv.Unit("features", channel=1))
    np.testing.assert_allclose(maps[0], (x[0] @ conv[:, 1]) / 9, rtol=1e-5, atol=1e-7)


def test_looping_over_channels_reuses_one_graph(cam_model):
    model, conv, _ = cam_model
    x = RNG.normal(size=(2, 3, 3, 2)).astype(np.float32)
    saliency = kv.Saliency(model, reduce=None)
    for channel in range(4):
        maps = saliency(x, targets=kv.Unit("features", channel=channel))
        np.testing.assert_allclose(maps, np.broadcast_to(conv[:, channel] / 9, x.shape), rtol=1e-5)
    assert saliency.trace_count == 1


def test_a_new_target_function_at_every_call_warns(linear_model):
    model, _ = linear_model
    x = RNG.uniform(size=(1, 4, 4, 2)).astype(np.float32)
    saliency = kv.Saliency(model)
    with pytest.warns(UserWarning, match="a new `targets` function at every call"):
        for _ in range(4):
            saliency(x, targets=lambda outputs: outputs[:, 0])


def test_integrated_gradients_per_channel_baseline(linear_model):
    model, kernel = linear_model
    x = RNG.uniform(size=(1, 4, 4, 2)).astype(np.float32)
    maps = kv.IntegratedGradients(model, steps=2, baseline=[0.25, 0.5], reduce=None)(x, targets=1)
    np.testing.assert_allclose(maps[0], (x[0] - [0.25, 0.5]) * kernel[:, 1].reshape(4, 4, 2), rtol=1e-5, atol=1e-7)
