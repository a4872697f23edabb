"""Tests for the keras-viz command line and the demo it runs."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from keras_viz import cli
from keras_viz.demo import DEMO_METHODS, GRID_FILENAME, GRID_TAG
from tests.test_tensorboard import read_images

SIZE = 16


# --------------------------------------------------------------------------- #
# A hand-weighted model whose explanations are known
# --------------------------------------------------------------------------- #


def brightness_model() -> keras.Model:
    """Class 0 = "bright", class 1 = "dark", read off per-pixel features.

    features = relu([x, 1 - x]) per pixel (a 1x1 convolution), then global average
    pooling and a dense layer with logits ``4 * mean(x)`` and ``4 * mean(1 - x)``. The
    CAM of class 0 is therefore ``4 * x``: hot exactly where the image is bright.
    """
    inputs = keras.Input((SIZE, SIZE, 1), name="image")
    features = layers.Conv2D(2, 1, activation="relu", name="features")(inputs)
    pooled = layers.GlobalAveragePooling2D(name="gap")(features)
    outputs = layers.Dense(2, activation="softmax", name="predictions")(pooled)
    model = keras.Model(inputs, outputs, name="brightness")
    model.get_layer("features").set_weights(
        [np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2), np.array([0.0, 1.0], np.float32)]
    )
    model.get_layer("predictions").set_weights(
        [np.array([[4.0, 0.0], [0.0, 4.0]], np.float32), np.zeros(2, np.float32)]
    )
    return model


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A saved .keras model and two PNGs of another size (RGB and greyscale)."""
    root = tmp_path_factory.mktemp("cli")
    model_path = root / "brightness.keras"
    brightness_model().save(model_path)
    # bright.png: white 40x30 RGB picture with a black square; dark.png: the opposite, greyscale.
    bright = np.full((30, 40, 3), 255, np.uint8)
    bright[10:20, 15:25] = 0
    Image.fromarray(bright).save(root / "bright.png")
    dark = np.zeros((30, 40), np.uint8)
    dark[10:20, 15:25] = 255
    Image.fromarray(dark).save(root / "dark.png")
    return root


def run_cli(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- #
# explain
# --------------------------------------------------------------------------- #


def test_explain_writes_overlay_and_heatmap_per_image(workspace, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "explain", workspace / "brightness.keras",
        workspace / "bright.png", workspace / "dark.png", "--method", "cam", "--output", tmp_path,
    )
    assert code == 0, err
    expected = {f"{stem}_cam_{kind}.png" for stem in ("bright", "dark") for kind in ("overlay", "heatmap")}
    assert set(os.listdir(tmp_path)) == expected
    for name in expected:
        with Image.open(tmp_path / name) as picture:
            assert picture.size == (40, 30) and picture.mode == "RGB"  # the image's own size
    # The predicted class is explained and reported: mostly white -> 0, mostly black -> 1.
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert "bright.png" in lines[0] and "class 0" in lines[0]
    assert "dark.png" in lines[1] and "class 1" in lines[1]
    assert str(tmp_path / "bright_cam_overlay.png") in lines[0]


def test_explain_heatmap_points_at_the_bright_square(workspace, tmp_path, capsys):
    # CAM of class 0 is 4 * brightness: hot on dark.png's white square, cold around it.
    code, _, err = run_cli(
        capsys, "explain", workspace / "brightness.keras", workspace / "dark.png",
        "--method", "CAM", "--target", "0", "--output", tmp_path,
    )
    assert code == 0, err
    heatmap = np.asarray(Image.open(tmp_path / "dark_cam_heatmap.png")).astype(int)
    np.testing.assert_array_equal(heatmap[15, 20], (253, 231, 37))  # viridis(1)
    np.testing.assert_array_equal(heatmap[2, 2], (68, 1, 84))  # viridis(0)
    overlay = np.asarray(Image.open(tmp_path / "dark_cam_overlay.png")).astype(int)
    original = np.asarray(Image.open(workspace / "dark.png").convert("RGB")).astype(int)
    assert np.any(overlay[15, 20] != original[15, 20])  # tinted where hot
    np.testing.assert_array_equal(overlay[:5], original[:5])  # unchanged where cold


@pytest.mark.parametrize("method", ["gradcam", "saliency", "integrated_gradients", "occlusion"])
def test_explain_runs_other_methods(workspace, tmp_path, capsys, method):
    code, out, err = run_cli(
        capsys, "explain", workspace / "brightness.keras", workspace / "bright.png",
        "--method", method, "--output", tmp_path,
    )
    assert code == 0, err
    canonical = cli._canonical_method(method)
    assert (tmp_path / f"bright_{canonical}_overlay.png").is_file()
    assert (tmp_path / f"bright_{canonical}_heatmap.png").is_file()
    assert "class 0" in out


def test_explain_takes_a_layer_and_an_input_range(workspace, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "explain", workspace / "brightness.keras", workspace / "bright.png",
        "--method", "grad_cam", "--layer", "features", "--input-range", "0", "255",
        "--colormap", "inferno", "--alpha", "0.7", "--output", tmp_path,
    )
    assert code == 0, err
    assert "class 0" in out
    assert (tmp_path / "bright_grad_cam_overlay.png").is_file()


def _error_cases(workspace):
    model = workspace / "brightness.keras"
    image = workspace / "bright.png"
    return {
        "unknown method": (["explain", model, image, "--method", "magic"], "unknown method 'magic'"),
        "missing image": (["explain", model, workspace / "nope.png", "--method", "cam"], "image file not found"),
        "missing model": (["explain", workspace / "nope.keras", image, "--method", "cam"], "model file not found"),
        "not a .keras file": (["explain", image, image, "--method", "cam"], ".keras"),
        "missing method": (["explain", model, image], "--method"),
        "no command": ([], "COMMAND"),
        "unknown command": (["paint"], "invalid choice"),
        "target out of range": (["explain", model, image, "--method", "cam", "--target", "5"], "out of range"),
        "negative target": (["explain", model, image, "--method", "cam", "--target", "-1"], "--target"),
        "unknown layer": (["explain", model, image, "--method", "grad_cam", "--layer", "conv9"], "conv9"),
        "layer on saliency": (["explain", model, image, "--method", "saliency", "--layer", "features"], "takes no layer"),
        "size mismatch": (["explain", model, image, "--method", "cam", "--size", "8", "8"], "does not match"),
        "bad alpha": (["explain", model, image, "--method", "cam", "--alpha", "3"], "--alpha"),
        "bad colormap": (["explain", model, image, "--method", "cam", "--colormap", "jet"], "colormap"),
        "bad input range": (["explain", model, image, "--method", "cam", "--input-range", "1", "0"], "LO < HI"),
        "same stem twice": (["explain", model, image, image, "--method", "cam"], "stem"),
        "zero epochs": (["demo", "--epochs", "0"], "--epochs"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown method", "missing image", "missing model", "not a .keras file", "missing method",
        "no command", "unknown command", "target out of range", "negative target", "unknown layer",
        "layer on saliency", "size mismatch", "bad alpha", "bad colormap", "bad input range",
        "same stem twice", "zero epochs",
    ],
)
def test_bad_arguments_print_one_line_and_return_2(workspace, tmp_path, capsys, case):
    argv, message = _error_cases(workspace)[case]
    if argv and argv[0] == "explain":
        argv = [*argv, "--output", tmp_path / "out"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("keras-viz") and "error:" in err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_unreadable_image_is_an_error(workspace, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    code, _, err = run_cli(capsys, "explain", workspace / "brightness.keras", broken, "--method", "cam")
    assert code == 2 and "could not read image" in err and len(err.strip().splitlines()) == 1


def test_help_returns_0(capsys):
    code, out, _ = run_cli(capsys, "explain", "--help")
    assert code == 0 and "--method" in out and "grad_cam_plus_plus" in out


def test_method_names_forgive_case_and_separators():
    assert cli._canonical_method("GradCAM") == "grad_cam"
    assert cli._canonical_method("grad-cam++") == "grad_cam_plus_plus"
    assert cli._canonical_method("IntegratedGradients") == "integrated_gradients"
    assert set(cli.METHODS) >= {name for name in DEMO_METHODS}


def test_python_dash_m_runs_the_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "keras_viz", "explain", str(tmp_path / "none.keras"), "x.png", "--method", "cam"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 2
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("keras-viz explain: error:") and "not found" in last_line
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- #
# demo
# --------------------------------------------------------------------------- #


def test_demo_writes_keras_runs_explanations_and_grid(tmp_path, capsys):
    log_dir = tmp_path / "logs"
    code, out, err = run_cli(capsys, "demo", "--log-dir", log_dir, "--epochs", "1")
    assert code == 0, err

    # Keras' own runs and ours, side by side.
    for run in ("train", "validation", "keras_viz"):
        assert list((log_dir / run).glob("events.out.tfevents.*")), run
    assert f"tensorboard --logdir {log_dir}" in out
    executable = out.split(" --logdir")[0].split()[-1]
    assert os.path.isabs(executable) and os.access(executable, os.X_OK), executable  # a full path
    assert "Test accuracy:" in out

    written = read_images(log_dir / "keras_viz")
    expected = {f"{prefix}/{kind}" for prefix in DEMO_METHODS for kind in ("input", "heatmap", "overlay")}
    assert set(written) == expected | {GRID_TAG}
    for tag in expected:
        (event,) = written[tag]
        assert event["step"] == 0  # epochs - 1: the last point of the loss curves
        assert len(event["images"]) == 8
        assert all(image.size == (128, 128) for image in event["images"])
    # Inputs are the same digits for every method; overlays differ between methods.
    inputs = [np.asarray(written[f"{p}/input"][0]["images"][0].convert("RGB")) for p in DEMO_METHODS]
    assert all(np.array_equal(inputs[0], other) for other in inputs[1:])
    overlays = {p: np.asarray(written[f"{p}/overlay"][0]["images"][0].convert("RGB")) for p in DEMO_METHODS}
    assert not np.array_equal(overlays["grad_cam"], overlays["saliency"])

    grid_png = log_dir / GRID_FILENAME
    with Image.open(grid_png) as grid:
        (event,) = written[GRID_TAG]
        assert grid.size == (event["width"], event["height"])
        # One row per digit: the input and one overlay per method, 128 px each.
        assert grid.size[0] >= 128 * (1 + len(DEMO_METHODS))
        assert grid.size[1] >= 128 * 8
        np.testing.assert_array_equal(np.asarray(grid.convert("RGB")), np.asarray(event["images"][0].convert("RGB")))


def test_run_demo_returns_a_summary_and_is_quiet(tmp_path, capsys):
    from keras_viz.demo import run_demo

    with pytest.raises(ValueError, match="epochs"):
        run_demo(tmp_path, epochs=0)
    result = run_demo(tmp_path / "logs", epochs=1, seed=1, quiet=True)
    assert capsys.readouterr().out == ""
    assert set(result) >= {"accuracy", "log_dir", "run_dir", "tags", "grid_png"}
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["log_dir"] == str(tmp_path / "logs")
    assert result["run_dir"] == os.path.join(str(tmp_path / "logs"), "keras_viz")
    assert len(result["tags"]) == 3 * len(DEMO_METHODS) + 1 and result["tags"][-1] == GRID_TAG
    assert os.path.isfile(result["grid_png"])
    # The attention step: a tiny Transformer learns to reverse letters, logged by AttentionCallback.
    attention = result["attention"]
    assert attention["alignment"] >= 0.9 and os.path.isfile(attention["png"])
    logged = read_images(attention["run_dir"])
    assert [event["step"] for event in logged["attention/cross_attention"]] == [0, 1, 2]
    assert len(logged["attention/encoder_self_attention"][-1]["images"]) == 4


# --------------------------------------------------------------------------- #
# shared options: no TensorFlow before the arguments are good, EXIF, custom objects
# --------------------------------------------------------------------------- #


_NO_TF_PROBE = """
import sys
from keras_viz.cli import main
code = main(sys.argv[1:])
print("TF-IMPORTED" if "tensorflow" in sys.modules else "TF-NOT-IMPORTED", code)
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["explain", "--help"],
        ["explain", "missing.keras", "x.png", "--method", "cam"],
        ["explain", "m.keras", "x.png", "--method", "magic"],
        ["demo", "--epochs", "0"],
    ],
)
def test_help_and_argument_errors_answer_before_tensorflow_is_imported(tmp_path, argv):
    result = subprocess.run(
        [sys.executable, "-c", _NO_TF_PROBE, *argv],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert "TF-NOT-IMPORTED" in result.stdout, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def test_every_command_has_a_help_that_names_its_options(capsys):
    for command in cli.COMMANDS:
        code, out, _ = run_cli(capsys, command, "--help")
        assert code == 0 and "usage: keras-viz " + command in out


def test_read_image_applies_exif_orientation(tmp_path):
    from keras_viz.cli import _common

    picture = np.zeros((2, 3, 3), np.uint8)  # 2 rows, 3 columns
    picture[0, 0] = (255, 0, 0)
    image = Image.fromarray(picture)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif)
    upright = _common.read_image(str(path))
    assert upright.size == (2, 3)  # width 2, height 3 once turned upright
    assert np.asarray(upright)[0, -1, 0] > 200  # the red corner moved to the top right


def test_custom_objects_file_loads_a_model_with_a_custom_layer(tmp_path, capsys):
    code_file = tmp_path / "my_layers.py"
    code_file.write_text(
        "import keras\n\n"
        "@keras.saving.register_keras_serializable(package='test_cli')\n"
        "class Doubler(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        return 2.0 * x\n"
    )
    from keras_viz.cli import _common

    namespace = _common.load_custom_objects([str(code_file)])
    doubler = namespace["Doubler"]
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), doubler(), layers.Conv2D(2, 3, name="conv"),
         layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax")]
    )
    path = tmp_path / "custom.keras"
    model.save(path)
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "img.png")
    code, out, err = run_cli(
        capsys, "explain", path, tmp_path / "img.png", "--method", "saliency",
        "--custom-objects", code_file, "--output", tmp_path / "out",
    )
    assert code == 0, err
    assert (tmp_path / "out" / "img_saliency_heatmap.png").is_file()
    code, _, err = run_cli(capsys, "explain", path, tmp_path / "img.png", "--method", "saliency",
                           "--custom-objects", tmp_path / "nope.py")
    assert code == 2 and "--custom-objects file not found" in err


# --------------------------------------------------------------------------- #
# diagram
# --------------------------------------------------------------------------- #


def test_diagram_draws_block_and_node_link_of_a_dense_model(tmp_path, capsys):
    mlp = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="relu"), layers.Dense(2)], name="mlp")
    mlp.save(tmp_path / "mlp.keras")
    code, out, err = run_cli(capsys, "diagram", tmp_path / "mlp.keras", "--kind", "all", "--output", tmp_path / "out")
    assert code == 0, err
    for kind in ("block", "node_link"):
        with Image.open(tmp_path / "out" / f"mlp_{kind}.png") as picture:
            assert min(picture.size) > 50 and np.asarray(picture.convert("L")).std() > 5


def test_diagram_of_a_cnn_draws_the_block_diagram_and_says_why_not_node_link(workspace, tmp_path, capsys):
    model = workspace / "brightness.keras"
    code, out, err = run_cli(capsys, "diagram", model, "--kind", "all", "--output", tmp_path)
    assert code == 0 and (tmp_path / "brightness_block.png").is_file()
    assert "no node-link diagram" in out and not (tmp_path / "brightness_node_link.png").exists()
    code, out, err = run_cli(capsys, "diagram", model, "--kind", "node-link", "--output", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Conv2D" in err


@pytest.mark.parametrize(
    "mode, values, expected",
    [
        ("I;16", np.array([[0, 32768, 65535]], np.uint16), [0, 128, 255]),
        ("F", np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),
        ("I", np.array([[0, 1000, 65535]], np.int32), [0, 4, 255]),
    ],
)
def test_high_bit_depth_images_are_scaled_not_clipped(tmp_path, mode, values, expected):
    from keras_viz.cli import _common

    path = tmp_path / "deep.tiff"
    Image.fromarray(values, mode=mode if mode != "I;16" else None).save(path)
    picture = _common.read_image(str(path))
    assert picture.mode == "L"
    np.testing.assert_array_equal(np.asarray(picture)[0], expected)


def test_animated_images_use_the_first_frame_with_a_note(tmp_path, capsys):
    from keras_viz.cli import _common

    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    picture = _common.read_image(str(tmp_path / "anim.gif"))
    assert np.asarray(picture.convert("L")).mean() < 50
    assert "2 frames; using the first" in capsys.readouterr().err
