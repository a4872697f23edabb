"""Metrics on shapes models trained here (32 px): localisation, sanity checks, the confound.

Two models are trained once for the module: ``clean`` on shapes without a watermark (with a
QualityCallback attached, so its scalars can be read back), and ``confounded`` on shapes
that all carry their class's watermark.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import keras_viz as kv
from keras_viz import callbacks as kvc
from keras_viz.demo import build_demo_model

SIZE = 32
CELL = 4  # the demo model's last convolution is 8x8 at 32 px: one Grad-CAM cell is 4x4 pixels


def _train(data, epochs, callbacks=()):
    keras.utils.set_random_seed(0)
    model = build_demo_model((SIZE, SIZE, 3), len(data.class_names))
    steps = epochs * -(-len(data) // 32)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(5e-3, steps)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.images, data.labels, epochs=epochs, batch_size=32, verbose=0, callbacks=list(callbacks))
    return model


@pytest.fixture(scope="module")
def test_data():
    return kv.datasets.make_shapes(100, size=SIZE, seed=2)


@pytest.fixture(scope="module")
def marked_test_data():
    return kv.datasets.make_shapes(100, size=SIZE, seed=2, watermark=1.0)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, test_data):
    """The clean model, trained with a QualityCallback every other epoch: (model, log_dir)."""
    log_dir = str(tmp_path_factory.mktemp("quality"))
    callback = kvc.QualityCallback(
        test_data.images[:24], masks=test_data.masks[:24], targets=test_data.labels[:24],
        explainers=[kv.GradCAM, kv.Saliency], tolerance=2, steps=8, log_dir=log_dir, freq=2,
    )
    model = _train(kv.datasets.make_shapes(1500, size=SIZE, seed=1), 8, [callback])
    return model, log_dir


@pytest.fixture(scope="module")
def confounded():
    return _train(kv.datasets.make_shapes(600, size=SIZE, seed=1, watermark=1.0), 5)


def test_grad_cam_points_at_the_shape_far_above_a_random_map(clean, test_data):
    model, _ = clean
    maps = kv.GradCAM(model)(test_data.images, targets=test_data.labels)
    # Flat maps point nowhere and count as misses; the trained model's Grad-CAM has (almost) none,
    # so the accuracy below measures where its maps point, not how many are empty.
    assert kv.metrics.flat_maps(maps).mean() <= 0.05, kv.metrics.flat_maps(maps).mean()
    hits = kv.metrics.pointing_game(maps, test_data.masks, tolerance=2)  # Zhang et al.'s 15 px at 224 px
    random_maps = np.random.default_rng(0).random(maps.shape)
    chance = kv.metrics.pointing_game(random_maps, test_data.masks, tolerance=2).mean()
    assert hits.mean() >= 0.8, hits.mean()
    assert hits.mean() >= chance + 0.3, (hits.mean(), chance)
    energy = kv.metrics.energy_in_mask(maps, test_data.masks)
    assert np.nanmean(energy) > kv.metrics.energy_in_mask(random_maps, test_data.masks).mean() + 0.1


def test_faithfulness_of_grad_cam_beats_a_random_map(clean, test_data):
    model, _ = clean
    images, labels = test_data.images[:32], test_data.labels[:32]
    maps = kv.GradCAM(model)(images, targets=labels)
    random_maps = np.random.default_rng(1).random(maps.shape)
    # Deleting to black (the default baseline) barely separates the two on these textured
    # images: random black pixels already throw the model off. A blurred baseline does.
    assert kv.metrics.deletion(model, images, maps, labels, baseline="blur").mean() < kv.metrics.deletion(
        model, images, random_maps, labels, baseline="blur").mean()
    assert kv.metrics.insertion(model, images, maps, labels).mean() > kv.metrics.insertion(
        model, images, random_maps, labels).mean()


def test_sanity_check_saliency_and_grad_cam_change_under_randomization(clean, test_data):
    model, _ = clean
    images, labels = test_data.images[:16], test_data.labels[:16]
    weights = [w.copy() for w in model.get_weights()]
    results = {cls.__name__: kv.metrics.model_randomization(cls, model, images, labels)
               for cls in (kv.Saliency, kv.GradCAM, kv.GuidedBackprop)}
    for name in ("Saliency", "GradCAM"):
        assert results[name].final < 0.5, (name, results[name].mean)
    # Guided backprop barely notices the top layer's randomization (Adebayo et al.'s finding).
    assert results["GuidedBackprop"].mean[0] > max(results["Saliency"].mean[0], results["GradCAM"].mean[0])
    assert results["Saliency"].layers[0] == "predictions" and results["Saliency"].layers[-1] == "block1_conv"
    # The user's model is untouched.
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    # An explainer compared with itself gives 1.
    maps = kv.GradCAM(model)(images, targets=labels)
    np.testing.assert_allclose(kv.metrics.rank_correlation(maps, kv.GradCAM(model)(images, targets=labels)), 1.0)


def _cells(masks):
    """Pixel masks -> Grad-CAM cell masks (a cell is marked if any of its pixels is)."""
    n, h, w = masks.shape
    return masks.reshape(n, h // CELL, CELL, w // CELL, CELL).any(axis=(2, 4))


def test_confounded_model_looks_at_the_watermark_clean_one_does_not(clean, confounded, marked_test_data, test_data):
    data = marked_test_data
    cells = _cells(data.watermark_masks)
    on_mark = {}
    for name, model in (("confounded", confounded), ("clean", clean[0])):
        cell_maps = kv.GradCAM(model, upsample=False)(data.images, targets=data.labels)  # (N, 8, 8)
        # A flat map is a miss everywhere: the clean model's low score must not come from empty maps.
        assert kv.metrics.flat_maps(cell_maps).mean() <= 0.05, (name, kv.metrics.flat_maps(cell_maps).mean())
        # The maximum's cell is the watermark's, or one of its neighbours (within one cell).
        on_mark[name] = kv.metrics.pointing_game(cell_maps, cells, tolerance=1.5).mean()
    assert on_mark["confounded"] >= 0.8, on_mark
    assert on_mark["clean"] <= 0.2, on_mark
    # The confound shows in the accuracy too: perfect with the mark, near chance without it.
    accuracy = lambda d: float((np.argmax(confounded.predict(d.images, verbose=0), 1) == d.labels).mean())  # noqa: E731
    assert accuracy(data) > 0.9 and accuracy(test_data) < accuracy(data) - 0.25


def test_quality_callback_scalars_read_back_from_the_event_files(clean):
    _, log_dir = clean
    accumulator = EventAccumulator(f"{log_dir}/keras_viz", size_guidance={"tensors": 0})
    accumulator.Reload()
    tags = set(accumulator.Tags()["tensors"])
    expected = {f"quality/{method}/{metric}" for method in ("grad_cam", "saliency")
                for metric in ("pointing_game", "energy_in_mask", "deletion", "insertion", "flat_maps")}
    assert expected <= tags, tags
    values = {}
    for tag in expected:
        events = accumulator.Tensors(tag)
        assert [e.step for e in events] == [1, 3, 5, 7]  # freq=2 over 8 epochs
        values[tag] = [float(tf.make_ndarray(e.tensor_proto)) for e in events]
        assert all(np.isfinite(values[tag])), tag
    pointing = values["quality/grad_cam/pointing_game"]
    assert all(0 <= v <= 1 for v in pointing)
    assert pointing[-1] >= 0.75 and pointing[-1] > pointing[0], pointing  # grows as the model learns
    # ... and not because fewer maps are flat (flat maps are misses, but a rise could still come
    # from fewer empty maps alone): the trained model's maps are not flat.
    assert values["quality/grad_cam/flat_maps"][-1] <= 0.05, values["quality/grad_cam/flat_maps"]
    assert all(0 <= v <= 1 for v in values["quality/saliency/insertion"])
