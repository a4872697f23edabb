"""Adversarial examples on the trained digits model: FGSM flips, targeted PGD reaches the target."""

from __future__ import annotations

import numpy as np
import pytest

from keras_viz import optvis

EPSILON = 0.15  # of the [0, 1] range: MNIST-style attacks use 0.1-0.3


@pytest.fixture(scope="module")
def correct(digits):
    """100 test digits the model classifies correctly."""
    predicted = digits.model.predict(digits.x_test, verbose=0).argmax(axis=1)
    keep = np.flatnonzero(predicted == digits.y_test)[:100]
    return digits.x_test[keep], digits.y_test[keep]


def _inside(result, images, epsilon, value_range=(0.0, 1.0)):
    """Inside the ball and the range exactly: no rounding slack, in float32 and in float64."""
    assert result.images.dtype == np.float32 and result.perturbation.dtype == np.float32
    assert np.abs(result.perturbation).max() <= epsilon
    assert np.abs(result.images.astype(np.float64) - images.astype(np.float64)).max() <= epsilon
    np.testing.assert_array_equal(result.images - images, result.perturbation)
    assert result.images.min() >= value_range[0] and result.images.max() <= value_range[1]


def test_fgsm_at_a_small_epsilon_flips_most_correct_inputs(digits, correct):
    images, labels = correct
    result = optvis.adversarial(digits.model, images, labels, epsilon=EPSILON, method="fgsm")
    _inside(result, images, EPSILON)
    assert result.success.mean() > 0.5, result.success.mean()
    np.testing.assert_array_equal(result.predictions, digits.model.predict(result.images, verbose=0).argmax(axis=1))
    np.testing.assert_array_equal(result.original_predictions, labels)
    assert result.method == "fgsm" and result.targets is None


def test_targeted_pgd_reaches_the_chosen_class(digits, correct):
    images, labels = correct
    targets = (labels + 1) % 10
    result = optvis.adversarial(digits.model, images, target=targets, epsilon=EPSILON, steps=20, seed=3)
    _inside(result, images, EPSILON)
    assert result.success.mean() >= 0.9, result.success.mean()
    np.testing.assert_array_equal(result.targets, targets)


def test_untargeted_pgd_defaults_to_the_prediction_and_does_not_depend_on_batching(digits, correct):
    images, labels = correct
    whole = optvis.adversarial(digits.model, images[:12], epsilon=0.05, steps=5)
    parts = optvis.adversarial(digits.model, images[:12], epsilon=0.05, steps=5, batch_size=5)
    np.testing.assert_allclose(whole.images, parts.images, atol=1e-6)
    np.testing.assert_array_equal(whole.labels, labels[:12])  # the predicted classes
    _inside(whole, images[:12], 0.05)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
@pytest.mark.parametrize("epsilon", [0.1, 0.03, 8 / 255])
def test_results_are_inside_the_ball_exactly_in_float32(method, epsilon):
    # Every FGSM pixel moves by ±ε, where float32 rounding of x + ε lands outside the ball
    # for about half of the pixels unless the projection is exact.
    import keras

    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    images = np.random.default_rng(4).uniform(0.2, 0.8, size=(16, 6, 6, 1)).astype(np.float32)
    result = optvis.adversarial(model, images, epsilon=epsilon, method=method, steps=3)
    _inside(result, images, epsilon)
    assert np.abs(result.perturbation).max() > epsilon * (1 - 1e-6)  # and it uses the whole ball
    np.testing.assert_array_equal(result.predictions, model.predict(result.images, verbose=0).argmax(axis=1))


def test_step_size_with_fgsm_is_refused(digits):
    with pytest.raises(ValueError, match=r"`step_size`=0\.05 does not apply to method='fgsm'"):
        optvis.adversarial(digits.model, digits.x_test[:2], epsilon=0.1, method="fgsm", step_size=0.05)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(epsilon=0.0), ValueError, "epsilon"),
        (dict(epsilon=-0.1), ValueError, "epsilon"),
        (dict(epsilon=float("inf")), ValueError, "epsilon"),
        (dict(method="cw"), ValueError, "method"),
        (dict(method=1), TypeError, "method"),
        (dict(epsilon="0.1"), TypeError, "epsilon"),
        (dict(steps=2.5), TypeError, "steps"),
        (dict(steps=0), ValueError, "steps"),
        (dict(step_size=0.0), ValueError, "step_size"),
        (dict(labels=[1, 2]), ValueError, "labels"),
        (dict(target=10), ValueError, "target"),
        (dict(target=-1), ValueError, "target"),
        (dict(images=np.full((3, 16, 16, 1), 2.0)), ValueError, "value_range"),
        (dict(images=np.zeros((3, 8, 8, 1))), ValueError, "shape"),
        (dict(value_range=(0, 0)), ValueError, "value_range"),
    ],
)
def test_bad_input(digits, kwargs, error, match):
    arguments = dict(images=digits.x_test[:3], epsilon=0.1)
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        optvis.adversarial(digits.model, arguments.pop("images"), arguments.pop("labels", None), **arguments)


def test_sequence_models_and_multi_output_models():
    import keras

    from tests.conftest import multi_input_model, multi_output_model, sample_inputs, sequence_model

    keras.utils.set_random_seed(0)
    sequences = np.clip(sample_inputs("conv1d", n=6), -1, 1)
    result = optvis.adversarial(sequence_model(), sequences, epsilon=0.2, value_range=(-1, 1), steps=3)
    assert result.images.shape == sequences.shape
    _inside(result, sequences.astype(np.float32), 0.2, (-1.0, 1.0))
    images = sample_inputs("multi_output", n=4)
    result = optvis.adversarial(multi_output_model(), images, epsilon=0.1, output="cls", steps=2)
    assert result.predictions.shape == (4,)
    with pytest.raises(ValueError, match="outputs"):
        optvis.adversarial(multi_output_model(), images, epsilon=0.1)
    with pytest.raises(ValueError, match="Unknown output"):
        optvis.adversarial(multi_output_model(), images, epsilon=0.1, output="nope")
    with pytest.raises(ValueError, match="one input"):
        optvis.adversarial(multi_input_model(), sample_inputs("multi_input", n=2), epsilon=0.1)
