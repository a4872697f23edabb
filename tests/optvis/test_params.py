"""Parameterisations, transforms and regularizers against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_viz import optvis
from keras_viz.optvis import params, regularizers, transforms


def test_spectrum_scale_is_one_over_f_with_a_floor():
    scale = params.spectrum_scale(8, 8, decay=1.0)
    assert scale.shape == (8, 5)
    root = np.sqrt(64)
    np.testing.assert_allclose(scale[0, 0], 8 * root)  # f = 0 is floored at 1/max(h, w)
    np.testing.assert_allclose(scale[0, 1], 8 * root)  # f = 1/8
    np.testing.assert_allclose(scale[0, 4], 2 * root)  # f = 1/2
    np.testing.assert_allclose(scale[2, 2], root / np.sqrt(2 * 0.25**2))
    np.testing.assert_allclose(params.spectrum_scale(8, 8, decay=0.0), np.full((8, 5), root))


def test_fourier_dc_coefficient_gives_a_constant_image():
    fourier = optvis.fourier(decorrelate=False).bind(6, 7, 1, (0.0, 1.0))
    spectrum = np.zeros((1, 2, 1, 6, 4), np.float32)
    spectrum[0, 0, 0, 0, 0] = 0.5
    raw = fourier.raw(tf.constant(spectrum)).numpy()
    expected = 0.5 * params.spectrum_scale(6, 7)[0, 0] / (6 * 7) / 4.0
    np.testing.assert_allclose(raw, np.full((1, 6, 7, 1), expected), rtol=1e-5)


@pytest.mark.parametrize("shape", [(6, 7, 3), (8, 8, 1), (5, 9, 2)])
def test_fourier_raw_image_round_trip_is_exact(shape):
    fourier = optvis.fourier().bind(*shape, (0.0, 1.0))
    raw = tf.random.stateless_normal((2, *shape), seed=(1, 2))
    back = fourier.raw(fourier.from_raw(raw))
    np.testing.assert_allclose(back.numpy(), raw.numpy(), atol=1e-5)
    images = fourier.images(fourier.encode(tf.constant(np.full((1, *shape), 0.25, np.float32))))
    np.testing.assert_allclose(images.numpy(), 0.25, atol=1e-4)


def test_colour_decorrelation_uses_a_square_root_of_the_covariance():
    sigma = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 0.5]])
    root = params.covariance_sqrt(sigma)
    product = root @ root.T
    np.testing.assert_allclose(product / product[0, 0], sigma / sigma[0, 0], rtol=1e-5)
    assert np.isclose(np.linalg.norm(root, axis=0).max(), 1.0)
    rgb = np.random.default_rng(0).uniform(size=(4, 8, 8, 3))
    np.testing.assert_allclose(optvis.colour_covariance(rgb), np.cov(rgb.reshape(-1, 3), rowvar=False))
    with pytest.raises(ValueError, match="colour_covariance"):
        params.covariance_sqrt(np.eye(2))


def test_reference_spectrum_follows_the_data():
    rng = np.random.default_rng(0)
    smooth = tf.image.resize(rng.uniform(size=(16, 4, 4, 1)), (16, 16)).numpy()
    scale = params.reference_scale(smooth, 16, 16, params.spectrum_scale(16, 16))
    assert scale[0, 1] > 10 * scale[0, 8]  # upsampled noise has no high frequencies
    np.testing.assert_allclose(np.sqrt((scale**2).mean()), np.sqrt((params.spectrum_scale(16, 16) ** 2).mean()), rtol=1e-5)


def test_pixel_parameterisation_squashes_into_the_range():
    sigmoid = optvis.pixel().bind(2, 2, 1, (-1.0, 3.0))
    np.testing.assert_allclose(sigmoid.images(tf.zeros((1, 2, 2, 1))).numpy(), 1.0)
    clip = optvis.pixel(squash="clip").bind(2, 2, 1, (0.0, 2.0))
    np.testing.assert_allclose(clip.images(tf.constant([[[[0.25], [-1.0]], [[1.0], [0.0]]]])).numpy()[0, :, :, 0], [[1.5, 0.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="squash"):
        optvis.pixel(squash="tanh")


def _apply(transform, images, u, fill=0.5):
    """The optimisation's own path: plan the transform's work from its random numbers, execute it."""
    images = tf.constant(images)
    steps = transforms.plan(transform, tf.constant(u, tf.float32), images.shape[1], images.shape[2])
    return transforms.execute(steps, images, fill).numpy()


def test_jitter_is_an_exact_integer_shift_with_fill():
    image = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
    # u -> shift floor(u * 5) - 2: u = (0.9, 0.1) shifts by (+2, -2) in (x, y).
    out = _apply(optvis.jitter(2), image, [[0.9, 0.1]], fill=-1.0)
    expected = np.full_like(image, -1.0)
    expected[0, 2:, :4] = image[0, :4, 2:]  # output(y, x) = input(y - 2, x + 2)
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_rotation_by_90_degrees_and_identity_scale():
    image = np.random.default_rng(0).uniform(size=(1, 5, 5, 2)).astype(np.float32)
    out = _apply(optvis.rotate(90.0), image, [[1.0]])
    np.testing.assert_allclose(out[0], np.rot90(image[0], k=1, axes=(0, 1)), atol=1e-4)
    np.testing.assert_allclose(_apply(optvis.scale((1.0, 1.0)), image, [[0.3]]), image, atol=1e-5)


def test_pad_shrinks_the_image_into_a_border_of_fill():
    image = np.ones((1, 8, 8, 1), np.float32)
    out = _apply(optvis.pad(4), image, np.zeros((1, 0)), fill=0.0)
    assert out[0, 0, 0, 0] == 0.0 and out[0, 4, 4, 0] == pytest.approx(1.0)
    assert 0.2 < out.mean() < 0.5  # the image covers (8 / 16)² of the output, blurred edges


def test_compose_flattens_and_fuses_geometric_transforms_into_one_resampling():
    standard = optvis.standard_transforms(32)
    assert [t.name for t in standard.steps] == ["pad(2)", "jitter(2)", "scale(0.9..1.1)", "rotate(10)", "jitter(1)"]
    assert standard.total_draws == 6
    nested = optvis.compose_transforms(standard, [optvis.blur(1.0)])
    assert len(nested.steps) == 6

    @tf.function
    def run(images, u):
        return transforms.execute(transforms.plan(standard, u, 32, 32), images, 0.5)

    graph = run.get_concrete_function(tf.TensorSpec((2, 32, 32, 3)), tf.TensorSpec((2, 6))).graph
    kinds = [op.type for op in graph.get_operations()]
    assert kinds.count("ImageProjectiveTransformV3") == 1


def test_blur_keeps_constants_and_spreads_a_delta_as_a_gaussian():
    constant = np.full((1, 9, 9, 2), 0.7, np.float32)
    np.testing.assert_allclose(_apply(optvis.blur(1.0), constant, [[0.5]]), constant, atol=1e-6)
    delta = np.zeros((1, 9, 9, 1), np.float32)
    delta[0, 4, 4, 0] = 1.0
    out = transforms.gaussian_blur(tf.constant(delta), tf.constant([1.0]), 3).numpy()[0, :, :, 0]
    kernel = transforms.gaussian_kernels(tf.constant([1.0]), 3).numpy()[0]
    np.testing.assert_allclose(out[1:8, 1:8], np.outer(kernel, kernel), atol=1e-6)


def test_penalties_equal_closed_forms():
    y, x = np.mgrid[0:5, 0:6].astype(np.float32)
    ramp = (0.1 * x + 0.2 * y)[None, :, :, None]
    np.testing.assert_allclose(regularizers.total_variation_values(tf.constant(ramp)).numpy(), [0.01 + 0.04], rtol=1e-5)
    values = np.array([[[[0.5], [-0.5]], [[0.25], [0.0]]]], np.float32)
    np.testing.assert_allclose(optvis.l1(1.0).penalty(tf.constant(values)).numpy(), [1.25 / 4])
    np.testing.assert_allclose(optvis.l2(1.0).penalty(tf.constant(values)).numpy(), [(0.25 + 0.25 + 0.0625) / 4])


def test_clipping_projections_zero_the_smallest_pixels():
    raw = np.random.default_rng(1).permutation(np.arange(1, 17, dtype=np.float32)).reshape(1, 4, 4, 1)
    for percentile in (25, 50):
        threshold = np.percentile(raw, percentile, method="lower")
        out = optvis.clip_small_norm(percentile).project(tf.constant(raw), None).numpy()
        np.testing.assert_array_equal(out, np.where(raw < threshold, 0.0, raw))
    contribution = np.random.default_rng(2).uniform(size=(1, 4, 4)).astype(np.float32)
    threshold = np.percentile(contribution, 50, method="lower")
    out = optvis.clip_small_contribution(50).project(tf.constant(raw), tf.constant(contribution)).numpy()
    np.testing.assert_array_equal(out, np.where(contribution[..., None] < threshold, 0.0, raw))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: optvis.l2(-1), "weight"),
        (lambda: optvis.total_variation(0.1, beta=3), "beta"),
        (lambda: optvis.blur_every(0), "every"),
        (lambda: optvis.clip_small_norm(100), "percentile"),
        (lambda: optvis.jitter(-1), "pixels"),
        (lambda: optvis.scale((1.2, 0.8)), "factors"),
        (lambda: optvis.blur((0, 1)), "sigma"),
        (lambda: optvis.fourier(decay=-1), "decay"),
        (lambda: optvis.fourier(reference=np.zeros((2, 3))), "reference"),
        (lambda: transforms.resolve_transforms("strong", 8, 8), "transforms"),
        (lambda: params.resolve_param("wavelet"), "param"),
    ],
)
def test_bad_building_blocks(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        # a wrong type is a TypeError naming the argument, checked before the name is formatted
        (lambda: optvis.l1("a"), "`weight`.*'a'"),
        (lambda: optvis.l2("a"), "`weight`.*'a'"),
        (lambda: optvis.total_variation("a"), "`weight`.*'a'"),
        (lambda: optvis.total_variation(0.1, beta="x"), "`beta`"),
        (lambda: optvis.blur_every(2.5), "`every`.*2.5"),
        (lambda: optvis.blur_every(2, sigma=None), "`sigma`"),
        (lambda: optvis.clip_small_norm("10"), "`percentile`"),
        (lambda: optvis.jitter(2.5), "`pixels`.*2.5"),  # refused, not truncated to 2
        (lambda: optvis.jitter(True), "`pixels`"),
        (lambda: optvis.pad("4"), "`pixels`"),
        (lambda: optvis.rotate(None), "`degrees`"),
        (lambda: optvis.scale(1.1), "`factors`"),
        (lambda: optvis.blur("wide"), "`sigma`"),
        (lambda: optvis.fourier(decay="1/f"), "`decay`"),
        (lambda: optvis.pixel(squash=1), "`squash`"),
        (lambda: optvis.pixel(init_std="x"), "`init_std`"),
        (lambda: transforms.resolve_transforms(3, 8, 8), "`transforms`"),
        (lambda: params.resolve_param(3), "`param`"),
        (lambda: optvis.standard_transforms("32"), "`size`"),
    ],
)
def test_wrong_types_are_type_errors(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_integral_settings_are_kept_exactly():
    assert optvis.jitter(np.int64(3)).name == "jitter(3)"
    assert optvis.blur_every(np.int32(2)).every == 2
    assert optvis.l1(np.float32(0.5)).weight == 0.5


def test_building_blocks_are_immutable_and_compose():
    jitter = optvis.jitter(3)
    composed = optvis.compose_transforms(jitter, optvis.rotate(5))
    assert composed.steps[0] is jitter and jitter.steps == (jitter,)
    combined = optvis.compose_regularizers(optvis.l1(0.1), [optvis.total_variation(0.2), optvis.blur_every(2)])
    assert [r.name for r in combined] == ["l1(0.1)", "total_variation(0.2)", "blur_every(2, 0.5)"]
    fourier = optvis.fourier()
    bound = fourier.bind(8, 8, 3, (0.0, 1.0))
    assert bound is not fourier and not hasattr(fourier, "height")


def test_default_colour_matrix_is_lucids_normalised_matrix():
    # lucid's param/color.py: color_correlation_svd_sqrt / max_norm_svd_sqrt, where the max
    # column norm is that of the first column, sqrt(0.26² + 0.27² + 0.27²) = sqrt(0.2134).
    raw = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]
    norm = math.sqrt(0.26**2 + 0.27**2 + 0.27**2)
    assert abs(norm - 0.4619523) < 1e-6  # lucid's max_norm_svd_sqrt
    expected = np.array([[value / norm for value in row] for row in raw])
    np.testing.assert_allclose(expected[0], [0.56283, 0.19483, 0.04329], atol=1e-5)  # pinned by hand
    fourier = optvis.fourier()
    np.testing.assert_allclose(fourier.colour_sqrt, expected, rtol=1e-6)
    # and the raw image is the decorrelated one times that matrix (lucid: t_flat @ M.T)
    bound = fourier.bind(4, 5, 3, (0.0, 1.0))
    spectrum = bound.init(3, np.arange(2))
    decorrelated = bound._decorrelated(spectrum).numpy()
    np.testing.assert_allclose(bound.raw(spectrum).numpy(), decorrelated @ expected.T, rtol=1e-5, atol=1e-7)
