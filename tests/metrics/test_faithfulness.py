"""Deletion and insertion against hand computations on linear models and brute force."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_viz as kv
from keras_viz.metrics import deletion, insertion, perturbation_curves
from keras_viz.metrics.faithfulness import PerturbationScorer, gaussian_blur, step_counts
from tests.conftest import MODEL_KINDS, sample_inputs


def _linear_model(weights, bias=0.0):
    """``score = Σ w·x + b`` over a (3, 3, 2) image: a one-output linear model."""
    model = keras.Sequential([keras.Input((3, 3, 2)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.layers[-1].set_weights([np.reshape(weights, (18, 1)).astype(np.float32), np.array([bias], np.float32)])
    return model


def _hand_curve(image, heat, baseline, steps, score, insert=False):
    """Deletion/insertion by the definition, with plain Python loops."""
    height, width, _ = image.shape
    pixels = [(r, c) for r in range(height) for c in range(width)]
    # decreasing map value; ties in row-major order
    order = sorted(range(len(pixels)), key=lambda i: (-heat[pixels[i]], i))
    curve = []
    for s in range(steps + 1):
        k = round(s * len(pixels) / steps)
        copy = (baseline if insert else image).copy()
        for i in order[:k]:
            copy[pixels[i]] = image[pixels[i]] if insert else baseline[pixels[i]]
        curve.append(score(copy))
    auc = sum((curve[s] + curve[s + 1]) / 2 for s in range(steps)) / steps
    return np.array(curve), auc


RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=(3, 3, 2)).astype(np.float32)
IMAGES = RNG.uniform(size=(4, 3, 3, 2)).astype(np.float32)
LINEAR = _linear_model(WEIGHTS, bias=0.25)


def _linear_score(image):
    return float((WEIGHTS * image).sum() + 0.25)


def test_step_counts_round_half_to_even():
    # 9 pixels, 4 steps: 0, 2.25, 4.5, 6.75, 9 -> 0, 2, 4, 7, 9
    np.testing.assert_array_equal(step_counts(9, 4), [0, 2, 4, 7, 9])
    np.testing.assert_array_equal(step_counts(10, 4), [0, 2, 5, 8, 10])  # 2.5 -> 2, 7.5 -> 8


@pytest.mark.parametrize("steps", [1, 4, 16])
def test_deletion_equals_hand_computation_on_a_linear_model(steps):
    maps = np.round(RNG.normal(size=(4, 3, 3)), 1)
    maps[0] = 0.5  # all tied: row-major order
    maps[1, 0, :] = maps[1, 2, :] = 2.0  # some ties
    baseline = 0.3
    got_curves = perturbation_curves(LINEAR, IMAGES, maps, 0, mode="deletion", steps=steps, baseline=baseline)
    got = deletion(LINEAR, IMAGES, maps, 0, steps=steps, baseline=baseline)
    for i in range(4):
        curve, auc = _hand_curve(IMAGES[i], maps[i], np.full_like(IMAGES[i], baseline), steps, _linear_score)
        np.testing.assert_allclose(got_curves[i], curve, rtol=1e-5, atol=1e-5)
        assert got[i] == pytest.approx(auc, abs=1e-5)


def test_insertion_equals_hand_computation_with_an_image_baseline():
    maps = RNG.normal(size=(4, 3, 3))
    start = RNG.uniform(size=(3, 3, 2)).astype(np.float32)  # one baseline image for all
    got = insertion(LINEAR, IMAGES, maps, 0, steps=5, baseline=start)
    for i in range(4):
        _, auc = _hand_curve(IMAGES[i], maps[i], start, 5, _linear_score, insert=True)
        assert got[i] == pytest.approx(auc, abs=1e-5)


def test_perfect_map_beats_reversed_map():
    # Each pixel's contribution to the score is Σ_c w·x: the perfect ranking for deletion.
    contributions = (WEIGHTS * IMAGES).sum(-1)
    perfect_deletion = deletion(LINEAR, IMAGES, contributions, 0, steps=9)
    reversed_deletion = deletion(LINEAR, IMAGES, -contributions, 0, steps=9)
    assert (perfect_deletion < reversed_deletion).all()
    perfect_insertion = insertion(LINEAR, IMAGES, contributions, 0, steps=9, baseline=0.0)
    reversed_insertion = insertion(LINEAR, IMAGES, -contributions, 0, steps=9, baseline=0.0)
    assert (perfect_insertion > reversed_insertion).all()


def test_softmax_probability_is_the_score():
    weights = RNG.normal(size=(18, 3)).astype(np.float32)
    probs = keras.Sequential([keras.Input((3, 3, 2)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    logits = keras.Sequential([keras.Input((3, 3, 2)), keras.layers.Flatten(), keras.layers.Dense(3)])
    for model in (probs, logits):
        model.layers[-1].set_weights([weights, np.zeros(3, np.float32)])
    maps = RNG.normal(size=(4, 3, 3))

    def probability(image, cls):
        z = image.reshape(-1) @ weights
        e = np.exp(z - z.max())
        return float(e[cls] / e.sum())

    targets = [0, 1, 2, 1]
    got = deletion(probs, IMAGES, maps, targets, steps=3, baseline="mean")
    from_logits = deletion(logits, IMAGES, maps, targets, steps=3, baseline="mean", score="softmax")
    for i, cls in enumerate(targets):
        mean = np.broadcast_to(IMAGES[i].mean(axis=(0, 1)), IMAGES[i].shape)
        _, auc = _hand_curve(IMAGES[i], maps[i], mean, 3, lambda x: probability(x, cls))
        assert got[i] == pytest.approx(auc, abs=1e-5)
        assert from_logits[i] == pytest.approx(auc, abs=1e-5)
    # score="logit" reads the input of the softmax.
    logit_scores = deletion(probs, IMAGES, maps, targets, steps=3, baseline=0.0, score="logit")
    plain = deletion(logits, IMAGES, maps, targets, steps=3, baseline=0.0)
    np.testing.assert_allclose(logit_scores, plain, rtol=1e-5, atol=1e-5)
    # targets=None: the class predicted on the unperturbed image, kept for every step.
    predicted = np.argmax(IMAGES.reshape(4, -1) @ weights, axis=1)
    np.testing.assert_allclose(
        deletion(probs, IMAGES, maps, None, steps=3), deletion(probs, IMAGES, maps, predicted, steps=3)
    )


def test_gaussian_blur_matches_direct_convolution_with_mirrored_borders():
    images = RNG.uniform(size=(2, 20, 14, 3)).astype(np.float32)
    sigma = 1.3
    radius = int(np.ceil(4 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(images.astype(np.float64), ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="symmetric")
    expected = np.zeros(images.shape)
    for dy, wy in zip(offsets, kernel):
        for dx, wx in zip(offsets, kernel):
            expected += wy * wx * padded[:, radius + dy : radius + dy + 20, radius + dx : radius + dx + 14]
    np.testing.assert_allclose(gaussian_blur(images, sigma), expected, rtol=1e-5, atol=1e-6)
    # The default is size / 20 per axis; a constant image stays constant.
    np.testing.assert_allclose(gaussian_blur(np.full((1, 40, 20, 1), 0.7)), 0.7, rtol=1e-6)
    default = gaussian_blur(images)
    assert default.shape == images.shape and not np.allclose(default, images)


def test_all_copies_are_batched_and_compiled_once_batch_size_invariant():
    maps = RNG.normal(size=(4, 3, 3))
    results = []
    for batch_size in (1, 7, 64):
        scorer = PerturbationScorer(LINEAR, batch_size=batch_size)
        results.append(scorer.deletion(IMAGES, maps, 0, steps=6))
        scorer.insertion(IMAGES, maps, 0, steps=6)
        scorer.deletion(IMAGES[:3], maps[:3], 0, steps=2)
        assert scorer.trace_count == 1  # one graph for every call and both metrics
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
    np.testing.assert_allclose(results[0], results[2], rtol=1e-6)


@pytest.mark.parametrize("kind", [k for k in MODEL_KINDS if k != "multi_input"])
def test_every_model_kind_matches_brute_force(kind, model_zoo):
    model = model_zoo[kind]
    images = sample_inputs(kind, n=3)
    maps = RNG.normal(size=images.shape[:-1])
    output = 1 if kind == "multi_output" else None
    steps = 4
    got = perturbation_curves(model, images, maps, 2, mode="insertion", steps=steps, baseline="blur", output=output)
    # Brute force: every copy built in NumPy, scored by the model in one plain call.
    base = gaussian_blur(images)
    order = np.argsort(-maps.reshape(3, -1), axis=1, kind="stable")
    pixels = int(np.prod(maps.shape[1:]))
    copies = []
    for i in range(3):
        for s in range(steps + 1):
            k = round(s * pixels / steps)
            copy = base[i].reshape(pixels, -1).copy()
            copy[order[i, :k]] = images[i].reshape(pixels, -1)[order[i, :k]]
            copies.append(copy.reshape(images.shape[1:]))
    outputs = model(np.stack(copies), training=False)
    probabilities = np.asarray(tf.nest.flatten(outputs)[output or 0], np.float32)[:, 2]
    np.testing.assert_allclose(got, probabilities.reshape(3, steps + 1), rtol=2e-3, atol=2e-3)


def test_multi_input_models_are_refused(model_zoo):
    with pytest.raises(ValueError, match="one image input"):
        deletion(model_zoo["multi_input"], sample_inputs("multi_input")[0], np.zeros((5, 16, 16)), 0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"maps": np.zeros((4, 3, 4))}, ValueError, r"`maps` must have shape \(4, 3, 3\)"),
        ({"maps": np.zeros((4, 3, 3, 2))}, ValueError, "with all their channels"),
        ({"maps": np.full((4, 3, 3), np.nan)}, ValueError, r"maps`\[0\] holds NaN"),
        ({"images": np.zeros((4, 9))}, ValueError, r"images \(N, H, W, C\)"),
        ({"images": np.zeros((0, 3, 3, 2)), "maps": np.zeros((0, 3, 3))}, ValueError, "empty batch"),
        ({"steps": 0}, ValueError, "`steps` must be a positive int"),
        ({"batch_size": 0}, ValueError, "`batch_size`"),
        ({"baseline": "zeros"}, ValueError, "'mean' and 'blur'"),
        ({"baseline": np.zeros((2, 2))}, ValueError, "does not fit"),
        ({"baseline": np.nan}, ValueError, "NaN"),
        ({"targets": lambda outputs: outputs[:, 0]}, TypeError, "class indices"),
        ({"targets": [0, 0]}, ValueError, "2 entries"),
        ({"targets": 3}, ValueError, "class index 3"),
        ({"score": "probs"}, ValueError, "`score`"),
        ({"images": tf.data.Dataset.from_tensor_slices(IMAGES)}, TypeError, "Dataset"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    arguments = {"images": IMAGES, "maps": np.zeros((4, 3, 3)), "targets": 0, **kwargs}
    with pytest.raises(error, match=match):
        deletion(LINEAR, arguments.pop("images"), arguments.pop("maps"), arguments.pop("targets"), **arguments)


def test_model_is_not_changed():
    before = [w.copy() for w in LINEAR.get_weights()]
    deletion(LINEAR, IMAGES, RNG.normal(size=(4, 3, 3)), 0)
    for a, b in zip(before, LINEAR.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert kv.metrics.deletion is deletion
