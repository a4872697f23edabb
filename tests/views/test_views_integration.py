"""EmbeddingCallback, the projector and top-patches commands, the demo's views, the pictures."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

import keras_viz as kv
from keras_viz import cli, render
from tests.test_tensorboard import read_images


@pytest.fixture(scope="module")
def digits():
    (x, y), (x_test, y_test) = kv.datasets.load_digits(16, seed=0)
    return x[:96], y[:96], x_test[:40], y_test[:40]


def small_cnn() -> keras.Model:
    return keras.Sequential(
        [keras.Input((16, 16, 1)), layers.Conv2D(8, 3, activation="relu", name="conv1"), layers.MaxPooling2D(name="pool"),
         layers.Conv2D(8, 3, activation="relu", name="conv2"), layers.GlobalAveragePooling2D(name="gap"),
         layers.Dense(10, activation="softmax", name="head")],
        name="small",
    )


# --------------------------------------------------------------------------- callback


def test_embedding_callback_exports_each_epoch_to_its_own_run(tmp_path, digits):
    from tensorboard.plugins.projector import projector_config_pb2
    from google.protobuf import text_format

    x, y, x_test, y_test = digits
    keras.utils.set_random_seed(0)
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = kv.callbacks.EmbeddingCallback(
        x_test, layer="gap", labels=y_test, log_dir=tmp_path, freq=2, tsne=True, value_range=(0, 1), raise_errors=True,
        class_names=[f"d{i}" for i in range(10)],
    )
    model.fit(x, y, epochs=3, verbose=0, callbacks=[callback])
    root = tmp_path / "keras_viz_embeddings"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["epoch_0001", "epoch_0002"]  # freq 2 + last
    run = root / "epoch_0002"
    config = text_format.Parse((run / "projector_config.pbtxt").read_text(), projector_config_pb2.ProjectorConfig())
    assert config.embeddings[0].tensor_name == "gap"
    rows = (run / "metadata.tsv").read_text().split("\n")[:-1]
    assert rows[0] == "label\tprediction\tcorrect" and len(rows) == 41
    predictions = model.predict(x_test, verbose=0).argmax(-1)
    assert rows[1:] == [f"d{t}\td{p}\t{p == t}" for t, p in zip(y_test, predictions)]
    import tensorflow as tf

    codes = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run))).get_tensor("gap")
    np.testing.assert_allclose(codes, kv.embeddings(model, x_test, "gap"), rtol=1e-5, atol=1e-6)
    with Image.open(run / "sprite.png") as sprite:
        assert sprite.size == (7 * 16, 7 * 16)
    images = read_images(root)
    assert [event["step"] for event in images["embeddings/gap/tsne"]] == [1, 2]


class CountingDense(layers.Dense):
    """A Dense layer that counts how often its Python ``call`` runs (eagerly or while traced)."""

    calls = 0

    def call(self, inputs):
        CountingDense.calls += 1
        return super().call(inputs)


def test_embedding_callback_reads_codes_and_predictions_in_one_compiled_pass(tmp_path, digits):
    _, _, x_test, y_test = digits
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((16, 16, 1)), layers.Conv2D(4, 3, activation="relu", name="conv"),
                              layers.GlobalAveragePooling2D(name="gap"), CountingDense(10, activation="softmax", name="head")])
    callback = kv.callbacks.EmbeddingCallback(x_test, layer="gap", labels=y_test, log_dir=tmp_path, batch_size=16)
    callback.set_model(model)
    CountingDense.calls = 0
    codes, (outputs,) = callback._codes_and_outputs()
    assert CountingDense.calls == 1  # 3 batches: traced at once (longer than EAGER_CALLS); no second pass for predictions
    np.testing.assert_allclose(codes, kv.embeddings(model, x_test, "gap"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs, model.predict(x_test, verbose=0), rtol=1e-5, atol=1e-6)
    CountingDense.calls = 0
    callback._log(1, "")
    assert CountingDense.calls == 0  # the compiled pass alone: no eager model call for the predictions
    assert callback._reader.trace_count == 1


def test_embedding_callback_reads_one_hot_labels_as_classes(tmp_path, digits):
    x, y, x_test, y_test = digits
    keras.utils.set_random_seed(0)
    model = small_cnn()
    one_hot = keras.utils.to_categorical(y_test, 10)
    callback = kv.callbacks.EmbeddingCallback(x_test, layer="gap", labels=one_hot, log_dir=tmp_path, freq=1, raise_errors=True)
    assert callback.labels == y_test.tolist()
    callback.set_model(model)
    callback._log(0, "")(None)
    rows = (tmp_path / "keras_viz_embeddings" / "epoch_0000" / "metadata.tsv").read_text().split("\n")[1:-1]
    predictions = model.predict(x_test, verbose=0).argmax(-1)
    assert rows == [f"{t}\t{p}\t{p == t}" for t, p in zip(y_test, predictions)]
    assert any(p == t for t, p in zip(y_test, predictions))  # `correct` is not always False
    float_labels = kv.callbacks.EmbeddingCallback(x_test, layer="gap", labels=y_test.astype(np.float32), log_dir=tmp_path)
    assert float_labels.labels == y_test.tolist()
    with pytest.raises(ValueError, match=r"one-hot rows \(N, K\) with a single 1 per row"):
        kv.callbacks.EmbeddingCallback(x_test, layer="gap", labels=np.full((40, 10), 0.1), log_dir=tmp_path)
    with pytest.raises(ValueError, match=r"one label per input, shape \(N,\); received shape \(40, 2, 5\)"):
        kv.callbacks.EmbeddingCallback(x_test, layer="gap", labels=one_hot.reshape(40, 2, 5), log_dir=tmp_path)


def test_embedding_callback_refuses_bad_configuration(tmp_path, digits):
    x, y, x_test, _ = digits
    with pytest.raises(ValueError, match=r"`labels` has 3 entries but `inputs` has 40"):
        kv.callbacks.EmbeddingCallback(x_test, layer="gap", labels=[1, 2, 3], log_dir=tmp_path)
    with pytest.raises(ValueError, match=r"`pool` must be 'avg', 'max' or None"):
        kv.callbacks.EmbeddingCallback(x_test, layer="gap", pool="sum", log_dir=tmp_path)
    with pytest.raises(TypeError, match=r"must be a fixed set of arrays"):
        import tensorflow as tf

        kv.callbacks.EmbeddingCallback(tf.data.Dataset.from_tensor_slices(x_test), layer="gap", log_dir=tmp_path)
    assert not os.listdir(tmp_path)


# --------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits):
    x, y, x_test, y_test = digits
    root = tmp_path_factory.mktemp("views_cli")
    keras.utils.set_random_seed(1)
    model = small_cnn()
    model.save(root / "small.keras")
    folder = root / "digits"
    for i, (image, label) in enumerate(zip(x_test[:12], y_test[:12])):
        (folder / f"class_{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[..., 0] * 255).round().astype(np.uint8)).save(folder / f"class_{label}" / f"{i}.png")
    return root, model, folder


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_projector_command_labels_from_sub_folders(saved, capsys, tmp_path):
    root, model, folder = saved
    code, out, err = run_cli(capsys, "projector", root / "small.keras", folder, "--layer", "gap", "--log-dir", tmp_path, "--run", "cli")
    assert code == 0, err
    rows = (tmp_path / "cli" / "metadata.tsv").read_text().split("\n")[:-1]
    files = sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)
    assert rows[0] == "label\tfile" and sorted(r.split("\t")[1] for r in rows[1:]) == files
    assert all(r.split("\t")[0] == os.path.dirname(r.split("\t")[1]) for r in rows[1:])
    assert "12 codes of 8 dimensions" in out


def test_top_patches_command_writes_a_sheet_per_layer(saved, capsys, tmp_path):
    root, model, folder = saved
    code, out, err = run_cli(capsys, "top-patches", root / "small.keras", folder, "--layer", "conv2", "--channels", "0", "3",
                             "--k", "4", "--per-channel", "--guided", "--output", tmp_path)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == ["conv2_channel0.png", "conv2_channel3.png", "conv2_top_patches.png"]
    assert "receptive field (8, 8) px" in out  # 3x3 conv, 2x2 pool, 3x3 conv


@pytest.mark.parametrize(
    "argv,message",
    [
        (["projector", "m.keras", "nowhere", "--layer", "gap"], "image folder not found: nowhere"),
        (["top-patches", "m.keras", "nowhere.png", "--layer", "c"], "image file or folder not found: nowhere.png"),
        (["projector", "m.keras", ".", "--layer", "gap", "--pool", "sum"], "invalid choice: 'sum'"),
        (["top-patches", "m.keras", "x.png"], "the following arguments are required: --layer"),
    ],
)
def test_command_errors(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err


def test_mixed_folder_is_refused(saved, capsys, tmp_path):
    root, _, folder = saved
    mixed = tmp_path / "mixed"
    (mixed / "a").mkdir(parents=True)
    Image.new("L", (16, 16)).save(mixed / "top.png")
    Image.new("L", (16, 16)).save(mixed / "a" / "x.png")
    code, _, err = run_cli(capsys, "projector", root / "small.keras", mixed, "--layer", "gap")
    assert code == 2 and "both at its top level and in sub-folders" in err


# --------------------------------------------------------------------------- pictures


def test_pictures_have_the_documented_geometry():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(30, 2))
    plot = render.scatter(points, [i % 3 for i in range(30)], size=200, class_names=["a", "b", "c"])
    assert plot.shape[0] == 200 and plot.shape[1] > 200 and plot.dtype == np.uint8
    images = rng.uniform(size=(30, 8, 8, 1))
    sheet = render.thumbnail_map(images, points, grid=(5, 6))
    assert sheet.shape == (40, 48, 3)
    # Each image is placed at most once: 30 images fill the 30 cells.
    tiles = sheet.reshape(5, 8, 6, 8, 3).transpose(0, 2, 1, 3, 4).reshape(30, -1)
    assert len({tile.tobytes() for tile in tiles}) == 30
    rows = render.neighbor_rows(images[:2], images[2:8].reshape(2, 3, 8, 8, 1), images[8:14].reshape(2, 3, 8, 8, 1))
    assert rows.ndim == 3 and rows.shape[1] > rows.shape[0]
    grid = render.top_patches(images[:9], np.arange(9.0), guided=images[9:18] - 0.5)
    assert grid.ndim == 3 and grid.std() > 5
    table = render.dissection_table([3, 1, 2], ["x", "y"], [0.1, 0.5, 0.3], [0, 1, 1], title="layer")
    assert table.shape[0] > 4 * 11
    masks = rng.uniform(size=(2, 3, 8, 8)) > 0.5
    units = render.dissection_units(images[:6].reshape(2, 3, 8, 8, 1), masks, ["u0", "u1"])
    assert units.ndim == 3
    with pytest.raises(ValueError, match=r"`points` must be an \(N, 2\) array"):
        render.scatter(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"`labels` has 2 entries but `points` has 3"):
        render.scatter(np.zeros((3, 2)), [1, 2])


def test_demo_exports_the_digits_codes_and_logs_top_patches(tmp_path):
    from keras_viz import demo

    keras.utils.set_random_seed(0)
    (x, y), (x_test, y_test) = kv.datasets.load_digits(32, seed=0)
    model = demo.build_demo_model()
    model(x_test[:1])
    run_dir, tag = demo._dataset_views(model, x_test[:50], y_test[:50], str(tmp_path), step=2)
    assert os.path.basename(run_dir) == demo.PROJECTOR_RUN
    assert (tmp_path / demo.PROJECTOR_RUN / "sprite.png").is_file()
    (event,) = read_images(tmp_path / demo.VIEWS_RUN)[tag]
    assert event["step"] == 2 and event["width"] > 100
    run_again, _ = demo._dataset_views(model, x_test[:50], y_test[:50], str(tmp_path), step=2)
    assert run_again != run_dir  # a second demo into the same log directory gets a new projector run


@pytest.mark.parametrize(
    "argv",
    [["projector", "--help"], ["top-patches", "--help"], ["projector", "m.keras", "nowhere", "--layer", "gap"],
     ["top-patches", "m.keras", "x.png", "--layer", "c", "--k", "0"]],
)
def test_new_commands_answer_before_tensorflow_is_imported(tmp_path, argv):
    import subprocess
    import sys

    from tests.test_cli import _NO_TF_PROBE

    result = subprocess.run([sys.executable, "-c", _NO_TF_PROBE, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "TF-NOT-IMPORTED" in result.stdout, (result.stdout, result.stderr)


def _dense_thumbnail_assignment(points, rows, cols):
    """The thumbnail map's greedy assignment with the whole (cells, N) distance matrix."""
    low = points.min(axis=0)
    span = float((points.max(axis=0) - low).max()) or 1.0
    unit = (points - low) / span + (1.0 - (points.max(axis=0) - low) / span) / 2.0
    centres = np.stack(np.meshgrid((np.arange(cols) + 0.5) / cols, 1.0 - (np.arange(rows) + 0.5) / rows), -1).reshape(-1, 2)
    distances = ((centres[:, None, :] - unit[None, :, :]) ** 2).sum(-1)
    taken, pairs = np.zeros(len(points), bool), []
    for cell in np.argsort(distances.min(axis=1), kind="stable"):
        if taken.all():
            break
        choice = int(np.argmin(np.where(taken, np.inf, distances[cell])))
        taken[choice] = True
        pairs.append((int(cell), choice))
    return pairs


@pytest.mark.parametrize("count, grid", [(30, (5, 6)), (17, (6, 6)), (40, (4, 5)), (64, (8, 8))])
def test_thumbnail_map_assignment_equals_the_dense_greedy_one(count, grid):
    rng = np.random.default_rng(count)
    points = rng.normal(size=(count, 2))
    points[::5] = points[1]  # duplicates: ties between points
    points[2::7] = np.round(points[2::7])  # and points on a lattice: ties between cells
    images = rng.uniform(size=(count, 4, 4, 3))
    expected = np.full((grid[0] * 4, grid[1] * 4, 3), 255, np.uint8)
    for cell, choice in _dense_thumbnail_assignment(points, *grid):
        r, c = divmod(cell, grid[1])
        expected[r * 4 : (r + 1) * 4, c * 4 : (c + 1) * 4] = render.to_uint8_image(images[choice])
    np.testing.assert_array_equal(render.thumbnail_map(images, points, grid=grid), expected)
    # A small block size (many chunks of the visiting order) gives the same assignment.
    from keras_viz.render.embedding_maps import _unit_square, greedy_cells

    centres = np.stack(np.meshgrid((np.arange(grid[1]) + 0.5) / grid[1], 1.0 - (np.arange(grid[0]) + 0.5) / grid[0]),
                       -1).reshape(-1, 2)
    assert greedy_cells(centres, _unit_square(points), block=7) == _dense_thumbnail_assignment(points, *grid)


def test_thumbnail_map_of_10k_points_keeps_memory_modest():
    import tracemalloc

    rng = np.random.default_rng(0)
    points = rng.normal(size=(10_000, 2)).astype(np.float32)
    images = rng.integers(0, 255, size=(10_000, 2, 2, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        sheet = render.thumbnail_map(images, points, value_range=(0, 255))  # a 100 x 100 grid
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sheet.shape == (200, 200, 3)
    # A dense (cells x points) float64 matrix alone would be 800 MB (1.6 GB with its (.., 2) difference).
    assert peak < 120 * 2**20, peak / 2**20
