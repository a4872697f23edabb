"""Tests for keras_viz.tensorboard: write summaries, read the event files back, decode the PNGs."""

from __future__ import annotations

import ast
import io
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import keras_viz
from keras_viz import tensorboard as kvtb

VIRIDIS_LOW = (68, 1, 84)  # published viridis(0)
VIRIDIS_HIGH = (253, 231, 37)  # published viridis(1)
RDBU_R_LOW = (5, 48, 97)  # #053061
RDBU_R_MID = (247, 247, 247)  # #F7F7F7
RDBU_R_HIGH = (103, 0, 31)  # #67001F


# --------------------------------------------------------------------------- #
# Reading event files back
# --------------------------------------------------------------------------- #


def read_images(run_dir) -> dict[str, list[dict]]:
    """Every image event of a run: tag -> [{step, width, height, images, description}].

    TF2 summaries are stored as tensors; an image event's string_val holds
    [width, height, png, png, ...].
    """
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    found = {}
    for tag in accumulator.Tags()["tensors"]:
        metadata = accumulator.SummaryMetadata(tag)
        if metadata.plugin_data.plugin_name != "images":
            continue
        events = []
        for event in accumulator.Tensors(tag):
            values = event.tensor_proto.string_val
            events.append(
                {
                    "step": event.step,
                    "width": int(values[0]),
                    "height": int(values[1]),
                    "images": [Image.open(io.BytesIO(png)) for png in values[2:]],
                    "description": metadata.summary_description,
                }
            )
        found[tag] = events
    return found


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


@pytest.fixture
def writer(tmp_path):
    summary_writer = kvtb.run_writer(tmp_path)
    yield summary_writer
    summary_writer.close()


# --------------------------------------------------------------------------- #
# Module contract
# --------------------------------------------------------------------------- #


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_library_modules_never_import_tensorboard_or_callbacks():
    """Data flows one way (STYLE.md): only the callbacks, the command line and the demo
    stand above the TensorBoard helpers; nothing below them imports them."""
    package = pathlib.Path(keras_viz.__file__).parent
    above = {package / "__init__.py", package / "tensorboard.py", package / "demo.py"}
    below = [
        path
        for path in sorted(package.rglob("*.py"))
        if path not in above and not {"callbacks", "cli"} & set(path.relative_to(package).parts)
    ]
    assert package / "render" / "core.py" in below and package / "explainers" / "base.py" in below
    for path in below:
        imported = _imports(path)
        for upper in ("keras_viz.tensorboard", "keras_viz.callbacks"):
            assert upper not in imported, (path, upper)


def test_public_api_is_listed_in_all():
    assert set(kvtb.__all__) >= {
        "DEFAULT_RUN", "encode_image_tensor", "encode_png", "explanation_images", "histogram_buckets",
        "histogram_summary", "image_summary", "input_pictures", "log_explanations", "run_writer",
    }


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 1), (6, 3, 2), (9, 4, 3), (2, 11, 4), (64, 48, 3)])
def test_encode_png_decodes_to_the_same_pixels(shape):
    from PIL import Image

    picture = np.random.default_rng(sum(shape)).integers(0, 256, size=shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(kvtb.encode_png(picture)))
    decoded.load()  # a corrupt stream (CRC, zlib) raises here
    assert decoded.size == (shape[1], shape[0])
    assert decoded.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[shape[2]]
    np.testing.assert_array_equal(np.asarray(decoded).reshape(shape), picture)


# --------------------------------------------------------------------------- #
# run_writer
# --------------------------------------------------------------------------- #


def test_run_writer_writes_a_sibling_run_of_keras_train(tmp_path):
    writer = kvtb.run_writer(tmp_path)
    with writer.as_default():
        kvtb.image_summary("probe", np.zeros((2, 2, 3), np.uint8), step=0)
    writer.close()
    assert (tmp_path / "keras_viz").is_dir()
    assert list((tmp_path / "keras_viz").glob("events.out.tfevents.*"))
    assert set(read_images(tmp_path / "keras_viz")) == {"probe"}


def test_run_writer_takes_a_run_name(tmp_path):
    kvtb.run_writer(tmp_path, run="explanations").close()
    assert (tmp_path / "explanations").is_dir()


@pytest.mark.parametrize("run", ["", "/abs", "../outside", "a//b"])
def test_run_writer_refuses_runs_outside_log_dir(tmp_path, run):
    with pytest.raises(ValueError, match="run"):
        kvtb.run_writer(tmp_path, run=run)


# --------------------------------------------------------------------------- #
# image_summary
# --------------------------------------------------------------------------- #


def test_image_summary_round_trips_uint8_pixels(tmp_path, writer):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
    with writer.as_default():
        assert kvtb.image_summary("batch/rgb", images, step=4, max_outputs=3, description="hello")
    writer.flush()
    (event,) = read_images(tmp_path / "keras_viz")["batch/rgb"]
    assert event["step"] == 4
    assert (event["width"], event["height"]) == (7, 5)
    assert event["description"] == "hello"
    assert len(event["images"]) == 2
    for decoded, expected in zip(event["images"], images):
        assert decoded.size == (7, 5)
        np.testing.assert_array_equal(pixels(decoded), expected)  # PNG is lossless


def test_image_summary_takes_float_grey_single_pictures(tmp_path, writer):
    picture = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    with writer.as_default():
        assert kvtb.image_summary("single/grey", picture, step=0)
    writer.flush()
    (event,) = read_images(tmp_path / "keras_viz")["single/grey"]
    (decoded,) = event["images"]
    assert decoded.mode == "L" and decoded.size == (4, 3)
    np.testing.assert_allclose(np.asarray(decoded), picture * 255.0, atol=1.0)


def test_image_summary_keeps_at_most_max_outputs(tmp_path, writer):
    with writer.as_default():
        kvtb.image_summary("many", np.zeros((5, 4, 4, 1), np.uint8), step=0, max_outputs=2)
    writer.flush()
    (event,) = read_images(tmp_path / "keras_viz")["many"]
    assert len(event["images"]) == 2


def test_plain_tf_summary_is_dropped_under_record_if_false_but_ours_is_written(tmp_path, writer):
    images = np.full((1, 3, 3, 3), 200, np.uint8)
    with writer.as_default(), tf.summary.record_if(False):
        assert not tf.summary.image("plain", images, step=0)  # the trap SPEC §3 describes
        assert kvtb.image_summary("ours", images, step=0)
    writer.flush()
    written = read_images(tmp_path / "keras_viz")
    assert "ours" in written and "plain" not in written


def test_image_summary_uses_the_default_step(tmp_path, writer):
    with writer.as_default(step=7):
        kvtb.image_summary("stepped", np.zeros((2, 2, 3), np.uint8))
    writer.flush()
    assert read_images(tmp_path / "keras_viz")["stepped"][0]["step"] == 7


def test_image_summary_without_writer_returns_false():
    assert kvtb.image_summary("nowhere", np.zeros((2, 2, 3), np.uint8), step=0) is False


@pytest.mark.parametrize(
    "name, images, match",
    [
        ("has space", np.zeros((2, 2, 3), np.uint8), "without spaces"),
        ("", np.zeros((2, 2, 3), np.uint8), "tag"),
        ("t", np.full((2, 2, 3), 1.5, np.float32), r"\[0, 1\]"),
        ("t", np.full((2, 2, 3), -0.1, np.float32), r"\[0, 1\]"),
        ("t", np.full((2, 2, 3), np.nan, np.float32), "NaN"),
        ("t", np.full((2, 2, 3), 300, np.int32), r"\[0, 255\]"),
        ("t", np.zeros((1, 2, 2, 2), np.uint8), "shape"),
        ("t", np.zeros((1, 1, 2, 2, 3), np.uint8), "shape"),
        ("t", np.zeros((0, 2, 2, 3), np.uint8), "at least one"),
    ],
)
def test_image_summary_rejects_bad_input(writer, name, images, match):
    with writer.as_default(), pytest.raises(ValueError, match=match):
        kvtb.image_summary(name, images, step=0)


def test_image_summary_rejects_bad_max_outputs(writer):
    with writer.as_default(), pytest.raises(ValueError, match="max_outputs"):
        kvtb.image_summary("t", np.zeros((2, 2, 3), np.uint8), step=0, max_outputs=0)


# --------------------------------------------------------------------------- #
# explanation_images
# --------------------------------------------------------------------------- #


def _grey_images_and_hot_square(n=3, size=16):
    images = np.full((n, size, size, 1), 0.5, np.float32)  # mid grey -> uint8 128
    maps = np.zeros((n, size, size), np.float32)
    maps[:, 4:8, 4:8] = 1.0  # 6% of the pixels, so the 99th percentile is 1
    return images, maps


def test_explanation_images_colours_hot_and_cold_pixels_exactly():
    images, maps = _grey_images_and_hot_square()
    heatmaps, overlays = kvtb.explanation_images(images, maps, alpha=0.5, value_range=(0, 1))
    assert heatmaps.shape == overlays.shape == (3, 16, 16, 3)
    assert heatmaps.dtype == overlays.dtype == np.uint8
    np.testing.assert_array_equal(heatmaps[:, 5, 5], np.tile(VIRIDIS_HIGH, (3, 1)))
    np.testing.assert_array_equal(heatmaps[:, 0, 0], np.tile(VIRIDIS_LOW, (3, 1)))
    # Cold pixels keep the image; hot pixels are half image, half viridis(1).
    cold = np.ones((16, 16), bool)
    cold[4:8, 4:8] = False
    assert np.all(overlays[:, cold] == 128)
    expected_hot = 0.5 * 128 + 0.5 * np.array(VIRIDIS_HIGH)
    np.testing.assert_allclose(overlays[:, 5, 5], np.tile(expected_hot, (3, 1)), atol=1)


def test_explanation_images_shows_signed_maps_with_a_diverging_colormap():
    images = np.zeros((1, 8, 8, 3), np.float32)
    signed = np.zeros((1, 8, 8), np.float32)
    signed[0, :2] = 1.0
    signed[0, -2:] = -1.0
    heatmaps, _ = kvtb.explanation_images(images, signed)
    assert tuple(heatmaps[0, 0, 0]) == RDBU_R_HIGH
    assert tuple(heatmaps[0, 4, 4]) == RDBU_R_MID
    assert tuple(heatmaps[0, -1, -1]) == RDBU_R_LOW


def test_explanation_images_scale_upsamples_by_nearest_neighbour():
    images, maps = _grey_images_and_hot_square(n=2, size=8)
    maps[:] = 0.0
    maps[:, 2, 3] = 1.0
    heatmaps, overlays = kvtb.explanation_images(images, maps, value_range=(0, 1), scale=3)
    assert heatmaps.shape == overlays.shape == (2, 24, 24, 3)
    small, _ = kvtb.explanation_images(images, maps, value_range=(0, 1))
    np.testing.assert_array_equal(heatmaps, small.repeat(3, axis=1).repeat(3, axis=2))


def test_explanation_images_resizes_low_resolution_maps_for_overlays():
    images = np.full((1, 16, 16, 3), 0.5, np.float32)
    maps = np.zeros((1, 4, 4), np.float32)
    maps[0, 0, 0] = 1.0
    heatmaps, overlays = kvtb.explanation_images(images, maps, value_range=(0, 1))
    assert heatmaps.shape == (1, 4, 4, 3)
    assert overlays.shape == (1, 16, 16, 3)
    assert np.any(overlays[0, :2, :2] != 128) and np.all(overlays[0, -4:, -4:] == 128)


@pytest.mark.parametrize(
    "images, maps, kwargs, match",
    [
        (np.zeros((2, 8, 8, 1)), np.zeros((3, 8, 8)), {}, "one map per image"),
        (np.zeros((2, 8, 8, 2)), np.zeros((2, 8, 8)), {}, "images"),
        (np.zeros((2, 8, 8, 1)), np.zeros((2, 8)), {}, "maps"),
        (np.zeros((0, 8, 8, 1)), np.zeros((0, 8, 8)), {}, "at least one"),
        (np.zeros((1, 8, 8, 1)), np.ones((1, 8, 8)), {"scale": 0}, "scale"),
        (np.zeros((1, 8, 8, 1)), np.ones((1, 8, 8)), {"alpha": 2.0}, "alpha"),
        (np.zeros((1, 8, 8, 1)), np.ones((1, 8, 8)), {"colormap": "jet"}, "colour map"),
    ],
)
def test_explanation_images_rejects_bad_input(images, maps, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kvtb.explanation_images(images, maps, **kwargs)


# --------------------------------------------------------------------------- #
# log_explanations
# --------------------------------------------------------------------------- #


def test_log_explanations_writes_input_heatmap_and_overlay(tmp_path, writer):
    images, maps = _grey_images_and_hot_square(n=3, size=16)
    # Keras' callback may leave record_if(False) active between batches.
    with tf.summary.record_if(False):
        tags = kvtb.log_explanations(
            writer, "grad_cam/conv3", images, maps, step=2,
            labels=np.array([7, 1, 4]), description="Grad-CAM", value_range=(0, 1), scale=2,
        )
    assert tags == ["grad_cam/conv3/input", "grad_cam/conv3/heatmap", "grad_cam/conv3/overlay"]
    written = read_images(tmp_path / "keras_viz")
    assert set(written) == set(tags)
    decoded = {}
    for tag in tags:
        (event,) = written[tag]
        assert event["step"] == 2
        assert (event["width"], event["height"]) == (32, 32)
        assert len(event["images"]) == 3
        assert event["description"].startswith("Grad-CAM")
        assert "sample 0: 7" in event["description"] and "sample 2: 4" in event["description"]
        decoded[tag] = np.stack([pixels(image) for image in event["images"]])
    inputs, heatmaps, overlays = (decoded[tag] for tag in tags)
    assert np.all(inputs == 128)
    hot = np.zeros((32, 32), bool)
    hot[8:16, 8:16] = True  # the 4:8 square, scaled by 2
    near = np.zeros((32, 32), bool)
    near[6:18, 6:18] = True  # the map is resized bilinearly: its edge blurs by a pixel or two
    assert np.all(np.any(overlays[:, hot] != inputs[:, hot], axis=-1))  # tinted where hot
    np.testing.assert_array_equal(overlays[:, ~near], inputs[:, ~near])  # untouched where cold
    np.testing.assert_array_equal(heatmaps[:, 10, 10], np.tile(VIRIDIS_HIGH, (3, 1)))


def test_log_explanations_renders_only_max_outputs_samples(tmp_path, writer):
    images, maps = _grey_images_and_hot_square(n=5, size=8)
    kvtb.log_explanations(writer, "saliency/", images, maps, step=0, labels=list("abcde"), max_outputs=2)
    written = read_images(tmp_path / "keras_viz")
    assert set(written) == {"saliency/input", "saliency/heatmap", "saliency/overlay"}
    for events in written.values():
        assert len(events[0]["images"]) == 2
        assert "sample 1: b" in events[0]["description"]
        assert "sample 2" not in events[0]["description"]


def test_log_explanations_appends_one_event_per_step(tmp_path, writer):
    images, maps = _grey_images_and_hot_square(n=1, size=8)
    for epoch in range(3):
        kvtb.log_explanations(writer, "cam", images, maps, step=epoch)
    steps = [event["step"] for event in read_images(tmp_path / "keras_viz")["cam/overlay"]]
    assert steps == [0, 1, 2]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"tag_prefix": "grad cam"}, ValueError, "without spaces"),
        ({"tag_prefix": "///"}, ValueError, "tag_prefix"),
        ({"labels": [1, 2]}, ValueError, "one label per image"),
        ({"max_outputs": 0}, ValueError, "max_outputs"),
        ({"writer": "logs"}, TypeError, "SummaryWriter"),
    ],
)
def test_log_explanations_rejects_bad_arguments(writer, kwargs, error, match):
    images, maps = _grey_images_and_hot_square(n=3, size=8)
    arguments = {"writer": writer, "tag_prefix": "grad_cam", "images": images, "maps": maps, "step": 0}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        kvtb.log_explanations(**arguments)


def test_writes_survive_keras_tensorboard_callback_with_batch_update_freq(tmp_path):
    """Keras' callback with update_freq=N leaves record_if(step % N == 0) active in fit."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    writer = kvtb.run_writer(tmp_path)
    picture = np.full((1, 4, 4, 3), 90, np.uint8)

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            with writer.as_default():
                tf.summary.image("plain", picture, step=epoch)
                kvtb.image_summary("ours", picture, step=epoch)

    x = np.zeros((6, 4, 4, 1), np.float32)
    y = np.zeros((6, 2), np.float32)
    # The callback order matters: TensorBoard's condition is active when Probe runs.
    model.fit(x, y, batch_size=2, epochs=2, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(tmp_path, update_freq=1000), Probe()])
    writer.close()
    written = read_images(tmp_path / "keras_viz")
    assert [event["step"] for event in written["ours"]] == [0, 1]
    assert "plain" not in written


def test_histogram_buckets_match_tensorboards_own():
    from tensorboard.plugins.histogram import summary_v2

    from keras_viz.tensorboard import histogram_buckets

    data = np.random.default_rng(0).normal(size=(40, 7))
    expected = summary_v2._buckets(tf.constant(data), tf.constant(30)).numpy()
    np.testing.assert_allclose(histogram_buckets(data, 30), expected, rtol=1e-9)


def test_histogram_summary_reads_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from keras_viz.tensorboard import histogram_summary

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(), tf.summary.record_if(False):  # written regardless
        histogram_summary("weights/kernel", np.arange(10.0), step=3)
    writer.close()
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    accumulator.Reload()
    (event,) = accumulator.Tensors("weights/kernel")
    buckets = tf.make_ndarray(event.tensor_proto)
    assert event.step == 3 and buckets.shape == (30, 3) and buckets[:, 2].sum() == 10
    assert accumulator.SummaryMetadata("weights/kernel").plugin_data.plugin_name == "histograms"
