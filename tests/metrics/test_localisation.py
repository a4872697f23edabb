"""Pointing game and energy in mask against hand computations on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

import keras_viz as kv
from keras_viz.metrics import energy_in_mask, flat_maps, pointing_game


def _mask(shape, *pixels):
    mask = np.zeros(shape, bool)
    for pixel in pixels:
        mask[pixel] = True
    return mask


def test_metrics_is_a_lazy_submodule():
    assert kv.metrics.pointing_game is pointing_game
    assert "metrics" in kv.__all__


def test_pointing_game_hit_and_miss_without_tolerance():
    maps = np.zeros((2, 4, 5))
    maps[0, 1, 2] = 3.0  # maximum on the mask
    maps[1, 3, 4] = 3.0  # maximum far from it
    masks = np.stack([_mask((4, 5), (1, 2), (1, 3))] * 2)
    np.testing.assert_array_equal(pointing_game(maps, masks), [True, False])


def test_pointing_game_ties_any_maximum_pixel_counts():
    maps = np.zeros((1, 4, 4))
    maps[0, 0, 0] = maps[0, 3, 3] = 1.0  # two pixels tie for the maximum
    assert pointing_game(maps, _mask((4, 4), (3, 3)))[0]
    assert not pointing_game(maps, _mask((4, 4), (2, 0)))[0]


def test_pointing_game_flat_maps_are_misses():
    """A constant map has no maximum to point with: a miss on any mask, whatever the tolerance
    (an all-zero Grad-CAM map used to "hit" every non-empty mask)."""
    maps = np.zeros((4, 4, 4))
    maps[1] = 2.5  # constant, not zero
    maps[2, 1, 1] = 1e-6  # nearly flat is not flat: its maximum is on the mask
    maps[3, 0, 0] = -1.0  # one low pixel: every other pixel ties for the maximum
    mask = _mask((4, 4), (1, 1), (2, 1))
    np.testing.assert_array_equal(flat_maps(maps), [True, True, False, False])
    np.testing.assert_array_equal(pointing_game(maps, mask), [False, False, True, True])
    np.testing.assert_array_equal(pointing_game(maps, np.ones((4, 4), bool), tolerance=10), [False, False, True, True])
    np.testing.assert_array_equal(flat_maps(np.array([[0.0, 0.0], [0.0, 1.0]])), [True, False])  # 1-D maps


@pytest.mark.parametrize(
    "maps, error, match",
    [(np.ones((2, 2)) > 0, TypeError, "numbers"), (np.ones(3), ValueError, "batch of 2-D maps"),
     (np.full((1, 2, 2), np.inf), ValueError, "infinite")],
)
def test_flat_maps_bad_inputs(maps, error, match):
    with pytest.raises(error, match=match):
        flat_maps(maps)


def test_pointing_game_tolerance_is_euclidean_between_pixel_centres():
    maps = np.zeros((1, 10, 10))
    maps[0, 0, 0] = 1.0
    mask = _mask((10, 10), (3, 4))  # distance sqrt(9 + 16) = 5 from the maximum
    for tolerance, expected in [(0, False), (4.9, False), (5, True), (7.5, True)]:
        assert pointing_game(maps, mask, tolerance=tolerance)[0] == expected, tolerance
    # Diagonal neighbour: sqrt(2) away.
    near = _mask((10, 10), (1, 1))
    assert not pointing_game(maps, near, tolerance=1)[0]
    assert pointing_game(maps, near, tolerance=1.5)[0]


def test_pointing_game_tolerance_brute_force_on_random_maps():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(40, 9, 11))
    masks = rng.random((40, 9, 11)) < 0.08
    masks[:, 4, 5] = True  # never empty
    tolerance = 2.5
    expected = []
    for heat, mask in zip(maps, masks):
        peaks = np.argwhere(heat == heat.max())
        inside = np.argwhere(mask)
        distances = np.sqrt(((peaks[:, None, :] - inside[None, :, :]) ** 2).sum(-1))
        expected.append(bool((distances <= tolerance).any()))
    np.testing.assert_array_equal(pointing_game(maps, masks, tolerance=tolerance), expected)


def test_pointing_game_one_dimensional_maps_and_shared_mask():
    maps = np.array([[0.0, 0.1, 0.9, 0.2, 0.0], [0.9, 0.0, 0.0, 0.0, 0.1]])
    mask = np.array([0, 0, 0, 1, 1])  # 0/1 ints are accepted, shared by both maps
    np.testing.assert_array_equal(pointing_game(maps, mask), [False, False])
    np.testing.assert_array_equal(pointing_game(maps, mask, tolerance=1), [True, False])


def test_energy_in_mask_hand_computation():
    maps = np.array(
        [
            [[1.0, 2.0], [3.0, 4.0]],  # 4 / 10 inside
            [[-5.0, 2.0], [1.0, -1.0]],  # negatives ignored: 2 / 3 inside
            [[1.0, 1.0], [1.0, 1.0]],  # uniform: the mask's area share
        ]
    )
    masks = np.array([[[0, 0], [0, 1]], [[1, 1], [0, 1]], [[1, 0], [0, 0]]], bool)
    np.testing.assert_allclose(energy_in_mask(maps, masks), [0.4, 2.0 / 3.0, 0.25])


def test_energy_in_mask_without_positive_mass_is_nan():
    result = energy_in_mask(np.array([[[0.0, -1.0]], [[1.0, 0.0]]]), np.array([[True, False]]))
    assert np.isnan(result[0]) and result[1] == 1.0


def test_empty_mask_is_a_clear_error():
    maps = np.ones((2, 3, 3))
    masks = np.zeros((2, 3, 3), bool)
    masks[0, 1, 1] = True
    for metric in (pointing_game, energy_in_mask):
        with pytest.raises(ValueError, match=r"masks`\[1\] is empty"):
            metric(maps, masks)


@pytest.mark.parametrize(
    "maps, masks, error, match",
    [
        (np.ones((2, 4, 4)), np.ones((2, 4, 5), bool), ValueError, r"maps' shape \(2, 4, 4\)"),
        (np.ones((2, 4, 4, 3)), np.ones((2, 4, 4), bool), ValueError, "channel axis"),
        (np.ones((2, 4, 4)), np.full((2, 4, 4), 0.5), TypeError, "boolean"),
        (np.full((1, 2, 2), np.nan), np.ones((1, 2, 2), bool), ValueError, r"maps`\[0\] holds NaN"),
        (np.ones((0, 2, 2)), np.ones((0, 2, 2), bool), ValueError, "empty batch"),
        (np.array(["a"]), np.ones((1,), bool), TypeError, "numbers"),
    ],
)
def test_bad_inputs(maps, masks, error, match):
    with pytest.raises(error, match=match):
        pointing_game(maps, masks)


@pytest.mark.parametrize(
    "tolerance, error", [(-1, ValueError), (float("nan"), ValueError), ("2", TypeError), (True, TypeError)]
)
def test_bad_tolerance(tolerance, error):
    with pytest.raises(error, match="tolerance"):
        pointing_game(np.ones((1, 2, 2)), np.ones((1, 2, 2), bool), tolerance=tolerance)
