"""``keras-viz visualize`` and ``keras-viz dream`` on saved models."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from keras_viz import cli
from tests.conftest import functional_model


def run_cli(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("optvis_cli")
    keras.utils.set_random_seed(0)
    path = folder / "net.keras"
    functional_model().save(path)
    photo = np.random.default_rng(0).integers(0, 255, size=(30, 24, 3), dtype=np.uint8)
    Image.fromarray(photo).save(folder / "photo.png")
    return folder, path


def test_visualize_channels_writes_one_png_each_and_a_grid(saved, tmp_path, capsys):
    _, model = saved
    code, out, err = run_cli(
        capsys, "visualize", model, "--layer", "conv2", "--channel", "0", "3", "--steps", "4", "--output", tmp_path
    )
    assert code == 0, err
    for name in ("net_conv2_0.png", "net_conv2_3.png"):
        with Image.open(tmp_path / name) as picture:
            assert picture.size == (16, 16)
    with Image.open(tmp_path / "net_visualize.png") as grid:
        assert grid.size[0] > 2 * 16 * 4
    assert "conv2:3: objective" in out


def test_visualize_a_class_probability(saved, tmp_path, capsys):
    _, model = saved
    code, out, err = run_cli(
        capsys, "visualize", model, "--target", "2", "--probability", "--steps", "4", "--param", "pixel",
        "--input-range", "-1", "1", "--output", tmp_path,
    )
    assert code == 0, err
    assert (tmp_path / "net_class_2.png").is_file() and "logprob:2" in out


def test_visualize_a_four_channel_model(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((12, 12, 4)), keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
         keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")]
    )
    path = tmp_path / "four.keras"
    model.save(path)
    code, out, err = run_cli(capsys, "visualize", path, "--layer", "conv", "--channels", "0", "2", "--steps", "3",
                             "--output", tmp_path)
    assert code == 0, err
    with Image.open(tmp_path / "four_conv_0.png") as picture:
        assert picture.size == (4 * 12 + 3, 12)  # one grey panel per channel
    assert (tmp_path / "four_visualize.png").is_file()


def test_probability_uses_the_log_probability(saved, tmp_path, capsys, monkeypatch):
    from keras_viz import optvis

    seen = []
    original = optvis.activation_maximization

    def spy(model, objective, **options):
        seen.append(objective)
        return original(model, objective, **options)

    monkeypatch.setattr(optvis, "activation_maximization", spy)
    _, model = saved
    code, out, err = run_cli(capsys, "visualize", model, "--target", "1", "--probability", "--steps", "2",
                             "--output", tmp_path)
    assert code == 0, err
    assert seen[0].name == "logprob:1" and "logprob:1" in out
    code, out, _ = run_cli(capsys, "visualize", "--help")
    assert code == 0 and "log of the softmax probability" in " ".join(out.split())


def test_dream_keeps_the_image_size(saved, tmp_path, capsys):
    folder, model = saved
    code, out, err = run_cli(
        capsys, "dream", model, folder / "photo.png", "--layer", "conv1", "--layer", "conv2",
        "--octaves", "2", "--steps", "2", "--output", tmp_path,
    )
    assert code == 0, err
    with Image.open(tmp_path / "photo_dream.png") as dream:
        assert dream.size == (24, 30)
    code, _, err = run_cli(capsys, "dream", model, folder / "photo.png", "--layer", "conv2", "--size", "20", "20",
                           "--steps", "1", "--octaves", "1", "--output", tmp_path)
    assert code == 0, err
    with Image.open(tmp_path / "photo_dream.png") as dream:
        assert dream.size == (20, 20)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["visualize", "{model}", "--layer", "nope", "--channel", "1", "--steps", "1"], "Unknown layer 'nope'"),
        (["visualize", "{model}", "--layer", "conv2", "--channel", "99", "--steps", "1"], "out of range"),
        (["visualize", "{model}", "--target", "7", "--steps", "1"], "class index 7"),
        (["dream", "{model}", "{photo}", "--layer", "nope"], "Unknown layer 'nope'"),
    ],
)
def test_errors_from_the_library_are_one_line(saved, capsys, argv, message):
    folder, model = saved
    argv = [a.format(model=model, photo=folder / "photo.png") for a in argv]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert message.split()[0] in err


_NO_TF_PROBE = """
import sys
from keras_viz.cli import main
code = main(sys.argv[1:])
print("TF-IMPORTED" if "tensorflow" in sys.modules else "TF-NOT-IMPORTED", code)
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["visualize", "--help"],
        ["dream", "--help"],
        ["visualize", "m.keras", "--target", "1", "--layer", "c"],
        ["visualize", "m.keras"],
        ["visualize", "m.keras", "--layer", "c", "--channel", "1", "--steps", "0"],
        ["visualize", "missing.keras", "--target", "1"],
        ["dream", "m.keras", "x.png", "--layer", "c", "--octave-scale", "0.5"],
        ["dream", "m.keras", "x.png", "--layer", "c", "--step-size", "-1"],
        ["dream", "m.keras", "x.png"],
    ],
)
def test_help_and_argument_errors_answer_before_tensorflow_is_imported(tmp_path, argv):
    result = subprocess.run(
        [sys.executable, "-c", _NO_TF_PROBE, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert "TF-NOT-IMPORTED" in result.stdout, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
