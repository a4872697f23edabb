"""A real ``tensorboard`` process serves Keras' runs and the keras-viz pictures.

The log directory is written as a user's script would (``explained_logdir``: a 2-epoch
``model.fit`` with ``keras.callbacks.TensorBoard``, then Grad-CAM pictures through
``keras_viz.tensorboard.log_explanations`` and one ``image_summary``); the checks go
through the JSON endpoints of TensorBoard's web UI and decode the PNGs it serves.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e.conftest import (
    EXPLAIN_STEP,
    GRID_SHAPE,
    GRID_TAG,
    PREFIX,
    SAMPLES,
    SCALE,
    SIZE,
    fetch_images,
    get_json,
    image_tags,
    wait_for_json,
)

RUN = "keras_viz"


def test_runs_list_keras_runs_and_the_keras_viz_run(explained_server):
    runs = wait_for_json(
        explained_server, "data/runs", lambda runs: {"train", "validation", RUN} <= set(runs)
    )
    assert sorted(runs) == ["keras_viz", "train", "validation"]


def test_keras_scalars_sit_next_to_the_keras_viz_run(explained_server):
    scalars = get_json(explained_server, "data/plugin/scalars/tags")
    assert "epoch_loss" in scalars["train"]
    assert "epoch_loss" in scalars["validation"]
    assert RUN not in scalars  # keras-viz writes pictures only


def test_image_tags_of_the_keras_viz_run(explained_server, explained_logdir):
    tags = image_tags(explained_server)
    assert set(tags[RUN]) == {f"{PREFIX}/input", f"{PREFIX}/heatmap", f"{PREFIX}/overlay", GRID_TAG}
    assert list(explained_logdir.tags) == [
        f"{PREFIX}/input",
        f"{PREFIX}/heatmap",
        f"{PREFIX}/overlay",
    ]
    for tag in explained_logdir.tags:
        assert tags[RUN][tag]["samples"] == SAMPLES
        # The labels given to log_explanations reach the tag's description (Markdown -> HTML).
        description = tags[RUN][tag]["description"]
        for index, label in enumerate(explained_logdir.labels):
            assert f"sample {index}: {label}" in description
    assert tags[RUN][GRID_TAG]["samples"] == 1
    # Keras' own runs hold no pictures (write_images is off by default).
    assert not tags.get("train") and not tags.get("validation")


@pytest.mark.parametrize("kind", ["input", "heatmap", "overlay"])
def test_served_pictures_are_the_logged_pictures(explained_server, explained_logdir, kind):
    tag = f"{PREFIX}/{kind}"
    served = fetch_images(explained_server, RUN, tag)
    assert [(one.step, one.sample) for one in served] == [
        (EXPLAIN_STEP, sample) for sample in range(SAMPLES)
    ]
    expected = explained_logdir.expected[tag]
    for one in served:
        assert one.content_type == "image/png"
        assert one.image.format == "PNG"
        assert one.image.size == (SIZE * SCALE, SIZE * SCALE)  # (width, height)
        assert one.image.mode == "RGB"
        np.testing.assert_array_equal(one.pixels, expected[one.sample])
        assert "/data/plugin/images/individualImage?blob_key=" in one.url


def test_image_summary_picture_is_served(explained_server, explained_logdir):
    (served,) = fetch_images(explained_server, RUN, GRID_TAG)
    assert served.step == 0 and served.sample == 0
    assert served.image.size == (GRID_SHAPE[1], GRID_SHAPE[0])
    np.testing.assert_array_equal(served.pixels, explained_logdir.expected[GRID_TAG][0])


def test_a_sample_past_the_last_gives_no_entries(explained_server):
    assert fetch_images(explained_server, RUN, f"{PREFIX}/overlay", sample=SAMPLES) == []


def test_server_fixture_serves_a_new_log_dir(tensorboard_server, tmp_path):
    """The factory fixture on its own: a run written while the server runs shows up."""
    from keras_viz import tensorboard as kvtb

    base_url = tensorboard_server(tmp_path, extra_args=["--reload_interval", "1"])
    assert get_json(base_url, "data/runs") == []
    writer = kvtb.run_writer(tmp_path, "late")
    picture = np.full((5, 7, 3), 200, dtype=np.uint8)
    with writer.as_default():
        kvtb.image_summary("late/picture", picture, step=3)
    writer.close()
    wait_for_json(
        base_url, "data/plugin/images/tags", lambda tags: "late/picture" in tags.get("late", {})
    )
    (served,) = fetch_images(base_url, "late", "late/picture")
    assert served.step == 3 and served.image.size == (7, 5)
    np.testing.assert_array_equal(served.pixels, picture)
